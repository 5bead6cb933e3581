#pragma once
// connection: forward mode (--mode forward). Before anything else, the client's request to the
// proxy is read (handshake::proxy_request_parser, sans-I/O) and checked against --allow:
// - CONNECT HOST:PORT: connect, answer 200, then relay the tunnel as a reverse-mode connection
//   is relayed (its tap decodes it when it starts like HTTP, counts it otherwise); with
//   --mitm-ca, a tunnel that starts with a TLS ClientHello goes on as a TLS pair;
// - an absolute-form request (GET http://HOST/PATH): connect, forward its head in origin-form
//   without Proxy-Authorization and Proxy-Connection, then relay. Only an upgrade is recorded.
// A refusal is an HTTP answer: 400 (not a forward-proxy request), 403 (not in --allow).

#include "wssniff/handshake/text.hpp"
#include "wssniff/proxy/connection.hpp"
#include "wssniff/proxy/tls.hpp"

namespace wssniff::proxy {

namespace detail {

inline bool allowed(const std::vector<allow_rule>& rules, const std::string& host,
                    std::uint16_t port) {
    if (rules.empty()) {
        return true;
    }
    for (const allow_rule& rule : rules) {
        if (handshake::iequals(rule.host, host) && (!rule.port || *rule.port == port)) {
            return true;
        }
    }
    return false;
}

} // namespace detail

template <class Client, class Upstream> void connection<Client, Upstream>::read_proxy_request() {
    auto self = this->shared_from_this();
    if (stage_ != stage::proxy_request) {
        stage_ = stage::proxy_request;
        arm_setup_timer(); // the whole request within --connect-timeout
    }
    pump& p = pump_of(direction::c2s);
    if (!p.buffer) {
        p.buffer = loop_.buffers.take(false);
    }
    tcp_of(client_).async_read_some(
        asio::buffer(p.buffer.get(), p.buffer.size),
        [this, self](std::error_code ec, std::size_t n) { on_proxy_request(ec, n); });
}

template <class Client, class Upstream>
void connection<Client, Upstream>::on_proxy_request(std::error_code ec, std::size_t n) {
    if (stopped()) {
        return;
    }
    if (ec || setup_error_) {
        // Gone (or silent) before its request was whole: a browser's spare connection, say.
        tap_->unrecorded();
        finish(setup_error_ ? end_reason::timeout : end_reason::client_closed);
        return;
    }
    const bytes_view in{pump_of(direction::c2s).buffer.get(), n};
    const std::size_t used = request_->feed(in);
    switch (request_->state()) {
    case handshake::proxy_request_parser::status::need_more: read_proxy_request(); return;
    case handshake::proxy_request_parser::status::failed:
        refuse("400 Bad Request", failure::proxy_request_invalid, request_->error_detail());
        return;
    case handshake::proxy_request_parser::status::done: serve_proxy_request(in.subview(used));
    }
}

// The request is whole; `rest` is what followed its head in the same read.
template <class Client, class Upstream>
void connection<Client, Upstream>::serve_proxy_request(bytes_view rest) {
    const handshake::proxy_request& r = request_->request();
    if (!detail::allowed(owner_.options.allow, r.host, r.port)) {
        refuse("403 Forbidden", failure::proxy_denied, r.authority() + " is not in --allow");
        return;
    }
    target_.host = r.host;
    target_.port = r.port;
    target_.tls = false;
    if (r.form == handshake::proxy_form::absolute && !r.websocket) {
        tap_->unrecorded(); // plain HTTP through the proxy: relayed, not recorded
    } else {
        tap_->forwarding(forward_hop{std::string(handshake::to_string(r.form)), r.authority()});
    }
    if (r.form == handshake::proxy_form::absolute) {
        preface_ = r.forwarded_head;
        preface_.append(rest.chars());
        preface_shown_as_ = r.head;
        preface_shown_as_.append(rest.chars());
    } else {
        preface_.assign(rest.chars());
    }
    connect();
}

template <class Client, class Upstream>
void connection<Client, Upstream>::refuse(std::string_view status, failure why,
                                          const std::string& detail) {
    tap_->failed(why, detail);
    answer(status, "wssniff: " + detail + "\n", end_reason::client_closed);
}

template <class Client, class Upstream> bool connection<Client, Upstream>::tunnel_pending() const {
    return request_ && request_->state() == handshake::proxy_request_parser::status::done &&
           request_->request().form == handshake::proxy_form::connect && !tunnel_established_;
}

// CONNECT: the upstream is connected; the client hears so (RFC 9110 §9.3.6), then the tunnel's
// bytes flow. The answer is the proxy's own: no record describes it.
template <class Client, class Upstream> void connection<Client, Upstream>::establish_tunnel() {
    tunnel_established_ = true;
    answer_ = "HTTP/1.1 200 Connection established\r\n\r\n";
    auto self = this->shared_from_this();
    asio::async_write(tcp_of(client_), asio::buffer(answer_),
                      [this, self](std::error_code ec, std::size_t) {
                          if (stopped()) {
                              return;
                          }
                          if (ec) {
                              finish(end_reason::client_reset);
                              return;
                          }
                          if (owner_.mitm && preface_.empty()) {
                              look_into_tunnel();
                              return;
                          }
                          relay();
                      });
}

// --mitm-ca: the tunnel's first bytes are looked at without being taken (MSG_PEEK), so that a
// ClientHello reaches OpenSSL as the client sent it. Whichever comes first decides: client
// bytes (a ClientHello: intercepted; anything else: relayed unread, as without --mitm-ca), the
// server speaking first or either side closing (relayed unread), --connect-timeout (likewise).
// A client that sent its first bytes behind its CONNECT, before the 200, is not intercepted
// (those bytes were read with the request).
template <class Client, class Upstream> void connection<Client, Upstream>::look_into_tunnel() {
    stage_ = stage::peeking;
    arm_setup_timer();
    auto self = this->shared_from_this();
    tcp_of(upstream_).async_wait(tcp::socket::wait_read, [this, self](std::error_code ec) {
        if (stopped() || stage_ != stage::peeking || ec == asio::error::operation_aborted) {
            return;
        }
        tunnel_decided(std::nullopt); // the server spoke (or closed) first
    });
    peek_tunnel();
}

template <class Client, class Upstream> void connection<Client, Upstream>::peek_tunnel() {
    auto self = this->shared_from_this();
    pump& p = pump_of(direction::c2s);
    tcp_of(client_).async_receive(
        asio::buffer(p.buffer.get(), p.buffer.size), asio::socket_base::message_peek,
        [this, self](std::error_code ec, std::size_t n) { on_tunnel_peek(ec, n); });
}

template <class Client, class Upstream>
void connection<Client, Upstream>::on_tunnel_peek(std::error_code ec, std::size_t n) {
    if (stopped() || stage_ != stage::peeking || ec == asio::error::operation_aborted) {
        return;
    }
    if (ec || n == 0) {
        tunnel_decided(std::nullopt); // the relay meets the end or the error itself
        return;
    }
    const pump& p = pump_of(direction::c2s);
    const tls::client_hello hello = tls::read_client_hello(*owner_.hello_probe, p.buffer.get(), n);
    switch (hello.what) {
    case tls::client_hello::kind::other: tunnel_decided(std::nullopt); return;
    case tls::client_hello::kind::hello:
        tunnel_decided(hello.server_name.value_or(target_.host));
        return;
    case tls::client_hello::kind::incomplete:
        if (n == p.buffer.size) {
            tunnel_decided(std::nullopt); // larger than any ClientHello we would take
            return;
        }
        break;
    }
    // The rest of the ClientHello is on its way: look again in a moment (what is there stays
    // readable, so waiting for readability would not wait). Bounded by the setup timer.
    auto self = this->shared_from_this();
    auto pause = std::make_shared<asio::steady_timer>(loop_.io, std::chrono::milliseconds(2));
    pause->async_wait([this, self, pause](std::error_code) {
        if (!stopped() && stage_ == stage::peeking) {
            peek_tunnel();
        }
    });
}

// Ends the look into the tunnel: with a name, a TLS pair takes the sockets, the number and the
// tap over (proxy::impl::intercept) and this connection is done, silently; without, the tunnel
// is relayed unread.
template <class Client, class Upstream>
void connection<Client, Upstream>::tunnel_decided(std::optional<std::string> intercept_as) {
    // From here the stage is no longer `peeking` (relay() or the handover below sets it), so
    // the other look's handler, run with operation_aborted, finds the question settled.
    std::error_code ignored;
    // Nothing is left pending on the sockets before they move.
    tcp_of(client_).cancel(ignored);
    tcp_of(upstream_).cancel(ignored);
    timer_.cancel();
    if constexpr (!is_tls<Client> && !is_tls<Upstream>) {
        if (intercept_as) {
            if (dialed_from_) {
                owner_.dialed(*dialed_from_);
                dialed_from_.reset();
            }
            stage_ = stage::settled; // the pair below is this connection from here on
            owner_.intercept(loop_, interception{std::move(client_), std::move(upstream_), id_,
                                                 std::move(tap_), target_, std::move(*intercept_as),
                                                 accepted_at_});
            return;
        }
    }
    relay();
}

} // namespace wssniff::proxy

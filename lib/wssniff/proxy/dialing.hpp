#pragma once
// connection: from accept to relaying. The client's TLS handshake (when the listener speaks
// TLS), resolving and connecting to the upstream, the upstream's TLS handshake (wss://), then
// both pumps start. An intercepted CONNECT tunnel (--mitm-ca) starts connected: the upstream's
// TLS handshake, then the client's, then the pumps. Each step is bounded by the setup timer
// (deadlines.hpp); a failed step ends in the proxy's own answer (gateway_answers.hpp).

#include "wssniff/proxy/connection.hpp"
#include "wssniff/proxy/tls.hpp"

namespace wssniff::proxy {

template <class Client, class Upstream>
connection<Client, Upstream>::connection(proxy::impl& owner, relay_loop& loop, tcp::socket client,
                                         std::uint64_t id, std::unique_ptr<tap> watcher)
    : owner_(owner), loop_(loop), id_(id), target_(owner.options.upstream),
      client_(make_stream<Client>(std::move(client), owner.client_tls)),
      upstream_(make_stream<Upstream>(loop.io, owner.upstream_tls)), resolver_(loop.io),
      timer_(loop.io), tap_(std::move(watcher)) {
    if (owner.options.forward) {
        request_.emplace(owner.options.session.max_head);
    } else if (owner.options.rewrite_host) {
        rewriter_ = std::make_unique<host_rewriter>(owner.options.upstream.authority());
    }
    accepted_at_ = last_activity_ = steady::now();
}

template <class Client, class Upstream>
connection<Client, Upstream>::connection(proxy::impl& owner, relay_loop& loop, interception handed)
    : owner_(owner), loop_(loop), id_(handed.id), target_(std::move(handed.target)),
      intercepted_as_(std::move(handed.name)),
      client_(make_stream<Client>(std::move(handed.client), owner.mitm_tls)),
      upstream_(make_stream<Upstream>(std::move(handed.upstream), owner.upstream_tls)),
      resolver_(loop.io), timer_(loop.io), tap_(std::move(handed.watcher)) {
    accepted_at_ = handed.accepted_at;
    last_activity_ = steady::now();
}

template <class Client, class Upstream> void connection<Client, Upstream>::start() {
    if (intercepted_as_) {
        intercept_upstream();
        return;
    }
    if (request_) {
        read_proxy_request();
        return;
    }
    if constexpr (is_tls<Client>) {
        auto self = this->shared_from_this();
        stage_ = stage::tls_accept;
        arm_setup_timer();
        client_.async_handshake(asio::ssl::stream_base::server,
                                [this, self](std::error_code ec) { on_client_tls(ec); });
    } else {
        connect();
    }
}

template <class Client, class Upstream>
void connection<Client, Upstream>::on_client_tls(std::error_code ec) {
    if (stopped()) {
        return;
    }
    if (ec || setup_error_) {
        client_tls_failed(setup_error_ ? setup_error_ : ec);
        return;
    }
    if constexpr (is_tls<Client>) { // the only caller; explicit instantiation compiles all four
        tls_.client = tls::leg_of(client_.native_handle());
    }
    if (intercepted_as_) {
        relay(); // both legs are up
        return;
    }
    connect();
}

// --mitm-ca. The server first: its certificate is checked before the client hears anything of
// ours, so a server that fails the check leaves the client's handshake unanswered (closed)
// rather than completed for nothing; and the client's name has been verified when its leaf is
// presented.
template <class Client, class Upstream> void connection<Client, Upstream>::intercept_upstream() {
    if constexpr (is_tls<Upstream>) {
        auto self = this->shared_from_this();
        stage_ = stage::tls_connect;
        arm_setup_timer();
        tls::prepare_upstream(upstream_.native_handle(), *intercepted_as_, owner_.options.insecure);
        tls::offer_http1(upstream_.native_handle());
        upstream_.async_handshake(asio::ssl::stream_base::client,
                                  [this, self](std::error_code hec) { on_upstream_tls(hec); });
    }
}

template <class Client, class Upstream>
void connection<Client, Upstream>::accept_intercepted_client() {
    if constexpr (is_tls<Client>) {
        mitm_authority::certificate leaf;
        try {
            leaf = owner_.mitm->leaf(*intercepted_as_);
        } catch (const ca_error& e) {
            tap_->failed(failure::client_tls_failed, e.what());
            finish(end_reason::client_reset);
            return;
        }
        tls::use_leaf(client_.native_handle(), leaf.get(), owner_.mitm->leaf_key());
        auto self = this->shared_from_this();
        stage_ = stage::tls_accept;
        arm_setup_timer();
        client_.async_handshake(asio::ssl::stream_base::server,
                                [this, self](std::error_code ec) { on_client_tls(ec); });
    }
}

template <class Client, class Upstream> void connection<Client, Upstream>::connect() {
    auto self = this->shared_from_this();
    stage_ = stage::connecting;
    arm_setup_timer();
    const auto& up = target_;
    resolver_.async_resolve(up.host, std::to_string(up.port),
                            [this, self](std::error_code ec, tcp::resolver::results_type results) {
                                if (stopped()) {
                                    return;
                                }
                                if (ec || setup_error_) {
                                    fail_upstream(setup_failure(ec));
                                    return;
                                }
                                const auto first =
                                    results.begin(); // holds the addresses too: safe past the move
                                dial(std::move(results), first);
                            });
}

// Endpoint by endpoint rather than asio's range connect: that one closes and reopens the socket
// before every attempt, and out of descriptors the reopen fails (another connection took the
// descriptor in between) and all it reports is "operation aborted". Opening here says what is
// wrong ("Too many open files").
template <class Client, class Upstream>
void connection<Client, Upstream>::dial(tcp::resolver::results_type results,
                                        tcp::resolver::results_type::iterator at) {
    std::error_code open_ec;
    tcp_of(upstream_).close(open_ec);
    tcp_of(upstream_).open(at->endpoint().protocol(), open_ec);
    if (open_ec) {
        fail_upstream(setup_failure(open_ec));
        return;
    }
    auto self = this->shared_from_this();
    tcp_of(upstream_).async_connect(
        at->endpoint(), [this, self, results = std::move(results), at](std::error_code ec) {
            if (ec && !stopped() && !setup_error_ && std::next(at) != results.end()) {
                dial(results, std::next(at)); // the next address the name resolved to
                return;
            }
            on_connected(ec);
        });
}

template <class Client, class Upstream>
void connection<Client, Upstream>::on_connected(std::error_code ec) {
    if (stopped()) {
        return;
    }
    if (ec || setup_error_) {
        fail_upstream(setup_failure(ec));
        return;
    }
    std::error_code ignored;
    tcp_of(client_).set_option(tcp::no_delay(true), ignored);
    tcp_of(upstream_).set_option(tcp::no_delay(true), ignored);
    // Known to the acceptor as one of our own sockets, in case the upstream is this proxy.
    if (const auto local = tcp_of(upstream_).local_endpoint(ignored); !ignored) {
        dialed_from_ = local;
        owner_.dialing(local, loop_, this->weak_from_this());
    }
    if constexpr (is_tls<Upstream>) {
        auto self = this->shared_from_this();
        stage_ = stage::tls_connect;
        arm_setup_timer();
        tls::prepare_upstream(upstream_.native_handle(), target_.host, owner_.options.insecure);
        upstream_.async_handshake(asio::ssl::stream_base::client,
                                  [this, self](std::error_code hec) { on_upstream_tls(hec); });
    } else {
        relay();
    }
}

template <class Client, class Upstream>
void connection<Client, Upstream>::on_upstream_tls(std::error_code ec) {
    if (stopped()) {
        return;
    }
    if (ec || setup_error_) {
        fail_upstream(setup_failure(ec));
        return;
    }
    if constexpr (is_tls<Upstream>) {
        tls_.upstream =
            tls::upstream_leg_of(upstream_.native_handle(), intercepted_as_.value_or(target_.host),
                                 owner_.options.insecure);
    }
    if (intercepted_as_) {
        accept_intercepted_client();
        return;
    }
    relay();
}

template <class Client, class Upstream> void connection<Client, Upstream>::relay() {
    if (tunnel_pending()) {
        establish_tunnel(); // relays once the client has heard the tunnel is up
        return;
    }
    stage_ = stage::relaying;
    timer_.cancel();
    tap_->relaying(tls_.client || tls_.upstream ? &tls_ : nullptr);
    arm_timer();
    read(direction::s2c);
    if (preface_.empty()) {
        read(direction::c2s);
        return;
    }
    // Forward mode: what the client sent with its request goes first, then c2s reads on.
    pump_of(direction::c2s).shown_as = std::move(preface_shown_as_);
    forward(direction::c2s, bytes_view{preface_}, wall_clock::now(),
            [this](std::error_code ec) { on_written(direction::c2s, ec); });
}

// One sentence for a failed setup step, e.g. "timed out after 5000 ms" or "Connection refused".
template <class Client, class Upstream>
std::string connection<Client, Upstream>::setup_failure(std::error_code ec) {
    const auto timeout = std::to_string(owner_.options.connect_timeout.count()) + " ms";
    const bool timed_out = setup_error_ == asio::error::timed_out;
    if (stage_ == stage::tls_connect) {
        if constexpr (is_tls<Upstream>) {
            return timed_out ? "TLS handshake timed out after " + timeout
                             : tls::describe_upstream_failure(upstream_.native_handle(), ec);
        }
    }
    return timed_out ? "timed out after " + timeout : ec.message();
}

// Run-time guard against `--upstream` naming this proxy (under another name, or through a
// forwarder): the acceptor recognises a connection coming from one of our own upstream
// sockets, and the connection that dialed it answers its client instead of looping.
template <class Client, class Upstream> void connection<Client, Upstream>::upstream_is_self() {
    if (stopped() || stage_ == stage::winding_down) {
        return;
    }
    std::error_code ec;
    const auto upstream = tcp_of(upstream_).remote_endpoint(ec);
    fail_upstream((ec ? target_.host_port() : to_string(upstream)) +
                  " is this proxy's own listening address: wssniff would connect to itself");
}

} // namespace wssniff::proxy

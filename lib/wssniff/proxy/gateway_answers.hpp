#pragma once
// connection: the proxy's own HTTP answers. The client asked an HTTP question; when wssniff
// cannot pass it on it says why in HTTP (a 400 for plain HTTP on the TLS port, a 502 for an
// unreachable upstream, a 504 for one that answers nothing), then half-closes and finishes.

#include "wssniff/proxy/connection.hpp"
#include "wssniff/proxy/tls.hpp"

namespace wssniff::proxy {

namespace detail {

inline std::string plain_http_answer(std::string_view status, const std::string& body) {
    return "HTTP/1.1 " + std::string(status) +
           "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

} // namespace detail

// Writes the answer, half-closes toward the client, then finishes with `then`. Nothing more is
// read meanwhile.
template <class Client, class Upstream>
void connection<Client, Upstream>::answer(std::string_view status, const std::string& body,
                                          end_reason then) {
    stage_ = stage::winding_down;
    answer_ = detail::plain_http_answer(status, body);
    auto self = this->shared_from_this();
    asio::async_write(client_, asio::buffer(answer_),
                      [this, self, then](std::error_code, std::size_t) {
                          if (stopped()) {
                              return;
                          }
                          half_close(client_, [this, then] { finish(then); });
                      });
}

template <class Client, class Upstream>
void connection<Client, Upstream>::client_tls_failed(std::error_code ec) {
    const bool timed_out = ec == asio::error::timed_out && setup_error_;
    if (intercepted_as_ && !timed_out) {
        // The usual cause: the client does not trust the CA (it closes, or sends an alert).
        tap_->failed(failure::client_tls_failed,
                     tls::describe_client_failure(ec) + " (intercepting as " + *intercepted_as_ +
                         "; does the client trust the --mitm-ca certificate, ca.pem?)");
        finish(end_reason::client_reset);
        return;
    }
    tap_->failed(failure::client_tls_failed, timed_out                    ? "timed out"
                                             : tls::plain_http_to_tls(ec) ? "it sent plain HTTP"
                                                                          : ec.message());
    if (timed_out) {
        finish(end_reason::timeout);
        return;
    }
    if (!tls::plain_http_to_tls(ec)) {
        finish(end_reason::client_reset);
        return;
    }
    // A plain HTTP request on the TLS port: answer in plain HTTP, as nginx does, so the mistake
    // is visible in the client rather than a bare reset. TLS is not up: the answer goes on the
    // TCP socket.
    stage_ = stage::winding_down;
    answer_ = detail::plain_http_answer("400 Bad Request",
                                        "wssniff: this port speaks TLS: connect with wss://\n");
    auto self = this->shared_from_this();
    asio::async_write(tcp_of(client_), asio::buffer(answer_),
                      [this, self](std::error_code, std::size_t) {
                          std::error_code ignored;
                          tcp_of(client_).shutdown(tcp::socket::shutdown_send, ignored);
                          finish(end_reason::client_reset);
                      });
}

template <class Client, class Upstream>
void connection<Client, Upstream>::fail_upstream(const std::string& why) {
    const std::string upstream = target_.host_port();
    traffic_counters::add(loop_.traffic.upstream_failures, 1);
    tap_->failed(failure::upstream_unreachable, upstream + ": " + why);
    if (intercepted_as_) {
        // The client's TLS handshake waits for our answer: it gets none (no HTTP can reach it
        // before TLS is up, and no TLS comes up for a server that failed the check).
        finish(end_reason::upstream_unreachable);
        return;
    }
    answer("502 Bad Gateway", "wssniff: cannot reach upstream " + upstream + ": " + why + "\n",
           end_reason::upstream_unreachable);
}

// The opening exchange did not end within --handshake-timeout. When the upstream has the request
// and has answered nothing, the client hears why (a 504, as a gateway says it) rather than a bare
// close; once any of a response has been forwarded, the connection just ends.
template <class Client, class Upstream> void connection<Client, Upstream>::handshake_timed_out() {
    if (!tap_->awaiting_first_response() || pump_of(direction::s2c).write_pending) {
        finish(end_reason::timeout);
        return;
    }
    const auto& o = owner_.options;
    answer("504 Gateway Timeout",
           "wssniff: upstream " + target_.host_port() +
               " sent no response within the handshake timeout (" +
               std::to_string(o.handshake_timeout.count()) + " ms)\n",
           end_reason::timeout);
}

} // namespace wssniff::proxy

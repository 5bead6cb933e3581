#pragma once
// connection: its timers. One steady timer per connection serves three deadlines:
// - setup (--connect-timeout): bounds each step before relaying (TLS accept, connect, TLS
//   connect) by closing the socket of the step in progress; with --mitm-ca, the wait for a
//   tunnel's first bytes, after which it is relayed unread;
// - handshake (--handshake-timeout): from accept until the tap says the opening exchange is
//   over; it cuts a stalled setup, never a working tunnel;
// - idle (--idle-timeout): no byte read or written either way, and none leaving our send queues
//   (a slow reader being served is not idle).

#include "wssniff/proxy/connection.hpp"

#include <linux/sockios.h>
#include <sys/ioctl.h>

namespace wssniff::proxy {

template <class Client, class Upstream> void connection<Client, Upstream>::arm_setup_timer() {
    auto self = this->shared_from_this();
    timer_.expires_after(owner_.options.connect_timeout);
    timer_.async_wait([this, self](std::error_code ec) {
        if (ec || stopped() || stage_ >= stage::relaying) {
            return;
        }
        if (stage_ == stage::peeking) {
            tunnel_decided(std::nullopt); // no ClientHello in time: the tunnel is relayed unread
            return;
        }
        // Closing the socket ends the step in progress with an error; setup_error_ says why.
        setup_error_ = asio::error::timed_out;
        resolver_.cancel();
        std::error_code ignored;
        if (stage_ == stage::tls_accept || stage_ == stage::proxy_request) {
            tcp_of(client_).close(ignored);
        } else {
            tcp_of(upstream_).close(ignored);
        }
    });
}

template <class Client, class Upstream> bool connection<Client, Upstream>::handshake_timed() const {
    return owner_.options.handshake_timeout.count() > 0 && !tap_->setup_over();
}

// Whether bytes we wrote still leave either socket's send queue since the last look: the
// destination is reading, however slowly, so the connection is not idle.
template <class Client, class Upstream> bool connection<Client, Upstream>::sending() {
    bool moved = false;
    tcp::socket* sockets[2] = {&tcp_of(client_), &tcp_of(upstream_)};
    for (int i = 0; i < 2; ++i) {
        int unsent = 0;
        if (::ioctl(sockets[i]->native_handle(), SIOCOUTQ, &unsent) != 0) {
            unsent = 0;
        }
        moved = moved || (unsent > 0 && unsent != unsent_[i]);
        unsent_[i] = unsent;
    }
    return moved;
}

template <class Client, class Upstream> void connection<Client, Upstream>::arm_timer() {
    const auto& o = owner_.options;
    auto next = steady::time_point::max();
    if (handshake_timed()) {
        next = std::min(next, accepted_at_ + o.handshake_timeout);
    }
    if (o.idle_timeout.count() > 0) {
        next = std::min(next, last_activity_ + o.idle_timeout);
    }
    if (next == steady::time_point::max()) {
        return;
    }
    timer_.expires_at(next);
    auto self = this->shared_from_this();
    timer_.async_wait([this, self](std::error_code ec) {
        if (ec || stopped()) {
            return;
        }
        const auto now = steady::now();
        const auto& opts = owner_.options;
        if (handshake_timed() && now >= accepted_at_ + opts.handshake_timeout) {
            handshake_timed_out();
            return;
        }
        if (opts.idle_timeout.count() > 0 && now >= last_activity_ + opts.idle_timeout) {
            if (!sending()) {
                finish(end_reason::timeout);
                return;
            }
            last_activity_ = now;
        }
        arm_timer();
    });
}

} // namespace wssniff::proxy

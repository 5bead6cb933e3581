#pragma once
// connection: how a connection pair ends.
// - A FIN from one side becomes a shutdown of our write side toward the other; the other
//   direction keeps flowing until it ends too (end_of_stream, pass_end_on).
// - A side that resets, or fails our write, gets its reset passed on, but only after what it
//   sent before has been forwarded (source_gone) and what we already wrote to the other side
//   has left our send queue, or a bounded wait for a peer that does not read (reset,
//   pass_reset_on): an RST throws the queue away.
// - finish() closes both sockets; settle() waits for writes under way to report what they
//   forwarded, then tells the tap and lets the proxy forget the connection.

#include "wssniff/proxy/connection.hpp"
#include "wssniff/proxy/tls.hpp"

#include <linux/sockios.h>
#include <sys/ioctl.h>

namespace wssniff::proxy {

namespace detail {

inline end_reason closed_by(direction from) {
    return from == direction::c2s ? end_reason::client_closed : end_reason::server_closed;
}

inline end_reason reset_by(direction side) {
    return side == direction::c2s ? end_reason::client_reset : end_reason::server_reset;
}

} // namespace detail

// The side `d`'s bytes come from failed a write: it reset, or closed with our bytes unread. What
// it sent before that may still wait unread in our socket (the close frame that says why, say);
// `d` goes on reading until the socket's end and forwards it all, and only then is the reset
// passed on. The failed direction reads no more: its bytes have nowhere to go.
template <class Client, class Upstream>
void connection<Client, Upstream>::source_gone(direction d) {
    if (gone_ || pump_of(d).eof) {
        reset(gone_.value_or(d));
        return;
    }
    gone_ = d;
}

// `from` finished sending (FIN): pass the half-close on, keep the other direction going.
template <class Client, class Upstream>
void connection<Client, Upstream>::end_of_stream(direction from, wall_clock::time_point now) {
    pump& p = pump_of(from);
    p.eof = true;
    if (!first_to_end_) {
        first_to_end_ = from;
    }
    if (from == direction::c2s && rewriter_) {
        // A request head cut short: forward what arrived, as it arrived, then end.
        p.rewritten.clear();
        rewriter_->flush(p.rewritten);
        if (!p.rewritten.empty()) {
            forward(from, bytes_view{p.rewritten}, now, [this, from, now](std::error_code) {
                if (!stopped()) {
                    pass_end_on(from, now);
                }
            });
            return;
        }
    }
    pass_end_on(from, now);
}

template <class Client, class Upstream>
void connection<Client, Upstream>::pass_end_on(direction from, wall_clock::time_point now) {
    tap_->ended(from, now);
    const bool both_ended = pump_of(other(from)).eof;
    with_destination(from, [this, both_ended](auto& destination) {
        half_close(destination, [this, both_ended] {
            if (both_ended) {
                finish(detail::closed_by(*first_to_end_));
            }
        });
    });
}

// Ends our sending on `s` while its reading goes on; `then` runs once that is done.
template <class Client, class Upstream>
template <class F>
void connection<Client, Upstream>::half_close(plain_stream& s, F&& then) {
    std::error_code ignored;
    s.shutdown(tcp::socket::shutdown_send, ignored);
    then();
}

template <class Client, class Upstream>
template <class F>
void connection<Client, Upstream>::half_close(tls_stream& s, F&& then) {
    auto self = this->shared_from_this();
    tls::async_half_close(s, [this, self, &s, then = std::forward<F>(then)]() mutable {
        if (!stopped()) {
            std::error_code ignored;
            s.next_layer().shutdown(tcp::socket::shutdown_send, ignored);
        }
        then();
    });
}

// `side` reset its connection (or failed): reset the other side too, once what we already
// wrote to it has left our send queue or after a bounded wait. No more reading meanwhile.
template <class Client, class Upstream> void connection<Client, Upstream>::reset(direction side) {
    if (!reading()) {
        return;
    }
    stage_ = stage::winding_down;
    pass_reset_on(side, steady::now() + reset_linger);
}

template <class Client, class Upstream>
void connection<Client, Upstream>::pass_reset_on(direction side, steady::time_point give_up) {
    tcp::socket& peer = side == direction::c2s ? tcp_of(upstream_) : tcp_of(client_);
    int unsent = 0;
    if (::ioctl(peer.native_handle(), SIOCOUTQ, &unsent) == 0 && unsent > 0 &&
        steady::now() < give_up) {
        auto self = this->shared_from_this();
        timer_.expires_after(std::chrono::milliseconds(1));
        timer_.async_wait([this, self, side, give_up](std::error_code ec) {
            if (!ec && !stopped()) {
                pass_reset_on(side, give_up);
            }
        });
        return;
    }
    std::error_code ignored;
    peer.set_option(asio::socket_base::linger(true, 0), ignored);
    finish(detail::reset_by(side));
}

template <class Client, class Upstream> void connection<Client, Upstream>::finish(end_reason why) {
    if (stopped()) {
        return;
    }
    stage_ = stage::finished;
    std::error_code ignored;
    timer_.cancel();
    resolver_.cancel();
    tcp_of(client_).close(ignored);
    tcp_of(upstream_).close(ignored);
    end_.emplace(why, wall_clock::now());
    settle();
}

// After finish(), once no write is under way (a write the teardown cut short reports how much of
// it was forwarded when its handler runs, with operation_aborted): the tap hears `closed`, then
// the proxy forgets the connection, so that a caller who sees no open connections also sees
// every close record.
template <class Client, class Upstream> void connection<Client, Upstream>::settle() {
    if (stage_ != stage::finished || pumps_[0].write_pending || pumps_[1].write_pending) {
        return;
    }
    stage_ = stage::settled;
    tap_->closed(end_->first, end_->second);
    if (dialed_from_) {
        owner_.dialed(*dialed_from_);
    }
    owner_.forget(loop_, id_);
}

} // namespace wssniff::proxy

#pragma once
// connection: one direction of the relay. Read a chunk, let the Host rewriter see client bytes,
// write the chunk to the other side, and once the write is done tell the tap what of it was
// forwarded (the tee: records describe the bytes forwarded), then read again. A slow reader
// thus throttles its producer, and memory stays one buffer per direction.

#include "wssniff/proxy/connection.hpp"

#include <limits>

namespace wssniff::proxy {

// Asio's own completion conditions (transfer_all and the rest) hand the socket at most 64 KiB
// per call: a 256 KiB stream read went out in four sends, each with its own wake-up of the
// receiver and its own pass through the event loop. This one offers the socket all that is left.
struct whole_chunk {
    std::size_t operator()(const std::error_code& ec, std::size_t) const noexcept {
        return ec ? 0 : std::numeric_limits<std::size_t>::max();
    }
};

template <class Client, class Upstream> void connection<Client, Upstream>::read(direction d) {
    if (!reading()) {
        return;
    }
    auto self = this->shared_from_this();
    pump& p = pump_of(d);
    if (p.buffer && loop_.buffers.is_streaming(p.buffer) != p.streaming) {
        // A stream began or ran out: the next read takes a buffer of the other size.
        loop_.buffers.give_back(std::move(p.buffer));
        p.buffer = loop_.buffers.take(p.streaming);
    }
    with_source(d, [&](auto& source) {
        using stream = std::decay_t<decltype(source)>;
        if constexpr (!is_tls<stream>) {
            // Plain TCP: while data keeps coming, read it at once into the buffer we hold; when
            // none is waiting, give the buffer back and wait for readability first. (A TLS
            // stream may hold decrypted bytes the socket does not show: it keeps its buffer and
            // reads as usual.)
            if (!source.non_blocking()) {
                std::error_code ignored;
                source.non_blocking(true, ignored); // read_some below must not wait
            }
            if (p.buffer) {
                std::error_code ec;
                const std::size_t n =
                    source.read_some(asio::buffer(p.buffer.get(), p.buffer.size), ec);
                if (ec != asio::error::would_block && ec != asio::error::try_again) {
                    on_read(d, ec, n);
                    return;
                }
                loop_.buffers.give_back(std::move(p.buffer));
                p.streaming = false; // the socket ran dry
            }
            source.async_wait(tcp::socket::wait_read, [this, self, d](std::error_code ec) {
                if (stopped()) {
                    return;
                }
                if (ec) {
                    on_read(d, ec, 0);
                    return;
                }
                pump_of(d).buffer = loop_.buffers.take(false);
                read(d);
            });
        } else {
            if (!p.buffer) {
                p.buffer = loop_.buffers.take(p.streaming);
            }
            source.async_read_some(
                asio::buffer(p.buffer.get(), p.buffer.size),
                [this, self, d](std::error_code ec, std::size_t n) { on_read(d, ec, n); });
        }
    });
}

template <class Client, class Upstream>
void connection<Client, Upstream>::on_read(direction d, std::error_code ec, std::size_t n) {
    if (!reading()) {
        return;
    }
    const auto now = wall_clock::now();
    pump& p = pump_of(d);
    // A TLS peer that closes its socket without a close_notify ends its stream all the same
    // (most do; the WebSocket closing handshake already said the conversation is over).
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
        if (gone_ == d) {
            // The end of what a reset side sent before its reset (its error was taken by the
            // failed write): now the reset is passed on.
            reset(d);
            return;
        }
        end_of_stream(d, now);
        return;
    }
    if (ec) {
        if (ec != asio::error::operation_aborted) {
            reset(d);
        }
        return;
    }
    touch();
    p.streaming = n >= loop_.buffers.regular_size();
    bytes_view chunk{p.buffer.get(), n};
    if (rewriter_) {
        const bool requests = d == direction::c2s;
        if (requests) {
            p.rewritten.clear();
            rewriter_->feed(chunk, p.rewritten);
            chunk = bytes_view{p.rewritten};
        } else {
            rewriter_->feed_response(chunk);
        }
        if (rewriter_->stepped_aside()) {
            rewriter_.reset(); // what it released is in p.rewritten, not in it
        }
        if (requests && chunk.empty()) {
            read(d); // a request head is still arriving
            return;
        }
    }
    forward(d, chunk, now, [this, d](std::error_code wec) { on_written(d, wec); });
}

// Writes `chunk` of `d` to its destination, then runs `then`. The tee: once the write is done,
// the tap sees, read-only, what of the chunk was forwarded, so that the records and the close
// record's counts describe the same bytes whatever befalls the destination.
template <class Client, class Upstream>
template <class F>
void connection<Client, Upstream>::forward(direction d, bytes_view chunk,
                                           wall_clock::time_point read_at, F&& then) {
    pump& p = pump_of(d);
    p.writing = chunk;
    p.write_pending = true;
    p.read_at = read_at;
    auto self = this->shared_from_this();
    with_destination(d, [&](auto& destination) {
        asio::async_write(destination, asio::buffer(chunk.data(), chunk.size()), whole_chunk{},
                          [this, self, d, then = std::forward<F>(then)](std::error_code ec,
                                                                        std::size_t n) mutable {
                              // Runs even after finish(): the tap must hear what was forwarded.
                              written(d, n);
                              then(ec);
                          });
    });
}

// The write of `d` ended with `n` bytes taken by the destination's socket (all of them unless
// it failed or the teardown cut it short).
template <class Client, class Upstream>
void connection<Client, Upstream>::written(direction d, std::size_t n) {
    pump& p = pump_of(d);
    p.write_pending = false;
    if (n > 0) {
        touch();
        traffic_counters::add(loop_.traffic.bytes[d == direction::c2s ? 0 : 1], n);
        if (p.shown_as.empty()) {
            tap_->forwarded(d, p.writing.first(n), p.read_at);
        } else {
            // An absolute-form head went upstream rewritten; the records show the client's
            // request (its Proxy-* fields redacted), once the whole of it was forwarded.
            if (n == p.writing.size()) {
                tap_->forwarded(d, bytes_view{p.shown_as}, p.read_at);
            }
            p.shown_as.clear();
        }
    }
    if (stopped()) {
        settle();
    }
}

template <class Client, class Upstream>
void connection<Client, Upstream>::on_written(direction d, std::error_code ec) {
    if (!reading()) {
        return;
    }
    if (ec) {
        // The receiving side is gone: treat it as its reset.
        source_gone(other(d));
        return;
    }
    read(d);
}

} // namespace wssniff::proxy

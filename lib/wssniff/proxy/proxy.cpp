#include "wssniff/proxy/proxy.hpp"

#include "wssniff/proxy/host_rewriter.hpp"
#include "wssniff/proxy/tls.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace wssniff::proxy {

namespace {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;

std::string to_string(const tcp::endpoint& ep) {
    const std::string address = ep.address().to_string();
    return (ep.address().is_v6() ? "[" + address + "]" : address) + ":" + std::to_string(ep.port());
}

// Asio reports system errors in its own category ("asio.system"), which does not map errno
// values to std::errc conditions, so the values are compared directly.
bool exhausted(const std::error_code& ec) {
    if (ec.category() != asio::system_category() && ec.category() != std::system_category() &&
        ec.category() != std::generic_category()) {
        return false;
    }
    switch (ec.value()) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM: return true;
    default: return false;
    }
}

record::close_reason closed_by(direction from) {
    return from == direction::c2s ? record::close_reason::client_closed
                                  : record::close_reason::server_closed;
}

record::close_reason reset_by(direction side) {
    return side == direction::c2s ? record::close_reason::client_reset
                                  : record::close_reason::server_reset;
}

// How long a reset waits for the other side to take what was already written to it.
constexpr auto reset_linger = std::chrono::seconds(1);

direction other(direction d) {
    return d == direction::c2s ? direction::s2c : direction::c2s;
}

// The proxy's own answers (a 502 for an unreachable upstream, a 400 for plain HTTP on the TLS
// port): the client asked an HTTP question, it gets an HTTP answer, then the connection closes.
std::string plain_http_answer(std::string_view status, const std::string& body) {
    return "HTTP/1.1 " + std::string(status) +
           "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

using plain_stream = tcp::socket;
using tls_stream = asio::ssl::stream<tcp::socket>;

template <class Stream> constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

tcp::socket& tcp_of(plain_stream& s) {
    return s;
}
tcp::socket& tcp_of(tls_stream& s) {
    return s.next_layer();
}

template <class Stream>
Stream make_stream(tcp::socket socket, std::optional<asio::ssl::context>& context) {
    if constexpr (is_tls<Stream>) {
        return Stream(std::move(socket), *context);
    } else {
        (void)context;
        return socket;
    }
}

} // namespace

class connection_base;

struct proxy::impl {
    impl(proxy_options o, record::sink& s) : options(std::move(o)), sink(s) {
        if (options.upstream.tls) {
            upstream_tls.emplace(tls::client_context(options.ca_file, options.insecure));
        }
        if (options.tls_cert && options.tls_key) {
            client_tls.emplace(tls::server_context(*options.tls_cert, *options.tls_key));
        }
    }

    void accept();
    template <class Client, class Upstream> void open(tcp::socket socket, std::uint64_t id);
    void forget(std::uint64_t id) {
        connections.erase(id);
        open_count.fetch_sub(1);
    }
    void shutdown_all();

    // Read buffers lent to pumps while their socket has data, so an idle connection holds
    // none: memory follows the traffic, not the number of open connections.
    std::unique_ptr<std::uint8_t[]> take_buffer() {
        if (spare_buffers.empty()) {
            // Not zero-filled: pages are committed only when a read fills them.
            return std::unique_ptr<std::uint8_t[]>(new std::uint8_t[options.buffer_size]);
        }
        auto b = std::move(spare_buffers.back());
        spare_buffers.pop_back();
        return b;
    }
    void give_back(std::unique_ptr<std::uint8_t[]> b) {
        if (b && spare_buffers.size() < 64) {
            spare_buffers.push_back(std::move(b));
        }
    }

    proxy_options options;
    record::sink& sink;
    std::vector<std::unique_ptr<std::uint8_t[]>> spare_buffers; // relay thread only
    // One context per side for the whole run: certificates are loaded and checked once.
    std::optional<asio::ssl::context> client_tls;
    std::optional<asio::ssl::context> upstream_tls;
    asio::io_context io{1};
    tcp::acceptor acceptor{io};
    asio::steady_timer accept_retry{io};
    std::unique_ptr<asio::signal_set> signals;
    std::thread thread;
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::size_t> open_count{0};
    std::unordered_map<std::uint64_t, std::weak_ptr<connection_base>> connections; // relay thread
    bool stopping = false;
    bool listening = false;
    clock::time_point last_exhaustion_warning{};
};

// What the proxy holds of a connection whatever its streams are.
class connection_base {
  public:
    virtual ~connection_base() = default;
    virtual void start() = 0;
    // The proxy is stopping.
    virtual void shut_down() = 0;
};

// One client and its upstream: two pumps (c2s, s2c), each reading into its own fixed buffer and
// reading again only when the write of the last chunk has completed.
//
// Templated on the two stream types (plain_stream or tls_stream, four instantiations) rather
// than hiding them behind a virtual stream: the relay's reads and writes stay direct calls, and
// the plain path compiles to what it was before TLS existed.
template <class Client, class Upstream>
class connection final : public connection_base,
                         public std::enable_shared_from_this<connection<Client, Upstream>> {
  public:
    connection(proxy::impl& owner, tcp::socket client, std::uint64_t id)
        : owner_(owner), id_(id), client_(make_stream<Client>(std::move(client), owner.client_tls)),
          upstream_(make_stream<Upstream>(tcp::socket(owner.io), owner.upstream_tls)),
          resolver_(owner.io), timer_(owner.io),
          session_options_(session_options(owner.options, tcp_of(client_), id)),
          sniff_(owner.options.sniff) {
        if (owner.options.rewrite_host) {
            rewriter_.emplace(owner.options.upstream.authority());
        }
        accepted_at_ = last_activity_ = clock::now();
    }

    void start() override {
        if constexpr (is_tls<Client>) {
            auto self = this->shared_from_this();
            phase_ = phase::client_tls;
            arm_setup_timer();
            client_.async_handshake(asio::ssl::stream_base::server,
                                    [this, self](std::error_code ec) { on_client_tls(ec); });
        } else {
            connect();
        }
    }

    void shut_down() override { finish(record::close_reason::shutdown); }

  private:
    // Until the relay starts, one timer bounds each step (TLS handshakes reuse the connect
    // timeout); the relay then uses it for the handshake and idle timeouts.
    enum class phase : std::uint8_t { client_tls, connect, upstream_tls, relay };

    struct pump {
        std::unique_ptr<std::uint8_t[]> buffer; // lent by the proxy while data flows
        std::string rewritten;                  // c2s bytes released by the Host rewriter
        bytes_view writing;                     // the chunk whose write is under way
        bool write_pending = false;
        std::chrono::system_clock::time_point read_at; // when `writing` was read
        bool eof = false;
    };

    static session::session_options session_options(const proxy_options& options,
                                                    const tcp::socket& client, std::uint64_t id) {
        session::session_options s = options.session;
        s.conn = id;
        std::error_code ec;
        const auto peer = client.remote_endpoint(ec);
        if (!ec) {
            s.client = to_string(peer);
        }
        s.upstream = options.upstream.host + ":" + std::to_string(options.upstream.port);
        return s;
    }

    pump& pump_of(direction d) { return pumps_[d == direction::c2s ? 0 : 1]; }

    // Calls f with the stream `d`'s bytes come from (or go to): a branch, not a virtual call.
    template <class F> void with_source(direction d, F&& f) {
        if (d == direction::c2s) {
            f(client_);
        } else {
            f(upstream_);
        }
    }
    template <class F> void with_destination(direction d, F&& f) {
        if (d == direction::c2s) {
            f(upstream_);
        } else {
            f(client_);
        }
    }

    void arm_setup_timer() {
        auto self = this->shared_from_this();
        timer_.expires_after(owner_.options.connect_timeout);
        timer_.async_wait([this, self](std::error_code ec) {
            if (ec || finished_ || phase_ == phase::relay) {
                return;
            }
            // Closing the socket ends the step in progress with an error, reported there.
            setup_timed_out_ = true;
            resolver_.cancel();
            std::error_code ignored;
            if (phase_ == phase::client_tls) {
                tcp_of(client_).close(ignored);
            } else {
                tcp_of(upstream_).close(ignored);
            }
        });
    }

    void on_client_tls(std::error_code ec) {
        if (finished_) {
            return;
        }
        if (ec) {
            client_tls_failed(ec);
            return;
        }
        tls_.client = tls::leg_of(client_.native_handle());
        connect();
    }

    void client_tls_failed(std::error_code ec) {
        if (sniff_) {
            record::error e;
            e.code = error_code::client_tls_failed;
            e.message = std::string(describe(e.code)) + ": " +
                        (setup_timed_out_             ? std::string("timed out")
                         : tls::plain_http_to_tls(ec) ? std::string("it sent plain HTTP")
                                                      : ec.message());
            e.fatal = true;
            e.dir = direction::c2s;
            owner_.sink.write(record::record{id_, std::chrono::system_clock::now(), std::move(e)});
            owner_.sink.end_of_batch();
        }
        if (setup_timed_out_) {
            finish(record::close_reason::timeout);
            return;
        }
        if (!tls::plain_http_to_tls(ec)) {
            finish(record::close_reason::client_reset);
            return;
        }
        // A plain HTTP request on the TLS port: answer in plain HTTP, as nginx does, so the
        // mistake is visible in the client rather than a bare reset.
        answer_ = plain_http_answer("400 Bad Request",
                                    "wssniff: this port speaks TLS: connect with wss://\n");
        auto self = this->shared_from_this();
        asio::async_write(tcp_of(client_), asio::buffer(answer_),
                          [this, self](std::error_code, std::size_t) {
                              std::error_code ignored;
                              tcp_of(client_).shutdown(tcp::socket::shutdown_send, ignored);
                              finish(record::close_reason::client_reset);
                          });
    }

    void connect() {
        auto self = this->shared_from_this();
        phase_ = phase::connect;
        arm_setup_timer();
        const auto& up = owner_.options.upstream;
        resolver_.async_resolve(
            up.host, std::to_string(up.port),
            [this, self](std::error_code ec, tcp::resolver::results_type results) {
                if (finished_) {
                    return;
                }
                if (ec) {
                    fail_upstream(ec);
                    return;
                }
                // Open first: out of descriptors, the range connect below would report only
                // "operation aborted"; this says what is wrong ("Too many open files").
                std::error_code open_ec;
                tcp_of(upstream_).open(results.begin()->endpoint().protocol(), open_ec);
                if (open_ec) {
                    fail_upstream(open_ec);
                    return;
                }
                asio::async_connect(
                    tcp_of(upstream_), results,
                    [this, self](std::error_code cec, const tcp::endpoint&) { on_connected(cec); });
            });
    }

    void on_connected(std::error_code ec) {
        if (finished_) {
            return;
        }
        if (ec) {
            fail_upstream(ec);
            return;
        }
        std::error_code ignored;
        tcp_of(client_).set_option(tcp::no_delay(true), ignored);
        tcp_of(upstream_).set_option(tcp::no_delay(true), ignored);
        if constexpr (is_tls<Upstream>) {
            auto self = this->shared_from_this();
            phase_ = phase::upstream_tls;
            arm_setup_timer();
            const auto& o = owner_.options;
            tls::prepare_upstream(upstream_.native_handle(), o.upstream.host, o.insecure);
            upstream_.async_handshake(asio::ssl::stream_base::client,
                                      [this, self](std::error_code hec) { on_upstream_tls(hec); });
        } else {
            relay();
        }
    }

    void on_upstream_tls(std::error_code ec) {
        if (finished_) {
            return;
        }
        if (ec) {
            fail_upstream(ec);
            return;
        }
        const auto& o = owner_.options;
        tls_.upstream =
            tls::upstream_leg_of(upstream_.native_handle(), o.upstream.host, o.insecure);
        relay();
    }

    void relay() {
        phase_ = phase::relay;
        timer_.cancel();
        if (tls_.client || tls_.upstream) {
            session_options_.tls = tls_;
        }
        session_.emplace(owner_.sink, session_options_);
        arm_timer();
        read(direction::c2s);
        read(direction::s2c);
    }

    std::string setup_failure(std::error_code ec) {
        const auto timeout = std::to_string(owner_.options.connect_timeout.count()) + " ms";
        if (phase_ == phase::upstream_tls) {
            if constexpr (is_tls<Upstream>) {
                return setup_timed_out_
                           ? "TLS handshake timed out after " + timeout
                           : tls::describe_upstream_failure(upstream_.native_handle(), ec);
            }
        }
        return setup_timed_out_ ? "timed out after " + timeout : ec.message();
    }

    void fail_upstream(std::error_code ec) {
        const auto& up = owner_.options.upstream;
        const std::string why = setup_failure(ec);
        record::error e;
        e.code = error_code::upstream_unreachable;
        e.message = std::string(describe(e.code)) + ": " + up.host + ":" + std::to_string(up.port) +
                    ": " + why;
        e.fatal = true;
        if (sniff_) {
            owner_.sink.write(record::record{id_, std::chrono::system_clock::now(), std::move(e)});
            owner_.sink.end_of_batch();
        }
        answer_ =
            plain_http_answer("502 Bad Gateway", "wssniff: cannot reach upstream " + up.host + ":" +
                                                     std::to_string(up.port) + ": " + why + "\n");
        auto self = this->shared_from_this();
        asio::async_write(
            client_, asio::buffer(answer_), [this, self](std::error_code, std::size_t) {
                half_close(client_, [this] { finish(record::close_reason::upstream_unreachable); });
            });
    }

    void read(direction d) {
        if (finished_ || winding_down_) {
            return;
        }
        auto self = this->shared_from_this();
        pump& p = pump_of(d);
        const std::size_t size = owner_.options.buffer_size;
        with_source(d, [&](auto& source) {
            using stream = std::decay_t<decltype(source)>;
            if constexpr (!is_tls<stream>) {
                // Plain TCP: while data keeps coming, read it at once into the buffer we hold;
                // when none is waiting, give the buffer back and wait for readability first.
                // (A TLS stream may hold decrypted bytes the socket does not show: it keeps
                // its buffer and reads as usual.)
                if (!source.non_blocking()) {
                    std::error_code ignored;
                    source.non_blocking(true, ignored); // read_some below must not wait
                }
                if (p.buffer) {
                    std::error_code ec;
                    const std::size_t n = source.read_some(asio::buffer(p.buffer.get(), size), ec);
                    if (ec != asio::error::would_block && ec != asio::error::try_again) {
                        on_read(d, ec, n);
                        return;
                    }
                    owner_.give_back(std::move(p.buffer));
                }
                source.async_wait(tcp::socket::wait_read, [this, self, d](std::error_code ec) {
                    if (finished_) {
                        return;
                    }
                    if (ec) {
                        on_read(d, ec, 0);
                        return;
                    }
                    pump_of(d).buffer = owner_.take_buffer();
                    read(d);
                });
            } else {
                if (!p.buffer) {
                    p.buffer = owner_.take_buffer();
                }
                source.async_read_some(
                    asio::buffer(p.buffer.get(), size),
                    [this, self, d](std::error_code ec, std::size_t n) { on_read(d, ec, n); });
            }
        });
    }

    void on_read(direction d, std::error_code ec, std::size_t n) {
        if (finished_ || winding_down_) {
            return;
        }
        const auto now = std::chrono::system_clock::now();
        pump& p = pump_of(d);
        // A TLS peer that closes its socket without a close_notify ends its stream all the same
        // (most do; the WebSocket closing handshake already said the conversation is over).
        if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
            if (gone_ == d) {
                // The end of what a reset side sent before its reset (its error was taken by
                // the failed write): now the reset is passed on.
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
        last_activity_ = clock::now();
        bytes_view chunk{p.buffer.get(), n};
        if (d == direction::c2s && rewriter_ && !rewriter_->stepped_aside()) {
            p.rewritten.clear();
            rewriter_->feed(chunk, p.rewritten);
            chunk = bytes_view{p.rewritten};
            if (chunk.empty()) {
                read(d); // a request head is still arriving
                return;
            }
        }
        forward(d, chunk, now, [this, d](std::error_code wec) { on_written(d, wec); });
    }

    // Writes `chunk` of `d` to its destination, then runs `then`. The tee: once the write is
    // done, the session sees, read-only, what of the chunk was forwarded, so that the records
    // and the close record's counts describe the same bytes whatever befalls the destination.
    template <class F>
    void forward(direction d, bytes_view chunk, std::chrono::system_clock::time_point read_at,
                 F&& then) {
        pump& p = pump_of(d);
        p.writing = chunk;
        p.write_pending = true;
        p.read_at = read_at;
        auto self = this->shared_from_this();
        with_destination(d, [&](auto& destination) {
            asio::async_write(destination, asio::buffer(chunk.data(), chunk.size()),
                              [this, self, d, then = std::forward<F>(then)](std::error_code ec,
                                                                            std::size_t n) mutable {
                                  written(d, n);
                                  then(ec);
                              });
        });
    }

    // The write of `d` ended with `n` bytes taken by the destination's socket (all of them
    // unless it failed or the teardown cut it short).
    void written(direction d, std::size_t n) {
        pump& p = pump_of(d);
        p.write_pending = false;
        if (sniff_ && n > 0) {
            session_->feed(d, p.writing.first(n), p.read_at);
        }
        if (finished_) {
            settle();
        }
    }

    void on_written(direction d, std::error_code ec) {
        if (finished_ || winding_down_) {
            return;
        }
        if (ec) {
            // The receiving side is gone: treat it as its reset.
            source_gone(other(d));
            return;
        }
        read(d);
    }

    // The side `d`'s bytes come from failed a write: it reset, or closed with our bytes unread.
    // What it sent before that may still wait unread in our socket (the close frame that says
    // why, say); `d` goes on reading until the socket's end and forwards it all, and only then
    // is the reset passed on. The failed direction reads no more: its bytes have nowhere to go.
    void source_gone(direction d) {
        if (gone_ || pump_of(d).eof) {
            reset(gone_.value_or(d));
            return;
        }
        gone_ = d;
    }

    // `from` finished sending (FIN): pass the half-close on, keep the other direction going.
    void end_of_stream(direction from, std::chrono::system_clock::time_point now) {
        pump& p = pump_of(from);
        p.eof = true;
        if (!first_close_) {
            first_close_ = closed_by(from);
        }
        if (from == direction::c2s && rewriter_ && !rewriter_->stepped_aside()) {
            // A request head cut short: forward what arrived, as it arrived, then end.
            p.rewritten.clear();
            rewriter_->flush(p.rewritten);
            if (!p.rewritten.empty()) {
                forward(from, bytes_view{p.rewritten}, now, [this, from, now](std::error_code) {
                    if (!finished_) {
                        pass_end_on(from, now);
                    }
                });
                return;
            }
        }
        pass_end_on(from, now);
    }

    void pass_end_on(direction from, std::chrono::system_clock::time_point now) {
        if (sniff_) {
            session_->end(from, now);
        }
        const bool both_ended = pump_of(other(from)).eof;
        with_destination(from, [this, both_ended](auto& destination) {
            half_close(destination, [this, both_ended] {
                if (both_ended) {
                    finish(*first_close_);
                }
            });
        });
    }

    // Ends our sending on `s` while its reading goes on; `then` runs once that is done.
    template <class F> void half_close(plain_stream& s, F&& then) {
        std::error_code ignored;
        s.shutdown(tcp::socket::shutdown_send, ignored);
        then();
    }
    template <class F> void half_close(tls_stream& s, F&& then) {
        // TLS ends a direction with a close_notify. SSL_shutdown would then wait for the peer's
        // close_notify, that is, read from a stream whose other pump is still reading (and
        // drop the data it finds). Marked as received for the one synchronous step that writes
        // ours, it does not wait; the mark is taken back at once, so the other pump still
        // reads everything the peer sends until it closes.
        SSL* ssl = s.native_handle();
        const int shutdown_state = SSL_get_shutdown(ssl);
        SSL_set_shutdown(ssl, shutdown_state | SSL_RECEIVED_SHUTDOWN);
        auto self = this->shared_from_this();
        s.async_shutdown([this, self, &s, then = std::forward<F>(then)](std::error_code) mutable {
            if (!finished_) {
                std::error_code ignored;
                s.next_layer().shutdown(tcp::socket::shutdown_send, ignored);
            }
            then();
        });
        SSL_set_shutdown(ssl, shutdown_state | SSL_SENT_SHUTDOWN);
    }

    // `side` reset its connection (or failed): reset the other side too, once what we already
    // wrote to it has left our send queue (an RST throws the queue away) or after a bounded
    // wait for a peer that does not read. No more reading meanwhile.
    void reset(direction side) {
        if (finished_ || winding_down_) {
            return;
        }
        winding_down_ = true;
        pass_reset_on(side, clock::now() + reset_linger);
    }

    void pass_reset_on(direction side, clock::time_point give_up) {
        tcp::socket& peer = side == direction::c2s ? tcp_of(upstream_) : tcp_of(client_);
        int unsent = 0;
        if (::ioctl(peer.native_handle(), SIOCOUTQ, &unsent) == 0 && unsent > 0 &&
            clock::now() < give_up) {
            auto self = this->shared_from_this();
            timer_.expires_after(std::chrono::milliseconds(1));
            timer_.async_wait([this, self, side, give_up](std::error_code ec) {
                if (!ec && !finished_) {
                    pass_reset_on(side, give_up);
                }
            });
            return;
        }
        std::error_code ignored;
        peer.set_option(asio::socket_base::linger(true, 0), ignored);
        finish(reset_by(side));
    }

    // Whether --handshake-timeout still runs: until the upgrade, which only a sniffing relay
    // sees (forward-only, --emit none, never looks).
    bool handshake_timed() const {
        return owner_.options.handshake_timeout.count() > 0 && sniff_ && !session_->upgraded();
    }

    void arm_timer() {
        const auto& o = owner_.options;
        auto next = clock::time_point::max();
        if (handshake_timed()) {
            next = std::min(next, accepted_at_ + o.handshake_timeout);
        }
        if (o.idle_timeout.count() > 0) {
            next = std::min(next, last_activity_ + o.idle_timeout);
        }
        if (next == clock::time_point::max()) {
            return;
        }
        timer_.expires_at(next);
        auto self = this->shared_from_this();
        timer_.async_wait([this, self](std::error_code ec) {
            if (ec || finished_) {
                return;
            }
            const auto now = clock::now();
            const auto& opts = owner_.options;
            const bool handshake_late =
                handshake_timed() && now >= accepted_at_ + opts.handshake_timeout;
            const bool idle =
                opts.idle_timeout.count() > 0 && now >= last_activity_ + opts.idle_timeout;
            if (handshake_late) {
                handshake_timed_out();
                return;
            }
            if (idle) {
                finish(record::close_reason::timeout);
                return;
            }
            arm_timer();
        });
    }

    // The upgrade did not complete within --handshake-timeout. When the upstream has the request
    // and has answered nothing, the client hears why (a 504, as a gateway says it) rather than
    // a bare close; once any of a response has been forwarded, the connection just ends.
    void handshake_timed_out() {
        if (!session_->awaiting_response() || session_->bytes(direction::s2c) != 0 ||
            pump_of(direction::s2c).write_pending) {
            finish(record::close_reason::timeout);
            return;
        }
        winding_down_ = true;
        const auto& o = owner_.options;
        answer_ = plain_http_answer("504 Gateway Timeout",
                                    "wssniff: upstream " + o.upstream.host + ":" +
                                        std::to_string(o.upstream.port) +
                                        " sent no response within the handshake timeout (" +
                                        std::to_string(o.handshake_timeout.count()) + " ms)\n");
        auto self = this->shared_from_this();
        asio::async_write(
            client_, asio::buffer(answer_), [this, self](std::error_code, std::size_t) {
                if (!finished_) {
                    half_close(client_, [this] { finish(record::close_reason::timeout); });
                }
            });
    }

    void finish(record::close_reason reason) {
        if (finished_) {
            return;
        }
        finished_ = true;
        std::error_code ignored;
        timer_.cancel();
        resolver_.cancel();
        tcp_of(client_).close(ignored);
        tcp_of(upstream_).close(ignored);
        if (sniff_) {
            if (!session_) {
                session_.emplace(owner_.sink, session_options_); // for the close record
            }
            closing_.emplace(reason, std::chrono::system_clock::now());
        }
        settle();
    }

    // After finish(), once no write is under way (a write the teardown cut short reports how
    // much of it was forwarded when its handler runs, with operation_aborted): the close
    // record, then the proxy forgets the connection, so that a caller who sees no open
    // connections also sees every close record.
    void settle() {
        if (forgotten_ || pumps_[0].write_pending || pumps_[1].write_pending) {
            return;
        }
        if (closing_) {
            session_->close(closing_->first, closing_->second);
            closing_.reset();
        }
        forgotten_ = true;
        owner_.forget(id_);
    }

    proxy::impl& owner_;
    std::uint64_t id_;
    Client client_;
    Upstream upstream_;
    tcp::resolver resolver_;
    asio::steady_timer timer_;
    session::session_options session_options_;
    // Made when the relay starts, once the TLS details for its handshake record are known.
    std::optional<session::session> session_;
    record::tls_info tls_;
    bool sniff_;
    std::optional<host_rewriter> rewriter_;
    pump pumps_[2];
    std::string answer_;
    std::optional<record::close_reason> first_close_;
    clock::time_point accepted_at_;
    clock::time_point last_activity_;
    phase phase_ = phase::connect;
    bool setup_timed_out_ = false;
    // The side whose socket failed a write, while what it sent before is read (source_gone).
    std::optional<direction> gone_;
    // Why and when the connection ended, until its close record is written.
    std::optional<std::pair<record::close_reason, std::chrono::system_clock::time_point>> closing_;
    // Nothing more is read: a reset is being passed on, or the proxy's own answer written.
    bool winding_down_ = false;
    bool finished_ = false;
    bool forgotten_ = false; // settle() has run
};

template <class Client, class Upstream>
void proxy::impl::open(tcp::socket socket, std::uint64_t id) {
    auto c = std::make_shared<connection<Client, Upstream>>(*this, std::move(socket), id);
    connections.emplace(id, c);
    c->start();
}

void proxy::impl::accept() {
    acceptor.async_accept([this](std::error_code ec, tcp::socket socket) {
        if (stopping || ec == asio::error::operation_aborted) {
            return;
        }
        if (ec) {
            if (exhausted(ec)) {
                // Out of file descriptors: back off instead of spinning on accept.
                const auto now = clock::now();
                if (now - last_exhaustion_warning > std::chrono::seconds(10)) {
                    last_exhaustion_warning = now;
                    std::fprintf(stderr, "wssniff: cannot accept: %s; retrying\n",
                                 ec.message().c_str());
                }
                accept_retry.expires_after(std::chrono::milliseconds(100));
                accept_retry.async_wait([this](std::error_code wec) {
                    if (!wec) {
                        accept();
                    }
                });
                return;
            }
            accept();
            return;
        }
        const std::uint64_t id = accepted.fetch_add(1) + 1;
        open_count.fetch_add(1);
        if (client_tls && upstream_tls) {
            open<tls_stream, tls_stream>(std::move(socket), id);
        } else if (client_tls) {
            open<tls_stream, plain_stream>(std::move(socket), id);
        } else if (upstream_tls) {
            open<plain_stream, tls_stream>(std::move(socket), id);
        } else {
            open<plain_stream, plain_stream>(std::move(socket), id);
        }
        accept();
    });
}

void proxy::impl::shutdown_all() {
    if (stopping) {
        return;
    }
    stopping = true;
    std::error_code ignored;
    acceptor.close(ignored);
    accept_retry.cancel();
    if (signals) {
        signals->cancel(ignored);
    }
    // finish() erases from the map: walk a copy.
    std::vector<std::shared_ptr<connection_base>> open_now;
    for (auto& [id, weak] : connections) {
        if (auto c = weak.lock()) {
            open_now.push_back(std::move(c));
        }
    }
    for (auto& c : open_now) {
        c->shut_down();
    }
}

proxy::proxy(proxy_options options, record::sink& sink)
    : impl_(std::make_unique<impl>(std::move(options), sink)) {}

proxy::~proxy() {
    stop();
}

void proxy::listen() {
    if (impl_->listening) {
        return;
    }
    tcp::resolver resolver(impl_->io);
    const auto results =
        resolver.resolve(impl_->options.listen_host, std::to_string(impl_->options.listen_port),
                         tcp::resolver::passive);
    const tcp::endpoint endpoint = *results.begin();
    impl_->acceptor.open(endpoint.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(endpoint);
    impl_->acceptor.listen(asio::socket_base::max_listen_connections);
    impl_->listening = true;
    impl_->accept();
}

std::uint16_t proxy::port() const {
    return impl_->acceptor.local_endpoint().port();
}

std::string proxy::address() const {
    return to_string(impl_->acceptor.local_endpoint());
}

bool proxy::loopback() const {
    return impl_->acceptor.local_endpoint().address().is_loopback();
}

void proxy::stop_on_signals() {
    impl_->signals = std::make_unique<asio::signal_set>(impl_->io, SIGINT, SIGTERM);
    impl_->signals->async_wait([this](std::error_code ec, int) {
        if (!ec) {
            impl_->shutdown_all();
        }
    });
}

void proxy::run() {
    listen();
    impl_->io.run();
}

void proxy::start() {
    listen();
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

void proxy::stop() {
    if (!impl_) {
        return;
    }
    asio::post(impl_->io, [this] { impl_->shutdown_all(); });
    if (impl_->thread.joinable()) {
        if (impl_->thread.get_id() == std::this_thread::get_id()) {
            return;
        }
        impl_->thread.join();
    }
}

std::uint64_t proxy::accepted() const {
    return impl_->accepted.load();
}

std::size_t proxy::open_connections() const {
    return impl_->open_count.load();
}

} // namespace wssniff::proxy

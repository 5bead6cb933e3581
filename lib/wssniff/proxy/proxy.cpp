#include "wssniff/proxy/proxy.hpp"

#include "wssniff/proxy/host_rewriter.hpp"

#include <asio.hpp>

#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

namespace wssniff::proxy {

namespace {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;

std::string to_string(const tcp::endpoint& ep) {
    const std::string address = ep.address().to_string();
    return (ep.address().is_v6() ? "[" + address + "]" : address) + ":" +
           std::to_string(ep.port());
}

bool exhausted(const std::error_code& ec) {
    return ec == std::errc::too_many_files_open ||
           ec == std::errc::too_many_files_open_in_system ||
           ec == std::errc::no_buffer_space || ec == std::errc::not_enough_memory;
}

record::close_reason closed_by(direction from) {
    return from == direction::c2s ? record::close_reason::client_closed
                                  : record::close_reason::server_closed;
}

record::close_reason reset_by(direction side) {
    return side == direction::c2s ? record::close_reason::client_reset
                                  : record::close_reason::server_reset;
}

direction other(direction d) { return d == direction::c2s ? direction::s2c : direction::c2s; }

} // namespace

std::string upstream_url::authority() const {
    return port == 80 ? host : host + ":" + std::to_string(port);
}

std::optional<upstream_url> upstream_url::parse(const std::string& url, std::string& problem) {
    constexpr std::string_view scheme = "ws://";
    if (url.rfind(scheme, 0) != 0) {
        problem = url.rfind("wss://", 0) == 0 ? "wss:// upstreams are not supported yet"
                                              : "the upstream must be a ws://HOST:PORT[/path] URL";
        return std::nullopt;
    }
    std::string rest = url.substr(scheme.size());
    upstream_url u;
    const std::size_t slash = rest.find('/');
    if (slash != std::string::npos) {
        u.path = rest.substr(slash);
        rest.resize(slash);
    }
    std::string port;
    if (!rest.empty() && rest.front() == '[') {
        const std::size_t close = rest.find(']');
        if (close == std::string::npos) {
            problem = "unclosed [ in the upstream address";
            return std::nullopt;
        }
        u.host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') {
                problem = "expected :PORT after the IPv6 address";
                return std::nullopt;
            }
            port = rest.substr(close + 2);
        }
    } else {
        const std::size_t colon = rest.rfind(':');
        u.host = rest.substr(0, colon);
        if (colon != std::string::npos) {
            port = rest.substr(colon + 1);
        }
    }
    if (u.host.empty()) {
        problem = "the upstream URL has no host";
        return std::nullopt;
    }
    if (!port.empty()) {
        if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
            std::stoul(port) == 0 || std::stoul(port) > 65535) {
            problem = "the upstream port must be a number from 1 to 65535";
            return std::nullopt;
        }
        u.port = static_cast<std::uint16_t>(std::stoul(port));
    }
    return u;
}

class connection;

struct proxy::impl {
    impl(proxy_options o, record::sink& s) : options(std::move(o)), sink(s) {}

    void accept();
    void forget(std::uint64_t id) {
        connections.erase(id);
        open.fetch_sub(1);
    }
    void shutdown_all();

    proxy_options options;
    record::sink& sink;
    asio::io_context io{1};
    tcp::acceptor acceptor{io};
    asio::steady_timer accept_retry{io};
    std::unique_ptr<asio::signal_set> signals;
    std::thread thread;
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::size_t> open{0};
    std::unordered_map<std::uint64_t, std::weak_ptr<connection>> connections; // relay thread
    bool stopping = false;
    bool listening = false;
    clock::time_point last_exhaustion_warning{};
};

// One client and its upstream: two pumps (c2s, s2c), each reading into its own fixed buffer and
// reading again only when the write of the last chunk has completed.
class connection : public std::enable_shared_from_this<connection> {
public:
    connection(proxy::impl& owner, tcp::socket client, std::uint64_t id)
        : owner_(owner), id_(id), client_(std::move(client)), upstream_(owner.io),
          resolver_(owner.io), timer_(owner.io),
          session_(owner.sink, session_options(owner.options, client_, id)),
          sniff_(owner.options.sniff) {
        if (owner.options.rewrite_host) {
            rewriter_.emplace(owner.options.upstream.authority());
        }
        for (auto& p : pumps_) {
            p.buffer.resize(owner.options.buffer_size);
        }
        accepted_at_ = last_activity_ = clock::now();
    }

    void start() {
        auto self = shared_from_this();
        timer_.expires_after(owner_.options.connect_timeout);
        timer_.async_wait([this, self](std::error_code ec) {
            if (!ec && !connected_ && !finished_) {
                connect_timed_out_ = true;
                resolver_.cancel();
                std::error_code ignored;
                upstream_.close(ignored);
            }
        });
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
                asio::async_connect(upstream_, results,
                                    [this, self](std::error_code cec, const tcp::endpoint&) {
                                        on_connected(cec);
                                    });
            });
    }

    // The proxy is stopping.
    void shut_down() { finish(record::close_reason::shutdown); }

private:
    struct pump {
        std::vector<std::uint8_t> buffer;
        std::string rewritten; // c2s bytes released by the Host rewriter
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

    tcp::socket& source(direction d) { return d == direction::c2s ? client_ : upstream_; }
    tcp::socket& destination(direction d) { return d == direction::c2s ? upstream_ : client_; }
    pump& pump_of(direction d) { return pumps_[d == direction::c2s ? 0 : 1]; }

    void on_connected(std::error_code ec) {
        if (finished_) {
            return;
        }
        if (ec) {
            fail_upstream(ec);
            return;
        }
        connected_ = true;
        timer_.cancel();
        std::error_code ignored;
        client_.set_option(tcp::no_delay(true), ignored);
        upstream_.set_option(tcp::no_delay(true), ignored);
        arm_timer();
        read(direction::c2s);
        read(direction::s2c);
    }

    void fail_upstream(std::error_code ec) {
        const auto& up = owner_.options.upstream;
        const std::string why =
            connect_timed_out_ ? "timed out after " +
                                     std::to_string(owner_.options.connect_timeout.count()) + " ms"
                               : ec.message();
        record::error e;
        e.code = error_code::upstream_unreachable;
        e.message = std::string(describe(e.code)) + ": " + up.host + ":" +
                    std::to_string(up.port) + ": " + why;
        e.fatal = true;
        if (sniff_) {
            owner_.sink.write(record::record{id_, std::chrono::system_clock::now(), std::move(e)});
        }
        // The client asked an HTTP question; it gets an HTTP answer.
        const std::string body = "wssniff: cannot reach upstream " + up.host + ":" +
                                 std::to_string(up.port) + ": " + why + "\n";
        bad_gateway_ = "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\n"
                       "Content-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        auto self = shared_from_this();
        asio::async_write(client_, asio::buffer(bad_gateway_),
                          [this, self](std::error_code, std::size_t) {
                              std::error_code ignored;
                              client_.shutdown(tcp::socket::shutdown_send, ignored);
                              finish(record::close_reason::upstream_unreachable);
                          });
    }

    void read(direction d) {
        if (finished_) {
            return;
        }
        auto self = shared_from_this();
        pump& p = pump_of(d);
        source(d).async_read_some(asio::buffer(p.buffer),
                                  [this, self, d](std::error_code ec, std::size_t n) {
                                      on_read(d, ec, n);
                                  });
    }

    void on_read(direction d, std::error_code ec, std::size_t n) {
        if (finished_) {
            return;
        }
        const auto now = std::chrono::system_clock::now();
        pump& p = pump_of(d);
        if (ec == asio::error::eof) {
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
        bytes_view chunk{p.buffer.data(), n};
        if (d == direction::c2s && rewriter_ && !rewriter_->stepped_aside()) {
            p.rewritten.clear();
            rewriter_->feed(chunk, p.rewritten);
            chunk = bytes_view{p.rewritten};
            if (chunk.empty()) {
                read(d); // a request head is still arriving
                return;
            }
        }
        auto self = shared_from_this();
        asio::async_write(destination(d), asio::buffer(chunk.data(), chunk.size()),
                          [this, self, d](std::error_code wec, std::size_t) {
                              on_written(d, wec);
                          });
        // The tee: the session sees the chunk after its write has been started, read-only.
        if (sniff_) {
            session_.feed(d, chunk, now);
        }
    }

    void on_written(direction d, std::error_code ec) {
        if (finished_) {
            return;
        }
        if (ec) {
            // The receiving side is gone: treat it as its reset.
            reset(other(d) == direction::c2s ? direction::c2s : direction::s2c, true);
            return;
        }
        read(d);
    }

    // `from` finished sending (FIN): pass the half-close on, keep the other direction going.
    void end_of_stream(direction from, std::chrono::system_clock::time_point now) {
        pump& p = pump_of(from);
        p.eof = true;
        if (!first_close_) {
            first_close_ = closed_by(from);
        }
        if (from == direction::c2s && rewriter_ && !rewriter_->stepped_aside()) {
            // A request head cut short: forward what arrived, as it arrived.
            p.rewritten.clear();
            rewriter_->flush(p.rewritten);
            if (!p.rewritten.empty()) {
                std::error_code ignored;
                asio::write(destination(from), asio::buffer(p.rewritten), ignored);
                if (sniff_) {
                    session_.feed(from, bytes_view{p.rewritten}, now);
                }
            }
        }
        if (sniff_) {
            session_.end(from, now);
        }
        std::error_code ignored;
        destination(from).shutdown(tcp::socket::shutdown_send, ignored);
        if (pump_of(other(from)).eof) {
            finish(*first_close_);
        }
    }

    // `side` reset its connection (or failed): reset the other side too.
    void reset(direction side, bool side_is_writer_peer = false) {
        (void)side_is_writer_peer;
        std::error_code ignored;
        tcp::socket& peer = side == direction::c2s ? upstream_ : client_;
        peer.set_option(asio::socket_base::linger(true, 0), ignored);
        finish(reset_by(side));
    }

    void arm_timer() {
        const auto& o = owner_.options;
        auto next = clock::time_point::max();
        if (o.handshake_timeout.count() > 0 && !session_.upgraded()) {
            next = std::min(next, accepted_at_ + o.handshake_timeout);
        }
        if (o.idle_timeout.count() > 0) {
            next = std::min(next, last_activity_ + o.idle_timeout);
        }
        if (next == clock::time_point::max()) {
            return;
        }
        timer_.expires_at(next);
        auto self = shared_from_this();
        timer_.async_wait([this, self](std::error_code ec) {
            if (ec || finished_) {
                return;
            }
            const auto now = clock::now();
            const auto& opts = owner_.options;
            const bool handshake_late = opts.handshake_timeout.count() > 0 &&
                                        !session_.upgraded() &&
                                        now >= accepted_at_ + opts.handshake_timeout;
            const bool idle = opts.idle_timeout.count() > 0 &&
                              now >= last_activity_ + opts.idle_timeout;
            if (handshake_late || idle) {
                finish(record::close_reason::timeout);
                return;
            }
            arm_timer();
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
        client_.close(ignored);
        upstream_.close(ignored);
        if (sniff_) {
            session_.close(reason, std::chrono::system_clock::now());
        }
        owner_.forget(id_);
    }

    proxy::impl& owner_;
    std::uint64_t id_;
    tcp::socket client_;
    tcp::socket upstream_;
    tcp::resolver resolver_;
    asio::steady_timer timer_;
    session::session session_;
    bool sniff_;
    std::optional<host_rewriter> rewriter_;
    pump pumps_[2];
    std::string bad_gateway_;
    std::optional<record::close_reason> first_close_;
    clock::time_point accepted_at_;
    clock::time_point last_activity_;
    bool connected_ = false;
    bool connect_timed_out_ = false;
    bool finished_ = false;
};

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
        open.fetch_add(1);
        auto c = std::make_shared<connection>(*this, std::move(socket), id);
        connections.emplace(id, c);
        c->start();
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
    std::vector<std::shared_ptr<connection>> open_now;
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

proxy::~proxy() { stop(); }

void proxy::listen() {
    if (impl_->listening) {
        return;
    }
    tcp::resolver resolver(impl_->io);
    const auto results = resolver.resolve(impl_->options.listen_host,
                                          std::to_string(impl_->options.listen_port),
                                          tcp::resolver::passive);
    const tcp::endpoint endpoint = *results.begin();
    impl_->acceptor.open(endpoint.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(endpoint);
    impl_->acceptor.listen(asio::socket_base::max_listen_connections);
    impl_->listening = true;
    impl_->accept();
}

std::uint16_t proxy::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string proxy::address() const { return to_string(impl_->acceptor.local_endpoint()); }

bool proxy::loopback() const { return impl_->acceptor.local_endpoint().address().is_loopback(); }

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

std::uint64_t proxy::accepted() const { return impl_->accepted.load(); }

std::size_t proxy::open_connections() const { return impl_->open.load(); }

} // namespace wssniff::proxy

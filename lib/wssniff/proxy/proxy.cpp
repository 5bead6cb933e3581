#include "wssniff/proxy/proxy.hpp"

#include "wssniff/proxy/connection.hpp"
#include "wssniff/proxy/proxy_state.hpp"
#include "wssniff/proxy/session_tap.hpp"
#include "wssniff/proxy/tls.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

// The proxy's public API and its acceptor. A connection's relay lives in connection.hpp and the
// files it lists; what the relay reports becomes records in session_tap.cpp.

namespace wssniff::proxy {

namespace {

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

} // namespace

namespace {

std::vector<std::unique_ptr<relay_loop>> make_loops(const proxy_options& o) {
    std::vector<std::unique_ptr<relay_loop>> loops;
    for (std::size_t i = 0; i < std::max<std::size_t>(1, o.threads); ++i) {
        loops.push_back(std::make_unique<relay_loop>(o.buffer_size, o.stream_buffer_size));
    }
    return loops;
}

} // namespace

proxy::impl::impl(proxy_options o, record::sink& s)
    : options(std::move(o)),
      sink(options.threads > 1 ? static_cast<record::sink&>(serialized.emplace(s)) : s),
      loops(make_loops(options)), io(loops.front()->io) {
    if (options.upstream.tls) {
        upstream_tls.emplace(tls::client_context(options.ca_file, options.insecure));
    }
    if (options.tls_cert && options.tls_key) {
        client_tls.emplace(tls::server_context(*options.tls_cert, *options.tls_key));
    }
    if (options.mitm_ca) {
        try {
            mitm = std::make_unique<mitm_authority>(*options.mitm_ca);
        } catch (const ca_error& e) {
            throw tls_setup_error(std::string("--mitm-ca: ") + e.what());
        }
        mitm_tls.emplace(tls::interception_context());
        hello_probe.emplace(tls::hello_probe_context());
        if (!upstream_tls) {
            upstream_tls.emplace(tls::client_context(options.ca_file, options.insecure));
        }
    }
}

std::unique_ptr<tap> proxy::impl::make_tap(std::uint64_t id, const tcp::socket& client,
                                           relay_loop& loop) const {
    if (options.make_tap) {
        return options.make_tap(id);
    }
    if (!options.sniff) {
        return std::make_unique<null_tap>();
    }
    session::session_options s = options.session;
    s.conn = id;
    std::error_code ec;
    const auto peer = client.remote_endpoint(ec);
    if (!ec) {
        s.client = to_string(peer);
    }
    if (!options.forward) {
        s.upstream = options.upstream.host_port(); // forward mode: the tap hears it per request
    }
    s.error_counts = loop.traffic.errors;
    return std::make_unique<session_tap>(sink, std::move(s), options.filters, &loop.traffic);
}

template <class Client, class Upstream>
void proxy::impl::open(relay_loop& loop, tcp::socket socket, std::uint64_t id) {
    auto watcher = make_tap(id, socket, loop);
    auto c = std::make_shared<connection<Client, Upstream>>(*this, loop, std::move(socket), id,
                                                            std::move(watcher));
    loop.connections.emplace(id, c);
    c->start();
}

void proxy::impl::intercept(relay_loop& loop, interception handed) {
    const std::uint64_t id = handed.id;
    auto c = std::make_shared<connection<tls_stream, tls_stream>>(*this, loop, std::move(handed));
    loop.connections[id] = c; // the same number: the plain connection it replaces is gone
    c->start();
}

void proxy::impl::accept() {
    // The accepted socket belongs to the loop it will live on.
    relay_loop& loop = next_loop();
    acceptor.async_accept(loop.io, [this, &loop](std::error_code ec, tcp::socket socket) {
        if (stopping || ec == asio::error::operation_aborted) {
            return;
        }
        if (ec) {
            if (exhausted(ec)) {
                // Out of file descriptors: back off instead of spinning on accept.
                const auto now = std::chrono::steady_clock::now();
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
        accepted_socket(loop, std::move(socket));
        accept();
    });
}

void proxy::impl::accepted_socket(relay_loop& loop, tcp::socket socket) {
    std::error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    if (!ec && may_loop_back(peer)) {
        if (looped_back(peer)) {
            socket.close(ec);
            return;
        }
        // The dialer's connect may complete on its loop just after this accept: look again
        // once before relaying (only for peers that could be one of our own sockets).
        auto held = std::make_shared<tcp::socket>(std::move(socket));
        auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(50));
        timer->async_wait([this, &loop, held, timer, peer](std::error_code) {
            if (stopping || looped_back(peer)) {
                std::error_code ignored;
                held->close(ignored);
                return;
            }
            accepted_socket_checked(loop, std::move(*held));
        });
        return;
    }
    accepted_socket_checked(loop, std::move(socket));
}

void proxy::impl::accepted_socket_checked(relay_loop& loop, tcp::socket socket) {
    const std::uint64_t id = accepted.fetch_add(1) + 1;
    open_count.fetch_add(1);
    asio::post(loop.io, [this, &loop, id, s = std::make_shared<tcp::socket>(std::move(socket))] {
        if (loop.stopping) {
            std::error_code ignored;
            s->close(ignored);
            open_count.fetch_sub(1);
            return;
        }
        // (Forward mode with --mitm-ca has an upstream context too, for the connections an
        // interception makes: every accepted one starts plain.)
        const bool wss_upstream = upstream_tls && options.upstream.tls;
        if (client_tls && wss_upstream) {
            open<tls_stream, tls_stream>(loop, std::move(*s), id);
        } else if (client_tls) {
            open<tls_stream, plain_stream>(loop, std::move(*s), id);
        } else if (wss_upstream) {
            open<plain_stream, tls_stream>(loop, std::move(*s), id);
        } else {
            open<plain_stream, plain_stream>(loop, std::move(*s), id);
        }
    });
}

// A connection to ourselves can only arrive on the port we listen on, from an address of this
// machine (the start refuses the obvious case; this catches another name for the same socket).
bool proxy::impl::may_loop_back(const tcp::endpoint& peer) {
    if (options.forward) {
        // A request that names this proxy gets its own request back: a 400 (origin-form) or,
        // through a CONNECT, whatever the client tunnels, never a loop of our own making.
        return false;
    }
    std::error_code ec;
    return options.upstream.port == acceptor.local_endpoint(ec).port() && !ec && peer.port() != 0;
}

bool proxy::impl::looped_back(const tcp::endpoint& peer) {
    std::lock_guard<std::mutex> hold(dials_mutex);
    const auto it = dials.find(peer);
    if (it == dials.end()) {
        return false;
    }
    auto [loop, weak] = it->second;
    asio::post(loop->io, [weak = weak] {
        if (auto c = weak.lock()) {
            c->upstream_is_self();
        }
    });
    return true;
}

void proxy::impl::dialing(const tcp::endpoint& local, relay_loop& loop,
                          std::weak_ptr<connection_base> connection) {
    std::lock_guard<std::mutex> hold(dials_mutex);
    dials[local] = {&loop, std::move(connection)};
}

void proxy::impl::dialed(const tcp::endpoint& local) {
    std::lock_guard<std::mutex> hold(dials_mutex);
    dials.erase(local);
}

// On the acceptor's loop: no more accepts; every loop ends its connections on its own thread.
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
    for (auto& loop : loops) {
        if (loop.get() == loops.front().get()) {
            shut_down_loop(*loop);
        } else {
            asio::post(loop->io, [this, l = loop.get()] { shut_down_loop(*l); });
        }
    }
}

void proxy::impl::shut_down_loop(relay_loop& loop) {
    loop.stopping = true;
    // finish() erases from the map: walk a copy.
    std::vector<std::shared_ptr<connection_base>> open_now;
    for (auto& [id, weak] : loop.connections) {
        if (auto c = weak.lock()) {
            open_now.push_back(std::move(c));
        }
    }
    for (auto& c : open_now) {
        c->shut_down();
    }
    // Its thread ends once the last connection has settled.
    loop.work.reset();
}

void proxy::impl::join_loops() {
    for (auto& loop : loops) {
        if (loop->thread.joinable() && loop->thread.get_id() != std::this_thread::get_id()) {
            loop->thread.join();
        }
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
    impl_->signals = std::make_unique<asio::signal_set>(impl_->io, SIGINT, SIGTERM, SIGHUP);
    impl_->signals->async_wait([this](std::error_code ec, int) {
        if (!ec) {
            impl_->shutdown_all();
        }
    });
}

namespace {

// The loops after the first: on threads of their own, kept running while idle.
void start_other_loops(proxy::impl& impl) {
    for (std::size_t i = 1; i < impl.loops.size(); ++i) {
        auto& loop = *impl.loops[i];
        if (loop.thread.joinable()) {
            continue;
        }
        loop.work.emplace(loop.io.get_executor());
        loop.thread = std::thread([&loop] { loop.io.run(); });
    }
}

} // namespace

void proxy::run() {
    listen();
    start_other_loops(*impl_);
    impl_->io.run();
    impl_->join_loops();
}

void proxy::start() {
    listen();
    start_other_loops(*impl_);
    impl_->thread = std::thread([this] {
        impl_->io.run();
        impl_->join_loops();
    });
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

proxy::traffic_totals proxy::traffic() const {
    traffic_totals t;
    for (const auto& loop : impl_->loops) {
        const traffic_counters& c = loop->traffic;
        t.bytes_c2s += c.bytes[0].load(std::memory_order_relaxed);
        t.bytes_s2c += c.bytes[1].load(std::memory_order_relaxed);
        t.frames_c2s += c.frames[0].load(std::memory_order_relaxed);
        t.frames_s2c += c.frames[1].load(std::memory_order_relaxed);
        t.messages_c2s += c.messages[0].load(std::memory_order_relaxed);
        t.messages_s2c += c.messages[1].load(std::memory_order_relaxed);
        t.upstream_failures += c.upstream_failures.load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < error_code_count; ++i) {
            t.errors[i] += c.errors[i].load(std::memory_order_relaxed);
        }
    }
    return t;
}

} // namespace wssniff::proxy

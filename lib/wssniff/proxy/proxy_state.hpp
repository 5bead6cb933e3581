#pragma once
// What a running proxy shares between its acceptor and its connections: the options, the sink,
// the TLS contexts, the relay loops (each an io_context with its own thread, read-buffer pool
// and table of open connections) and the upstream sockets being dialed. Internal to the proxy
// unit.

#include "wssniff/proxy/buffer_pool.hpp"
#include "wssniff/proxy/mitm_ca.hpp"
#include "wssniff/proxy/proxy.hpp"
#include "wssniff/proxy/streams.hpp"
#include "wssniff/proxy/tap.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

namespace wssniff::proxy {

// What the proxy holds of a connection, whatever its streams are.
class connection_base {
  public:
    virtual ~connection_base() = default;
    virtual void start() = 0;
    // The proxy is stopping.
    virtual void shut_down() = 0;
    // The upstream this connection dialed turned out to be this proxy's own listener.
    virtual void upstream_is_self() = 0;
};

// --mitm-ca: what a plain CONNECT tunnel hands over when its first bytes are a TLS
// ClientHello: the connection goes on, under the same number and tap, as a TLS pair.
struct interception {
    tcp::socket client;
    tcp::socket upstream; // connected
    std::uint64_t id;
    std::unique_ptr<tap> watcher;
    upstream_url target; // the CONNECT authority
    std::string name;    // the ClientHello's server name, or the CONNECT host
    std::chrono::steady_clock::time_point accepted_at;
};

// What a loop has moved and met, for a live status line and metrics (proxy::traffic()):
// written by the loop's thread only, so a relaxed load and store (no locked instruction), read
// from any thread.
struct alignas(64) traffic_counters {
    std::atomic<std::uint64_t> bytes[2]{};           // forwarded, c2s and s2c
    std::atomic<std::uint64_t> frames[2]{};          // decoded
    std::atomic<std::uint64_t> messages[2]{};        // data messages decoded (complete or cut)
    std::atomic<std::uint64_t> upstream_failures{0}; // resolve, connect or upstream TLS failed
    std::atomic<std::uint64_t> errors[error_code_count]{}; // error records, by code

    static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
};

// One event loop of the relay (--threads N runs N): a connection lives on one loop from accept
// to close, so its handlers never run concurrently and the relay needs no locks; what a loop
// owns is touched by its thread only.
struct relay_loop {
    relay_loop(std::size_t buffer_size, std::size_t stream_buffer_size)
        : buffers(buffer_size, std::max(buffer_size, stream_buffer_size)) {}

    asio::io_context io{1};
    // Opens the loop's reactor (its epoll, eventfd and timerfd descriptors) at start, not when
    // the first connection lands on it: an idle proxy already holds all it will hold.
    asio::steady_timer reactor_opener{io};
    buffer_pool buffers;
    traffic_counters traffic;
    std::unordered_map<std::uint64_t, std::weak_ptr<connection_base>> connections;
    bool stopping = false;
    // Loops other than the first run on threads of their own, kept busy until the proxy stops.
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::thread thread;
};

// Records from several relay loops reach a sink that expects one producer: one at a time.
class serialized_sink final : public record::sink {
  public:
    explicit serialized_sink(record::sink& next) : next_(next) {}
    void write(record::record&& r) override {
        std::lock_guard<std::mutex> hold(mutex_);
        next_.write(std::move(r));
    }
    void end_of_batch() override {
        std::lock_guard<std::mutex> hold(mutex_);
        next_.end_of_batch();
    }

  private:
    record::sink& next_;
    std::mutex mutex_;
};

struct proxy::impl {
    impl(proxy_options o, record::sink& s);

    void accept();
    void accepted_socket(relay_loop& loop, tcp::socket socket);
    void accepted_socket_checked(relay_loop& loop, tcp::socket socket);
    template <class Client, class Upstream>
    void open(relay_loop& loop, tcp::socket socket, std::uint64_t id);
    // A CONNECT tunnel turns out to carry TLS, and --mitm-ca is given: a TLS pair takes over.
    void intercept(relay_loop& loop, interception handed);
    // The tap for connection `id`: a session writing records to the sink, or nothing.
    std::unique_ptr<tap> make_tap(std::uint64_t id, const tcp::socket& client,
                                  relay_loop& loop) const;
    // A connection accepted from one of our own upstream sockets: the dialer answers its
    // client, the looped connection is closed unrelayed.
    bool looped_back(const tcp::endpoint& peer);
    bool may_loop_back(const tcp::endpoint& peer);
    // Upstream sockets being dialed or relayed, by their local address (any loop's thread).
    void dialing(const tcp::endpoint& local, relay_loop& loop,
                 std::weak_ptr<connection_base> connection);
    void dialed(const tcp::endpoint& local);
    void forget(relay_loop& loop, std::uint64_t id) {
        loop.connections.erase(id);
        open_count.fetch_sub(1);
    }
    relay_loop& next_loop() { return *loops[next_loop_index++ % loops.size()]; }
    void shutdown_all();
    void shut_down_loop(relay_loop& loop);
    void join_loops();

    proxy_options options;
    // The sink the relay's taps write to: the caller's, or it behind a lock with several loops.
    std::optional<serialized_sink> serialized;
    record::sink& sink;
    // One context per side for the whole run: certificates are loaded and checked once.
    std::optional<asio::ssl::context> client_tls;
    std::optional<asio::ssl::context> upstream_tls;
    // --mitm-ca: the CA and its leaves, the client leg's context, and the ClientHello reader's.
    std::unique_ptr<mitm_authority> mitm;
    std::optional<asio::ssl::context> mitm_tls;
    std::optional<asio::ssl::context> hello_probe;
    std::vector<std::unique_ptr<relay_loop>> loops; // the first also runs the acceptor
    asio::io_context& io;                           // the first loop's
    tcp::acceptor acceptor{io};
    asio::steady_timer accept_retry{io};
    std::unique_ptr<asio::signal_set> signals;
    std::thread thread; // the first loop's, after start()
    std::size_t next_loop_index = 0;
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::size_t> open_count{0};
    std::mutex dials_mutex;
    std::map<tcp::endpoint, std::pair<relay_loop*, std::weak_ptr<connection_base>>> dials;
    bool stopping = false; // the acceptor's loop only
    bool listening = false;
    std::chrono::steady_clock::time_point last_exhaustion_warning{};
};

} // namespace wssniff::proxy

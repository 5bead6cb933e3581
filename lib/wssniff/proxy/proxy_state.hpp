#pragma once
// What a running proxy shares between its acceptor and its connections: the options, the sink,
// the TLS contexts, the read-buffer pool, the io_context and the table of open connections.
// Internal to the proxy unit.

#include "wssniff/proxy/buffer_pool.hpp"
#include "wssniff/proxy/proxy.hpp"
#include "wssniff/proxy/streams.hpp"
#include "wssniff/proxy/tap.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>

namespace wssniff::proxy {

// What the proxy holds of a connection, whatever its streams are.
class connection_base {
  public:
    virtual ~connection_base() = default;
    virtual void start() = 0;
    // The proxy is stopping.
    virtual void shut_down() = 0;
    // Whether this connection's upstream socket is the one at `local` (the proxy dialing itself).
    virtual bool dials_from(const tcp::endpoint& local) = 0;
    // The upstream this connection dialed turned out to be this proxy's own listener.
    virtual void upstream_is_self() = 0;
};

struct proxy::impl {
    impl(proxy_options o, record::sink& s);

    void accept();
    void accepted_socket(tcp::socket socket);
    template <class Client, class Upstream> void open(tcp::socket socket, std::uint64_t id);
    // The tap for connection `id`: a session writing records to the sink, or nothing.
    std::unique_ptr<tap> make_tap(std::uint64_t id, const tcp::socket& client) const;
    // A connection accepted from one of our own upstream sockets: the dialer answers its
    // client, the looped connection is closed unrelayed.
    bool looped_back(const tcp::socket& socket);
    void forget(std::uint64_t id) {
        connections.erase(id);
        open_count.fetch_sub(1);
    }
    void shutdown_all();

    proxy_options options;
    record::sink& sink;
    buffer_pool buffers; // relay thread only
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
    std::chrono::steady_clock::time_point last_exhaustion_warning{};
};

} // namespace wssniff::proxy

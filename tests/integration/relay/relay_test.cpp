// The relay through its tap, and the relay-level defects of the hardening review: real loopback
// sockets on both sides, the proxy in-process, every byte and FIN chosen by the test.

#include "raw_socket.hpp"

#include "wssniff/proxy/proxy.hpp"
#include "wssniff/record/capture.hpp"

#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>

using namespace std::chrono_literals;
using wssniff::test::raw_listener;
using wssniff::test::raw_socket;

namespace {

const std::string upgrade_request = "GET /chat HTTP/1.1\r\nHost: client.example\r\n"
                                    "Connection: Upgrade\r\nUpgrade: websocket\r\n"
                                    "Sec-WebSocket-Version: 13\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
const std::string upgrade_response = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                     "Upgrade: websocket\r\n"
                                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

wssniff::proxy::proxy_options options_for(std::uint16_t upstream_port) {
    wssniff::proxy::proxy_options o;
    o.listen_port = 0;
    o.upstream.host = "127.0.0.1";
    o.upstream.port = upstream_port;
    return o;
}

// What a tap heard, for the test to read on its own thread.
struct tap_log {
    std::mutex mutex;
    std::condition_variable changed;
    std::string forwarded[2];
    std::vector<std::string> events;
    std::optional<wssniff::proxy::end_reason> closed;

    bool wait_closed(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, timeout, [this] { return closed.has_value(); });
    }
};

class recording_tap final : public wssniff::proxy::tap {
  public:
    explicit recording_tap(std::shared_ptr<tap_log> log) : log_(std::move(log)) {}
    void relaying(const wssniff::tls_info*) override { event("relaying"); }
    void forwarded(wssniff::direction dir, wssniff::bytes_view chunk,
                   wssniff::proxy::wall_clock::time_point) override {
        std::lock_guard lock(log_->mutex);
        log_->forwarded[dir == wssniff::direction::c2s ? 0 : 1].append(
            reinterpret_cast<const char*>(chunk.data()), chunk.size());
    }
    void ended(wssniff::direction dir, wssniff::proxy::wall_clock::time_point) override {
        event(dir == wssniff::direction::c2s ? "ended c2s" : "ended s2c");
    }
    void failed(wssniff::proxy::failure, const std::string& detail) override {
        event("failed: " + detail);
    }
    void closed(wssniff::proxy::end_reason why, wssniff::proxy::wall_clock::time_point) override {
        std::lock_guard lock(log_->mutex);
        log_->events.push_back("closed");
        log_->closed = why;
        log_->changed.notify_all();
    }
    bool setup_over() const override { return true; }
    bool awaiting_first_response() const override { return false; }

  private:
    void event(std::string what) {
        std::lock_guard lock(log_->mutex);
        log_->events.push_back(std::move(what));
    }
    std::shared_ptr<tap_log> log_;
};

// A raw upstream, the proxy in front of it recording into a capture, and one connection through
// it: `client` talks to the proxy, `server` is the upstream's end. `configure` adjusts options.
struct relayed_pair {
    template <class Configure>
    explicit relayed_pair(Configure&& configure, bool ipv6 = false)
        : upstream(ipv6), proxy(configured(upstream.port(), configure), capture) {
        proxy.start();
        client = raw_socket::connect(proxy.port());
        server = upstream.accept();
    }

    template <class Configure>
    static wssniff::proxy::proxy_options configured(std::uint16_t port, Configure& configure) {
        auto o = options_for(port);
        configure(o);
        return o;
    }

    raw_listener upstream;
    wssniff::record::capture capture;
    wssniff::proxy::proxy proxy;
    raw_socket client;
    raw_socket server;
};

template <class Body> std::vector<Body> bodies(const wssniff::record::capture& capture) {
    std::vector<Body> out;
    for (const auto& r : capture.records()) {
        if (const auto* b = std::get_if<Body>(&r.body)) {
            out.push_back(*b);
        }
    }
    return out;
}

} // namespace

TEST_CASE("relay: a recording tap hears every byte forwarded, each end, and why it closed") {
    raw_listener upstream;
    auto log = std::make_shared<tap_log>();
    auto options = options_for(upstream.port());
    options.rewrite_host = false;
    options.make_tap = [log](std::uint64_t) { return std::make_unique<recording_tap>(log); };
    wssniff::record::capture unused; // the tap replaces the records
    wssniff::proxy::proxy proxy(options, unused);
    proxy.start();

    raw_socket client = raw_socket::connect(proxy.port());
    raw_socket server = upstream.accept();
    client.send_all("hello, ");
    client.send_all("upstream");
    CHECK(server.receive_exactly(15, 5s) == "hello, upstream");
    server.send_all("hello, client");
    CHECK(client.receive_exactly(13, 5s) == "hello, client");
    client.shutdown_write();
    CHECK(server.closed_within(5s)); // the FIN is passed on
    server.send_all("late answer");  // the other direction still flows
    CHECK(client.receive_exactly(11, 5s) == "late answer");
    server.shutdown_write();
    REQUIRE(log->wait_closed(5s));

    std::lock_guard lock(log->mutex);
    CHECK(log->forwarded[0] == "hello, upstream");
    CHECK(log->forwarded[1] == "hello, clientlate answer");
    CHECK(log->events == std::vector<std::string>{"relaying", "ended c2s", "ended s2c", "closed"});
    CHECK(log->closed == wssniff::proxy::end_reason::client_closed);
}

TEST_CASE("relay: a chunked exchange before the upgrade leaves the tunnel to live past the "
          "handshake timeout, and it is recorded") {
    relayed_pair pair([](auto& o) { o.handshake_timeout = 1s; });
    auto& [upstream, capture, proxy, client, server] = pair;
    // A keep-alive POST with a chunked body, answered with a chunked body (extension, trailer).
    client.send_all("POST /login HTTP/1.1\r\nHost: client.example\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n4\r\nuser\r\n0\r\n\r\n");
    CHECK(server.receive_until("0\r\n\r\n", 5s).find("user") != std::string::npos);
    const std::string chunked_answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                       "5;note=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n";
    server.send_all(chunked_answer);
    CHECK(client.receive_exactly(chunked_answer.size(), 5s) == chunked_answer);
    client.send_all(upgrade_request);
    const std::string seen = server.receive_until("\r\n\r\n", 5s);
    CHECK(seen.find("Host: 127.0.0.1:" + std::to_string(upstream.port())) != std::string::npos);
    server.send_all(upgrade_response);
    CHECK(client.receive_exactly(upgrade_response.size(), 5s) == upgrade_response);

    std::this_thread::sleep_for(1500ms); // past --handshake-timeout
    const std::string ping = wssniff::test::client_frame(0x1, "still here");
    client.send_all(ping);
    CHECK(server.receive_exactly(ping.size(), 5s) == ping);
    const std::string pong = wssniff::test::server_frame(0x1, "so am I");
    server.send_all(pong);
    CHECK(client.receive_exactly(pong.size(), 5s) == pong);

    REQUIRE(capture.wait_for_count("frame", 2, 5s));
    const auto handshakes = bodies<wssniff::record::handshake>(capture);
    REQUIRE(handshakes.size() == 1);
    CHECK(handshakes[0].status == 101);
    CHECK(handshakes[0].target == "/chat");
    CHECK(bodies<wssniff::record::close>(capture).empty());
    CHECK(bodies<wssniff::record::error>(capture).empty());
}

TEST_CASE("relay: after a 101 to a non-WebSocket upgrade both directions flow at once, and the "
          "handshake timeout does not cut them") {
    relayed_pair pair([](auto& o) { o.handshake_timeout = 1s; });
    auto& [upstream, capture, proxy, client, server] = pair;
    client.send_all("POST /containers/7/attach HTTP/1.1\r\nHost: docker\r\n"
                    "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n");
    CHECK(server.receive_until("\r\n\r\n", 5s).find("Upgrade: tcp") != std::string::npos);
    const std::string switched =
        "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
    server.send_all(switched);
    CHECK(client.receive_exactly(switched.size(), 5s) == switched);

    client.send_all("ls\n"); // no HTTP head: forwarded at once, not held
    CHECK(server.receive_exactly(3, 2s) == "ls\n");
    std::this_thread::sleep_for(1500ms);
    server.send_all("bin\netc\n");
    CHECK(client.receive_exactly(8, 5s) == "bin\netc\n");
    client.send_all("exit\n");
    CHECK(server.receive_exactly(5, 5s) == "exit\n");
    CHECK(bodies<wssniff::record::close>(capture).empty());
}

TEST_CASE("relay: --idle-timeout spares a connection that is still delivering to a slow reader") {
    relayed_pair pair([](auto& o) { o.idle_timeout = 1s; });
    auto& [upstream, capture, proxy, client, server] = pair;
    client.set_receive_buffer(64 * 1024);
    client.send_all(upgrade_request);
    server.receive_until("\r\n\r\n", 5s);
    // 4 MiB in one binary frame (64-bit length), sent at once; the client takes ~1.3 MB/s.
    const std::size_t size = 4 * 1024 * 1024;
    std::string frame = upgrade_response;
    frame += "\x82\x7f";
    for (int shift = 56; shift >= 0; shift -= 8) {
        frame += static_cast<char>((size >> shift) & 0xff);
    }
    frame += std::string(size, 'x');
    std::thread sender([&server, &frame] { server.send_all(frame); });
    std::size_t received = 0;
    bool eof = false;
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (received < frame.size() && std::chrono::steady_clock::now() < give_up) {
        const auto chunk = client.receive_some(2s, 32 * 1024);
        if (chunk && chunk->empty()) {
            eof = true;
            break;
        }
        received += chunk ? chunk->size() : 0;
        std::this_thread::sleep_for(25ms);
    }
    sender.join();
    CHECK_FALSE(eof);
    CHECK(received == frame.size());
    CHECK(bodies<wssniff::record::close>(capture).empty());
}

TEST_CASE("relay: an upstream that is the proxy's own listener gets the client a 502, not a "
          "loop") {
    const std::uint16_t port = wssniff::test::free_port();
    wssniff::record::capture capture;
    auto options = options_for(port);
    options.listen_port = port;
    wssniff::proxy::proxy proxy(options, capture);
    proxy.start();

    raw_socket client = raw_socket::connect(proxy.port());
    client.send_all(upgrade_request);
    const std::string answer = client.receive_until("\n\n", 5s); // status, headers, body line
    CHECK(answer.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0) == 0);
    CHECK(answer.find("own listening address") != std::string::npos);
    CHECK(client.closed_within(5s));
    REQUIRE(capture.wait_for_count("close", 1, 5s));
    std::this_thread::sleep_for(200ms);
    CHECK(proxy.accepted() == 1); // the looped connection was never relayed
    CHECK(proxy.open_connections() == 0);
    const auto errors = bodies<wssniff::record::error>(capture);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].code == wssniff::error_code::upstream_unreachable);
    CHECK(errors[0].message.find("own listening address") != std::string::npos);
    CHECK(bodies<wssniff::record::close>(capture)[0].reason ==
          wssniff::record::close_reason::upstream_unreachable);
}

TEST_CASE("relay: an IPv6 upstream is written with brackets in Host and in the records") {
    relayed_pair pair([](auto& o) { o.upstream.host = "::1"; }, /*ipv6=*/true);
    auto& [upstream, capture, proxy, client, server] = pair;
    client.send_all(upgrade_request);
    const std::string authority = "[::1]:" + std::to_string(upstream.port());
    CHECK(server.receive_until("\r\n\r\n", 5s).find("\r\nHost: " + authority + "\r\n") !=
          std::string::npos);
    server.send_all(upgrade_response);
    client.receive_exactly(upgrade_response.size(), 5s);
    REQUIRE(capture.wait_for_count("handshake", 1, 5s));
    CHECK(bodies<wssniff::record::handshake>(capture)[0].upstream == authority);
}

// The one change the proxy makes to the bytes: the request's Host header names the upstream
// (servers check it, and the client addressed the proxy), unless the user keeps it.

#include "capture_support.hpp"
#include "websocketpp_peers.hpp"

#include "wssniff/proxy/proxy.hpp"
#include "wssniff/record/capture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace std::chrono_literals;
using wssniff::test::captured;

namespace {

std::optional<std::string> header(const wssniff::record::header_list& headers,
                                  const std::string& name) {
    const auto it = std::find_if(headers.begin(), headers.end(),
                                 [&name](const auto& h) { return h.first == name; });
    return it == headers.end() ? std::nullopt : std::optional<std::string>(it->second);
}

// Opens one connection through a proxy with `rewrite_host`, exchanges one message, and returns
// the Host header the server saw and the one the handshake record shows.
struct host_seen {
    std::optional<std::string> by_server;
    std::optional<std::string> in_record;
    std::uint16_t proxy_port = 0;
    std::uint16_t server_port = 0;
};

host_seen open_through_proxy(bool rewrite_host) {
    wssniff::test::echo_server server;
    server.start();
    wssniff::record::capture capture;
    wssniff::proxy::proxy_options options;
    options.listen_port = 0;
    options.upstream.host = "127.0.0.1";
    options.upstream.port = server.port();
    options.rewrite_host = rewrite_host;
    wssniff::proxy::proxy proxy(options, capture);
    proxy.start();

    wssniff::test::client client(proxy.port(), "/chat?room=7");
    client.send_text("ping");
    REQUIRE(client.wait_for_messages(1, 5s));
    CHECK(client.received()[0].payload == "ping");
    client.close(1000, "");
    REQUIRE(capture.wait_for_count("close", 1, 5s));
    wssniff::test::dump_for_schema(capture);

    const auto handshakes = captured<wssniff::record::handshake>(capture);
    REQUIRE(handshakes.size() == 1);
    CHECK(handshakes[0].target == "/chat?room=7");
    return {server.host(), header(handshakes[0].request_headers, "Host"), proxy.port(),
            server.port()};
}

} // namespace

TEST_CASE("the Host header is rewritten to the upstream's authority by default") {
    const host_seen host = open_through_proxy(true);
    CHECK(host.by_server == "127.0.0.1:" + std::to_string(host.server_port));
    // Records show the request as forwarded.
    CHECK(host.in_record == host.by_server);
}

TEST_CASE(
    "the client's Host header passes unchanged when rewrite_host is off (--host-header keep)") {
    const host_seen host = open_through_proxy(false);
    CHECK(host.by_server == "127.0.0.1:" + std::to_string(host.proxy_port));
    CHECK(host.in_record == host.by_server);
}

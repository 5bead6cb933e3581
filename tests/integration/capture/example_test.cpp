// The way to test an application's WebSocket traffic in-process: start the proxy in front of
// the server, point the client at it, run, then assert on what the capture saw.

#include "capture_support.hpp"
#include "websocketpp_peers.hpp"

#include "wssniff/decoder/opcode.hpp"
#include "wssniff/proxy/proxy.hpp"
#include "wssniff/record/capture.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using wssniff::direction;
using wssniff::decoder::op_name;
using wssniff::test::captured;

TEST_CASE("a websocketpp client and echo server, through the proxy") {
    wssniff::test::echo_server server;
    server.start();

    wssniff::record::capture capture;
    wssniff::proxy::proxy_options options;
    options.listen_port = 0; // any free port
    options.upstream.host = "127.0.0.1";
    options.upstream.port = server.port();
    wssniff::proxy::proxy proxy(options, capture);
    proxy.start();

    wssniff::test::client client(proxy.port());
    client.send_text("hello");
    client.send_binary(std::string("\x00\xff", 2));
    REQUIRE(client.wait_for_messages(2, 5s));
    client.close(1000, "bye");

    REQUIRE(capture.wait_for_count("close", 1, 5s));
    wssniff::test::dump_for_schema(capture);

    const auto handshakes = captured<wssniff::record::handshake>(capture);
    REQUIRE(handshakes.size() == 1);
    CHECK(handshakes[0].status == 101);
    CHECK(handshakes[0].client == client.local_address());
    CHECK(handshakes[0].upstream == "127.0.0.1:" + std::to_string(server.port()));

    const auto sent = capture.frames(direction::c2s);
    REQUIRE(sent.size() == 3);
    CHECK(op_name(sent[0].opcode) == "text");
    CHECK(sent[0].data.bytes == "hello");
    CHECK(op_name(sent[1].opcode) == "binary");
    CHECK(sent[1].data.bytes == std::string("\x00\xff", 2));
    CHECK(op_name(sent[2].opcode) == "close");
    CHECK(sent[2].close_code == 1000);
    CHECK(sent[2].close_reason == "bye");
    for (const auto& f : sent) {
        CHECK(f.masked); // RFC 6455 §5.3: every client frame is masked
    }

    const auto echoed = capture.frames(direction::s2c);
    REQUIRE(echoed.size() == 3);
    CHECK(echoed[0].data.bytes == "hello");
    CHECK(echoed[1].data.bytes == std::string("\x00\xff", 2));
    CHECK(op_name(echoed[2].opcode) == "close");
    CHECK(echoed[2].close_code == 1000);

    const auto closes = captured<wssniff::record::close>(capture);
    REQUIRE(closes.size() == 1);
    CHECK(closes[0].reason == wssniff::record::close_reason::server_closed);
    CHECK(closes[0].frames_c2s == 3);
    CHECK(closes[0].frames_s2c == 3);
}

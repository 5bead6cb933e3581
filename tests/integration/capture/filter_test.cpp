// The capture API with the filters of --filter and --conn-filter (proxy_options::filters):
// records are chosen before they reach the capture, and a connection the conn-filter rejects is
// forwarded whole while the capture sees only its close.

#include "capture_support.hpp"
#include "proxied_echo.hpp"

#include "wssniff/filter/selector.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace std::chrono_literals;
using wssniff::direction;
using wssniff::test::captured;

TEST_CASE("capture: --filter and --conn-filter in-process") {
    wssniff::test::proxied_echo echo([](wssniff::proxy::proxy_options& options) {
        options.filters = wssniff::filter::compile_filters(
            R"(type == "close" or (dir == "s2c" and text contains "keep"))",
            R"(hs.target matches /^\/chat/)");
    });

    wssniff::test::client chat(echo.proxy.port(), "/chat");
    for (const char* text : {"keep 1", "drop", "keep 2"}) {
        chat.send_text(text);
    }
    REQUIRE(chat.wait_for_messages(3, 5s));
    chat.close(1000, "bye");
    REQUIRE(echo.capture.wait_for_count("close", 1, 5s));

    wssniff::test::client other(echo.proxy.port(), "/other");
    const std::string big(100000, 'k');
    other.send_text("keep, but not this connection");
    other.send_text(big);
    REQUIRE(other.wait_for_messages(2, 5s));
    other.close(1000, "bye");
    REQUIRE(echo.capture.wait_for_count("close", 2, 5s));
    wssniff::test::dump_for_schema(echo.capture);

    // The rejected connection's messages came back whole.
    const auto back = other.received();
    REQUIRE(back.size() == 2);
    CHECK(back[1].payload == big);

    const auto records = echo.capture.records();
    REQUIRE(records.size() == 4);
    const auto frames = echo.capture.frames();
    REQUIRE(frames.size() == 2);
    CHECK(frames[0].dir == direction::s2c);
    CHECK(frames[0].data.bytes == "keep 1");
    CHECK(frames[1].data.bytes == "keep 2");
    const auto closes = captured<wssniff::record::close>(echo.capture);
    REQUIRE(closes.size() == 2);
    CHECK(records[2].conn == 1);
    CHECK(records[3].conn == 2);
    // Not decoded, but every byte counted: the 100000-byte message each way at least.
    CHECK(closes[1].bytes_c2s > 100000);
    CHECK(closes[1].bytes_s2c > 100000);
    CHECK(closes[1].frames_c2s == 0);
}

TEST_CASE("capture: a bad expression throws parse_error with its column") {
    try {
        wssniff::filter::compile_filters("fin and", "");
        FAIL("no parse_error");
    } catch (const wssniff::filter::parse_error& e) {
        CHECK(e.column == 8);
        CHECK(std::string(e.what()) == "expected a field name, got the end");
    }
    CHECK_FALSE(wssniff::filter::compile_filters("", "").any());
}

// Expectations on a live in-process capture: the C++ builder, wait_until_matches and the
// Catch2 matcher, through the proxy in front of the websocketpp echo server; a failing
// expectation is checked for its message.

#include "capture_support.hpp"
#include "proxied_echo.hpp"
#include "websocketpp_peers.hpp"

#include "wssniff/expect/builder.hpp"
#include "wssniff/expect/catch2.hpp"

#include <catch2/catch.hpp>

#include <chrono>

using namespace std::chrono_literals;
namespace ex = wssniff::expect;

namespace {

// The client's side of the conversation: a subscribe with an id, a text, a close.
void converse(wssniff::test::proxied_echo& fixture) {
    wssniff::test::client client(fixture.proxy.port(), "/echo");
    // One message at a time, each after the echo of the one before: steps are ordered across
    // both directions, so the test makes the interleaving the one it expects.
    client.send_text(R"({"op":"subscribe","id":5})");
    REQUIRE(client.wait_for_messages(1, 5s));
    client.send_text("hello");
    REQUIRE(client.wait_for_messages(2, 5s));
    client.close(1000, "bye");
    REQUIRE(client.wait_closed(5s));
}

} // namespace

TEST_CASE("expect: the echo conversation matches, waiting for it", "[expect]") {
    wssniff::test::proxied_echo fixture;
    converse(fixture);
    using namespace ex;
    const auto seq =
        sequence(c2s.text_json({{"op", "subscribe"}}).bind("id", "/id"),
                 s2c.text_json({{"op", "subscribe"}}).equal("/id", "id"), c2s.text("hello"),
                 s2c.text("hello"), c2s.close(1000, "bye"), s2c.close(1000));
    REQUIRE_THAT(fixture.capture, matches(seq, 5s));
    const auto r = wait_until_matches(fixture.capture, seq, 5s);
    CHECK(r.matched);
    CHECK(r.report.empty());
    REQUIRE(fixture.capture.wait_for_count("close", 1, 5s));
    wssniff::test::dump_for_schema(fixture.capture);
}

TEST_CASE("expect: a failing expectation says where the conversation left it", "[expect]") {
    wssniff::test::proxied_echo fixture;
    converse(fixture);
    REQUIRE(fixture.capture.wait_for_count("close", 1, 5s));
    using namespace ex;
    const auto seq =
        sequence(c2s.text_json({{"op", "subscribe"}}).bind("id", "/id"),
                 s2c.text_json({{"op", "subscribe"}}).equal("/id", "id"), s2c.text("goodbye"));
    auto matcher = matches(seq);
    CHECK_FALSE(matcher.match(fixture.capture));
    CHECK(matcher.describe() ==
          "matches the expectation, but:\n"
          "expectation not met: step 3 of 3 not matched\n"
          "  step  expected                                   actual\n"
          "  1  c2s text json {\"op\":\"subscribe\"} bind id=/id  c2s #0\n"
          "  2  s2c text json {\"op\":\"subscribe\"} /id==$id     s2c #0\n"
          "> 3  s2c text \"goodbye\"                            not matched\n"
          "closest candidate s2c #1: payload was \"hello\", expected \"goodbye\"\n"
          "records around it (6 in the stream):\n"
          "    c2s #0 text {\"id\":5,\"op\":\"subscribe\"}\n"
          "    s2c #0 text {\"id\":5,\"op\":\"subscribe\"}\n"
          "    c2s #1 text \"hello\"\n"
          "  > s2c #1 text \"hello\"\n"
          "    c2s #2 close 1000 \"bye\"\n"
          "    s2c #2 close 1000 \"bye\"\n");
    // Waiting gives up at the timeout with the same report.
    const auto start = std::chrono::steady_clock::now();
    const auto r = ex::wait_until_matches(fixture.capture, seq, 300ms);
    CHECK_FALSE(r.matched);
    CHECK(std::chrono::steady_clock::now() - start >= 300ms);
    CHECK(
        r.report.find("closest candidate s2c #1: payload was \"hello\", expected \"goodbye\"\n") !=
        std::string::npos);
}

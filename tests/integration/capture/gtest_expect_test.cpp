// The GoogleTest matcher (wssniff/expect/gtest.hpp) on a live in-process capture: the proxy in
// front of the websocketpp echo server; EXPECT_THAT passing, and a failing expectation checked
// for its explanation.

#include "proxied_echo.hpp"
#include "websocketpp_peers.hpp"

#include "wssniff/expect/builder.hpp"
#include "wssniff/expect/gtest.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

using namespace std::chrono_literals;
using testing::HasSubstr;
namespace ex = wssniff::expect;

namespace {

void converse(wssniff::test::proxied_echo& fixture) {
    wssniff::test::client client(fixture.proxy.port(), "/echo");
    client.send_text(R"({"op":"subscribe","id":5})");
    ASSERT_TRUE(client.wait_for_messages(1, 5s)); // the interleaving the sequence expects
    client.send_text("hello");
    ASSERT_TRUE(client.wait_for_messages(2, 5s));
    client.close(1000, "bye");
    ASSERT_TRUE(client.wait_closed(5s));
}

ex::sequence_builder echo_sequence() {
    using namespace ex;
    return sequence(c2s.text_json({{"op", "subscribe"}}).bind("id", "/id"),
                    s2c.text_json({{"op", "subscribe"}}).equal("/id", "id"), c2s.text("hello"),
                    s2c.text("hello"), c2s.close(1000, "bye"));
}

} // namespace

TEST(Expect, EchoConversationMatches) {
    wssniff::test::proxied_echo fixture;
    converse(fixture);
    EXPECT_THAT(fixture.capture, ex::matches(echo_sequence(), 5s));
}

TEST(Expect, FailingExpectationExplainsItself) {
    wssniff::test::proxied_echo fixture;
    converse(fixture);
    ASSERT_TRUE(fixture.capture.wait_for_count("close", 1, 5s));
    using namespace ex;
    const auto bad =
        sequence(c2s.text_json({{"op", "subscribe"}}).bind("id", "/id"), s2c.text("goodbye"));
    const testing::Matcher<const wssniff::record::capture&> m = ex::matches(bad);
    testing::StringMatchResultListener listener;
    EXPECT_FALSE(m.MatchAndExplain(fixture.capture, &listener));
    EXPECT_THAT(listener.str(), HasSubstr("expectation not met: step 2 of 2 not matched\n"));
    EXPECT_THAT(listener.str(),
                HasSubstr("closest candidate s2c #0: payload was {\"id\":5,\"op\":\"subscribe\"}, "
                          "expected \"goodbye\"\n"));
    EXPECT_EQ(testing::DescribeMatcher<const wssniff::record::capture&>(m),
              "matches the expectation");
}

// Connections open at the same time keep their records apart: `conn` numbers them in order of
// acceptance, and each one's frames carry only its own traffic.

#include "capture_support.hpp"
#include "proxied_echo.hpp"

#include "wssniff/base/opcode.hpp"
#include "wssniff/record/capture.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace std::chrono_literals;
using wssniff::direction;

TEST_CASE("two connections at once are numbered in order of acceptance and recorded apart") {
    wssniff::test::proxied_echo echo;
    auto& [server, capture, proxy] = echo;

    // Each constructor returns once its opening handshake is done: `first` is accepted first.
    wssniff::test::client first(proxy.port());
    wssniff::test::client second(proxy.port());
    for (int i = 0; i < 3; ++i) {
        second.send_text("second " + std::to_string(i));
        first.send_text("first " + std::to_string(i));
    }
    REQUIRE(first.wait_for_messages(3, 5s));
    REQUIRE(second.wait_for_messages(3, 5s));
    second.close(1000, "second");
    first.close(1000, "first");
    REQUIRE(capture.wait_for_count("close", 2, 5s));
    wssniff::test::dump_for_schema(capture);
    CHECK(proxy.accepted() == 2);

    // Per connection: the client address of its handshake, and its frames' payloads in order.
    std::map<std::uint64_t, std::string> client_of;
    std::map<std::uint64_t, std::map<direction, std::vector<std::string>>> payloads;
    std::map<std::uint64_t, int> closes;
    for (const auto& r : capture.records()) {
        if (const auto* h = std::get_if<wssniff::record::handshake>(&r.body)) {
            client_of[r.conn] = h->client.value_or("");
        } else if (const auto* f = std::get_if<wssniff::record::frame>(&r.body)) {
            payloads[r.conn][f->dir].push_back(
                f->opcode == wssniff::opcode::close ? "close " + *f->close_reason : f->data.bytes);
        } else if (std::holds_alternative<wssniff::record::close>(r.body)) {
            ++closes[r.conn];
        }
    }
    CHECK(client_of[1] == first.local_address());
    CHECK(client_of[2] == second.local_address());
    const std::vector<std::string> first_sent{"first 0", "first 1", "first 2", "close first"};
    const std::vector<std::string> second_sent{"second 0", "second 1", "second 2", "close second"};
    CHECK(payloads[1][direction::c2s] == first_sent);
    CHECK(payloads[1][direction::s2c] == first_sent);
    CHECK(payloads[2][direction::c2s] == second_sent);
    CHECK(payloads[2][direction::s2c] == second_sent);
    CHECK(closes == std::map<std::uint64_t, int>{{1, 1}, {2, 1}});
}

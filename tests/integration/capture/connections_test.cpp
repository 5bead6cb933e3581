// Connections open at the same time keep their records apart: `conn` numbers them in order of
// acceptance, and each one's frames carry only its own traffic.

#include "capture_support.hpp"
#include "proxied_echo.hpp"

#include "wssniff/base/opcode.hpp"
#include "wssniff/record/capture.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

TEST_CASE("with several relay threads, concurrent connections keep their records whole and apart") {
    // Three loops, twelve connections dealt to them in turn: every connection's records come
    // from one thread, and the capture (which expects one producer) gets them one at a time.
    wssniff::test::proxied_echo echo([](wssniff::proxy::proxy_options& o) { o.threads = 3; });
    auto& [server, capture, proxy] = echo;

    constexpr int connections = 12;
    constexpr int messages = 20;
    std::vector<std::unique_ptr<wssniff::test::client>> clients;
    for (int c = 0; c < connections; ++c) {
        clients.push_back(std::make_unique<wssniff::test::client>(proxy.port()));
    }
    for (int i = 0; i < messages; ++i) {
        for (int c = 0; c < connections; ++c) {
            clients[static_cast<std::size_t>(c)]->send_text("c" + std::to_string(c) + " m" +
                                                            std::to_string(i));
        }
    }
    for (auto& client : clients) {
        REQUIRE(client->wait_for_messages(messages, 10s));
        client->close(1000, "done");
    }
    REQUIRE(capture.wait_for_count("close", connections, 10s));
    wssniff::test::dump_for_schema(capture);
    CHECK(proxy.accepted() == connections);

    // Each connection's client frames are one client's messages, in the order it sent them,
    // with seq counting up from 0, and the echo matches.
    std::map<std::uint64_t, std::map<direction, std::vector<std::string>>> payloads;
    std::map<std::uint64_t, std::map<direction, std::uint64_t>> next_seq;
    for (const auto& r : capture.records()) {
        if (const auto* f = std::get_if<wssniff::record::frame>(&r.body)) {
            CHECK(f->seq == next_seq[r.conn][f->dir]++);
            if (f->opcode == wssniff::opcode::text) {
                payloads[r.conn][f->dir].push_back(f->data.bytes);
            }
        }
    }
    REQUIRE(payloads.size() == static_cast<std::size_t>(connections));
    std::set<std::string> senders;
    for (auto& [conn, dirs] : payloads) {
        const auto& sent = dirs[direction::c2s];
        REQUIRE(sent.size() == static_cast<std::size_t>(messages));
        const std::string who = sent.front().substr(0, sent.front().find(' '));
        senders.insert(who);
        for (int i = 0; i < messages; ++i) {
            CHECK(sent[static_cast<std::size_t>(i)] == who + " m" + std::to_string(i));
        }
        CHECK(dirs[direction::s2c] == sent);
    }
    CHECK(senders.size() == static_cast<std::size_t>(connections));
    // A connection writes its close record, then the proxy forgets it (teardown.hpp): on a
    // loop thread that is preempted between the two, the count reaches zero a moment after the
    // last close record arrived here.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (proxy.open_connections() != 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
    }
    CHECK(proxy.open_connections() == 0);
}

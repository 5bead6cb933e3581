// The process-wide payload budget (issue 19 item 2): what unfinished frames and messages hold
// never exceeds it, payloads past it are kept truncated, and everything is given back when
// records are written or sessions end.

#include "support/records.hpp"

#include "wssniff/session/held_payload.hpp"
#include "wssniff/session/payload_budget.hpp"
#include "wssniff/session/session.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace wssniff;
using test::frame;
using test::of_type;
using test::unhex;

namespace {

const std::string mask = unhex("0a1b2c3d");

// A masked client frame header announcing `length` payload bytes (64-bit length form).
std::string long_header(std::uint8_t first, std::uint64_t length) {
    std::string h{static_cast<char>(first), static_cast<char>(0x80 | 127)};
    for (int shift = 56; shift >= 0; shift -= 8) {
        h.push_back(static_cast<char>((length >> shift) & 0xff));
    }
    return h + mask;
}

} // namespace

TEST_CASE("payload budget: grants stop at the limit, from any thread", "[budget]") {
    session::payload_budget budget(1000);
    CHECK(budget.take(600) == 600);
    CHECK(budget.take(600) == 400);
    CHECK(budget.take(1) == 0);
    budget.give_back(1000);
    CHECK(budget.held() == 0);

    std::vector<std::thread> threads;
    std::atomic<std::uint64_t> granted{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 10000; ++i) {
                const auto n = budget.take(7);
                granted += n;
                CHECK(budget.held() <= budget.limit());
                budget.give_back(n);
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(budget.held() == 0);
}

TEST_CASE("payload budget: a held payload keeps a prefix and gives everything back", "[budget]") {
    session::payload_budget budget(1000);
    {
        session::held_payload a(&budget, 1 << 20);
        session::held_payload b(&budget, 1 << 20);
        const std::string data(700, 'a');
        a.append(bytes_view{data});
        CHECK(a.size() == 700);
        b.append(bytes_view{data});
        CHECK(budget.held() <= budget.limit());
        CHECK(b.size() < 700);
        const std::size_t kept = b.size();
        // Room again later: b keeps nothing more, so what it holds stays a prefix.
        a.release();
        b.append(bytes_view{data});
        CHECK(b.size() == kept);
        CHECK(b.take() == std::string(kept, 'a'));
        CHECK(budget.held() == 0);
    }
    CHECK(budget.held() == 0);
}

TEST_CASE("payload budget: stalled frames hold at most the budget, then give it all back",
          "[budget]") {
    auto budget = std::make_shared<session::payload_budget>(3 * 1024 * 1024);
    session::session_options options;
    options.handshake = false;
    options.emit_messages = true; // frame and message payloads both count
    options.budget = budget;
    // Twenty connections each send 1 MiB of a text frame's payload and go quiet.
    const std::string payload(1024 * 1024, 'x');
    std::string masked = payload;
    for (std::size_t i = 0; i < masked.size(); ++i) {
        masked[i] = static_cast<char>(masked[i] ^ mask[i % 4]);
    }
    const std::string bytes = long_header(0x81, payload.size() + 1) + masked;
    std::vector<std::unique_ptr<test::ndjson_capture>> captures;
    std::vector<std::unique_ptr<session::session>> sessions;
    for (int c = 0; c < 20; ++c) {
        captures.push_back(std::make_unique<test::ndjson_capture>());
        sessions.push_back(std::make_unique<session::session>(*captures.back(), options));
        for (std::size_t at = 0; at < bytes.size(); at += 64 * 1024) {
            sessions.back()->feed(
                direction::c2s,
                bytes_view{bytes}.subview(at, std::min<std::size_t>(64 * 1024, bytes.size() - at)));
            REQUIRE(budget->held() <= budget->limit());
        }
    }
    CHECK(budget->held() > 2 * 1024 * 1024); // the budget is used, not left idle
    for (auto& s : sessions) {
        s->close(record::close_reason::client_closed);
    }
    CHECK(budget->held() == 0);
    // The first connection's cut frame kept what the budget let it; later ones kept less,
    // and every record says it is truncated.
    const auto first = of_type(captures.front()->text(), "frame").at(0);
    CHECK(first["truncated"] == true);
    const auto last = of_type(captures.back()->text(), "frame").at(0);
    CHECK(last["truncated"] == true);
    CHECK(last["len"] == payload.size() + 1);
    CHECK(last["text"].get<std::string>().size() < payload.size());
    CHECK(of_type(captures.back()->text(), "message").at(0)["truncated"] == true);
}

TEST_CASE("payload budget: complete frames give their bytes back as they are recorded",
          "[budget]") {
    auto budget = std::make_shared<session::payload_budget>(4096);
    session::session_options options;
    options.handshake = false;
    options.budget = budget;
    test::ndjson_capture capture;
    session::session s(capture, options);
    for (int i = 0; i < 100; ++i) {
        s.feed(direction::c2s, bytes_view{frame(0x82, std::string(3000, 'b'), mask)});
        CHECK(budget->held() == 0);
    }
    const auto frames = of_type(capture.text(), "frame");
    REQUIRE(frames.size() == 100);
    CHECK(frames.back().count("truncated") == 0); // each had the whole budget to itself
    s.close(record::close_reason::client_closed);
}

// The replay client's sans-I/O parts: what a plan makes of an archived connection, client frames
// on the wire (read back by the decoder), and the permessage-deflate sender (read back by the
// inflater).

#include "wssniff/archive/record_reader.hpp"
#include "wssniff/decoder/frame_decoder.hpp"
#include "wssniff/inflate/inflater.hpp"
#include "wssniff/playback/frame_writer.hpp"
#include "wssniff/playback/message_deflater.hpp"
#include "wssniff/playback/plan.hpp"

#include <catch2/catch.hpp>

// GCC 12 at -O1 under ASan (the asan tree) warns, falsely, that the std::string inside a
// record::frame's std::optional close_reason may be used uninitialized when the frame is copied.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <string>
#include <vector>

using namespace wssniff;

namespace {

record::timestamp at_ms(std::int64_t ms) {
    return record::timestamp{std::chrono::milliseconds{ms}};
}

struct builder {
    archive::connection conn{1, {}};
    std::uint64_t seq_c2s = 0, seq_s2c = 0;

    void add(record::record_body body, std::optional<std::int64_t> ms) {
        record::record r;
        r.conn = 1;
        if (ms) {
            r.ts = at_ms(*ms);
        }
        r.body = std::move(body);
        conn.entries.push_back({conn.entries.size() + 1, std::move(r)});
    }
    void handshake(std::int64_t ms, record::header_list headers = {}) {
        record::handshake h;
        h.method = "GET";
        h.target = "/chat";
        h.status = 101;
        h.request_headers = headers.empty() ? record::header_list{{"Host", "a:1"},
                                                                  {"Upgrade", "websocket"},
                                                                  {"Sec-WebSocket-Key", "old"}}
                                            : std::move(headers);
        add(h, ms);
    }
    record::frame& frame(direction dir, std::uint8_t opcode, std::string payload, bool fin = true,
                         std::optional<std::int64_t> ms = std::nullopt) {
        record::frame f;
        f.dir = dir;
        f.seq = dir == direction::c2s ? seq_c2s++ : seq_s2c++;
        f.opcode = opcode;
        f.fin = fin;
        f.len = payload.size();
        f.data.encoding = record::payload_encoding::base64;
        f.data.bytes = std::move(payload);
        add(f, ms);
        return std::get<record::frame>(conn.entries.back().record.body);
    }
};

} // namespace

TEST_CASE("plan: messages unit joins fragments, keeps pings, drops pongs, counts pushes",
          "[playback]") {
    builder b;
    b.handshake(1000);
    b.frame(direction::s2c, 1, "welcome", true, 1001);
    b.frame(direction::c2s, 1, "frag", false, 1100);
    b.frame(direction::c2s, 9, "ping", true, 1150);
    b.frame(direction::s2c, 2, "push1", false, 1160); // a fragmented server push...
    b.frame(direction::c2s, 0, "ment", true, 1200);
    b.frame(direction::s2c, 0, "push2", true, 1250); // ...complete here
    b.frame(direction::c2s, 10, "pong", true, 1300);
    b.frame(direction::c2s, 8, std::string("\x03\xe8", 2), true, 1400);
    const auto p = playback::make_plan(b.conn, {});
    REQUIRE(p.steps.size() == 3);
    CHECK(p.steps[0].frames.size() == 1);
    CHECK(p.steps[0].frames[0].opcode == 9);
    CHECK(*p.steps[0].at == std::chrono::milliseconds{150});
    CHECK(p.steps[0].server_messages_before == 1);
    const auto& message = p.steps[1].frames.at(0);
    CHECK(message.opcode == 1);
    CHECK(message.fin);
    CHECK(message.payload == "fragment");
    CHECK(*p.steps[1].at == std::chrono::milliseconds{200}); // sent whole at its last fragment
    CHECK(p.steps[1].server_messages_before == 1);           // counted where the message began
    CHECK(p.steps[2].frames.at(0).opcode == 8);
    CHECK(p.steps[2].server_messages_before == 2);
    CHECK(p.started == at_ms(1000));
    CHECK_FALSE(p.client_reset);
    CHECK(p.server_messages == 2);
}

TEST_CASE("plan: an archive of messages only (a HAR import) counts the server's answers to "
          "wait for at the end",
          "[playback]") {
    builder b;
    b.handshake(1000);
    const auto message = [&](direction dir, std::string text) {
        record::message m;
        m.dir = dir;
        m.opcode = 1;
        m.frames = 1;
        m.len = text.size();
        m.data.encoding = record::payload_encoding::text;
        m.data.bytes = std::move(text);
        b.add(m, 1100);
    };
    message(direction::s2c, "welcome");
    message(direction::c2s, "last");
    message(direction::s2c, "answer to last");
    const auto p = playback::make_plan(b.conn, {});
    REQUIRE(p.steps.size() == 1);
    CHECK(p.steps[0].server_messages_before == 1);
    CHECK(p.server_messages == 2); // the answer after the last send is awaited too
    CHECK(p.warnings.size() == 1); // no client frames: pings and the close are not replayed
}

TEST_CASE("plan: frames unit keeps every frame as recorded, violations included", "[playback]") {
    builder b;
    b.handshake(0);
    auto& f = b.frame(direction::c2s, 1, "a", false);
    f.rsv2 = true;
    b.frame(direction::c2s, 3, "reserved");
    b.frame(direction::c2s, 0, "b", true);
    playback::plan_options o;
    o.unit = playback::unit::frames;
    const auto p = playback::make_plan(b.conn, o);
    REQUIRE(p.steps.size() == 3);
    CHECK(p.steps[0].frames.at(0).rsv2);
    CHECK_FALSE(p.steps[0].frames.at(0).fin);
    CHECK(p.steps[1].frames.at(0).opcode == 3);
    CHECK(p.steps[2].frames.at(0).opcode == 0);
    CHECK_FALSE(p.steps[0].at); // no ts on these frames
}

TEST_CASE("plan: the request drops Host, the key and redacted values, --header wins",
          "[playback]") {
    builder b;
    b.handshake(0, {{"Host", "proxy:8080"},
                    {"Authorization", "Bearer [redacted]"},
                    {"Cookie", "[redacted]"},
                    {"Sec-WebSocket-Key", "old"},
                    {"Sec-WebSocket-Protocol", "chat"}});
    playback::plan_options o;
    o.headers = {{"cookie", "session=1"}, {"X-Extra", "yes"}};
    const auto p = playback::make_plan(b.conn, o);
    const record::header_list want{
        {"Cookie", "session=1"}, {"Sec-WebSocket-Protocol", "chat"}, {"X-Extra", "yes"}};
    CHECK(p.headers == want);
    REQUIRE(p.warnings.size() == 2); // Authorization left out; no client frames
    CHECK(p.warnings[0].find("header Authorization was redacted") != std::string::npos);
}

TEST_CASE("plan: payloads that cannot be sent again are refused, naming the record", "[playback]") {
    SECTION("truncated") {
        builder b;
        b.handshake(0);
        b.frame(direction::c2s, 1, "abc").data.truncated = true;
        CHECK_THROWS_WITH(playback::make_plan(b.conn, {}),
                          Catch::StartsWith("conn 1 c2s frame #0 (line 2): payload is truncated"));
    }
    SECTION("not recorded") {
        builder b;
        b.handshake(0);
        auto& f = b.frame(direction::c2s, 2, "");
        f.len = 10;
        f.data.encoding = record::payload_encoding::none;
        CHECK_THROWS_WITH(playback::make_plan(b.conn, {}),
                          Catch::Contains("payload was not recorded (--payload none)"));
    }
    SECTION("text that was repaired") {
        builder b;
        b.handshake(0);
        auto& f = b.frame(direction::c2s, 1, "a\xEF\xBF\xBD"); // U+FFFD where 1 byte was
        f.len = 2;
        f.data.encoding = record::payload_encoding::text;
        CHECK_THROWS_WITH(playback::make_plan(b.conn, {}), Catch::Contains("does not round-trip"));
    }
    SECTION("no handshake") {
        builder b;
        b.frame(direction::c2s, 1, "x");
        CHECK_THROWS_WITH(playback::make_plan(b.conn, {}),
                          Catch::Contains("has no handshake record"));
    }
    SECTION("a close frame without payload field is rebuilt from its code") {
        builder b;
        b.handshake(0);
        auto& f = b.frame(direction::c2s, 8, "");
        f.len = 4;
        f.data.encoding = record::payload_encoding::none;
        f.close_code = 1001;
        f.close_reason = "by";
        const auto p = playback::make_plan(b.conn, {});
        CHECK(p.steps.at(0).frames.at(0).payload == std::string("\x03\xe9"
                                                                "by"));
    }
}

namespace {

struct collected : decoder::frame_handler {
    struct frame {
        decoder::frame_header header;
        std::string payload;
    };
    std::vector<frame> frames;
    std::vector<error_code> errors;
    decoder::payload_delivery on_frame_header(const decoder::frame_header& h) override {
        frames.push_back({h, {}});
        return decoder::payload_delivery::bytes;
    }
    void on_frame_payload(const decoder::frame_header&, bytes_view data) override {
        frames.back().payload.append(data.chars());
    }
    void on_frame_end(const decoder::frame_header&, const decoder::frame_end&) override {}
    void on_error(const decoder::decode_error& e) override { errors.push_back(e.code); }
};

struct inflated : inflate::output_handler {
    std::string bytes;
    void on_inflated(bytes_view data) override { bytes.append(data.chars()); }
};

} // namespace

TEST_CASE("frame writer: every length encoding, masked, read back by the decoder", "[playback]") {
    playback::mask_source masks;
    std::string wire;
    const std::vector<std::size_t> sizes{0, 125, 126, 65535, 65536, 200000};
    for (auto n : sizes) {
        playback::append_client_frame(wire, {true, false, false, false, 2},
                                      std::string(n, static_cast<char>('a' + n % 26)),
                                      masks.next());
    }
    playback::append_client_frame(wire, {false, true, true, true, 3}, "odd", masks.next());
    collected got;
    decoder::frame_decoder d(got, {direction::c2s, false, true});
    d.feed(bytes_view{std::string_view{wire}});
    REQUIRE(got.frames.size() == sizes.size() + 1);
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        CHECK(got.frames[i].header.masked);
        CHECK(got.frames[i].payload ==
              std::string(sizes[i], static_cast<char>('a' + sizes[i] % 26)));
    }
    const auto& last = got.frames.back().header;
    CHECK((last.opcode == 3 && !last.fin && last.rsv1 && last.rsv2 && last.rsv3));
    CHECK(got.errors == std::vector<error_code>{error_code::reserved_opcode});
    CHECK(got.frames[0].header.mask != got.frames[1].header.mask);
}

TEST_CASE("message deflater: messages and fragment pieces inflate back", "[playback]") {
    for (bool no_takeover : {false, true}) {
        for (std::uint8_t bits : {std::uint8_t{8}, std::uint8_t{10}, std::uint8_t{15}}) {
            playback::message_deflater deflater(bits, no_takeover);
            inflate::inflater inflater(no_takeover, {});
            for (std::size_t i = 0; i < 5; ++i) {
                const std::string message(1000 + i, static_cast<char>('x' + i % 2));
                inflated out;
                // A message in three pieces (fragments), the last one final.
                const auto a = deflater.compress(message.substr(0, 300), false);
                const auto b2 = deflater.compress(message.substr(300, 300), false);
                const auto c = deflater.compress(message.substr(600), true);
                REQUIRE(inflater.feed(bytes_view{std::string_view{a}}, out) ==
                        inflate::inflater::status::ok);
                REQUIRE(inflater.feed(bytes_view{std::string_view{b2}}, out) ==
                        inflate::inflater::status::ok);
                REQUIRE(inflater.feed(bytes_view{std::string_view{c}}, out) ==
                        inflate::inflater::status::ok);
                REQUIRE(inflater.end_message(out) == inflate::inflater::status::ok);
                CHECK(out.bytes == message);
                CHECK(c.size() < 700); // compressed, not stored
            }
        }
    }
}

// `wssniff report` without files: the JSON made safe inside <script>, the CSP hashes, the page's
// shape, the model (events, round trips matched by payload, close handshake, rate buckets, size
// histogram) and the Mermaid text.

#include "wssniff/report/mermaid.hpp"
#include "wssniff/report/model.hpp"
#include "wssniff/report/page.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

// GCC 12 at -O1 under ASan (the asan tree) warns, falsely, that the std::string inside a
// record::frame's std::optional close_reason may be used uninitialized when the frame is copied.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <chrono>
#include <string>

using namespace wssniff;
using json = nlohmann::json;

namespace {

struct builder {
    archive::connection conn{1, {}};

    void add(record::record_body body, std::optional<std::int64_t> ms) {
        record::record r;
        r.conn = conn.conn;
        if (ms) {
            r.ts = record::timestamp{std::chrono::milliseconds{*ms}};
        }
        r.body = std::move(body);
        conn.entries.push_back({conn.entries.size() + 1, std::move(r)});
    }
    void handshake(std::optional<std::int64_t> ms,
                   std::optional<std::int64_t> request_ms = std::nullopt) {
        record::handshake h;
        h.method = "GET";
        h.target = "/chat";
        h.status = 101;
        if (request_ms) {
            h.request_ts = record::timestamp{std::chrono::milliseconds{*request_ms}};
        }
        add(h, ms);
    }
    void frame(direction dir, std::uint8_t op, std::string payload, std::optional<std::int64_t> ms,
               bool fin = true) {
        record::frame f;
        f.dir = dir;
        f.opcode = op;
        f.fin = fin;
        f.len = payload.size();
        f.data.encoding = record::payload_encoding::hex;
        f.data.bytes = std::move(payload);
        if (op == 8 && f.len >= 2) {
            f.close_code =
                static_cast<std::uint16_t>((static_cast<unsigned char>(f.data.bytes[0]) << 8) |
                                           static_cast<unsigned char>(f.data.bytes[1]));
            f.close_reason = f.data.bytes.substr(2);
        }
        add(f, ms);
    }
    void message(direction dir, std::uint8_t op, std::string payload,
                 std::optional<std::int64_t> ms, std::uint64_t len = 0) {
        record::message m;
        m.dir = dir;
        m.opcode = op;
        m.len = len != 0 ? len : payload.size();
        m.data.encoding = record::payload_encoding::text;
        m.data.bytes = std::move(payload);
        m.data.truncated = m.data.bytes.size() < m.len;
        add(m, ms);
    }
};

const report::model_options defaults{};

} // namespace

TEST_CASE("report: JSON inside <script> cannot end the element or break a line", "[report]") {
    const std::string in =
        "{\"p\":\"</script><img src=x onerror=alert(1)>&\xE2\x80\xA8\xE2\x80\xA9\"}";
    const std::string out = report::escape_script_json(in);
    CHECK(out == "{\"p\":\"\\u003c/script\\u003e\\u003cimg src=x "
                 "onerror=alert(1)\\u003e\\u0026\\u2028\\u2029\"}");
    CHECK(out.find('<') == std::string::npos);
    CHECK(out.find('>') == std::string::npos);
    CHECK(out.find('&') == std::string::npos);
    // Still the same JSON.
    CHECK(json::parse(out) == json::parse(in));
    // Other multi-byte characters pass through.
    CHECK(report::escape_script_json("\"\xE2\x80\xA7 \xC3\xA9\"") == "\"\xE2\x80\xA7 \xC3\xA9\"");
}

TEST_CASE("report: CSP hashes are the base64 SHA-256 of the exact text", "[report]") {
    // printf '' | openssl dgst -sha256 -binary | base64
    CHECK(report::csp_hash("") == "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    CHECK(report::csp_hash("abc") == "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
}

TEST_CASE("report: the page holds the CSP first, the escaped model and the compiled-in assets",
          "[report]") {
    const std::string page = report::render_page("<title>&", "{\"x\":\"</script><b>\"}");
    const auto csp = page.find("Content-Security-Policy");
    REQUIRE(csp != std::string::npos);
    CHECK(csp < page.find("<title>"));
    CHECK(page.find("default-src 'none'") != std::string::npos);
    CHECK(page.find(report::csp_hash(report::page_js())) != std::string::npos);
    CHECK(page.find(report::csp_hash(report::page_css())) != std::string::npos);
    CHECK(page.find("<title>&lt;title&gt;&amp;</title>") != std::string::npos);
    CHECK(page.find("</script><b>") == std::string::npos);
    CHECK(page.find("\\u003c/script\\u003e\\u003cb\\u003e") != std::string::npos);
    CHECK(page.find("<style>" + std::string(report::page_css()) + "</style>") != std::string::npos);
    CHECK(page.find("<script>" + std::string(report::page_js()) + "</script>") !=
          std::string::npos);
    // The page's own code never hands data to the HTML parser.
    CHECK(std::string(report::page_js()).find("innerHTML") == std::string::npos);
    CHECK(std::string(report::page_js()).find("insertAdjacentHTML") == std::string::npos);
}

TEST_CASE("report: a text preview is cut at --max-preview without splitting a character",
          "[report]") {
    CHECK(report::utf8_prefix("h\xC3\xA9llo", 2) == "h");
    CHECK(report::utf8_prefix("h\xC3\xA9llo", 3) == "h\xC3\xA9");
    CHECK(report::utf8_prefix("abc", 10) == "abc");
    builder b;
    b.handshake(0);
    b.message(direction::c2s, 1, std::string(10, 'a') + "\xE2\x9C\x93", 5);
    report::model_options o;
    o.max_preview = 12;
    const auto s = report::summarize(b.conn, "a.ndjson", o);
    REQUIRE(s.events.size() == 1);
    CHECK(s.events[0].preview == std::string(10, 'a'));
    CHECK(s.events[0].truncated);
    CHECK(s.events[0].len == 13);
}

TEST_CASE("report: events, counts and close codes of a connection", "[report]") {
    builder b;
    b.handshake(1000);
    b.message(direction::c2s, 1, "hello", 1010);
    b.message(direction::s2c, 2, std::string("\x00\x01", 2), 1020);
    b.frame(direction::c2s, 8, std::string("\x03\xe8", 2) + "bye", 1030);
    b.frame(direction::s2c, 8, std::string("\x03\xe8", 2), 1042);
    record::error e;
    e.code = error_code::invalid_utf8;
    e.message = "bad";
    e.dir = direction::s2c;
    b.add(e, 1043);
    record::close c;
    c.reason = record::close_reason::client_closed;
    c.frames_c2s = 7;
    c.frames_s2c = 9;
    b.add(c, 1050);

    const auto s = report::summarize(b.conn, "a.ndjson", defaults);
    REQUIRE(s.events.size() == 5);
    CHECK(s.messages == report::per_dir<std::uint64_t>{1, 1});
    CHECK(s.bytes == report::per_dir<std::uint64_t>{5, 2});
    CHECK(s.frames == report::per_dir<std::uint64_t>{7, 9}); // from the close record
    CHECK(s.close_code[0] == 1000);
    CHECK(s.close_reason[0] == "bye");
    CHECK(s.close_code[1] == 1000);
    CHECK(s.tcp_close == record::close_reason::client_closed);
    CHECK(s.errors.at("invalid_utf8") == 1);
    CHECK(s.duration_ms == Approx(50));
    CHECK(*s.events[0].t_ms == Approx(10));
    CHECK(s.events[4].what == report::event::kind::error);
    REQUIRE(s.latency.close_handshake_ms);
    CHECK(*s.latency.close_handshake_ms == Approx(12));
    CHECK(s.latency.close_initiator == direction::c2s);
    CHECK_FALSE(s.latency.upgrade_ms); // the handshake record has no request_ts

    const json j = report::to_json({s}, "test");
    const auto& ev = j["connections"][0]["events"];
    CHECK(ev[0] == json::parse(R"([10.0, 0, 1, 5, "hello", 0, null])"));
    CHECK(ev[1][4] == "0001"); // binary as hex, flag 2
    CHECK(ev[1][5] == 2);
    CHECK(ev[2][6] == json::parse(R"([1000, "bye"])"));
    CHECK(ev[4][6] == "invalid_utf8");
    CHECK(ev[4][1] == 1);
}

TEST_CASE("report: messages are reassembled from frame records when there are no message records",
          "[report]") {
    builder b;
    b.handshake(std::nullopt);
    b.frame(direction::c2s, 1, "hel", std::nullopt, false);
    b.frame(direction::c2s, 9, "p", std::nullopt); // a ping between fragments keeps its place
    b.frame(direction::c2s, 0, "lo", std::nullopt, true);
    b.frame(direction::c2s, 3, "", std::nullopt); // a reserved opcode is no message
    const auto s = report::summarize(b.conn, "a.ndjson", defaults);
    REQUIRE(s.events.size() == 2);
    CHECK(s.messages == report::per_dir<std::uint64_t>{1, 0});
    CHECK(s.events[0].opcode == 9);
    CHECK(s.events[1].preview == "hello");
    CHECK(s.events[1].len == 5);
    CHECK_FALSE(s.events[1].t_ms); // no times (an archive from decode)
    CHECK(s.frames == report::per_dir<std::uint64_t>{4, 0});
    CHECK(s.rate.messages[0].empty());
}

TEST_CASE("report: pongs answer the other side's oldest ping with the same payload", "[report]") {
    builder b;
    b.handshake(0);
    b.frame(direction::c2s, 9, "a", 100);
    b.frame(direction::c2s, 9, "b", 110);
    b.frame(direction::s2c, 9, "a", 115);  // a server ping with the same payload as one of ours
    b.frame(direction::s2c, 10, "b", 130); // answers the client's "b": 20 ms
    b.frame(direction::s2c, 10, "z", 131); // unsolicited: no ping
    b.frame(direction::c2s, 10, "a", 140); // answers the server's "a" (115): 25 ms
    b.frame(direction::s2c, 10, "a", 160); // answers the client's "a" (100): 60 ms
    const auto s = report::summarize(b.conn, "a.ndjson", defaults);
    const auto& rt = s.latency.round_trips;
    REQUIRE(rt.size() == 3);
    CHECK(rt[0].pinger == direction::c2s);
    CHECK(rt[0].rtt_ms == Approx(20));
    CHECK(rt[1].pinger == direction::s2c);
    CHECK(rt[1].rtt_ms == Approx(25));
    CHECK(rt[2].pinger == direction::c2s);
    CHECK(rt[2].ping_ms == Approx(100));
    CHECK(rt[2].rtt_ms == Approx(60));
    CHECK(s.latency.unanswered_pings == report::per_dir<std::uint64_t>{0, 0});

    builder lonely;
    lonely.frame(direction::s2c, 9, "x", 0);
    lonely.frame(direction::s2c, 9, "x", 1);
    lonely.frame(direction::c2s, 10, "x", 5);
    const auto l = report::summarize(lonely.conn, "b.ndjson", defaults);
    REQUIRE(l.latency.round_trips.size() == 1);
    CHECK(l.latency.round_trips[0].rtt_ms == Approx(5)); // the oldest one
    CHECK(l.latency.unanswered_pings == report::per_dir<std::uint64_t>{0, 1});
}

TEST_CASE("report: request to 101 is the handshake record's request_ts to its ts", "[report]") {
    builder b;
    b.handshake(1000, 988);
    b.message(direction::c2s, 1, "hi", 1010);
    const auto s = report::summarize(b.conn, "a.ndjson", defaults);
    REQUIRE(s.latency.upgrade_ms);
    CHECK(*s.latency.upgrade_ms == Approx(12));
    CHECK(report::to_json({s}, "test")["connections"][0]["latency"]["upgrade_ms"] == 12.0);

    builder later; // a request_ts after ts is no latency
    later.handshake(1000, 1001);
    CHECK_FALSE(report::summarize(later.conn, "a.ndjson", defaults).latency.upgrade_ms);
}

TEST_CASE("report: rates fall in time buckets that widen for long captures, sizes in powers of two",
          "[report]") {
    CHECK(report::bucket_width(0, 600) == 1);
    CHECK(report::bucket_width(599.5, 600) == 1);
    CHECK(report::bucket_width(600, 600) == 2);
    CHECK(report::bucket_width(2999, 600) == 5);
    CHECK(report::bucket_width(3000, 600) == 10);
    CHECK(report::bucket_width(86400, 600) == 200);

    CHECK(report::histogram_bucket(0) == 0);
    CHECK(report::histogram_bucket(1) == 1);
    CHECK(report::histogram_bucket(2) == 2);
    CHECK(report::histogram_bucket(3) == 2);
    CHECK(report::histogram_bucket(4) == 3);
    CHECK(report::histogram_bucket(1024) == 11);
    CHECK(report::histogram_bucket(~std::uint64_t{0}) == report::histogram_buckets - 1);

    builder b;
    b.handshake(0);
    b.message(direction::c2s, 1, "abcd", 100);
    b.message(direction::c2s, 1, "ab", 900);
    b.message(direction::s2c, 1, "", 1500);
    b.message(direction::c2s, 1, "abc", 2999);
    const auto s = report::summarize(b.conn, "a.ndjson", defaults);
    CHECK(s.rate.bucket_s == 1);
    CHECK(s.rate.messages[0] == std::vector<std::uint64_t>{2, 0, 1});
    CHECK(s.rate.bytes[0] == std::vector<std::uint64_t>{6, 0, 3});
    CHECK(s.rate.messages[1] == std::vector<std::uint64_t>{0, 1, 0});
    CHECK(s.sizes.counts[0][3] == 1); // 4 bytes
    CHECK(s.sizes.counts[0][2] == 2); // 2 and 3 bytes
    CHECK(s.sizes.counts[1][0] == 1); // empty
}

TEST_CASE("report: mermaid labels cannot end a statement or carry HTML", "[report]") {
    CHECK(report::mermaid_escape("a b-c.d") == "a b-c.d");
    CHECK(report::mermaid_escape("x;y#z:<br>\"&%\n") ==
          "x#59;y#35;z#58;#60;br#62;#34;#38;#37;#10;");
    CHECK(report::mermaid_escape("\xC3\xA9") == "#233;");
    CHECK(report::mermaid_escape("\xFF") == "#65533;");

    builder b;
    b.handshake(0);
    b.message(direction::c2s, 1, "</b>;%%{init}%%", 1);
    b.message(direction::s2c, 2, std::string("\x01\x02", 2), 2);
    for (int i = 0; i < 60; ++i) {
        b.message(direction::c2s, 1, "m" + std::to_string(i), 3 + i);
    }
    const std::string m = report::render_mermaid(report::summarize(b.conn, "a", defaults));
    CHECK(
        m.rfind("sequenceDiagram\n    participant C as client\n    participant S as server /chat\n",
                0) == 0);
    CHECK(m.find("    C->>S: GET /chat\n    S-->>C: 101\n") != std::string::npos);
    CHECK(m.find("    C->>S: text 15 B #60;/b#62;#59;#37;#37;#123;init#125;#37;#37;\n") !=
          std::string::npos);
    CHECK(m.find("    S->>C: binary 2 B 0102\n") != std::string::npos);
    CHECK(m.find("m47") != std::string::npos);
    CHECK(m.find("m48") == std::string::npos);
    CHECK(m.find("    Note over C,S: 12 more event(s) not drawn\n") != std::string::npos);
    std::size_t lines = 0;
    for (const char ch : m) {
        lines += ch == '\n' ? 1 : 0;
    }
    CHECK(lines == 3 + 2 + report::mermaid_events + 1);
    CHECK(m.find('<') == std::string::npos);
}

// The expect unit: record streams × specs → matched, or the exact failure report. Specs are
// written both in JSON (what `wssniff expect --spec` reads) and with the C++ builder.

#include "wssniff/base/opcode.hpp"
#include "wssniff/expect/builder.hpp"
#include "wssniff/expect/match.hpp"
#include "wssniff/expect/spec.hpp"

#include <catch2/catch.hpp>

// GCC 12 at -O1 under ASan (the asan tree) warns, falsely, that the std::string inside a
// record::frame's std::optional close_reason may be used uninitialized when the frame is copied.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <chrono>
#include <string>
#include <vector>

using namespace wssniff;
namespace ex = wssniff::expect;

namespace {

constexpr auto C = direction::c2s;
constexpr auto S = direction::s2c;

// One connection written record by record, as an archive holds it.
struct conn_builder {
    archive::connection c;
    std::uint64_t line = 1;
    std::uint64_t seq[2] = {0, 0};

    conn_builder() { c.conn = 1; }

    conn_builder& add(record::record_body body) {
        c.entries.push_back({line++, record::record{c.conn, std::nullopt, std::move(body)}});
        return *this;
    }
    conn_builder& handshake(int status = 101) {
        record::handshake h;
        h.method = "GET";
        h.target = "/feed";
        h.status = status;
        return add(h);
    }
    conn_builder& frame(direction dir, opcode op, std::string payload, bool fin = true,
                        bool compressed = false) {
        record::frame f;
        f.dir = dir;
        f.seq = seq[dir == C ? 0 : 1]++;
        f.fin = fin;
        f.rsv1 = compressed;
        f.compressed = compressed;
        f.opcode = to_raw(op);
        f.masked = dir == C;
        f.len = compressed ? payload.size() / 2 + 1 : payload.size();
        f.data_len = compressed ? payload.size() : 0;
        f.data.encoding =
            op == opcode::binary ? record::payload_encoding::hex : record::payload_encoding::text;
        f.data.bytes = std::move(payload);
        return add(f);
    }
    conn_builder& text(direction dir, std::string payload) {
        return frame(dir, opcode::text, std::move(payload));
    }
    conn_builder& ping(direction dir) { return frame(dir, opcode::ping, ""); }
    conn_builder& pong(direction dir) { return frame(dir, opcode::pong, ""); }
    conn_builder& close_frame(direction dir, std::uint16_t code, std::string reason = "") {
        record::frame f;
        f.dir = dir;
        f.seq = seq[dir == C ? 0 : 1]++;
        f.fin = true;
        f.opcode = to_raw(opcode::close);
        f.close_code = code;
        f.close_reason = std::move(reason);
        return add(f);
    }
    conn_builder& error(std::optional<direction> dir, error_code code) {
        record::error e;
        e.code = code;
        e.dir = dir;
        return add(e);
    }
    conn_builder& end(record::close_reason reason = record::close_reason::client_closed) {
        record::close cl;
        cl.reason = reason;
        return add(cl);
    }
};

// The issue's conversation: subscribe, an ack with the same id, trades, a close.
conn_builder trading(int ack_id = 5) {
    conn_builder b;
    b.handshake();
    b.text(C, R"({"op":"subscribe","id":5,"sym":"X"})");
    b.ping(S).pong(C);
    b.text(S, R"({"op":"ack","id":)" + std::to_string(ack_id) + "}");
    b.text(S, R"({"type":"trade","price":101.5})");
    b.text(S, R"({"type":"trade","price":101.6})");
    b.close_frame(C, 1000, "bye").close_frame(S, 1000, "bye").end();
    return b;
}

const char* const trading_spec = R"({
  "wssniff_expect": 1,
  "steps": [
    {"dir": "c2s", "op": "text", "json": {"op": "subscribe"}, "bind": {"id": "/id"}},
    {"dir": "s2c", "json": {"op": "ack"}, "equal": {"/id": "id"}},
    {"dir": "s2c", "json": {"type": "trade"}, "min": 1},
    {"dir": "c2s", "op": "close", "close_code": 1000}
  ]
})";

ex::result run(const char* spec, const conn_builder& b) {
    return ex::match(ex::parse_spec(spec), b.c);
}

} // namespace

TEST_CASE("expect: the issue's conversation matches, from JSON and from the builder", "[expect]") {
    const auto r = run(trading_spec, trading());
    CHECK(r.matched);
    CHECK(r.report.empty());
    REQUIRE(r.consumed.size() == 4);
    CHECK(r.consumed[2].size() == 2); // both trades, greedily

    using namespace ex;
    const auto seq = sequence(c2s.text_json({{"op", "subscribe"}}).bind("id", "/id"),
                              s2c.text_json({{"op", "ack"}}).equal("/id", "id"),
                              at_least(1, s2c.text_json({{"type", "trade"}})), c2s.close(1000));
    CHECK(match(seq, trading().c).matched);
    // The builder's spec is the JSON one with the op text_json implies, and reads back the same.
    CHECK(to_json(seq) == to_json(parse_spec(R"({"steps": [
        {"dir": "c2s", "op": "text", "json": {"op": "subscribe"}, "bind": {"id": "/id"}},
        {"dir": "s2c", "op": "text", "json": {"op": "ack"}, "equal": {"/id": "id"}},
        {"dir": "s2c", "op": "text", "json": {"type": "trade"}, "min": 1},
        {"dir": "c2s", "op": "close", "close_code": 1000}]})")));
    CHECK(to_json(parse_spec(to_json(seq).dump())) == to_json(seq));
}

TEST_CASE("expect: a binding that differs is named with where it was bound", "[expect]") {
    const auto r = run(trading_spec, trading(7));
    CHECK_FALSE(r.matched);
    CHECK(r.report == "expectation not met: step 2 of 4 not matched\n"
                      "  step  expected                                   actual\n"
                      "  1  c2s text json {\"op\":\"subscribe\"} bind id=/id  c2s #0\n"
                      "> 2  s2c json {\"op\":\"ack\"} /id==$id                not matched\n"
                      "  3  s2c json {\"type\":\"trade\"} (at least 1)\n"
                      "  4  c2s close 1000\n"
                      "closest candidate s2c #0: /id was 7, expected 5 (bound at c2s #0)\n"
                      "records around it (6 in the stream):\n"
                      "    c2s #0 text {\"id\":5,\"op\":\"subscribe\",\"sym\":\"X\"}\n"
                      "  > s2c #0 text {\"id\":7,\"op\":\"ack\"}\n"
                      "    s2c #1 text {\"price\":101.5,\"type\":\"trade\"}\n"
                      "    s2c #2 text {\"price\":101.6,\"type\":\"trade\"}\n"
                      "    c2s #1 close 1000 \"bye\"\n"
                      "    …\n");
}

TEST_CASE("expect: repeats", "[expect]") {
    SECTION("at least 3 trades when there are 2") {
        const auto r = run(R"({"steps": [
            {"dir": "s2c", "json": {"type": "trade"}, "min": 3},
            {"dir": "c2s", "op": "close"}]})",
                           trading());
        INFO(r.report);
        CHECK_FALSE(r.matched);
        CHECK(r.report.rfind("expectation not met: step 1 of 2 not matched (2 of at least 3 "
                             "found)\n",
                             0) == 0);
        CHECK(r.report.find("> 1  s2c json {\"type\":\"trade\"} (at least 3)  s2c #1, s2c #2; then "
                            "not matched\n") != std::string::npos);
        // The search for the third went on after the second: the closest is the server's
        // close frame (direction and kind right, no text).
        CHECK(r.report.find("closest candidate s2c #3: payload is not text\n") !=
              std::string::npos);
    }
    SECTION("exactly 2, then the close, with nothing else allowed") {
        const char* spec = R"({"extra": "forbid", "steps": [
            {"dir": "c2s", "op": "text"},
            {"dir": "s2c", "op": "text", "min": 3, "max": 3},
            {"dir": "c2s", "op": "close"}, {"dir": "s2c", "op": "close"}]})";
        CHECK(run(spec, trading()).matched); // the ack counts as a text too
        conn_builder more = trading();
        more.c.entries.insert(more.c.entries.begin() + 6,
                              more.c.entries[5]); // a third trade before the close
        more.c.entries[6].line = 7;
        for (std::size_t i = 7; i < more.c.entries.size(); ++i) {
            more.c.entries[i].line = i + 1;
        }
        const auto r = run(spec, more);
        INFO(r.report);
        CHECK_FALSE(r.matched);
        CHECK(r.report.rfind("expectation not met: step 3 of 4 not matched\n", 0) == 0);
        CHECK(r.report.find("closest candidate s2c #3: dir was s2c, expected c2s; op was text, "
                            "expected close\n") != std::string::npos);
    }
    SECTION("optional steps and 0..n") {
        CHECK(run(R"({"steps": [{"dir": "s2c", "contains": "nothing", "min": 0, "max": 2},
                               {"dir": "c2s", "op": "close"}]})",
                  trading())
                  .matched);
    }
}

TEST_CASE("expect: any-order groups", "[expect]") {
    conn_builder b;
    b.handshake().text(C, "hello").text(S, "stats").text(S, "welcome").text(S, "motd");
    b.close_frame(C, 1000).end();
    CHECK(run(R"({"steps": [{"dir": "c2s", "text": "hello"},
                            {"any_order": [{"text": "welcome"}, {"text": "motd"},
                                           {"regex": "^stat"}]},
                            {"op": "close"}]})",
              b)
              .matched);
    const auto r = run(R"({"extra": "forbid", "steps": [{"dir": "c2s", "text": "hello"},
                            {"any_order": [{"text": "welcome"}, {"text": "motd"},
                                           {"text": "news"}]},
                            {"op": "close"}]})",
                       b);
    CHECK_FALSE(r.matched);
    CHECK(r.report == "expectation not met: step 2a of 3 not matched\n"
                      "  step  expected  actual\n"
                      "  1  c2s \"hello\"  c2s #0\n"
                      "> 2  any order:\n"
                      "> 2a \"welcome\"    not matched\n"
                      "  2b \"motd\"\n"
                      "  2c \"news\"\n"
                      "  3  close\n"
                      "closest candidate s2c #0: payload was \"stats\", expected \"welcome\"\n"
                      "records around it (5 in the stream):\n"
                      "    c2s #0 text \"hello\"\n"
                      "  > s2c #0 text \"stats\"\n"
                      "    s2c #1 text \"welcome\"\n"
                      "    s2c #2 text \"motd\"\n"
                      "    c2s #1 close 1000\n");
}

TEST_CASE("expect: pings are ignored unless asked for", "[expect]") {
    const char* strict = R"({"extra": "forbid", "steps": [
        {"dir": "c2s"}, {"dir": "s2c", "min": 3}, {"dir": "c2s", "op": "close"},
        {"dir": "s2c", "op": "close"}]})";
    CHECK(run(strict, trading()).matched);
    const auto r = run(R"({"extra": "forbid", "ignore_pings": false, "steps": [
        {"dir": "c2s"}, {"dir": "s2c", "min": 3}, {"dir": "c2s", "op": "close"},
        {"dir": "s2c", "op": "close"}]})",
                       trading());
    INFO(r.report);
    CHECK_FALSE(r.matched);
    CHECK(r.report.find("    s2c #0 ping\n") != std::string::npos);
    CHECK(run(R"({"extra": "forbid", "ignore_pings": false, "steps": [
        {"dir": "c2s"}, {"op": "ping"}, {"op": "pong"}, {"dir": "s2c", "min": 3},
        {"dir": "c2s", "op": "close"}, {"dir": "s2c", "op": "close"}]})",
              trading())
              .matched);
}

TEST_CASE("expect: messages reassembled from frames, or the frames themselves", "[expect]") {
    conn_builder b;
    b.handshake();
    b.frame(C, opcode::text, "hel", false);
    b.ping(C);
    b.frame(C, opcode::continuation, "lo ", false);
    b.frame(C, opcode::continuation, "world", true);
    b.close_frame(C, 1000).end();
    CHECK(run(R"({"extra": "forbid", "steps": [{"dir": "c2s", "op": "text", "text": "hello world"},
                                               {"op": "close"}]})",
              b)
              .matched);
    CHECK(run(R"({"unit": "frames", "extra": "forbid", "steps": [
        {"op": "text", "text": "hel"}, {"op": "continuation", "min": 2, "max": 2},
        {"op": "close", "close_code": 1000}]})",
              b)
              .matched);
    const auto r = run(R"({"unit": "frames", "extra": "forbid", "ignore_pings": false, "steps": [
        {"op": "text", "text": "hel"}, {"op": "continuation", "min": 2, "max": 2},
        {"op": "close", "close_code": 1000}]})",
                       b);
    INFO(r.report);
    CHECK_FALSE(r.matched);
    CHECK(r.report.find("closest candidate c2s #1: op was ping, expected continuation\n") !=
          std::string::npos);
}

TEST_CASE("expect: permessage-deflate messages are matched inflated", "[expect]") {
    // Compressed frames hold their inflated bytes (data_len); the message is their sum.
    conn_builder b;
    b.handshake();
    b.frame(S, opcode::text, R"({"type":"trade",)", false, true);
    b.frame(S, opcode::continuation, R"("price":7})", true, false);
    b.end();
    CHECK(
        run(R"({"steps": [{"dir": "s2c", "pointers": {"/price": 7}, "json": {"type": "trade"}}]})",
            b)
            .matched);
    CHECK(run(R"({"steps": [{"dir": "s2c", "pointers": {"/price": 7.0}}]})", b).matched);
    const auto r = run(R"({"steps": [{"dir": "s2c", "pointers": {"/price": 8}}]})", b);
    INFO(r.report);
    CHECK(r.report.find("closest candidate s2c #0: /price was 7, expected 8\n") !=
          std::string::npos);
}

TEST_CASE("expect: handshake, error and close records", "[expect]") {
    conn_builder b;
    b.handshake();
    b.text(C, "hi");
    b.error(C, error_code::invalid_utf8);
    b.close_frame(S, 1002, "bad").end(record::close_reason::server_closed);
    CHECK(run(R"({"extra": "forbid", "steps": [{"type": "handshake", "status": 101},
        {"dir": "c2s"}, {"type": "error", "dir": "c2s", "code": "invalid_utf8"},
        {"dir": "s2c", "op": "close", "close_code": 1002, "close_reason": "bad"},
        {"type": "close", "reason": "server_closed"}]})",
              b)
              .matched);
    const auto r = run(R"({"steps": [{"type": "close", "reason": "client_closed"}]})", b);
    INFO(r.report);
    CHECK_FALSE(r.matched);
    CHECK(r.report.find("closest candidate close record: reason was server_closed, expected "
                        "client_closed\n") != std::string::npos);
    // Binary payloads by their bytes.
    conn_builder bin;
    bin.frame(S, opcode::binary, std::string("\x01\x02\xff", 3)).end();
    CHECK(run(R"({"steps": [{"op": "binary", "hex": "0102ff"}]})", bin).matched);
    CHECK(run(R"({"steps": [{"op": "binary", "base64": "AQL/"}]})", bin).matched);
    CHECK(
        run(R"({"steps": [{"op": "binary", "hex": "0102"}]})", bin)
            .report.find("closest candidate s2c #0: payload was hex 0102ff, expected hex 0102\n") !=
        std::string::npos);
}

TEST_CASE("expect: an empty stream and a stream that ends early", "[expect]") {
    const auto r = run(R"({"steps": [{"dir": "c2s"}]})", conn_builder{});
    CHECK_FALSE(r.matched);
    CHECK(r.report == "expectation not met: step 1 of 1 not matched\n"
                      "  step  expected  actual\n"
                      "> 1  c2s any      not matched\n"
                      "no records in the stream\n");
    const auto early = run(trading_spec, [] {
        conn_builder b;
        b.text(C, R"({"op":"subscribe","id":1})");
        return b;
    }());
    CHECK(early.report.find("no records left after c2s #0\n") != std::string::npos);
}

TEST_CASE("expect: the search is bounded on adversarial specs", "[expect]") {
    // 40 steps that may each take any number of records, then one that never matches, over
    // 300 records: every split of the records between the 40 steps is a path, but each state
    // (step, count, position) is visited once.
    nlohmann::json steps = nlohmann::json::array();
    for (int i = 0; i < 40; ++i) {
        steps.push_back({{"min", 0}, {"max", nullptr}});
    }
    steps.push_back({{"text", "never"}});
    const auto spec = ex::parse_spec(nlohmann::json{{"steps", steps}}.dump());
    conn_builder b;
    for (int i = 0; i < 300; ++i) {
        b.text(S, "x");
    }
    const auto start = std::chrono::steady_clock::now();
    const auto r = ex::match(spec, b.c);
    CHECK_FALSE(r.matched);
    CHECK_FALSE(r.gave_up);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
    // Bindings multiply the states: the cap ends the search instead.
    nlohmann::json bound = nlohmann::json::array();
    for (int i = 0; i < 6; ++i) {
        bound.push_back({{"min", 0}, {"max", nullptr}, {"bind", {{"v" + std::to_string(i), ""}}}});
    }
    bound.push_back({{"text", "never"}});
    conn_builder distinct;
    for (int i = 0; i < 200; ++i) {
        distinct.text(S, "\"" + std::to_string(i) + "\"");
    }
    ex::match_options small;
    small.max_states = 20000;
    const auto capped =
        ex::match(ex::parse_spec(nlohmann::json{{"steps", bound}}.dump()), distinct.c, small);
    CHECK_FALSE(capped.matched);
    CHECK(capped.gave_up);
    CHECK(capped.report.rfind("expectation not decided: the search visited 20000 states", 0) == 0);
}

TEST_CASE("expect: a bad spec names where it is wrong", "[expect]") {
    const auto error_of = [](const char* text) -> std::string {
        try {
            ex::parse_spec(text);
        } catch (const ex::spec_error& e) {
            return e.what();
        }
        return "no error";
    };
    CHECK(error_of("{") ==
          "(document): not JSON: parse error at line 1, column 2: syntax error while parsing "
          "object key - unexpected end of input; expected string literal");
    CHECK(error_of(R"({"steps": []})") == "/steps: expected a non-empty array of steps");
    CHECK(error_of(R"({"steps": [{"dir": "up"}]})") ==
          "/steps/0/dir: \"up\" is not a direction (c2s, s2c)");
    CHECK(error_of(R"({"steps": [{"op": "text"}, {"min": -1}]})") ==
          "/steps/1/min: expected a non-negative integer, got -1");
    CHECK(error_of(R"({"steps": [{"min": 3, "max": 2}]})") == "/steps/0/max: max is below min");
    CHECK(error_of(R"({"steps": [{"regex": "(a"}]})") ==
          "/steps/0/regex: not an RE2 regular expression: missing ): (a");
    CHECK(error_of(R"({"steps": [{"equal": {"/id": "id"}}]})") ==
          "/steps/0/equal/~1id: \"id\" is not bound by an earlier step");
    CHECK(error_of(R"({"steps": [{"any_order": [{"dir": "c2s", "colour": 1}]}]})") ==
          "/steps/0/any_order/0/colour: unknown member \"colour\"");
    CHECK(error_of(R"({"steps": [{"type": "error", "text": "x"}]})") ==
          "/steps/0/text: not a matcher of error records");
    CHECK(error_of(R"({"steps": [{"type": "error", "code": "nope"}]})") ==
          "/steps/0/code: \"nope\" is not an error code (README \"Records\")");
    CHECK(error_of(R"({"unit": "bytes", "steps": [{}]})") ==
          "/unit: \"bytes\" is not a unit (messages, frames)");
    CHECK_THROWS_AS(ex::sequence(ex::s2c.text().equal("/id", "id")), ex::spec_error);
}

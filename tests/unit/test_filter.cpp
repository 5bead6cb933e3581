// The filter unit: the expression language of --filter and --conn-filter, case by case (each
// operator, missing fields, precedence, json.* paths, hs.*), its error messages with their
// carets, and the per-connection selector.

#include "wssniff/filter/expression.hpp"
#include "wssniff/filter/selector.hpp"

#include <catch2/catch.hpp>

// GCC 12 at -O1 under ASan warns, falsely, that strings inside the records' std::optional
// members may be used uninitialized when a record is copied (as in test_compare.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <chrono>
#include <string>
#include <vector>

using namespace wssniff;
using filter::expression;

namespace {

record::record text_frame(std::string text, direction dir = direction::s2c) {
    record::frame f;
    f.dir = dir;
    f.seq = 3;
    f.offset = 120;
    f.fin = true;
    f.opcode = 1;
    f.masked = dir == direction::c2s;
    f.mask = {0xde, 0xad, 0xbe, 0xef};
    f.len = text.size();
    f.data.encoding = record::payload_encoding::text;
    f.data.bytes = std::move(text);
    f.data.valid_utf8 = true;
    return record::record{1, std::nullopt, f};
}

record::record binary_frame(std::string bytes, record::payload_encoding encoding) {
    record::frame f;
    f.dir = direction::c2s;
    f.fin = false;
    f.opcode = 2;
    f.len = bytes.size();
    f.data.encoding = encoding;
    f.data.bytes = std::move(bytes);
    return record::record{1, std::nullopt, f};
}

record::record close_frame(std::uint16_t code, std::string reason) {
    record::frame f;
    f.dir = direction::c2s;
    f.fin = true;
    f.opcode = 8;
    f.close_code = code;
    f.close_reason = std::move(reason);
    return record::record{1, std::nullopt, f};
}

record::record error_record(std::optional<direction> dir = {}) {
    record::error e;
    e.code = error_code::invalid_utf8;
    e.message = "text is not valid UTF-8";
    e.fatal = false;
    e.dir = dir;
    e.offset = 17;
    return record::record{2, std::nullopt, e};
}

record::record close_record() {
    record::close c;
    c.reason = record::close_reason::server_closed;
    c.bytes_c2s = 300;
    c.bytes_s2c = 5000;
    c.frames_c2s = 4;
    c.frames_s2c = 9;
    return record::record{1, std::nullopt, c};
}

record::handshake chat_handshake() {
    record::handshake h;
    h.client = "127.0.0.1:5000";
    h.upstream = "127.0.0.1:9000";
    h.method = "GET";
    h.target = "/ws/chat?room=1";
    h.status = 101;
    h.request_headers = {{"Host", "example.com"},
                         {"X-Trace-Id", "abc123"},
                         {"Sec-WebSocket-Protocol", "chat, superchat"}};
    h.response_headers = {
        {"Upgrade", "websocket"}, {"Sec-WebSocket-Protocol", "chat"}, {"X-Server", "one"}};
    h.subprotocol = "chat";
    return h;
}

record::record handshake_record() {
    return record::record{1, std::nullopt, chat_handshake()};
}

bool match(const std::string& text, const record::record& r,
           const record::handshake* hs = nullptr) {
    return expression::compile(text)->matches(r, hs);
}

// The message and caret lines for a bad expression; "" if it parses.
std::string error_of(const std::string& text) {
    try {
        expression::compile(text);
    } catch (const filter::parse_error& e) {
        return std::string(e.what()) + "\n" + filter::caret_lines(text, e.column);
    }
    return "";
}

} // namespace

TEST_CASE("filter: == and != on strings, numbers and booleans", "[filter]") {
    const auto f = text_frame("hello");
    CHECK(match(R"(type == "frame")", f));
    CHECK_FALSE(match(R"(type == "message")", f));
    CHECK(match(R"(type != "message")", f));
    CHECK(match(R"(dir == "s2c")", f));
    CHECK(match(R"(op == "text")", f));
    CHECK(match("opcode == 1", f));
    CHECK(match("seq == 3", f));
    CHECK(match("len == 5.0", f));
    CHECK(match("fin == true", f));
    CHECK(match("masked == false", f));
    CHECK(match("masked != true", f));
    CHECK(match("conn == 1", f));
    CHECK_FALSE(match("conn != 1", f));
    CHECK(match(R"(text == "hello")", f));
    CHECK(match(R"(mask == "deadbeef")", text_frame("x", direction::c2s)));
}

TEST_CASE("filter: ordering of numbers and strings", "[filter]") {
    const auto f = text_frame("hello");
    CHECK(match("offset > 100", f));
    CHECK(match("offset >= 120", f));
    CHECK_FALSE(match("offset > 120", f));
    CHECK(match("offset < 121", f));
    CHECK(match("offset <= 120", f));
    CHECK_FALSE(match("offset < 120", f));
    CHECK(match("len > -1", f));
    CHECK(match("len < 1e3", f));
    CHECK(match(R"(text > "hell")", f));
    CHECK(match(R"(text < "help")", f));
    CHECK(match(R"(dir >= "s2c")", f));
}

TEST_CASE("filter: a value of another type than the literal compares false", "[filter]") {
    const auto f = text_frame("5");
    CHECK_FALSE(match(R"(len == "1")", f));
    CHECK_FALSE(match(R"(len != "1")", f));
    CHECK_FALSE(match(R"(fin != "x")", f));
    CHECK_FALSE(match("text == 5", f));
    CHECK_FALSE(match("text > 1", f));
    CHECK_FALSE(match("fin == 1", f));
}

TEST_CASE("filter: contains, matches and in", "[filter]") {
    const auto f = text_frame(R"({"type":"trade","price":101.5})");
    CHECK(match(R"(text contains "trade")", f));
    CHECK_FALSE(match(R"(text contains "Trade")", f));
    CHECK(match(R"(text contains "")", f));
    CHECK_FALSE(match(R"(len contains "5")", f)); // only strings contain
    CHECK(match(R"(text matches /"price":1\d\d/)", f));
    CHECK(match(R"(text matches /TRADE/i)", f));
    CHECK_FALSE(match(R"(text matches /TRADE/)", f));
    CHECK(match(R"(text matches /^\{.*\}$/)", f));
    CHECK(match(R"(op matches /^te/)", f));
    CHECK_FALSE(match("seq matches /3/", f)); // a number is not matched as text
    CHECK(match(R"(type in {"error", "frame"})", f));
    CHECK_FALSE(match(R"(type in {"error", "close"})", f));
    CHECK(match("opcode in {0, 1..2}", f));
    CHECK(match("seq in {1..3}", f));
    CHECK(match("seq in {3..3}", f));
    CHECK_FALSE(match("seq in {4..10, 0}", f));
    CHECK(match("len in {30..40}", f));
    CHECK(match("fin in {true}", f));
    CHECK_FALSE(match(R"(seq in {"3"})", f));
}

TEST_CASE("filter: a bare field is a truth test", "[filter]") {
    const auto f = text_frame("x");
    CHECK(match("fin", f));
    CHECK_FALSE(match("masked", f));
    CHECK(match("not masked", f));
    CHECK(match("len", f)); // present, not false: as jq's select(.len)
    CHECK(match("text", f));
    CHECK_FALSE(match("hex", f));
    CHECK_FALSE(match("close_code", f));
    CHECK(match("close_code", close_frame(1000, "bye")));
    CHECK_FALSE(match("compressed", f)); // frames say compressed only when they are
    CHECK_FALSE(match("truncated", f));
}

TEST_CASE("filter: a missing field fails every comparison, and not tests absence", "[filter]") {
    const auto e = error_record();
    CHECK_FALSE(match("len == 5", e));
    CHECK_FALSE(match("len != 5", e));
    CHECK_FALSE(match("len < 5", e));
    CHECK_FALSE(match("len >= 0", e));
    CHECK_FALSE(match(R"(text contains "")", e));
    CHECK_FALSE(match("text matches /.*/", e));
    CHECK_FALSE(match("len in {0..1e18}", e));
    CHECK_FALSE(match(R"(dir == "c2s")", e)); // an error record without a direction
    CHECK(match("not dir", e));
    CHECK(match(R"(not (dir == "c2s"))", e));
    CHECK(match(R"(dir == "c2s")", error_record(direction::c2s)));
    CHECK(match(R"(code == "invalid_utf8" and not fatal and offset == 17 and conn == 2)", e));
    CHECK(match(R"(message contains "UTF-8")", e));
    // A null in the record (no subprotocol) is a missing field.
    auto h = handshake_record();
    std::get<record::handshake>(h.body).subprotocol.reset();
    CHECK_FALSE(match(R"(subprotocol == "chat")", h));
    CHECK(match("not subprotocol", h));
    CHECK_FALSE(match("deflate", h));
    CHECK(match("request_headers", h));
}

TEST_CASE("filter: precedence: not over and over or, parentheses", "[filter]") {
    const auto f = text_frame("x");                      // fin, not masked, s2c
    CHECK(match("fin or masked and masked", f));         // fin or (masked and masked)
    CHECK_FALSE(match("(fin or masked) and masked", f)); // grouped
    CHECK(match("not masked and fin", f));               // (not masked) and fin
    CHECK_FALSE(match("not (masked or fin)", f));
    CHECK(match("not not fin", f));
    CHECK(match("masked and fin or fin", f)); // (masked and fin) or fin
    CHECK_FALSE(match("masked and (fin or fin)", f));
    CHECK(match(R"(((dir == "s2c")))", f));
    CHECK(match("true", f));
    CHECK_FALSE(match("false", f));
    CHECK(match("false or fin", f));
    CHECK_FALSE(match("not true", f));
    CHECK(match(R"(type in {"error","close"} or (dir == "s2c" and op == "text" and len > 0))", f));
}

TEST_CASE("filter: close, handshake and error records by their own field names", "[filter]") {
    const auto c = close_record();
    CHECK(match(R"(type == "close" and reason == "server_closed")", c));
    CHECK(
        match("bytes_c2s == 300 and bytes_s2c > 4999 and frames_c2s == 4 and frames_s2c == 9", c));
    CHECK_FALSE(match("dir", c));
    const auto cf = close_frame(1001, "going away");
    CHECK(match(R"(op == "close" and close_code == 1001 and close_reason contains "away")", cf));
    const auto h = handshake_record();
    CHECK(match(R"(target matches /^\/ws\/chat/ and status == 101 and method == "GET")", h));
    CHECK(match(R"(subprotocol == "chat" and client == "127.0.0.1:5000")", h));
    CHECK(match(R"(upstream contains ":9000")", h));
    CHECK_FALSE(match("tls", h));
    auto live = text_frame("x");
    live.ts = record::timestamp{} + std::chrono::seconds(1'700'000'000);
    CHECK(match(R"(ts >= "2023-11-14T22:13:20" and ts < "2023-11-15")", live));
    CHECK_FALSE(match("ts", text_frame("x"))); // decode writes no ts
}

TEST_CASE("filter: payload, hex and base64 see the bytes as the record holds them", "[filter]") {
    const auto hex = binary_frame(std::string("\x01\xff", 2), record::payload_encoding::hex);
    CHECK(match(R"(hex == "01ff")", hex));
    CHECK_FALSE(match("text", hex));
    CHECK(match(R"(payload == "\u0001\u00ff")",
                binary_frame("\x01\xc3\xbf", record::payload_encoding::hex)));
    const auto b64 = binary_frame("abcd", record::payload_encoding::base64);
    CHECK(match(R"(base64 == "YWJjZA==")", b64));
    CHECK(match(R"(payload == "abcd" and payload contains "bc")", b64));
    CHECK_FALSE(match("payload", binary_frame("abcd", record::payload_encoding::none)));
    auto truncated = text_frame("abc");
    std::get<record::frame>(truncated.body).data.truncated = true;
    CHECK(match("truncated == true", truncated));
}

TEST_CASE("filter: json.* on JSON text, deep paths, and text that is not JSON", "[filter]") {
    const auto f = text_frame(R"({"type":"trade","price":101.5,"qty":3,"ok":true,"none":null,)"
                              R"("book":{"bids":[[100,2],[99.5,7]],"asks":[]},"tags":["a","b"],)"
                              R"("odd key":{"x":1}})");
    CHECK(match(R"(json.type == "trade" and json.price > 100)", f));
    CHECK(match("json.qty == 3 and json.qty in {1..5}", f));
    CHECK(match("json.ok", f));
    CHECK(match("json.ok == true", f));
    CHECK_FALSE(match("json.none", f));
    CHECK(match("not json.none", f));
    CHECK_FALSE(match("json.none == 0", f));
    CHECK(match("json.book.bids[1][0] == 99.5", f));
    CHECK(match("json.book.bids[0][1] == 2", f));
    CHECK_FALSE(match("json.book.bids[2][0]", f));
    CHECK(match("json.book.asks", f)); // an empty array is there
    CHECK_FALSE(match("json.book.asks[0]", f));
    CHECK(match(R"(json.tags[1] == "b")", f));
    CHECK(match(R"(json["odd key"].x == 1)", f));
    CHECK(match(R"(json["type"] matches /^tr/)", f));
    CHECK_FALSE(match("json.type.inner", f)); // a string has no members
    CHECK_FALSE(match("json.tags.a", f));     // an array has no members
    CHECK_FALSE(match("json.book[0]", f));    // an object has no indices
    CHECK(match("json", f));
    CHECK(match("json[0] == 1", text_frame("[1,2]")));
    CHECK(match("json == 42", text_frame("42")));

    for (const char* not_json : {"hello", "{\"a\":", "", "{\"a\":1} trailing", "nan", "[1,]"}) {
        INFO(not_json);
        const auto t = text_frame(not_json);
        CHECK_FALSE(match("json", t));
        CHECK_FALSE(match("json.a == 1", t));
        CHECK_FALSE(match("json.a != 1", t));
        CHECK(match("not json.a", t));
    }
    // Only text payloads are parsed: the same bytes as hex are not JSON to the filter.
    CHECK_FALSE(match("json.a == 1", binary_frame(R"({"a":1})", record::payload_encoding::hex)));
    CHECK_FALSE(match("json", close_record()));
}

TEST_CASE("filter: hs.* reads the connection's handshake, header names in any case", "[filter]") {
    const auto hs = chat_handshake();
    const auto f = text_frame("x");
    CHECK(match(R"(hs.target matches /^\/ws\/chat/)", f, &hs));
    CHECK(match("hs.status == 101", f, &hs));
    CHECK(match(R"(hs.subprotocol == "chat" and hs.method == "GET")", f, &hs));
    CHECK(match(R"(hs.client == "127.0.0.1:5000" and hs.upstream == "127.0.0.1:9000")", f, &hs));
    CHECK_FALSE(match("hs.extensions", f, &hs));
    CHECK(match(R"(hs.header["x-trace-id"] == "abc123")", f, &hs));
    CHECK(match(R"(hs.header["X-TRACE-ID"] == "abc123")", f, &hs));
    CHECK(match(R"(hs.header["X-Trace-Id"] == "abc123")", f, &hs));
    CHECK(match(R"(hs.header["HOST"] == "example.com")", f, &hs));
    // The request's header first, then the response's.
    CHECK(match(R"(hs.header["sec-websocket-protocol"] == "chat, superchat")", f, &hs));
    CHECK(match(R"(hs.header["x-server"] == "one")", f, &hs));
    CHECK_FALSE(match(R"(hs.header["x-absent"])", f, &hs));
    CHECK(match(R"(not hs.header["x-absent"])", f, &hs));
    // Without a handshake (decode --no-handshake), every hs.* is missing.
    CHECK_FALSE(match("hs.status == 101", f));
    CHECK_FALSE(match("hs.status != 101", f));
    CHECK(match("not hs.target", f));
}

TEST_CASE("filter: string escapes as in JSON", "[filter]") {
    CHECK(match(R"(text == "a\"b\\c\/d\n\u00e9\ud83d\ude00")",
                text_frame("a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80")));
    CHECK(match(R"(text == "é")", text_frame("\xc3\xa9")));
    CHECK(match(R"(text matches /a\/b/)", text_frame("xa/by")));
}

TEST_CASE("filter: parse errors name the problem with a caret under it", "[filter]") {
    CHECK(error_of(R"(type = "error")") == "'=' is not an operator: compare with '=='\n"
                                           "  type = \"error\"\n"
                                           "       ^");
    CHECK(error_of("type ==") == "expected a value (string, number, true or false) after '==', "
                                 "got the end\n"
                                 "  type ==\n"
                                 "         ^");
    CHECK(error_of("lenght > 5") == "unknown field 'lenght'\n"
                                    "  lenght > 5\n"
                                    "  ^");
    CHECK(error_of("fin and (masked or") == "expected a field name, got the end\n"
                                            "  fin and (masked or\n"
                                            "                    ^");
    CHECK(error_of("(fin") == "expected ')', got the end\n  (fin\n      ^");
    CHECK(error_of("fin masked") == "expected 'and', 'or' or the end, got 'masked'\n"
                                    "  fin masked\n"
                                    "      ^");
    CHECK(error_of(R"(text matches /a(b/)") ==
          "bad regular expression: missing ): a(b\n  text matches /a(b/\n               ^");
    CHECK(error_of(R"(text matches "a")") ==
          "matches needs a regular expression /.../, got a string\n"
          "  text matches \"a\"\n"
          "               ^");
    CHECK(error_of("text matches /a/x") ==
          "unknown regular expression flag 'x' (only i)\n  text matches /a/x\n                  ^");
    CHECK(error_of("text contains 5") == "contains needs a string, got a number\n"
                                         "  text contains 5\n"
                                         "                ^");
    CHECK(error_of(R"(hs.path == "/")") ==
          "unknown handshake field 'hs.path' (hs.target, hs.status, hs.subprotocol, "
          "hs.header[\"name\"], hs.client, hs.upstream, hs.method, hs.extensions)\n"
          "  hs.path == \"/\"\n"
          "     ^");
    CHECK(error_of(R"(text == "abc)") == "string not closed: '\"' missing\n"
                                         "  text == \"abc\n"
                                         "          ^");
    CHECK(error_of(R"(seq in {"a".."b"})") == "a range lo..hi is of numbers\n"
                                              "  seq in {\"a\"..\"b\"}\n"
                                              "          ^");
    CHECK(error_of("seq in {1, 2") ==
          "expected ',' or '}', got the end\n  seq in {1, 2\n              ^");
    CHECK(error_of("fin > true") ==
          "'>' orders numbers and strings, not true/false\n  fin > true\n      ^");
    CHECK(error_of("json.a[-1]") ==
          "expected an index (0, 1, ...) or a member name in quotes, got a number\n"
          "  json.a[-1]\n"
          "         ^");
    CHECK(error_of("") == "empty expression\n  \n  ^");
    CHECK(error_of("not") == "expected a field name, got the end\n  not\n     ^");
    CHECK(error_of("fin && masked") == "unexpected character '&'\n  fin && masked\n      ^");
    CHECK(error_of(R"(text == "\x")") == "unknown escape '\\x'\n  text == \"\\x\"\n           ^");
    CHECK(error_of("and") == "expected a field name, got 'and'\n  and\n  ^");
    // Bounded nesting and length: no expression exhausts the stack.
    CHECK(error_of(std::string(100, '(') + "fin" + std::string(100, ')')).empty());
    CHECK(error_of(std::string(101, '(') + "fin" + std::string(101, ')'))
              .rfind("nested more than 100 deep\n", 0) == 0);
    std::string not_chain;
    for (int i = 0; i < 101; ++i) {
        not_chain += "not ";
    }
    CHECK(error_of(not_chain + "fin").rfind("nested more than 100 deep\n", 0) == 0);
    std::string chain = "fin";
    for (int i = 0; i < 1000; ++i) {
        chain += " and fin";
    }
    CHECK(match(chain, text_frame("x")));
    CHECK(error_of(chain + " or fin").rfind("more than 1000 'and'/'or' in one expression\n", 0) ==
          0);
}

TEST_CASE("filter: a catastrophic-backtracking regex over 1 MiB finishes promptly", "[filter]") {
    // (a+)+$ against a's then a b backtracks exponentially in a backtracking engine; RE2 is
    // linear. No timing assertion (CTest's timeout is the bound): it must simply return.
    std::string payload(1 << 20, 'a');
    payload += 'b';
    const auto f = text_frame(payload);
    CHECK_FALSE(match("text matches /(a+)+$/", f));
    CHECK(match("text matches /(a+)+b$/", f));
    CHECK_FALSE(match("text matches /^(a|aa)+$/", f));
}

TEST_CASE("filter: the selector keeps hs.* per connection and applies the conn-filter",
          "[filter]") {
    struct vector_sink final : record::sink {
        std::vector<record::record> records;
        void write(record::record&& r) override { records.push_back(std::move(r)); }
    } out;
    filter::filters f;
    f.records = expression::compile(R"(type == "close" or hs.header["x-trace-id"] == "abc123")");
    f.connections = expression::compile(R"(hs.target matches /^\/ws\/chat/)");
    filter::filtering_sink sink(out, f);

    auto other = chat_handshake();
    other.target = "/ws/feed";
    auto other_frame = text_frame("feed");
    other_frame.conn = 2;
    sink.write(handshake_record());                     // conn 1: kept
    sink.write(record::record{2, std::nullopt, other}); // conn 2: rejected
    sink.write(text_frame("chat"));                     // conn 1: has the header
    sink.write(std::move(other_frame));                 // conn 2: dropped
    auto c2 = close_record();
    c2.conn = 2;
    sink.write(std::move(c2));  // conn 2's close: kept
    sink.write(close_record()); // conn 1's close: kept
    // A connection whose first record is not a handshake is decided without hs.*.
    auto early = error_record();
    early.conn = 3;
    sink.write(std::move(early));
    REQUIRE(out.records.size() == 4);
    CHECK(out.records[0].conn == 1);
    CHECK(std::holds_alternative<record::handshake>(out.records[0].body));
    CHECK(std::get<record::frame>(out.records[1].body).data.bytes == "chat");
    CHECK(out.records[2].conn == 2);
    CHECK(std::holds_alternative<record::close>(out.records[2].body));
    CHECK(out.records[3].conn == 1);

    filter::connection_filter one(f);
    auto rejected = record::record{1, std::nullopt, other};
    CHECK_FALSE(one.keep(rejected));
    CHECK(one.rejected());
    CHECK_FALSE(one.keep(handshake_record())); // decided once, at the first record
    CHECK(one.keep(close_record()));
}

TEST_CASE("filter: may_match says no only when the header alone decides", "[filter]") {
    const auto may = [](const std::string& text, const record::record& head) {
        return expression::compile(text)->may_match(head, nullptr);
    };
    record::frame f;
    f.dir = direction::s2c;
    f.seq = 4;
    f.fin = true;
    f.opcode = 2;
    f.len = 50;
    const record::record frame_head{1, std::nullopt, f};
    record::message m;
    m.dir = direction::c2s;
    m.opcode = 1;
    const record::record message_head{1, std::nullopt, m};

    CHECK_FALSE(may(R"(type == "error")", frame_head));
    CHECK_FALSE(may(R"(op == "text")", frame_head));
    CHECK_FALSE(may("len > 100", frame_head));
    CHECK(may("len > 100", message_head)); // a message's length is known at its end
    CHECK_FALSE(may(R"(op == "text" and text contains "x")", frame_head));
    CHECK(may(R"(op == "binary" and hex contains "00")", frame_head));
    CHECK(may(R"(text contains "x")", message_head));
    CHECK(may(R"(not (text contains "x"))", message_head));
    CHECK(may(R"(op == "text" or json.a == 1)", frame_head));
    CHECK_FALSE(may(R"(not (op == "binary") and truncated)", frame_head));
    CHECK(may("close_code == 1000 or seq == 4", frame_head));
    CHECK_FALSE(may(R"(dir == "c2s" and (close_code == 1000 or ts matches /Z/))", frame_head));
    CHECK(may("not compressed", message_head));
    CHECK(may("not compressed", frame_head));
    CHECK_FALSE(may("compressed", frame_head));
}

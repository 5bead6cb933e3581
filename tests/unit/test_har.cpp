// HAR export and import without files: the messages a connection exports (reassembled from
// frames or taken from message records), the entry har_writer writes, the streaming entry
// reader, and the records an entry imports to.

#include "wssniff/har/entry_import.hpp"
#include "wssniff/har/entry_reader.hpp"
#include "wssniff/har/har_writer.hpp"
#include "wssniff/har/messages.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

// GCC 12 at -O1 under ASan (the asan tree) warns, falsely, that the std::string inside a
// record::frame's std::optional close_reason may be used uninitialized when the frame is copied.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace wssniff;
using json = nlohmann::json;

namespace {

record::timestamp at_ms(std::int64_t ms) {
    return record::timestamp{std::chrono::milliseconds{ms}};
}

struct builder {
    archive::connection conn{1, {}};

    void add(record::record_body body, std::optional<std::int64_t> ms = std::nullopt) {
        record::record r;
        r.conn = conn.conn;
        if (ms) {
            r.ts = at_ms(*ms);
        }
        r.body = std::move(body);
        conn.entries.push_back({conn.entries.size() + 1, std::move(r)});
    }
    record::handshake& handshake(int status = 101, std::optional<std::int64_t> ms = 1000) {
        record::handshake h;
        h.method = "GET";
        h.target = "/chat?room=1";
        h.status = status;
        h.request_headers = {{"Host", "example.test:9000"}, {"Upgrade", "websocket"}};
        h.upstream = "10.0.0.7:9000";
        add(h, ms);
        return std::get<record::handshake>(conn.entries.back().record.body);
    }
    record::frame& frame(direction dir, std::uint8_t opcode, std::string payload, bool fin = true,
                         std::optional<std::int64_t> ms = std::nullopt) {
        record::frame f;
        f.dir = dir;
        f.opcode = opcode;
        f.fin = fin;
        f.len = payload.size();
        f.data.encoding = record::payload_encoding::base64;
        f.data.bytes = std::move(payload);
        add(f, ms);
        return std::get<record::frame>(conn.entries.back().record.body);
    }
    void message(direction dir, std::uint8_t opcode, std::string payload,
                 std::optional<std::int64_t> ms = std::nullopt) {
        record::message m;
        m.dir = dir;
        m.opcode = opcode;
        m.frames = 1;
        m.len = payload.size();
        m.data.encoding =
            opcode == 1 ? record::payload_encoding::text : record::payload_encoding::base64;
        m.data.bytes = std::move(payload);
        add(m, ms);
    }
};

// What har_writer wrote for `connections`, parsed back.
json exported(const std::vector<archive::connection>& connections,
              har::export_options options = {}) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::tmpfile(), &std::fclose);
    REQUIRE(file);
    har::har_writer writer(file.get(), options);
    for (const auto& c : connections) {
        writer.add(c);
    }
    REQUIRE(writer.finish());
    std::rewind(file.get());
    std::string text;
    char block[4096];
    for (std::size_t n; (n = std::fread(block, 1, sizeof block, file.get())) > 0;) {
        text.append(block, n);
    }
    return json::parse(text);
}

// The entries read_entries hands over for `text`.
std::vector<json> entries_of(const std::string& text) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::tmpfile(), &std::fclose);
    REQUIRE(file);
    std::fwrite(text.data(), 1, text.size(), file.get());
    std::rewind(file.get());
    std::vector<json> out;
    har::read_entries(file.get(), "test.har", [&](json&& e) { out.push_back(std::move(e)); });
    return out;
}

} // namespace

TEST_CASE("har messages: reassembled from frames, inflated lengths, control on request", "[har]") {
    builder b;
    b.handshake();
    b.frame(direction::c2s, 1, "frag-", false, 1100);
    b.frame(direction::c2s, 9, "ping", true, 1150);
    b.frame(direction::s2c, 2, std::string("\x00\xff", 2), true, 1160);
    auto& last = b.frame(direction::c2s, 0, "mented", true, 1200);
    last.compressed = true;
    last.len = 3; // on the wire; data_len is what it inflated to
    last.data_len = 6;
    auto& cut = b.frame(direction::s2c, 1, "abc", true, 1300);
    cut.len = 10;
    cut.data.truncated = true;

    const auto plain = har::messages_of(b.conn, false);
    REQUIRE(plain.size() == 3);
    CHECK(plain[0].dir == direction::s2c);
    CHECK(plain[0].data == std::string("\x00\xff", 2));
    CHECK(plain[1].data == "frag-mented");
    CHECK(plain[1].len == 11);
    CHECK(plain[1].ts == at_ms(1200)); // when its last frame was seen
    CHECK_FALSE(plain[1].truncated);
    CHECK(plain[2].truncated);
    CHECK(plain[2].len == 10);

    const auto with_control = har::messages_of(b.conn, true);
    REQUIRE(with_control.size() == 4);
    CHECK(with_control[0].opcode == 9);
}

TEST_CASE("har messages: message records win over the data frames beside them", "[har]") {
    builder b;
    b.handshake();
    b.frame(direction::c2s, 1, "hello", true, 1100);
    b.message(direction::c2s, 1, "hello", 1100);
    auto& none = b.frame(direction::s2c, 2, "", true, 1200);
    none.len = 4;
    none.data.encoding = record::payload_encoding::none; // --payload none
    b.message(direction::s2c, 2, "", 1200);
    const auto m = har::messages_of(b.conn, false);
    REQUIRE(m.size() == 2);
    CHECK(m[0].data == "hello");
    CHECK_FALSE(m[1].truncated); // the message record had the (empty) payload
}

TEST_CASE("har writer: Chrome's entry shape, text as UTF-8, binary as base64", "[har]") {
    builder b;
    b.handshake();
    b.message(direction::c2s, 1, "h\xC3\xA9llo", 1500);
    b.message(direction::s2c, 2, std::string("\x00\x01\xff", 3), 1750);
    builder rejected;
    rejected.conn.conn = 2;
    rejected.handshake(403, 2000);
    builder headless; // frames of a connection whose handshake the archive lacks
    headless.conn.conn = 3;
    headless.frame(direction::c2s, 1, "x");

    const json har = exported({b.conn, rejected.conn, headless.conn});
    CHECK(har["log"]["version"] == "1.2");
    CHECK_FALSE(har["log"].contains("comment"));
    const auto& entries = har["log"]["entries"];
    REQUIRE(entries.size() == 2);
    const auto& e = entries[0];
    CHECK(e["startedDateTime"] == "1970-01-01T00:00:01.000000Z");
    CHECK(e["request"]["url"] == "ws://example.test:9000/chat?room=1");
    CHECK(e["request"]["queryString"] == json::parse(R"([{"name":"room","value":"1"}])"));
    CHECK(e["request"]["headers"][0] ==
          json::parse(R"({"name":"Host","value":"example.test:9000"})"));
    CHECK(e["response"]["status"] == 101);
    CHECK(e["serverIPAddress"] == "10.0.0.7");
    CHECK(e["connection"] == "1");
    CHECK(e["_resourceType"] == "websocket");
    const auto& m = e["_webSocketMessages"];
    REQUIRE(m.size() == 2);
    CHECK(m[0] == json::parse(R"({"type":"send","time":1.5,"opcode":1,"data":"h\u00e9llo"})"));
    CHECK(m[1] == json::parse(R"({"type":"receive","time":1.75,"opcode":2,"data":"AAH/"})"));
    CHECK(entries[1]["response"]["status"] == 403);
    CHECK(entries[1]["_webSocketMessages"].empty());
}

TEST_CASE("har writer: wss:// for a TLS client leg, times without ts from --base-time", "[har]") {
    builder b;
    auto& h = b.handshake(101, std::nullopt);
    h.tls = tls_info{tls_leg{"TLSv1.3", "TLS_AES_128_GCM_SHA256"}, std::nullopt};
    b.message(direction::c2s, 1, "x");
    har::export_options o;
    o.base_time = at_ms(1796040000000);
    const json har = exported({b.conn}, o);
    const auto& e = har["log"]["entries"][0];
    CHECK(e["request"]["url"] == "wss://example.test:9000/chat?room=1");
    CHECK(e["startedDateTime"] == "2026-11-30T12:00:00.000000Z");
    CHECK(e["_webSocketMessages"][0]["time"] == 1796040000.0);
    CHECK(har["log"]["comment"].get<std::string>().find("--base-time 2026-11-30T12:00:00") !=
          std::string::npos);
}

TEST_CASE("har entry reader: log.entries one by one, whatever else the document holds", "[har]") {
    const auto entries = entries_of(
        R"({"log":{"version":"1.2","pages":[{"id":"p","entries":[1]}],"entries":[)"
        R"({"request":{"url":"ws://a/"},"x":[[1,{"y":null}],true]},{"z":{}}],"comment":"c"},)"
        R"("entries":[{"not":"these"}]})");
    REQUIRE(entries.size() == 2);
    CHECK(entries[0] == json::parse(R"({"request":{"url":"ws://a/"},"x":[[1,{"y":null}],true]})"));
    CHECK(entries[1] == json::parse(R"({"z":{}})"));
    CHECK(entries_of(R"({"log":{"entries":[]}})").empty());
    CHECK_THROWS_WITH(entries_of(R"({"log":{}})"), Catch::Contains("not a HAR file"));
    CHECK_THROWS_WITH(entries_of(R"([1,2])"), Catch::Contains("not a HAR file"));
    CHECK_THROWS_WITH(entries_of(R"({"log":{"entries":[{)"), Catch::Contains("not JSON"));
}

TEST_CASE("har entry reader: each entry is handed over before the rest is read", "[har]") {
    // The document breaks after its first entry: that entry has already been delivered, so
    // nothing waits for the end of the file.
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::tmpfile(), &std::fclose);
    const std::string text = R"({"log":{"entries":[{"a":1},{"b":)";
    std::fwrite(text.data(), 1, text.size(), file.get());
    std::rewind(file.get());
    std::vector<json> seen;
    CHECK_THROWS_AS(har::read_entries(file.get(), "t", [&](json&& e) { seen.push_back(e); }),
                    har::har_error);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0] == json::parse(R"({"a":1})"));
}

TEST_CASE("har import: DevTools' rules for messages, Playwright's milliseconds", "[har]") {
    const json entry = json::parse(R"({
        "startedDateTime": "2026-11-30T10:00:00.25Z",
        "request": {"method": "", "url": "ws://[::1]:9000/feed?a=b#frag", "headers": []},
        "response": {"status": 101, "headers": [
            {"name": "Sec-WebSocket-Extensions", "value": "permessage-deflate; server_max_window_bits=10"},
            {"name": "Sec-WebSocket-Protocol", "value": "chat"}]},
        "serverIPAddress": "::1",
        "_webSocketMessages": [
            {"type": "send", "time": 1796032800.5, "opcode": 1, "data": "one"},
            {"type": "receive", "time": 1796032800750.0, "opcode": 2, "data": "AP8="},
            {"type": "receive", "time": 1796032801, "opcode": 2, "data": "not base64!"},
            {"type": "send", "time": 1796032801, "opcode": 10, "data": ""},
            {"type": "send", "time": true, "opcode": 1, "data": "x"},
            {"type": "send", "time": 1796032801, "opcode": 1.5, "data": "x"},
            {"type": "send", "time": 1796032802, "opcode": 1, "data": "long",
             "_wssniffTruncated": true, "_wssniffLength": 9000}]})");
    CHECK(har::is_websocket_entry(entry));
    const auto imported = har::import_entry(entry, 7);
    CHECK(imported.control_messages == 1);
    CHECK(imported.skipped_messages == 3);
    REQUIRE(imported.records.size() == 4);
    const auto& h = std::get<record::handshake>(imported.records[0].body);
    CHECK(imported.records[0].conn == 7);
    CHECK(imported.records[0].ts == at_ms(1796032800250));
    CHECK(h.method == "GET");
    CHECK(h.target == "/feed?a=b");
    CHECK(h.upstream == "[::1]:9000");
    CHECK(h.subprotocol == "chat");
    REQUIRE(h.deflate);
    CHECK(h.deflate->server_max_window_bits == 10);
    const auto& one = std::get<record::message>(imported.records[1].body);
    CHECK(one.dir == direction::c2s);
    CHECK(one.data.bytes == "one");
    CHECK(imported.records[1].ts == at_ms(1796032800500));
    const auto& two = std::get<record::message>(imported.records[2].body);
    CHECK(two.dir == direction::s2c);
    CHECK(two.opcode == 2);
    CHECK(two.data.bytes == std::string("\x00\xff", 2));
    CHECK(imported.records[2].ts == at_ms(1796032800750)); // milliseconds, as Playwright writes
    const auto& cut = std::get<record::message>(imported.records[3].body);
    CHECK(cut.data.truncated);
    CHECK(cut.len == 9000);
    CHECK(cut.seq == 1);

    CHECK_FALSE(har::is_websocket_entry(json::parse(R"({"request":{"url":"https://a/"}})")));
    CHECK(har::is_websocket_entry(json::parse(R"({"request":{"url":"wss://a/"}})")));
    CHECK(har::is_websocket_entry(json::parse(R"({"_resourceType":"websocket"})")));
}

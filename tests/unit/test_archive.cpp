// Archives read back: what the NDJSON writer wrote, the archive reader turns into the same
// record values; a line that is not a record is named by file and line.

#include "wssniff/archive/connections.hpp"
#include "wssniff/archive/payload_text.hpp"
#include "wssniff/archive/record_reader.hpp"
#include "wssniff/record/ndjson.hpp"

#include <catch2/catch.hpp>

// GCC 12 at -O1 under ASan (the asan tree) warns, falsely, that the std::string inside a
// record::frame's std::optional close_reason may be used uninitialized when the frame is copied.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <cstdio>
#include <string>
#include <unistd.h>

using namespace wssniff;

namespace {

std::string line_of(const record::record& r) {
    std::string out;
    record::append_ndjson(out, r);
    return out;
}

// A pipe holding `text`, read by a record_reader: the reader sees a real descriptor.
struct piped {
    explicit piped(const std::string& text) {
        file = std::tmpfile();
        std::fwrite(text.data(), 1, text.size(), file);
        std::fflush(file);
        std::rewind(file);
    }
    ~piped() { std::fclose(file); }
    int fd() const { return fileno(file); }
    std::FILE* file;
};

record::record round_trip(const record::record& r) {
    const auto line = line_of(r);
    return archive::parse_record(line);
}

record::timestamp at(std::int64_t micros) {
    return record::timestamp{std::chrono::microseconds{micros}};
}

} // namespace

TEST_CASE("archive: a frame record reads back field by field", "[archive]") {
    record::frame f;
    f.dir = direction::c2s;
    f.seq = 7;
    f.offset = 1234;
    f.fin = false;
    f.rsv1 = true;
    f.rsv3 = true;
    f.opcode = 2;
    f.masked = true;
    f.mask = {0xde, 0xad, 0xbe, 0xef};
    f.len = 3;
    f.compressed = true;
    f.data_len = 5;
    f.data.encoding = record::payload_encoding::hex;
    f.data.bytes = std::string("\x00\xff\x10\x20\x7f", 5);
    f.data.truncated = true;
    const auto r = round_trip({3, at(1'764'000'000'123'456), f});
    CHECK(r.conn == 3);
    REQUIRE(r.ts);
    CHECK(*r.ts == at(1'764'000'000'123'456));
    const auto& g = std::get<record::frame>(r.body);
    CHECK(g.dir == direction::c2s);
    CHECK(g.seq == 7);
    CHECK(g.offset == 1234);
    CHECK_FALSE(g.fin);
    CHECK(g.rsv1);
    CHECK_FALSE(g.rsv2);
    CHECK(g.rsv3);
    CHECK(g.opcode == 2);
    CHECK(g.masked);
    CHECK(g.mask == f.mask);
    CHECK(g.len == 3);
    CHECK(g.compressed);
    CHECK(g.data_len == 5);
    CHECK(g.data.encoding == record::payload_encoding::hex);
    CHECK(g.data.bytes == f.data.bytes);
    CHECK(g.data.truncated);
}

TEST_CASE("archive: payload fields decode to the bytes that were written", "[archive]") {
    std::string all(256, '\0');
    for (std::size_t i = 0; i < 256; ++i) {
        all[i] = static_cast<char>(i);
    }
    for (std::size_t n : {0U, 1U, 2U, 3U, 4U, 255U, 256U}) {
        for (auto enc : {record::payload_encoding::hex, record::payload_encoding::base64}) {
            record::message m;
            m.dir = direction::s2c;
            m.opcode = 2;
            m.len = n;
            m.data.encoding = enc;
            m.data.bytes = all.substr(0, n);
            const auto back = std::get<record::message>(round_trip({1, {}, m}).body);
            CHECK(back.data.encoding == enc);
            CHECK(back.data.bytes == m.data.bytes);
            CHECK(back.opcode == 2);
            CHECK(back.dir == direction::s2c);
        }
    }
    record::message text;
    text.data.encoding = record::payload_encoding::text;
    text.data.bytes = "caf\xC3\xA9 \"quoted\"\n\x01";
    const auto back = std::get<record::message>(round_trip({1, {}, text}).body);
    CHECK(back.data.encoding == record::payload_encoding::text);
    CHECK(back.data.bytes == text.data.bytes);
    CHECK(back.opcode == 1);
}

TEST_CASE("archive: handshake, error and close records read back", "[archive]") {
    record::handshake h;
    h.client = "127.0.0.1:5000";
    h.upstream = "127.0.0.1:9000";
    h.method = "GET";
    h.target = "/chat?x=1";
    h.status = 101;
    h.request_headers = {{"Host", "a"}, {"Authorization", "Bearer [redacted]"}};
    h.response_headers = {{"Upgrade", "websocket"}};
    h.subprotocol = "chat";
    h.extensions = "permessage-deflate; server_max_window_bits=10";
    h.deflate = record::deflate_record{true, false, 10, 15};
    h.tls = record::tls_info{};
    h.tls->client = tls_leg{"TLSv1.3", "TLS_AES_256_GCM_SHA384"};
    const auto hb = std::get<record::handshake>(round_trip({2, {}, h}).body);
    CHECK(hb.client == h.client);
    CHECK(hb.upstream == h.upstream);
    CHECK(hb.method == "GET");
    CHECK(hb.target == "/chat?x=1");
    CHECK(hb.status == 101);
    CHECK(hb.request_headers == h.request_headers);
    CHECK(hb.response_headers == h.response_headers);
    CHECK(hb.subprotocol == h.subprotocol);
    CHECK(hb.extensions == h.extensions);
    REQUIRE(hb.deflate);
    CHECK(hb.deflate->server_no_context_takeover);
    CHECK(hb.deflate->server_max_window_bits == 10);
    REQUIRE(hb.tls);
    REQUIRE(hb.tls->client);
    CHECK(hb.tls->client->cipher == "TLS_AES_256_GCM_SHA384");
    CHECK_FALSE(hb.tls->upstream);

    record::handshake plain;
    plain.method = "GET";
    const auto pb = std::get<record::handshake>(round_trip({1, {}, plain}).body);
    CHECK_FALSE(pb.subprotocol);
    CHECK_FALSE(pb.deflate);
    CHECK_FALSE(pb.client);

    record::error e{error_code::invalid_utf8, "text message is not valid UTF-8", true,
                    direction::s2c, 99};
    const auto eb = std::get<record::error>(round_trip({1, {}, e}).body);
    CHECK(eb.code == error_code::invalid_utf8);
    CHECK(eb.fatal);
    CHECK(eb.dir == direction::s2c);
    CHECK(eb.offset == 99U);

    record::close c{record::close_reason::client_reset, 10, 20, 3, 4};
    const auto cb = std::get<record::close>(round_trip({1, {}, c}).body);
    CHECK(cb.reason == record::close_reason::client_reset);
    CHECK(cb.bytes_c2s == 10);
    CHECK(cb.bytes_s2c == 20);
    CHECK(cb.frames_c2s == 3);
    CHECK(cb.frames_s2c == 4);
}

TEST_CASE("archive: close frames keep their code and reason", "[archive]") {
    record::frame f;
    f.dir = direction::s2c;
    f.fin = true;
    f.opcode = 8;
    f.len = 4;
    f.close_code = 1001;
    f.close_reason = "by";
    f.data.encoding = record::payload_encoding::hex;
    f.data.bytes = "\x03\xe9"
                   "by";
    const auto g = std::get<record::frame>(round_trip({1, {}, f}).body);
    CHECK(g.close_code == 1001);
    CHECK(g.close_reason == "by");
    CHECK(g.data.bytes == f.data.bytes);
}

TEST_CASE("archive: timestamps parse as the writer prints them", "[archive]") {
    for (std::int64_t micros : {0LL, 1'764'000'000'000'001LL, 951'782'400'999'999LL}) {
        std::string text;
        record::append_timestamp(text, at(micros));
        const auto back = archive::parse_timestamp(text);
        REQUIRE(back);
        CHECK(*back == at(micros));
    }
    CHECK(archive::parse_timestamp("2026-11-26T19:05:53Z"));
    CHECK(archive::parse_timestamp("2026-11-26T19:05:53.5Z") ==
          archive::parse_timestamp("2026-11-26T19:05:53.500000Z"));
    CHECK_FALSE(archive::parse_timestamp("2026-11-26 19:05:53Z"));
    CHECK_FALSE(archive::parse_timestamp("2026-13-26T19:05:53Z"));
    CHECK_FALSE(archive::parse_timestamp("2026-11-26T19:05:53.1234567Z"));
    CHECK_FALSE(archive::parse_timestamp("2026-11-26T19:05:53."));
    CHECK_FALSE(archive::parse_timestamp(""));
}

TEST_CASE("archive: hex and base64 decoding refuse what the writer never writes", "[archive]") {
    CHECK(archive::decode_hex("00ff7F") == std::string("\x00\xff\x7f", 3));
    CHECK_FALSE(archive::decode_hex("0"));
    CHECK_FALSE(archive::decode_hex("0g"));
    CHECK(archive::decode_base64("") == std::string());
    CHECK(archive::decode_base64("YQ==") == std::string("a"));
    CHECK(archive::decode_base64("YWI=") == std::string("ab"));
    CHECK(archive::decode_base64("YWJj") == std::string("abc"));
    CHECK_FALSE(archive::decode_base64("YQ="));
    CHECK_FALSE(archive::decode_base64("Y=Q="));
    CHECK_FALSE(archive::decode_base64("YQ==YWJj"));
    CHECK_FALSE(archive::decode_base64("YW!j"));
}

TEST_CASE("archive: a bad line is named by file and line number", "[archive]") {
    const std::string good = line_of({1, {}, record::close{}});
    const auto message_of = [&](const std::string& bad) {
        piped p(good + bad + "\n" + good);
        archive::record_reader reader(p.fd(), "a.ndjson");
        REQUIRE(reader.next());
        try {
            reader.next();
        } catch (const archive::format_error& e) {
            CHECK(e.line() == 2);
            return std::string(e.what());
        }
        FAIL("no error for: " << bad);
        return std::string();
    };
    CHECK(message_of("{\"type\":\"close\"").rfind("a.ndjson:2: not valid JSON", 0) == 0);
    CHECK(message_of("[1]") == "a.ndjson:2: line is not a JSON object");
    CHECK(message_of("{\"conn\":1}") == "a.ndjson:2: record has no \"type\" field");
    CHECK(message_of(R"({"type":"frame"})") == "a.ndjson:2: record has no \"conn\" field");
    CHECK(message_of(R"({"type":"gossip","conn":1})") ==
          "a.ndjson:2: record type \"gossip\" is unknown to this wssniff");
    CHECK(message_of(R"({"type":"frame","conn":1,"seq":-1})") ==
          "a.ndjson:2: field \"seq\" is not an unsigned integer");
    CHECK(message_of(R"({"type":"frame","conn":1,"dir":"up"})") ==
          "a.ndjson:2: field \"dir\" is \"up\", not \"c2s\" or \"s2c\"");
    CHECK(message_of(R"({"type":"frame","conn":1,"hex":"abc"})") ==
          "a.ndjson:2: field \"hex\" is not pairs of hex digits");
    CHECK(message_of(R"({"type":"frame","conn":1,"opcode":16})") ==
          "a.ndjson:2: field \"opcode\" is 16, more than 15");
}

TEST_CASE("archive: lines of any length, blank lines and a last line without newline",
          "[archive]") {
    // Lines longer than the reader's 1 MiB block, and many short ones across block edges.
    record::message big;
    big.data.encoding = record::payload_encoding::hex;
    big.data.bytes.assign(700 * 1024, '\x5a'); // 1.4 MB of hex
    std::string text;
    for (int i = 0; i < 3; ++i) {
        text += line_of({1, {}, big});
    }
    text += "\n   \n";
    for (std::uint64_t i = 0; i < 20000; ++i) {
        record::frame f;
        f.seq = i;
        text += line_of({2 + i % 3, {}, f});
    }
    text += R"({"type":"close","conn":9,"future_field":[1,{"x":2}]})"; // no newline, new field
    piped p(text);
    archive::record_reader reader(p.fd(), "big.ndjson");
    const auto conns = archive::read_connections(reader);
    REQUIRE(conns.size() == 5);
    CHECK(conns[0].conn == 1);
    REQUIRE(conns[0].entries.size() == 3);
    CHECK(std::get<record::message>(conns[0].entries[2].record.body).data.bytes == big.data.bytes);
    CHECK(conns[0].entries[2].line == 3);
    CHECK(conns[1].conn == 2);
    CHECK(conns[1].entries.size() == 6667);
    CHECK(std::get<record::frame>(conns[1].entries.back().record.body).seq == 19998);
    CHECK(conns[4].conn == 9);
    CHECK(conns[4].entries.at(0).line == 3 + 2 + 20000 + 1);
    CHECK(conns[0].handshake() == nullptr);
}

TEST_CASE("archive: a missing file is a system error naming it", "[archive]") {
    CHECK_THROWS_WITH(archive::record_reader("/nonexistent/x.ndjson"),
                      Catch::Contains("/nonexistent/x.ndjson"));
}

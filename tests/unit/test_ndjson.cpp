#include "support/records.hpp"

#include "wssniff/record/ndjson.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace wssniff;

namespace {

std::string json_string(std::string_view bytes) {
    std::string out = "\"";
    record::append_json_string_contents(out, bytes);
    return out + "\"";
}

std::string line_of(record::record r) {
    std::string out;
    record::append_ndjson(out, r);
    return out;
}

} // namespace

TEST_CASE("ndjson: strings are escaped as JSON requires", "[ndjson]") {
    CHECK(json_string("plain") == "\"plain\"");
    CHECK(json_string("q\"b\\") == "\"q\\\"b\\\\\"");
    CHECK(json_string("\n\r\t\b\f") == "\"\\n\\r\\t\\b\\f\"");
    CHECK(json_string(std::string("\x00\x01\x1f", 3)) == "\"\\u0000\\u0001\\u001f\"");
    CHECK(json_string("\x7f") == "\"\x7f\"");
    CHECK(json_string("caf\xC3\xA9 \xF0\x9D\x84\x9E") == "\"caf\xC3\xA9 \xF0\x9D\x84\x9E\"");
}

TEST_CASE("ndjson: invalid UTF-8 becomes U+FFFD and the line stays valid", "[ndjson]") {
    const std::string fffd = "\xEF\xBF\xBD";
    CHECK(json_string("a\xFF"
                      "b") == "\"a" + fffd + "b\"");
    CHECK(json_string("\xC3") == "\"" + fffd + "\"");                       // cut short
    CHECK(json_string("\xED\xA0\x80") == "\"" + fffd + fffd + fffd + "\""); // surrogate
    CHECK(json_string("\xC0\xAF") == "\"" + fffd + fffd + "\"");            // overlong
    // Every byte value, in every position, parses back.
    std::string all;
    for (int i = 0; i < 256; ++i) {
        all.push_back(static_cast<char>(i));
    }
    const auto parsed = nlohmann::json::parse(json_string(all));
    CHECK(parsed.is_string());
}

TEST_CASE("ndjson: every record type is one line of JSON", "[ndjson]") {
    record::handshake h;
    h.client = "127.0.0.1:5000";
    h.method = "GET";
    h.target = "/\"quoted\"";
    h.status = 101;
    h.request_headers = {{"Host", "a"}, {"X-Bin", "\xFF"}};
    h.deflate = record::deflate_record{true, false, 15, 10};
    record::frame f;
    f.masked = true;
    f.mask = {0xde, 0xad, 0xbe, 0xef};
    f.opcode = 8;
    f.len = 2;
    f.data = {record::payload_encoding::hex, std::string("\x03\xe8", 2), false};
    f.close_code = 1000;
    f.close_reason = "";
    record::message m;
    m.opcode = 2;
    m.frames = 1;
    m.data = {record::payload_encoding::base64, "abcd", true};
    record::error e;
    e.code = error_code::invalid_utf8;
    e.message = "text message is not valid UTF-8";
    e.dir = direction::s2c;
    e.offset = 9;
    record::close c;
    c.reason = record::close_reason::client_reset;

    const std::string hs = line_of({3, std::nullopt, h});
    CHECK(hs.back() == '\n');
    CHECK(std::count(hs.begin(), hs.end(), '\n') == 1);
    const auto hj = nlohmann::json::parse(hs);
    CHECK(hj["type"] == "handshake");
    CHECK(hj["conn"] == 3);
    CHECK_FALSE(hj.contains("ts"));
    CHECK(hj["target"] == "/\"quoted\"");
    CHECK(hj["request_headers"][1][1] == "\xEF\xBF\xBD");
    CHECK(hj["deflate"]["client_max_window_bits"] == 10);
    CHECK(hj["subprotocol"].is_null());
    CHECK_FALSE(hj.contains("repeat"));
    h.repeat = true; // a copy at the start of rotated segment 4
    h.segment = 4;
    const auto rj = nlohmann::json::parse(line_of({3, std::nullopt, h}));
    CHECK(rj["repeat"] == true);
    CHECK(rj["segment"] == 4);

    const auto fj = nlohmann::json::parse(line_of({1, std::nullopt, f}));
    CHECK(fj["mask"] == "deadbeef");
    CHECK(fj["op"] == "close");
    CHECK(fj["hex"] == "03e8");
    CHECK(fj["close_code"] == 1000);
    CHECK(fj["close_reason"] == "");
    CHECK_FALSE(fj.contains("truncated"));
    CHECK_FALSE(fj.contains("compressed"));

    const auto mj = nlohmann::json::parse(line_of({1, std::nullopt, m}));
    CHECK(mj["base64"] == "YWJjZA==");
    CHECK(mj["truncated"] == true);
    CHECK(mj["op"] == "binary");

    const auto ej = nlohmann::json::parse(line_of({1, std::nullopt, e}));
    CHECK(ej["code"] == "invalid_utf8");
    CHECK(ej["offset"] == 9);
    CHECK(ej["dir"] == "s2c");

    const auto cj = nlohmann::json::parse(line_of({1, std::nullopt, c}));
    CHECK(cj["reason"] == "client_reset");
}

TEST_CASE("ndjson: timestamps are RFC 3339 UTC with microseconds", "[ndjson]") {
    std::string out;
    const auto ts = std::chrono::system_clock::time_point{} + std::chrono::microseconds(1);
    record::append_timestamp(out, ts);
    CHECK(out == "1970-01-01T00:00:00.000001Z");
}

TEST_CASE("ndjson: base64 padding", "[ndjson]") {
    auto b64 = [](std::string bytes) {
        record::message m;
        m.data = {record::payload_encoding::base64, std::move(bytes), false};
        return nlohmann::json::parse(line_of({1, std::nullopt, m}))["base64"].get<std::string>();
    };
    CHECK(b64("") == "");
    CHECK(b64("f") == "Zg==");
    CHECK(b64("fo") == "Zm8=");
    CHECK(b64("foo") == "Zm9v");
    CHECK(b64("foob") == "Zm9vYg==");
}

TEST_CASE("ndjson: long strings escape the same across the writer's internal blocks", "[ndjson]") {
    // Characters, escapes and invalid bytes placed on every side of the 16 KiB block edges.
    std::string text;
    std::string expected;
    for (int i = 0; text.size() < 70000; ++i) {
        text += std::string(static_cast<std::size_t>(i % 37), 'a') + "\xC3\xA9\"\\\n\xFF";
        expected +=
            std::string(static_cast<std::size_t>(i % 37), 'a') + "\xC3\xA9\\\"\\\\\\n\xEF\xBF\xBD";
    }
    std::string out;
    record::append_json_string_contents(out, text);
    CHECK(out == expected);
    // Valid text takes the path without checks; it must give the same bytes.
    std::string valid_text;
    std::string valid_expected;
    for (int i = 0; valid_text.size() < 70000; ++i) {
        valid_text += std::string(static_cast<std::size_t>(i % 41), 'b') + "\xE2\x9C\x93\"\t";
        valid_expected +=
            std::string(static_cast<std::size_t>(i % 41), 'b') + "\xE2\x9C\x93\\\"\\t";
    }
    std::string valid_out;
    record::append_valid_json_string_contents(valid_out, valid_text);
    CHECK(valid_out == valid_expected);
}

TEST_CASE("ndjson: random mixes of plain bytes, escapes and characters escape as each piece does",
          "[ndjson]") {
    // Pieces whose escaping does not depend on their neighbours: ASCII, what JSON escapes, whole
    // characters, and bytes no UTF-8 sequence can start or continue here (a stray continuation
    // byte follows only whole characters). Dense enough that most sixteen-byte runs hold several
    // escapes, on every side of the writer's vector blocks.
    const std::vector<std::pair<std::string, std::string>> pieces = {
        {"a", "a"},
        {"Zq", "Zq"},
        {"0123456789abcdef", "0123456789abcdef"},
        {"\"", "\\\""},
        {"\\", "\\\\"},
        {"\n", "\\n"},
        {"\t", "\\t"},
        {std::string("\x00", 1), "\\u0000"},
        {"\x1f", "\\u001f"},
        {"\x7f", "\x7f"},
        {"\xC3\xA9", "\xC3\xA9"},
        {"\xE2\x9C\x93", "\xE2\x9C\x93"},
        {"\xF0\x9D\x84\x9E", "\xF0\x9D\x84\x9E"},
    };
    const std::vector<std::pair<std::string, std::string>> invalid = {
        {"\xFF", "\xEF\xBF\xBD"},
        {"\x80", "\xEF\xBF\xBD"},
    };
    std::mt19937 random(1729);
    for (int round = 0; round < 3000; ++round) {
        const bool valid = round % 2 == 0;
        const std::size_t count = random() % 120;
        std::string text;
        std::string expected;
        for (std::size_t i = 0; i < count; ++i) {
            const bool bad = !valid && random() % 8 == 0;
            const auto& [piece, escaped] =
                bad ? invalid[random() % invalid.size()] : pieces[random() % pieces.size()];
            text += piece;
            expected += escaped;
        }
        std::string out;
        if (valid) {
            record::append_valid_json_string_contents(out, text);
        } else {
            record::append_json_string_contents(out, text);
        }
        INFO("round " << round << ", " << text.size() << " bytes");
        REQUIRE(out == expected);
    }
}

TEST_CASE("ndjson: hex and base64 payloads of every length and byte value", "[ndjson]") {
    // Lengths around the sixteen-byte blocks of the vector path and the writer's 16 KiB blocks.
    std::string bytes;
    for (int i = 0; i < 16 * 1024 + 40; ++i) {
        bytes.push_back(static_cast<char>((i * 131) ^ (i >> 8)));
    }
    for (const std::size_t n :
         {std::size_t{0}, std::size_t{1}, std::size_t{15}, std::size_t{16}, std::size_t{17},
          std::size_t{256}, std::size_t{16 * 1024}, bytes.size()}) {
        INFO("length " << n);
        const std::string data = bytes.substr(0, n);
        std::string expected_hex;
        for (const char c : data) {
            expected_hex += fmt::format("{:02x}", static_cast<unsigned char>(c));
        }
        record::frame f;
        f.len = n;
        f.data.encoding = record::payload_encoding::hex;
        f.data.bytes = data;
        const auto hex = nlohmann::json::parse(line_of({1, std::nullopt, f}));
        CHECK(hex["hex"] == expected_hex);
        f.data.encoding = record::payload_encoding::base64;
        const auto b64 = nlohmann::json::parse(line_of({1, std::nullopt, f}));
        // Decoded back, base64 gives the bytes.
        const std::string text = b64["base64"];
        CHECK(text.size() == (n + 2) / 3 * 4);
        std::string decoded;
        std::uint32_t acc = 0;
        int bits = 0;
        const std::string alphabet =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (const char c : text) {
            if (c == '=') {
                break;
            }
            acc = (acc << 6) | static_cast<std::uint32_t>(alphabet.find(c));
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                decoded.push_back(static_cast<char>((acc >> bits) & 0xFF));
            }
        }
        CHECK(decoded == data);
    }
}

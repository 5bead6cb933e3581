// The terminal view's line formatter (app/pretty.hpp) and the status line's text
// (app/status_line.hpp): width cuts in terminal columns, UTF-8 boundaries, hex, flags, and
// attacker bytes made visible.

#include "pretty.hpp"
#include "status_line.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using namespace wssniff;
using app::format_pretty;
using app::pretty_style;
using app::preview;

namespace {

// Columns of a line without colours: ASCII and most characters one, the wide ones two.
std::size_t columns_of(const std::string& s) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        std::uint32_t cp = b;
        std::size_t len = 1;
        if (b >= 0xF0) {
            cp = b & 0x07;
            len = 4;
        } else if (b >= 0xE0) {
            cp = b & 0x0F;
            len = 3;
        } else if (b >= 0xC0) {
            cp = b & 0x1F;
            len = 2;
        }
        for (std::size_t k = 1; k < len; ++k) {
            cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        }
        n += static_cast<std::size_t>(app::code_point_columns(cp));
        i += len;
    }
    return n;
}

bool valid_utf8(const std::string& s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        const std::size_t len = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
        if (len == 0 || i + len > s.size()) {
            return false;
        }
        for (std::size_t k = 1; k < len; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
                return false;
            }
        }
        i += len;
    }
    return true;
}

record::record text_frame(std::string payload, direction dir = direction::c2s) {
    record::frame f;
    f.dir = dir;
    f.fin = true;
    f.opcode = 1;
    f.len = payload.size();
    f.data.encoding = record::payload_encoding::text;
    f.data.bytes = std::move(payload);
    return record::record{3, {}, f};
}

} // namespace

TEST_CASE("preview: text fits, or is cut with an ellipsis within the columns", "[pretty]") {
    std::size_t used = 0;
    CHECK(preview("hello", true, 10, used) == "hello");
    CHECK(used == 5);
    CHECK(preview("hello", true, 5, used) == "hello");
    CHECK(used == 5);
    CHECK(preview("hello world", true, 5, used) == "hell\xe2\x80\xa6");
    CHECK(used == 5);
    CHECK(preview("hello", true, 0, used).empty());
    CHECK(used == 0);
    CHECK(preview("hello", true, 1, used) == "\xe2\x80\xa6");
}

TEST_CASE("preview: never splits a UTF-8 sequence, wide characters take two columns", "[pretty]") {
    const std::string kanji = "\xe6\xbc\xa2\xe5\xad\x97\xe6\xbc\xa2\xe5\xad\x97"; // 漢字漢字
    for (std::size_t width = 0; width <= 10; ++width) {
        std::size_t used = 0;
        const std::string shown = preview(kanji, true, width, used);
        INFO("width " << width << ": " << shown);
        CHECK(valid_utf8(shown));
        CHECK(used <= width);
        CHECK(columns_of(shown) == used);
    }
    std::size_t used = 0;
    // Four wide characters are 8 columns; in 6, two of them and the ellipsis (5 columns).
    CHECK(preview(kanji, true, 6, used) == "\xe6\xbc\xa2\xe5\xad\x97\xe2\x80\xa6");
    CHECK(used == 5);
    CHECK(preview("\xc3\xa9\xc3\xa9\xc3\xa9", true, 2, used) == "\xc3\xa9\xe2\x80\xa6"); // é…
    CHECK(preview("\xf0\x9f\x8c\x8d!", true, 3, used) == "\xf0\x9f\x8c\x8d!");           // 🌍!
    CHECK(used == 3);
}

TEST_CASE("preview: control, C1, bidi and invalid bytes are made visible", "[pretty]") {
    std::size_t used = 0;
    CHECK(preview("a\x1b[31mb\x07\r\n\t\\\x7f", true, 80, used) ==
          "a\\e[31mb\\x07\\r\\n\\t\\\\\\x7f");
    CHECK(used == 24);
    // U+009B (CSI to some terminals), U+202E (right-to-left override), U+200B (zero width).
    CHECK(preview("\xc2\x9b"
                  "2J \xe2\x80\xae"
                  "x\xe2\x80\x8b",
                  true, 80, used) == "\\u{9b}2J \\u{202e}x\\u{200b}");
    // Invalid UTF-8: each bad byte alone; a truncated sequence at the end too.
    CHECK(preview("ok\xff\xc3(\xe2\x82", true, 80, used) == "ok\\xff\\xc3(\\xe2\\x82");
    // An escape is never cut in half: it goes whole or not at all.
    CHECK(preview("ab\x1b", true, 4, used) == "ab\\e");
    CHECK(preview("ab\x1b", true, 3, used) == "ab\xe2\x80\xa6");
}

TEST_CASE("preview: binary as hex pairs, cut on a pair", "[pretty]") {
    std::size_t used = 0;
    CHECK(preview(std::string("\x00\x01\xfe\xff", 4), false, 80, used) == "00 01 fe ff");
    CHECK(used == 11);
    CHECK(preview(std::string("\x00\x01\xfe\xff", 4), false, 11, used) == "00 01 fe ff");
    CHECK(preview(std::string("\x00\x01\xfe\xff", 4), false, 10, used) == "00 01 fe\xe2\x80\xa6");
    CHECK(used == 9);
}

TEST_CASE("format_pretty: a frame's fields, flags that are set, the width", "[pretty]") {
    pretty_style style;
    style.width = 80;
    record::record r = text_frame("hello");
    CHECK(format_pretty(r, style) == "#3 \xe2\x86\x92 text        5 hello");

    auto& f = std::get<record::frame>(r.body);
    f.fin = false;
    f.rsv1 = true;
    f.rsv3 = true;
    f.compressed = true;
    f.data.truncated = true;
    f.dir = direction::s2c;
    CHECK(format_pretty(r, style) ==
          "#3 \xe2\x86\x90 text        5 fin=0 rsv1 rsv3 compressed truncated hello");

    r.ts = record::timestamp(std::chrono::milliseconds(1'700'000'123'456));
    CHECK(format_pretty(r, style).rfind("22:15:23.456 #3 ", 0) == 0);

    for (std::size_t width = 1; width <= 60; ++width) {
        style.width = width;
        const std::string line = format_pretty(text_frame(std::string(200, 'x')), style);
        INFO("width " << width << ": " << line);
        CHECK(columns_of(line) <= width);
    }
    style.width = 30;
    CHECK(columns_of(format_pretty(text_frame(std::string(200, 'x')), style)) == 30);
}

TEST_CASE("format_pretty: colours only when asked, around fields, not inside payloads",
          "[pretty]") {
    pretty_style style;
    style.width = 40;
    style.color = true;
    const std::string line = format_pretty(text_frame("\x1b[2J"), style);
    CHECK(line.find("\x1b[36m\xe2\x86\x92\x1b[0m") != std::string::npos); // the arrow, cyan
    CHECK(line.find("\\e[2J") != std::string::npos);
    CHECK(line.find("\x1b[2J") == std::string::npos);
    style.color = false;
    CHECK(format_pretty(text_frame("\x1b[2J"), style).find('\x1b') == std::string::npos);
}

TEST_CASE("format_pretty: close, handshake, error and close records", "[pretty]") {
    pretty_style style;
    style.width = 100;
    // Filled in place: copying a frame with its optional strings into a record makes GCC 12
    // warn (maybe-uninitialized, falsely) at -O1 under the sanitizers.
    record::record closing{1, {}, record::frame{}};
    auto& close = std::get<record::frame>(closing.body);
    close.dir = direction::s2c;
    close.fin = true;
    close.opcode = 8;
    close.len = 6;
    close.close_code.emplace(std::uint16_t{1001});
    close.close_reason.emplace("gone\x07");
    CHECK(format_pretty(closing, style) == "#1 \xe2\x86\x90 close       6 1001 \"gone\\x07\"");

    record::frame ping;
    ping.dir = direction::c2s;
    ping.fin = true;
    ping.opcode = 9;
    ping.len = 2;
    ping.data.encoding = record::payload_encoding::hex;
    ping.data.bytes = "\x01\x02";
    CHECK(format_pretty(record::record{1, {}, ping}, style) ==
          "#1 \xe2\x86\x92 ping        2 01 02");

    record::record shake{2, {}, record::handshake{}};
    auto& h = std::get<record::handshake>(shake.body);
    h.method = "GET";
    h.target = "/chat?\x1b]0;x\x07";
    h.status = 101;
    h.subprotocol.emplace("v2.chat");
    h.deflate.emplace();
    CHECK(format_pretty(shake, style) ==
          "#2 handshake GET 101 deflate proto=v2.chat /chat?\\e]0;x\\x07");
    // With both times, the upgrade's latency follows the status.
    shake.ts = record::timestamp(std::chrono::milliseconds(1'700'000'123'456));
    h.request_ts = *shake.ts - std::chrono::microseconds(2'350);
    CHECK(format_pretty(shake, style) ==
          "22:15:23.456 #2 handshake GET 101 in 2.4 ms deflate proto=v2.chat /chat?\\e]0;x\\x07");

    record::error e;
    e.code = error_code::reserved_opcode;
    e.message = "opcode 3 is reserved";
    e.fatal = false;
    e.dir.emplace(direction::c2s);
    e.offset.emplace(std::uint64_t{12});
    CHECK(format_pretty(record::record{2, {}, e}, style) ==
          "#2 ERROR reserved_opcode c2s @12 opcode 3 is reserved");
    style.color = true;
    CHECK(format_pretty(record::record{2, {}, e}, style).find("\x1b[1;31mERROR\x1b[0m") !=
          std::string::npos);
    style.color = false;

    record::close c;
    c.reason = record::close_reason::client_reset;
    c.bytes_c2s = 10;
    c.frames_c2s = 1;
    c.bytes_s2c = 20;
    c.frames_s2c = 2;
    CHECK(format_pretty(record::record{2, {}, c}, style) ==
          "#2 closed client_reset c2s 10B/1fr s2c 20B/2fr");

    record::message m;
    m.dir = direction::s2c;
    m.opcode = 2;
    m.frames = 3;
    m.len = 3;
    m.compressed = true;
    m.data.encoding = record::payload_encoding::hex;
    m.data.bytes = "abc";
    CHECK(format_pretty(record::record{2, {}, m}, style) ==
          "#2 \xe2\x86\x90 msg binary      3 3fr compressed 61 62 63");
}

TEST_CASE("status line: rates over the interval, cut to the width less one", "[pretty]") {
    app::status_sample before;
    app::status_sample now;
    now.open = 2;
    now.accepted = 5;
    now.frames_c2s = 40;
    now.bytes_c2s = 4096;
    now.frames_s2c = 10;
    now.bytes_s2c = 3 * 1024 * 1024;
    now.written = 77;
    now.dropped = 1;
    std::size_t columns = 0;
    CHECK(app::format_status(now, before, 2.0, 200, columns) ==
          "conns 2 open/5 total | \xe2\x86\x92 20 fr/s 2.0 KiB/s | \xe2\x86\x90 5 fr/s 1.5 MiB/s "
          "| records 77 written, 1 dropped");
    CHECK(columns == 95);
    const std::string cut = app::format_status(now, before, 2.0, 30, columns);
    CHECK(columns == 29);
    CHECK(columns_of(cut) == 29);
}

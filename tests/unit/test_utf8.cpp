#include "wssniff/decoder/utf8.hpp"

#include <catch2/catch.hpp>

#include <string>

using wssniff::bytes_view;
using wssniff::decoder::is_valid_utf8;
using wssniff::decoder::utf8_boundary;
using wssniff::decoder::utf8_validator;

namespace {

// Position of the first bad byte when `s` is fed in pieces of `chunk`, or npos.
std::size_t first_bad(const std::string& s, std::size_t chunk) {
    utf8_validator v;
    for (std::size_t at = 0; at < s.size(); at += chunk) {
        const std::size_t n = std::min(chunk, s.size() - at);
        const std::size_t bad = v.feed(bytes_view{s}.subview(at, n));
        if (bad != utf8_validator::npos) {
            return at + bad;
        }
    }
    return utf8_validator::npos;
}

} // namespace

TEST_CASE("utf8: valid text at every split", "[utf8]") {
    const std::string text = "ascii é ✓ 𝄞 \xEF\xBF\xBF end"; // U+FFFF is a valid noncharacter
    REQUIRE(is_valid_utf8(bytes_view{text}));
    for (std::size_t chunk = 1; chunk <= text.size(); ++chunk) {
        INFO("chunk " << chunk);
        utf8_validator v;
        REQUIRE(first_bad(text, chunk) == utf8_validator::npos);
    }
}

TEST_CASE("utf8: the first bad byte is reported wherever the split falls", "[utf8]") {
    struct bad_case {
        const char* name;
        std::string bytes;
        std::size_t bad_at;
    };
    const bad_case cases[] = {
        {"stray continuation", "ab\x80", 2},
        {"overlong two-byte", "\xC0\xAF", 0},
        {"overlong three-byte", "x\xE0\x80\xAF", 2},
        {"surrogate U+D800", "\xED\xA0\x80", 1},
        {"beyond U+10FFFF", "\xF4\x90\x80\x80", 1},
        {"F5 lead", "\xF5\x80\x80\x80", 0},
        {"FE", "ok\xFE", 2},
        {"FF", "\xFF", 0},
        {"truncated then ASCII",
         "\xE2\x9C"
         "a",
         2},
        {"overlong four-byte", "\xF0\x8F\xBF\xBF", 1},
    };
    for (const auto& c : cases) {
        for (std::size_t chunk = 1; chunk <= c.bytes.size(); ++chunk) {
            INFO(c.name << ", chunk " << chunk);
            REQUIRE(first_bad(c.bytes, chunk) == c.bad_at);
        }
        REQUIRE_FALSE(is_valid_utf8(bytes_view{c.bytes}));
    }
}

TEST_CASE("utf8: a message may not end inside a code point", "[utf8]") {
    utf8_validator v;
    const std::string part = "\xE2\x9C"; // first two bytes of U+2713
    REQUIRE(v.feed(bytes_view{part}) == utf8_validator::npos);
    REQUIRE_FALSE(v.complete());
    const std::string rest = "\x93";
    REQUIRE(v.feed(bytes_view{rest}) == utf8_validator::npos);
    REQUIRE(v.complete());
}

TEST_CASE("utf8: a failed validator stays failed", "[utf8]") {
    utf8_validator v;
    const std::string bad = "\xFF";
    const std::string good = "fine";
    REQUIRE(v.feed(bytes_view{bad}) == 0);
    REQUIRE(v.feed(bytes_view{good}) == 0);
    REQUIRE(v.failed());
    v.reset();
    REQUIRE(v.feed(bytes_view{good}) == utf8_validator::npos);
}

TEST_CASE("utf8: cutting text to a limit keeps whole characters", "[utf8]") {
    const std::string text = "a\xE2\x9C\x93"
                             "b"; // a ✓ b
    REQUIRE(utf8_boundary(bytes_view{text}, 10) == 5);
    REQUIRE(utf8_boundary(bytes_view{text}, 4) == 4);
    REQUIRE(utf8_boundary(bytes_view{text}, 3) == 1);
    REQUIRE(utf8_boundary(bytes_view{text}, 2) == 1);
    REQUIRE(utf8_boundary(bytes_view{text}, 1) == 1);
}

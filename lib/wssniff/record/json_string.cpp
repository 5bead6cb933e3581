// JSON string escaping for the NDJSON writer: the eight-bytes-at-a-time scan for bytes that need
// attention, the escapes JSON requires, and the repair of invalid UTF-8 (each bad byte becomes
// U+FFFD), judged with the UTF-8 lead-byte table the decoder uses too.

#include "wssniff/record/json_string.hpp"

#include "wssniff/base/utf8_lead.hpp"
#include "wssniff/record/digits.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace wssniff::record {

namespace detail {

namespace {

// Bytes that can be copied into a JSON string as they are: printable ASCII but '"' and '\',
// and, when the text is known to be valid UTF-8, every byte of a multi-byte character.
struct plain_table {
    bool plain[256] = {};
    constexpr explicit plain_table(bool high_bytes_plain) {
        for (int c = 0x20; c < 0x100; ++c) {
            plain[c] = c != '"' && c != '\\' && (c < 0x80 || high_bytes_plain);
        }
    }
};
constexpr plain_table plain_ascii{false};
constexpr plain_table plain_utf8{true};

// Length of the valid UTF-8 sequence starting at p (lead byte >= 0x80), or 0 if invalid. One
// case per length, so that each checks a fixed number of bytes (a loop over the table's length
// made invalid-text escaping ~10% slower).
std::size_t utf8_sequence(const unsigned char* p, const unsigned char* end) noexcept {
    const utf8_lead& lead = utf8_lead_of(p[0]);
    const auto available = static_cast<std::size_t>(end - p);
    const auto continues = [](unsigned char b) { return b >= 0x80 && b <= 0xBF; };
    const bool second_ok = available >= 2 && p[1] >= lead.lower && p[1] <= lead.upper;
    switch (lead.length) {
    case 2: return second_ok ? 2 : 0;
    case 3: return second_ok && available >= 3 && continues(p[2]) ? 3 : 0;
    case 4:
        return second_ok && available >= 4 && continues(p[2]) && continues(p[3]) ? 4 : 0;
    default: return 0;
    }
}

} // namespace

// Runs that need nothing move eight bytes at a time.
template <bool Valid>
char* escape_json(char* o, const unsigned char*& p, const unsigned char* end,
                  const unsigned char* all_end) noexcept {
    const plain_table& table = Valid ? plain_utf8 : plain_ascii;
    while (p < end) {
        while (end - p >= 8) {
            std::uint64_t w;
            std::memcpy(&w, p, sizeof w);
            constexpr std::uint64_t ones = 0x0101010101010101ULL;
            constexpr std::uint64_t highs = 0x8080808080808080ULL;
            const std::uint64_t quote = w ^ (ones * '"');
            const std::uint64_t backslash = w ^ (ones * '\\');
            std::uint64_t attention = ((w - ones * 0x20) & ~w) |         // < 0x20
                                      ((quote - ones) & ~quote) |        // == '"'
                                      ((backslash - ones) & ~backslash); // == '\\'
            if (!Valid) {
                attention |= w; // >= 0x80
            }
            attention &= highs;
            std::memcpy(o, p, 8); // room for 48 bytes here; only the plain prefix counts
            if (attention != 0) {
                // The lowest flag is exact (a borrow only runs upwards from a real match):
                // skip the plain bytes before it at once, not one at a time.
                const auto plain = static_cast<std::size_t>(__builtin_ctzll(attention)) / 8;
                o += plain;
                p += plain;
                break;
            }
            o += 8;
            p += 8;
        }
        if (p >= end) {
            break;
        }
        const unsigned char b = *p;
        if (table.plain[b]) {
            *o++ = static_cast<char>(b);
            ++p;
            continue;
        }
        if (!Valid && b >= 0x80) {
            const std::size_t seq = utf8_sequence(p, all_end);
            if (seq == 0) {
                std::memcpy(o, "\xEF\xBF\xBD", 3); // U+FFFD REPLACEMENT CHARACTER
                o += 3;
                ++p;
            } else {
                std::memcpy(o, p, seq);
                o += seq;
                p += seq;
            }
            continue;
        }
        *o++ = '\\';
        switch (b) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex_digits[b >> 4];
            *o++ = hex_digits[b & 0xF];
        }
        ++p;
    }
    return o;
}

template char* escape_json<true>(char*, const unsigned char*&, const unsigned char*,
                                 const unsigned char*) noexcept;
template char* escape_json<false>(char*, const unsigned char*&, const unsigned char*,
                                  const unsigned char*) noexcept;

} // namespace detail

namespace {

template <bool Valid> void escape_into(std::string& out, std::string_view bytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const auto* const all_end = p + bytes.size();
    while (p < all_end) {
        const auto* const end = p + std::min<std::size_t>(detail::block_size,
                                                          static_cast<std::size_t>(all_end - p));
        const std::size_t at = out.size();
        out.resize(at + static_cast<std::size_t>(end - p) * 6);
        char* const first = &out[at];
        char* const last = detail::escape_json<Valid>(first, p, end, all_end);
        out.resize(at + static_cast<std::size_t>(last - first));
    }
}

} // namespace

void append_json_string_contents(std::string& out, std::string_view bytes) {
    escape_into<false>(out, bytes);
}

void append_valid_json_string_contents(std::string& out, std::string_view utf8) {
    escape_into<true>(out, utf8);
}

} // namespace wssniff::record

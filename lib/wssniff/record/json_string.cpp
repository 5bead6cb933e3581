// JSON string escaping for the NDJSON writer: the eight-bytes-at-a-time scan for bytes that need
// attention, the escapes JSON requires, and the repair of invalid UTF-8 (each bad byte becomes
// U+FFFD), judged with the UTF-8 lead-byte table the decoder uses too.

#include "wssniff/record/json_string.hpp"

#include "wssniff/base/utf8_lead.hpp"
#include "wssniff/record/digits.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// What JSON makes of each byte that must be escaped: the short forms where JSON has one, \u00XX
// for the other control characters. Six bytes are always copied; `length` of them count.
struct escape_table {
    char text[0x80][6] = {};
    std::uint8_t length[0x80] = {};
    constexpr escape_table() {
        for (int c = 0; c < 0x20; ++c) {
            const char form[6] = {'\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 0xF]};
            for (int i = 0; i < 6; ++i) {
                text[c][i] = form[i];
            }
            length[c] = 6;
        }
        const auto short_form = [this](unsigned char c, char letter) {
            text[c][0] = '\\';
            text[c][1] = letter;
            length[c] = 2;
        };
        short_form('"', '"');
        short_form('\\', '\\');
        short_form('\n', 'n');
        short_form('\r', 'r');
        short_form('\t', 't');
        short_form('\b', 'b');
        short_form('\f', 'f');
    }
};
constexpr escape_table escapes;

#if defined(__SSE2__)
// Sixteen bytes at a time, for as long as at least 32 remain: every byte is stored as it is, and
// those that need attention (a control character, '"' or '\\', and unless the text is known
// valid a byte >= 0x80) are escaped in place, the plain bytes between them copied from the same
// sixteen. Chat-like JSON has a quote every few bytes, so leaving the block at each (as the
// eight-byte loop below does) cost more than the escaping. A byte >= 0x80 in text not known valid
// ends the run: the byte-wise path judges its sequence. The 32 bytes left ahead keep every store
// inside the room the caller reserved (six bytes per input byte).
template <bool Valid>
char* escape_blocks(char* o, const unsigned char*& p, const unsigned char* end) noexcept {
    const __m128i below_space = _mm_set1_epi8(0x1F);
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    while (end - p >= 32) {
        const __m128i in = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(in, below_space), below_space);
        __m128i flagged = _mm_or_si128(
            control, _mm_or_si128(_mm_cmpeq_epi8(in, quote), _mm_cmpeq_epi8(in, backslash)));
        if (!Valid) {
            flagged = _mm_or_si128(flagged, in); // the high bit: >= 0x80
        }
        unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(flagged));
        if (mask == 0) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(o), in);
            o += 16;
            p += 16;
            continue;
        }
        unsigned taken = 0; // bytes of this block written out
        while (mask != 0) {
            const auto at = static_cast<unsigned>(__builtin_ctz(mask));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(o),
                             _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + taken)));
            o += at - taken;
            const unsigned char b = p[at];
            if (!Valid && b >= 0x80) {
                p += at;
                return o;
            }
            std::memcpy(o, escapes.text[b], 6);
            o += escapes.length[b];
            taken = at + 1;
            mask &= mask - 1;
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o),
                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + taken)));
        o += 16 - taken;
        p += 16;
    }
    return o;
}
#endif

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
    case 4: return second_ok && available >= 4 && continues(p[2]) && continues(p[3]) ? 4 : 0;
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
#if defined(__SSE2__)
        o = escape_blocks<Valid>(o, p, end);
#endif
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
        std::memcpy(o, escapes.text[b], 6);
        o += escapes.length[b];
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
        const auto* const end =
            p + std::min<std::size_t>(detail::block_size, static_cast<std::size_t>(all_end - p));
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

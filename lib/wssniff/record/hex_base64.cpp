// Hex and base64 encoding of payload bytes for the NDJSON writer. Hex is most of the cost of a
// binary frame's record, so it goes sixteen bytes at a time with SSE2 where the target has it
// (every x86-64 does) and one two-byte table copy per byte elsewhere.

#include "wssniff/record/hex_base64.hpp"

#include "wssniff/record/digits.hpp"

#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace wssniff::record::detail {

namespace {

// Both hex digits of every byte value, so a byte costs one two-byte copy.
struct hex_pair_table {
    char text[512] = {};
    constexpr hex_pair_table() {
        for (int b = 0; b < 256; ++b) {
            text[b * 2] = hex_digits[b >> 4];
            text[b * 2 + 1] = hex_digits[b & 0xF];
        }
    }
};
constexpr hex_pair_table hex_pairs;

constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

} // namespace

// SSE2: split into nibbles, '0' + n, 39 more for a-f, then interleave the high and low digits.
char* put_hex(char* o, const unsigned char* p, const unsigned char* end) noexcept {
#if defined(__SSE2__)
    const __m128i low_nibbles = _mm_set1_epi8(0x0F);
    const __m128i nine = _mm_set1_epi8(9);
    const __m128i zero_char = _mm_set1_epi8('0');
    const __m128i to_letter = _mm_set1_epi8('a' - '0' - 10);
    const auto digits = [&](__m128i n) {
        const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(n, nine), to_letter);
        return _mm_add_epi8(_mm_add_epi8(n, zero_char), letter);
    };
    for (; end - p >= 16; p += 16, o += 32) {
        const __m128i in = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i high = digits(_mm_and_si128(_mm_srli_epi16(in, 4), low_nibbles));
        const __m128i low = digits(_mm_and_si128(in, low_nibbles));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm_unpacklo_epi8(high, low));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 16), _mm_unpackhi_epi8(high, low));
    }
#endif
    for (; p < end; ++p, o += 2) {
        std::memcpy(o, &hex_pairs.text[*p * 2], 2);
    }
    return o;
}

char* put_base64_groups(char* o, const unsigned char* p, std::size_t groups) noexcept {
    for (std::size_t g = 0; g < groups; ++g, p += 3, o += 4) {
        const std::uint32_t v = (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
        o[0] = base64_alphabet[v >> 18];
        o[1] = base64_alphabet[(v >> 12) & 63];
        o[2] = base64_alphabet[(v >> 6) & 63];
        o[3] = base64_alphabet[v & 63];
    }
    return o;
}

char* put_base64_tail(char* o, const unsigned char* p, std::size_t n) noexcept {
    const std::uint32_t v = (std::uint32_t{p[0]} << 16) | (n == 2 ? std::uint32_t{p[1]} << 8 : 0);
    o[0] = base64_alphabet[v >> 18];
    o[1] = base64_alphabet[(v >> 12) & 63];
    o[2] = n == 2 ? base64_alphabet[(v >> 6) & 63] : '=';
    o[3] = '=';
    return o + 4;
}

} // namespace wssniff::record::detail

#pragma once
// What a byte means as the first byte of a UTF-8 character (RFC 3629 §4): how long the
// character is, and the range its second byte must fall in so that the character is neither
// overlong, a UTF-16 surrogate, nor beyond U+10FFFF. The bytes after the second are always
// 80..BF. One table for everything in wssniff that reads UTF-8: the decoder's incremental
// validator and the record writer's repair of invalid text both consult it.

#include <cstdint>

namespace wssniff {

struct utf8_lead {
    std::uint8_t length = 0;   // bytes in the character; 0: cannot start one (80..C1, F5..FF)
    std::uint8_t lower = 0x80; // bounds of the second byte
    std::uint8_t upper = 0xBF;
};

struct utf8_lead_table {
    utf8_lead entry[256] = {};

    constexpr utf8_lead_table() {
        for (int b = 0; b < 0x80; ++b) {
            entry[b].length = 1;
        }
        for (int b = 0xC2; b <= 0xDF; ++b) {
            entry[b].length = 2;
        }
        for (int b = 0xE0; b <= 0xEF; ++b) {
            entry[b].length = 3;
        }
        entry[0xE0].lower = 0xA0; // overlong below U+0800
        entry[0xED].upper = 0x9F; // UTF-16 surrogates U+D800..U+DFFF
        for (int b = 0xF0; b <= 0xF4; ++b) {
            entry[b].length = 4;
        }
        entry[0xF0].lower = 0x90; // overlong below U+10000
        entry[0xF4].upper = 0x8F; // beyond U+10FFFF
    }
};

inline constexpr utf8_lead_table utf8_leads{};

constexpr const utf8_lead& utf8_lead_of(std::uint8_t b) noexcept {
    return utf8_leads.entry[b];
}

} // namespace wssniff

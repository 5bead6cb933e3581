#include "wssniff/decoder/utf8.hpp"

#include "wssniff/base/utf8_lead.hpp"

#include <algorithm>
#include <cstring>

namespace wssniff::decoder {

std::size_t utf8_validator::feed(bytes_view in) noexcept {
    if (failed_) {
        return in.empty() ? npos : 0;
    }
    const std::uint8_t* const first = in.data();
    const std::uint8_t* p = first;
    const std::uint8_t* const last = first + in.size();
    while (p != last) {
        if (need_ == 0) {
            // Text is mostly ASCII: skip eight bytes at a time while no high bit is set.
            while (last - p >= 8) {
                std::uint64_t word;
                std::memcpy(&word, p, sizeof word);
                if ((word & 0x8080808080808080ULL) != 0) {
                    break;
                }
                p += 8;
            }
            if (p == last) {
                break;
            }
            const std::uint8_t b = *p;
            if (b < 0x80) {
                ++p;
                continue;
            }
            const utf8_lead& lead = utf8_lead_of(b);
            if (lead.length == 0) {
                failed_ = true; // C0, C1, F5..FF and stray continuation bytes
                return static_cast<std::size_t>(p - first);
            }
            need_ = static_cast<std::uint8_t>(lead.length - 1);
            lower_ = lead.lower; // tighter after E0 ED F0 F4
            upper_ = lead.upper;
            ++p;
            continue;
        }
        const std::uint8_t b = *p;
        if (b < lower_ || b > upper_) {
            failed_ = true;
            return static_cast<std::size_t>(p - first);
        }
        lower_ = 0x80;
        upper_ = 0xBF;
        --need_;
        ++p;
    }
    return npos;
}

bool is_valid_utf8(bytes_view in) noexcept {
    utf8_validator v;
    return v.feed(in) == utf8_validator::npos && v.complete();
}

std::size_t utf8_boundary(bytes_view text, std::size_t max) noexcept {
    const std::size_t n = std::min(text.size(), max);
    // Find the lead byte of the last character (at most three continuation bytes back) and
    // keep it only if all of its bytes fit.
    std::size_t lead = n;
    while (lead > 0 && n - lead < 4) {
        --lead;
        if ((text[lead] & 0xC0) != 0x80) {
            break;
        }
    }
    if (lead == n) {
        return n; // empty
    }
    const std::uint8_t b = text[lead];
    const std::size_t length = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
    return lead + length <= n ? n : lead;
}

} // namespace wssniff::decoder

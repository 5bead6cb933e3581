#pragma once
// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF).
// A text message may be split across frames and chunks anywhere, even inside a code point, so
// the validator carries the partial sequence from one feed to the next.

#include "wssniff/base/bytes.hpp"

#include <cstddef>
#include <cstdint>

namespace wssniff::decoder {

class utf8_validator {
  public:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    // Index in `in` of the first byte that cannot continue valid UTF-8, or npos. After a
    // failure the validator stays failed until reset().
    std::size_t feed(bytes_view in) noexcept;

    // True when no code point is left unfinished (a message may end here).
    bool complete() const noexcept { return need_ == 0 && !failed_; }
    bool failed() const noexcept { return failed_; }
    void reset() noexcept { *this = utf8_validator{}; }

  private:
    std::uint8_t need_ = 0;     // continuation bytes still expected
    std::uint8_t lower_ = 0x80; // bounds of the next continuation byte (tighter after E0 ED F0 F4)
    std::uint8_t upper_ = 0xBF;
    bool failed_ = false;
};

// Whole-buffer check: valid and complete.
bool is_valid_utf8(bytes_view in) noexcept;

// The longest length n <= max at which `text`, a prefix of valid UTF-8, ends on a character
// boundary; used to cut a text payload to --max-payload without splitting a character.
std::size_t utf8_boundary(bytes_view text, std::size_t max) noexcept;

} // namespace wssniff::decoder

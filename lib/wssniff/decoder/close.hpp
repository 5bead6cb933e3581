#pragma once
// RFC 6455 §7.4 close codes.

#include <cstdint>

namespace wssniff::decoder {

// Whether an endpoint may put `code` in a close frame. 0-999 and 1016-2999 are not used, 1004 is
// reserved, and 1005, 1006 and 1015 are for reporting only: §7.4.1 says they MUST NOT be set in
// a close frame. 3000-4999 belong to libraries and applications; 5000 and up do not exist.
constexpr bool is_valid_close_code(std::uint16_t code) noexcept {
    if (code >= 3000 && code <= 4999) {
        return true;
    }
    if (code >= 1000 && code <= 1014) {
        return code != 1004 && code != 1005 && code != 1006;
    }
    return false;
}

} // namespace wssniff::decoder

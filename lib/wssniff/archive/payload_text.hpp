#pragma once
// The payload fields back to bytes: `hex` (lowercase, as written; uppercase accepted) and
// `base64` (standard alphabet, padded). The inverse of record/hex_base64.

#include <optional>
#include <string>
#include <string_view>

namespace wssniff::archive {

// nullopt when `text` is not hex digits in pairs.
std::optional<std::string> decode_hex(std::string_view text);

// nullopt when `text` is not padded standard base64.
std::optional<std::string> decode_base64(std::string_view text);

} // namespace wssniff::archive

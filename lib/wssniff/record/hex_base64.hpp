#pragma once
// Binary payloads as text for the NDJSON writer: lowercase hex (the `hex` field, and masks) and
// standard base64 with padding (the `base64` field). Both write through a raw pointer into room
// the caller has already made, so the writer can encode a payload block by block.

#include <cstddef>

namespace wssniff::record::detail {

// Two hex digits per byte of [p, end) at `o`; returns the end of what was written.
char* put_hex(char* o, const unsigned char* p, const unsigned char* end) noexcept;

// Four base64 characters for each of `groups` three-byte groups at `p`; returns the end.
char* put_base64_groups(char* o, const unsigned char* p, std::size_t groups) noexcept;

// The last one or two bytes (`n`) of a payload, padded with '=' to four characters.
char* put_base64_tail(char* o, const unsigned char* p, std::size_t n) noexcept;

} // namespace wssniff::record::detail

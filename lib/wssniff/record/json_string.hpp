#pragma once
// JSON string contents from bytes: the escaping every string field of a record goes through
// (payload text, header names and values, close reasons, error messages). Bytes that are not
// valid UTF-8 become U+FFFD, so a record is valid UTF-8 whatever came off the wire; text the
// session already validated skips that check.

#include <cstddef>
#include <string>
#include <string_view>

namespace wssniff::record {

// JSON string contents for arbitrary bytes: escapes what JSON requires and replaces each byte
// that is not part of valid UTF-8 with U+FFFD, so the output is valid UTF-8 whatever came in.
void append_json_string_contents(std::string& out, std::string_view bytes);
// The same for bytes known to be valid UTF-8: only escaping, no checks.
void append_valid_json_string_contents(std::string& out, std::string_view utf8);

namespace detail {

// Escapes [p, end) into `o`, which has room for six bytes per input byte (\u00XX at worst);
// returns the end of what was written and moves `p` past what was consumed. A multi-byte
// character that starts before `end` is judged against `all_end` and taken whole, so `p` may end
// up to three bytes beyond `end` (its output still fits: at most four bytes for the one byte the
// room was counted for). `Valid`: the bytes are known to be valid UTF-8.
template <bool Valid>
char* escape_json(char* o, const unsigned char*& p, const unsigned char* end,
                  const unsigned char* all_end) noexcept;

extern template char* escape_json<true>(char*, const unsigned char*&, const unsigned char*,
                                        const unsigned char*) noexcept;
extern template char* escape_json<false>(char*, const unsigned char*&, const unsigned char*,
                                         const unsigned char*) noexcept;

// Payloads are encoded in blocks, so the room reserved ahead (six bytes per byte for text) stays
// small however large the payload.
inline constexpr std::size_t block_size = 16 * 1024;

} // namespace detail

} // namespace wssniff::record

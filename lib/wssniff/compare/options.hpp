#pragma once
// What a comparison of two archives looks at and what it leaves out (README "wssniff diff"):
// plain values, filled from the command line by the app and from a mask file (mask.hpp).

#include "wssniff/base/bytes.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wssniff::compare {

// messages: data messages (from `message` records, or rebuilt from data frames) and close
// frames. frames: every frame record with its header fields.
enum class unit : std::uint8_t { messages, frames };

// strict: server messages in order. epoch: the server messages between two client messages
// form a multiset (push order is often not deterministic).
enum class order : std::uint8_t { strict, epoch };

// The fields `--ignore` names, one bit each. Everything the issue lists as ignored by default
// (ts, conn, seq, offset, mask, addresses, tls, bytes_*, header values) is never compared.
enum class field : std::uint32_t {
    status = 1U << 0,       // handshake `status`
    subprotocol = 1U << 1,  // handshake `subprotocol`
    deflate = 1U << 2,      // handshake `deflate` (negotiated parameters)
    op = 1U << 3,           // `op` of a message or frame (and `opcode`)
    payload = 1U << 4,      // the payload bytes (`text`, `hex`, `base64`)
    close_code = 1U << 5,   // a close frame's `close_code`
    close_reason = 1U << 6, // a close frame's `close_reason`
    error = 1U << 7,        // `error` records' codes
    close = 1U << 8,        // the `close` record's `reason` (how the connection ended)
    fin = 1U << 9,          // frames: `fin`
    rsv = 1U << 10,         // frames: `rsv1` `rsv2` `rsv3`
    len = 1U << 11,         // frames: `len` (wire length)
    masked = 1U << 12,      // frames: `masked`
    control = 1U << 13,     // frames: ping and pong frames are left out altogether
};

using field_set = std::uint32_t;

constexpr bool has(field_set set, field f) noexcept {
    return (set & static_cast<std::uint32_t>(f)) != 0;
}

// The name `--ignore` takes for each field: "status", "subprotocol", "deflate", "op",
// "payload", "close_code", "close_reason", "error", "close.reason", "fin", "rsv", "len",
// "masked", "control". nullopt for any other.
std::optional<field> field_named(std::string_view name) noexcept;

// Every name field_named() knows, comma-separated (for help and error messages).
std::string field_names();

// JSON value types as a mask entry names them.
enum class json_type : std::uint8_t { null, boolean, number, string, array, object };

std::string_view to_string(json_type t) noexcept;
std::optional<json_type> json_type_named(std::string_view name) noexcept;

// A JSON pointer (RFC 6901) whose values are not compared; a reference token "*" matches any
// object member or array element at that depth ("/items/*/id").
struct json_ignore {
    std::string pointer;               // as written
    std::vector<std::string> segments; // reference tokens, ~0 and ~1 unescaped
    // Learned entries: the value is ignored only when it has this type on both sides, so a
    // type change is still a difference. Without a type, values and presence are ignored.
    std::optional<json_type> type;
    std::optional<direction> dir; // only payloads of this direction; nullopt: both
};

// "/items/*/id" -> its segments. Throws std::invalid_argument when `pointer` is neither empty
// nor starts with '/', or has a '~' not followed by 0 or 1.
json_ignore parse_json_ignore(std::string_view pointer);

// `--normalize 'REGEX=>REPLACEMENT'`: every match of REGEX (RE2 syntax) in a text payload is
// replaced (\1..\9 name groups) before anything is compared.
struct normalize_rule {
    std::string pattern;
    std::string replacement;
};

// Splits at the first "=>" and checks that the pattern compiles and the replacement's groups
// exist. Throws std::invalid_argument saying what is wrong.
normalize_rule parse_normalize(std::string_view rule);

struct options {
    compare::unit unit = unit::messages;
    compare::order order = order::strict;
    field_set ignore = 0;
    std::vector<json_ignore> ignore_json; // --ignore-json and mask entries
    std::vector<normalize_rule> normalize;
    std::size_t max_diffs = 0; // stop after this many differences; 0: no limit
};

} // namespace wssniff::compare

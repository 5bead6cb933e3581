#pragma once
// One difference between two archives, as plain values: the app prints them as text, NDJSON or
// JUnit (README "wssniff diff" documents the NDJSON fields, which are these).

#include "wssniff/base/bytes.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wssniff::compare {

// What the difference is about.
enum class part : std::uint8_t {
    connection, // a connection only one archive has
    handshake,  // status, subprotocol, deflate, or a handshake only one side has
    message,    // an item of a direction's message sequence (data message or close frame)
    frame,      // an item of a direction's frame sequence (--unit frames)
    error,      // an error code of one direction (or of none)
    close,      // the close record's reason
};

// changed: both sides have it, with other values. removed: only A (expected) has it.
// added: only B (actual) has it.
enum class change : std::uint8_t { changed, removed, added };

std::string_view to_string(part p) noexcept;
std::string_view to_string(change c) noexcept;

struct difference {
    std::size_t connection = 0;          // the connection pair, from 1 (connections pair in order)
    std::optional<std::uint64_t> conn_a; // the `conn` numbers in each archive
    std::optional<std::uint64_t> conn_b;
    compare::part part = part::message;
    compare::change change = change::changed;
    std::optional<direction> dir;
    // Position of the item in its direction's sequence, from 0, in A and in B.
    std::optional<std::uint64_t> index_a;
    std::optional<std::uint64_t> index_b;
    // The field that differs ("status", "op", "payload", "close_code", "code", "reason", ...);
    // empty when a whole item was removed or added.
    std::string field;
    // RFC 6901 pointer into the payload when both payloads are JSON.
    std::optional<std::string> pointer;
    // The values as JSON text; absent on the side that does not have it.
    std::optional<std::string> a;
    std::optional<std::string> b;
    // Archive line of the record, in A and in B (0: none).
    std::uint64_t line_a = 0;
    std::uint64_t line_b = 0;
};

struct result {
    std::vector<difference> differences; // by connection, then handshake, c2s, s2c, errors, close
    std::size_t connections = 0;         // connection pairs compared (the larger count)
    bool stopped = false;                // options::max_diffs reached: the comparison stopped there
};

} // namespace wssniff::compare

#pragma once
// The terminal view of the records: one line per record for a person watching (tshark's one
// summary line per packet), where NDJSON is for jq. Everything a peer sent — payloads, close
// reasons, targets, subprotocols, error messages — is attacker-controlled: it is written with
// control characters, C1 controls and invisible or bidi-reordering characters made visible
// (`\e`, `\x07`, `\u{202e}`), so a payload can neither move the cursor, recolour, retitle nor
// rewrite the terminal. Lines are cut to the terminal's width, counted in columns (wide CJK
// characters take two), never inside a UTF-8 sequence.

#include "wssniff/record/record.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wssniff::app {

struct pretty_style {
    bool color = false;     // ANSI SGR colours
    std::size_t width = 80; // terminal columns a line may take
};

// One record as one line, without the newline; at most style.width columns.
std::string format_pretty(const record::record& r, const pretty_style& style);

// Bytes as they are shown, cut to at most `columns` terminal columns (an ellipsis `…` ends a
// cut). `as_text`: UTF-8 text with control, invisible and invalid bytes made visible; else hex
// pairs separated by spaces. Returns the columns the result takes in `used`.
std::string preview(std::string_view bytes, bool as_text, std::size_t columns, std::size_t& used);

// Columns a code point takes on a terminal: 2 for East Asian wide and fullwidth characters and
// the emoji blocks, else 1 (the characters that would take 0 are never written raw).
int code_point_columns(std::uint32_t cp) noexcept;

} // namespace wssniff::app

#pragma once
// `wssniff report --format mermaid`: one connection as a Mermaid sequenceDiagram to paste into a
// Markdown issue. Labels are escaped with Mermaid's entity codes (#60; for `<`), so payload
// bytes cannot end a statement, open HTML or inject directives.

#include "wssniff/report/model.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace wssniff::report {

// At most this many events (messages, control frames, errors) are drawn: GitHub renders larger
// diagrams, but past a screenful they stop being readable; the rest is counted in a note.
inline constexpr std::size_t mermaid_events = 50;
// Preview characters per label.
inline constexpr std::size_t mermaid_preview = 32;

// Text for a Mermaid label: letters, digits, spaces and harmless punctuation stay; everything
// else (`;`, `#`, `:`, `<`, `>`, `&`, quotes, `%`, line breaks, non-ASCII) becomes #NNN;.
std::string mermaid_escape(std::string_view text);

std::string render_mermaid(const connection_summary& c, std::size_t max_events = mermaid_events);

} // namespace wssniff::report

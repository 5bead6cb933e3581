#include "wssniff/report/mermaid.hpp"

#include "wssniff/base/opcode.hpp"

#include <cstdint>

namespace wssniff::report {

namespace {

// Decodes one UTF-8 sequence at `i` (advancing it); invalid bytes give U+FFFD.
std::uint32_t next_code_point(std::string_view s, std::size_t& i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (b0 < 0x80) {
        ++i;
        return b0;
    } else if ((b0 & 0xE0) == 0xC0) {
        n = 1;
        cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
        n = 2;
        cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
        n = 3;
        cp = b0 & 0x07;
    } else {
        ++i;
        return 0xFFFD;
    }
    if (i + n >= s.size()) {
        ++i;
        return 0xFFFD;
    }
    for (std::size_t k = 1; k <= n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) {
            ++i;
            return 0xFFFD;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    i += n + 1;
    return cp;
}

bool plain(std::uint32_t cp) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')) {
        return true;
    }
    switch (cp) {
    case ' ':
    case '.':
    case ',':
    case '_':
    case '-':
    case '+':
    case '/':
    case '=':
    case '(':
    case ')':
    case '[':
    case ']':
    case '*':
    case '!':
    case '?':
    case '@':
    case '\'': return true;
    default: return false;
    }
}

std::string preview_text(const event& e) {
    if (e.what == event::kind::error) {
        return e.error_code + " " + e.preview;
    }
    if (e.what == event::kind::data && e.opcode == opcode::text) {
        return e.preview;
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < e.preview.size() && i < mermaid_preview / 2; ++i) {
        const auto u = static_cast<unsigned char>(e.preview[i]);
        out += digits[u >> 4];
        out += digits[u & 15];
    }
    return out;
}

// At most `max` code points of `text`, and whether it was cut.
std::string cut(std::string_view text, std::size_t max, bool& was_cut) {
    std::size_t i = 0;
    std::size_t count = 0;
    while (i < text.size() && count < max) {
        next_code_point(text, i);
        ++count;
    }
    was_cut = i < text.size();
    return std::string(text.substr(0, i));
}

} // namespace

std::string mermaid_escape(std::string_view text) {
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        const std::uint32_t cp = next_code_point(text, i);
        if (plain(cp)) {
            out += static_cast<char>(cp);
        } else {
            out += '#';
            out += std::to_string(cp);
            out += ';';
        }
    }
    return out;
}

std::string render_mermaid(const connection_summary& c, std::size_t max_events) {
    std::string out = "sequenceDiagram\n";
    out += "    participant C as client\n";
    std::string server = "server";
    if (c.handshake) {
        server += " " + c.handshake->target;
    }
    out += "    participant S as " + mermaid_escape(server) + "\n";
    if (c.handshake) {
        out +=
            "    C->>S: " + mermaid_escape(c.handshake->method + " " + c.handshake->target) + "\n";
        out += "    S-->>C: " + std::to_string(c.handshake->status) +
               (c.handshake->subprotocol ? " " + mermaid_escape(*c.handshake->subprotocol) : "") +
               "\n";
    }
    std::size_t shown = 0;
    for (const event& e : c.events) {
        if (shown == max_events) {
            break;
        }
        ++shown;
        const bool from_client = e.dir == direction::c2s;
        if (e.what == event::kind::error) {
            out += std::string("    Note over ") + (e.has_dir ? (from_client ? "C" : "S") : "C,S") +
                   ": error " + mermaid_escape(preview_text(e)) + "\n";
            continue;
        }
        std::string label = std::string(op_name(e.opcode)) + " " + std::to_string(e.len) + " B";
        if (e.opcode == opcode::close && e.close_code) {
            label += " code " + std::to_string(*e.close_code);
            if (e.close_reason && !e.close_reason->empty()) {
                label += " " + *e.close_reason;
            }
        } else if (!e.preview.empty()) {
            bool was_cut = false;
            label += " " + cut(preview_text(e), mermaid_preview, was_cut);
            if (was_cut || e.truncated) {
                label += "...";
            }
        }
        out += std::string("    ") + (from_client ? "C->>S: " : "S->>C: ") + mermaid_escape(label) +
               "\n";
    }
    if (shown < c.events.size()) {
        out += "    Note over C,S: " + std::to_string(c.events.size() - shown) +
               " more event(s) not drawn\n";
    }
    return out;
}

} // namespace wssniff::report

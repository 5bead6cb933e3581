#include "pretty.hpp"

#include "wssniff/base/opcode.hpp"
#include "wssniff/base/utf8_lead.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <type_traits>
#include <variant>

namespace wssniff::app {

namespace {

struct range {
    std::uint32_t first;
    std::uint32_t last;
};

// East Asian Wide and Fullwidth (UAX #11) and the emoji a terminal draws two columns wide.
// Counting a character as wider than it is only leaves a line shorter; counting it narrower
// would let the line wrap, so the emoji blocks are taken whole.
constexpr range wide[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x23F0, 0x23F0},   {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},
    {0x2648, 0x2653},   {0x267F, 0x267F},   {0x2693, 0x2693},   {0x26A1, 0x26A1},
    {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},   {0x26CE, 0x26CE},
    {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
    {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},
    {0x2728, 0x2728},   {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},
    {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27B0, 0x27B0},   {0x27BF, 0x27BF},
    {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},   {0x2E80, 0x303E},
    {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
    {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x16FE0, 0x16FE4},
    {0x17000, 0x18CFF}, {0x1AFF0, 0x1B2FF}, {0x1F000, 0x1F02F}, {0x1F0A0, 0x1F0FF},
    {0x1F100, 0x1F1FF}, {0x1F200, 0x1F2FF}, {0x1F300, 0x1F64F}, {0x1F680, 0x1F6FF},
    {0x1F7E0, 0x1F7EB}, {0x1F900, 0x1F9FF}, {0x1FA70, 0x1FAFF}, {0x20000, 0x2FFFD},
    {0x30000, 0x3FFFD},
};

// Never written raw: C1 controls (U+009B is CSI to some terminals), the soft hyphen, combining
// marks (no column of their own), zero-width and bidirectional formatting characters (U+202E
// reverses what follows: a payload could make its own text read otherwise), line and paragraph
// separators, variation selectors, the BOM, interlinear annotations, tags.
constexpr range invisible[] = {
    {0x0080, 0x009F}, {0x00AD, 0x00AD},   {0x0300, 0x036F},   {0x0483, 0x0489}, {0x061C, 0x061C},
    {0x1AB0, 0x1AFF}, {0x180E, 0x180E},   {0x1DC0, 0x1DFF},   {0x200B, 0x200F}, {0x2028, 0x202E},
    {0x2060, 0x206F}, {0x20D0, 0x20FF},   {0xFE00, 0xFE0F},   {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF},
    {0xFFF9, 0xFFFB}, {0xE0000, 0xE007F}, {0xE0100, 0xE01EF},
};

template <std::size_t N> bool in(const range (&table)[N], std::uint32_t cp) noexcept {
    for (const range& r : table) {
        if (cp < r.first) {
            return false;
        }
        if (cp <= r.last) {
            return true;
        }
    }
    return false;
}

constexpr char hex_digits[] = "0123456789abcdef";

// The next piece of a preview: its bytes and the columns it takes.
struct piece {
    char text[16];
    std::size_t size = 0;
    std::size_t columns = 0;
    void put(std::string_view s) noexcept {
        for (const char c : s) {
            text[size++] = c;
        }
    }
};

// One character of text (or one invalid byte) from `p`; returns the bytes consumed.
std::size_t next_text_piece(const unsigned char* p, const unsigned char* end, piece& out) {
    const unsigned char b = *p;
    if (b < 0x80) {
        out.columns = 2;
        switch (b) {
        case '\\': out.put("\\\\"); return 1;
        case '\n': out.put("\\n"); return 1;
        case '\r': out.put("\\r"); return 1;
        case '\t': out.put("\\t"); return 1;
        case 0x1b: out.put("\\e"); return 1;
        default: break;
        }
        if (b >= 0x20 && b < 0x7f) {
            out.text[out.size++] = static_cast<char>(b);
            out.columns = 1;
            return 1;
        }
        out.put("\\x");
        out.text[out.size++] = hex_digits[b >> 4];
        out.text[out.size++] = hex_digits[b & 0xf];
        out.columns = 4;
        return 1;
    }
    const utf8_lead& lead = utf8_lead_of(b);
    const auto avail = static_cast<std::size_t>(end - p);
    bool valid =
        lead.length >= 2 && avail >= lead.length && p[1] >= lead.lower && p[1] <= lead.upper;
    for (std::size_t i = 2; valid && i < lead.length; ++i) {
        valid = (p[i] & 0xC0) == 0x80;
    }
    if (!valid) {
        out.put("\\x");
        out.text[out.size++] = hex_digits[b >> 4];
        out.text[out.size++] = hex_digits[b & 0xf];
        out.columns = 4;
        return 1;
    }
    std::uint32_t cp = b & (0xFF >> (lead.length + 1));
    for (std::size_t i = 1; i < lead.length; ++i) {
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (in(invisible, cp)) {
        const std::string shown = fmt::format("\\u{{{:x}}}", cp);
        out.put(shown);
        out.columns = shown.size();
        return lead.length;
    }
    for (std::size_t i = 0; i < lead.length; ++i) {
        out.text[out.size++] = static_cast<char>(p[i]);
    }
    out.columns = static_cast<std::size_t>(code_point_columns(cp));
    return lead.length;
}

// Builds a line field by field; a field that would pass the width is left out, with all after
// it, so the line never wraps whatever the terminal's size.
class line_builder {
  public:
    explicit line_builder(const pretty_style& style) : style_(style) {}

    std::size_t left() const noexcept {
        const std::size_t gap = columns_ == 0 ? 0 : 1;
        return columns_ + gap >= style_.width ? 0 : style_.width - columns_ - gap;
    }

    // `text` takes `columns` columns; `sgr` is its colour (empty: none).
    bool field(std::string_view text, std::size_t columns, std::string_view sgr = {}) {
        if (full_ || columns > left()) {
            full_ = true;
            return false;
        }
        if (columns_ != 0) {
            line_ += ' ';
            ++columns_;
        }
        if (style_.color && !sgr.empty()) {
            line_ += "\x1b[";
            line_ += sgr;
            line_ += 'm';
            line_ += text;
            line_ += "\x1b[0m";
        } else {
            line_ += text;
        }
        columns_ += columns;
        return true;
    }
    // ASCII only: one column per byte.
    bool ascii(std::string_view text, std::string_view sgr = {}) {
        return field(text, text.size(), sgr);
    }
    // Attacker-controlled text, made safe and cut to what is left (at most `most` columns).
    void untrusted(std::string_view text, bool as_text, std::string_view sgr = {},
                   std::size_t most = ~std::size_t{0}) {
        const std::size_t room = std::min(left(), most);
        if (full_ || room == 0) {
            return;
        }
        std::size_t used = 0;
        std::string shown = preview(text, as_text, room, used);
        if (used != 0) {
            field(shown, used, sgr);
        }
    }
    // Untrusted text after an ASCII label, as one field: `proto=chat`.
    void labelled(std::string_view label, std::string_view text, std::size_t most) {
        const std::size_t room = std::min(left(), most);
        if (full_ || room <= label.size()) {
            return;
        }
        std::size_t used = 0;
        std::string shown = std::string(label) + preview(text, true, room - label.size(), used);
        field(shown, used + label.size());
    }
    void quoted(std::string_view text, std::string_view sgr = {}) {
        const std::size_t room = left();
        if (full_ || room < 3) {
            return;
        }
        std::size_t used = 0;
        std::string shown = '"' + preview(text, true, room - 2, used) + '"';
        field(shown, used + 2, sgr);
    }

    std::string take() { return std::move(line_); }

  private:
    const pretty_style& style_;
    std::string line_;
    std::size_t columns_ = 0;
    bool full_ = false;
};

// 12:00:00.123 (UTC, as the records' ts): the date is the same all day long.
void time_of(line_builder& line, const record::record& r) {
    if (!r.ts) {
        return;
    }
    const auto since = r.ts->time_since_epoch();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm utc{};
    gmtime_r(&secs, &utc);
    line.ascii(
        fmt::format("{:02}:{:02}:{:02}.{:03}", utc.tm_hour, utc.tm_min, utc.tm_sec, ms % 1000),
        "2");
}

void arrow(line_builder& line, direction d) {
    // → and ← are one column each (three bytes of UTF-8).
    if (d == direction::c2s) {
        line.field("\xe2\x86\x92", 1, "36");
    } else {
        line.field("\xe2\x86\x90", 1, "35");
    }
}

std::string_view op_colour(std::uint8_t op) {
    if (op == opcode::text) {
        return "32";
    }
    if (op == opcode::binary) {
        return "33";
    }
    if (is_reserved(op)) {
        return "1;31";
    }
    return is_control(op) ? "34" : "";
}

void op_field(line_builder& line, std::uint8_t op) {
    std::string_view name = op_name(op);
    if (op == opcode::continuation) {
        name = "cont";
    }
    std::string text = fmt::format("{:<6}", name);
    if (is_reserved(op)) {
        text = fmt::format("op{:<4}", op);
    }
    line.ascii(text, op_colour(op));
}

void payload_field(line_builder& line, const record::payload& data) {
    if (data.encoding == record::payload_encoding::none) {
        return;
    }
    // As the NDJSON record would carry it: text when the payload field is `text` (auto mode:
    // valid UTF-8 text data; --payload text: any, invalid bytes shown as \xNN), else hex.
    const bool as_text = data.encoding == record::payload_encoding::text;
    line.untrusted(data.bytes, as_text);
}

void frame_line(line_builder& line, const record::frame& f) {
    arrow(line, f.dir);
    op_field(line, f.opcode);
    line.ascii(fmt::format("{:>6}", f.len));
    if (!f.fin) {
        line.ascii("fin=0", "33");
    }
    if (f.rsv1) {
        line.ascii("rsv1", "33");
    }
    if (f.rsv2) {
        line.ascii("rsv2", "33");
    }
    if (f.rsv3) {
        line.ascii("rsv3", "33");
    }
    if (f.compressed) {
        line.ascii("compressed", "33");
    }
    if (f.data.truncated) {
        line.ascii("truncated", "33");
    }
    if (f.close_code) {
        line.ascii(std::to_string(*f.close_code), "1;34");
        if (f.close_reason) {
            line.quoted(*f.close_reason);
        }
        return;
    }
    if (f.opcode == opcode::close) {
        return; // no code, or a one-byte payload the decoder reported as an error
    }
    payload_field(line, f.data);
}

void message_line(line_builder& line, const record::message& m) {
    arrow(line, m.dir);
    line.ascii("msg", "1");
    op_field(line, m.opcode);
    line.ascii(fmt::format("{:>6}", m.len));
    if (m.frames != 1) {
        line.ascii(fmt::format("{}fr", m.frames));
    }
    if (m.compressed) {
        line.ascii("compressed", "33");
    }
    if (m.data.truncated) {
        line.ascii("truncated", "33");
    }
    payload_field(line, m.data);
}

// `ts`: the record's, when the response head was complete.
void handshake_line(line_builder& line, const record::handshake& h,
                    const std::optional<record::timestamp>& ts) {
    const std::string_view colour = h.status == 101 ? "1;32" : "1;31";
    line.ascii(h.repeat ? "handshake (repeat)" : "handshake", colour);
    line.untrusted(h.method, true, "1", 16);
    line.ascii(std::to_string(h.status), colour);
    if (h.request_ts && ts && *ts >= *h.request_ts) {
        // The upgrade's latency, request head to response head.
        line.ascii(
            fmt::format("in {:.1f} ms",
                        std::chrono::duration<double, std::milli>(*ts - *h.request_ts).count()));
    }
    if (h.tls) {
        line.ascii("tls");
    }
    if (h.deflate) {
        line.ascii("deflate", "33");
    }
    if (h.subprotocol) {
        line.labelled("proto=", *h.subprotocol, 40);
    }
    line.untrusted(h.target, true);
}

void error_line(line_builder& line, const record::error& e) {
    line.ascii(e.fatal ? "ERROR(fatal)" : "ERROR", "1;31");
    line.ascii(to_string(e.code), "1;31");
    if (e.dir) {
        line.ascii(to_string(*e.dir));
    }
    if (e.offset) {
        line.ascii(fmt::format("@{}", *e.offset));
    }
    line.untrusted(e.message, true, "31");
}

void close_line(line_builder& line, const record::close& c) {
    line.ascii("closed", "1");
    line.ascii(to_string(c.reason), c.reason == record::close_reason::client_closed ||
                                            c.reason == record::close_reason::server_closed
                                        ? "1"
                                        : "1;33");
    line.ascii(fmt::format("c2s {}B/{}fr", c.bytes_c2s, c.frames_c2s), "2");
    line.ascii(fmt::format("s2c {}B/{}fr", c.bytes_s2c, c.frames_s2c), "2");
}

} // namespace

int code_point_columns(std::uint32_t cp) noexcept {
    return cp >= 0x1100 && in(wide, cp) ? 2 : 1;
}

std::string preview(std::string_view bytes, bool as_text, std::size_t columns, std::size_t& used) {
    std::string out;
    used = 0;
    // The longest prefix that leaves a column for the ellipsis, kept while looking whether the
    // whole text fits; the loop stops once it cannot, so a 64 MiB payload costs a line's work.
    std::size_t cut_size = 0;
    std::size_t cut_columns = 0;
    bool cut_known = false;
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const auto* const end = p + bytes.size();
    bool first = true;
    while (p < end) {
        piece next;
        if (as_text) {
            p += next_text_piece(p, end, next);
        } else {
            if (!first) {
                next.put(" ");
            }
            next.text[next.size++] = hex_digits[*p >> 4];
            next.text[next.size++] = hex_digits[*p & 0xf];
            next.columns = next.size;
            ++p;
        }
        first = false;
        if (!cut_known && used + next.columns + 1 > columns) {
            cut_size = out.size();
            cut_columns = used;
            cut_known = true;
        }
        if (used + next.columns > columns) {
            out.resize(cut_size);
            used = cut_columns;
            if (used + 1 <= columns) {
                out += "\xe2\x80\xa6"; // …
                ++used;
            }
            return out;
        }
        out.append(next.text, next.size);
        used += next.columns;
    }
    return out;
}

std::string format_pretty(const record::record& r, const pretty_style& style) {
    line_builder line(style);
    time_of(line, r);
    line.ascii(fmt::format("#{}", r.conn), "1");
    std::visit(
        [&line, &r](const auto& body) {
            using T = std::decay_t<decltype(body)>;
            if constexpr (std::is_same_v<T, record::frame>) {
                frame_line(line, body);
            } else if constexpr (std::is_same_v<T, record::message>) {
                message_line(line, body);
            } else if constexpr (std::is_same_v<T, record::handshake>) {
                handshake_line(line, body, r.ts);
            } else if constexpr (std::is_same_v<T, record::error>) {
                error_line(line, body);
            } else {
                close_line(line, body);
            }
        },
        r.body);
    return line.take();
}

} // namespace wssniff::app

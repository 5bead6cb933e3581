#include "diff_report.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace wssniff::app {

namespace {

// Text output keeps a long value readable: its first characters, cut on a UTF-8 boundary.
std::string shorten(const std::string& value, std::size_t limit = 160) {
    if (value.size() <= limit) {
        return value;
    }
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) {
        --cut;
    }
    return value.substr(0, cut) + "…";
}

std::string index_text(const compare::difference& d) {
    if (d.index_a && d.index_b && *d.index_a != *d.index_b) {
        return fmt::format("#{}/#{}", *d.index_a, *d.index_b);
    }
    if (d.index_a) {
        return fmt::format("#{}", *d.index_a);
    }
    if (d.index_b) {
        return fmt::format("#{}", *d.index_b);
    }
    return "";
}

std::string target_of(const std::vector<archive::connection>& archive, std::size_t pair) {
    if (pair == 0 || pair > archive.size()) {
        return "";
    }
    const auto* h = archive[pair - 1].handshake();
    return h != nullptr ? h->target : "";
}

} // namespace

// XML 1.0 text or attribute value: markup escaped, control characters XML cannot carry dropped.
// Line breaks and tabs stay as they are in element text; attribute values carry them as
// character references (an XML parser would turn them into spaces otherwise).
std::string xml_escape(const std::string& s, bool attribute) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        case '\n': out += attribute ? "&#10;" : "\n"; break;
        case '\t': out += attribute ? "&#9;" : "\t"; break;
        case '\r': out += "&#13;"; break;
        default:
            if (static_cast<unsigned char>(c) >= 0x20) {
                out += c;
            }
        }
    }
    return out;
}

std::string text_line(const compare::difference& d) {
    std::string line = fmt::format("conn {}", d.connection);
    const auto word = [&line](std::string_view w) {
        if (!w.empty()) {
            line += ' ';
            line += w;
        }
    };
    switch (d.part) {
    case compare::part::connection:
        word(d.change == compare::change::added ? "+ connection" : "- connection");
        word(shorten(d.a ? *d.a : d.b.value_or("")));
        return line;
    case compare::part::handshake: word("handshake"); break;
    case compare::part::error: word("error"); break;
    case compare::part::close: word("close"); break;
    case compare::part::message:
    case compare::part::frame: break;
    }
    if (d.dir) {
        word(to_string(*d.dir));
    } else if (d.part == compare::part::error) {
        word("-");
    }
    word(index_text(d));
    if (d.field.empty()) { // a whole item
        word(d.change == compare::change::added ? "+" : "-");
        word(shorten(d.a ? *d.a : d.b.value_or("")));
        return line;
    }
    word(d.pointer ? *d.pointer : d.field);
    line += ':';
    if (!d.a) {
        word("+");
        word(shorten(d.b.value_or("")));
    } else if (!d.b) {
        word("-");
        word(shorten(*d.a));
    } else {
        word(shorten(*d.a));
        word("→");
        word(shorten(*d.b));
    }
    return line;
}

void write_text(const compare::result& r, std::FILE* out) {
    for (const auto& d : r.differences) {
        fmt::print(out, "{}\n", text_line(d));
    }
}

void write_ndjson(const compare::result& r, std::FILE* out) {
    using nlohmann::ordered_json;
    for (const auto& d : r.differences) {
        ordered_json o;
        o["conn"] = d.connection;
        if (d.conn_a) {
            o["conn_a"] = *d.conn_a;
        }
        if (d.conn_b) {
            o["conn_b"] = *d.conn_b;
        }
        o["part"] = std::string(to_string(d.part));
        o["change"] = std::string(to_string(d.change));
        if (d.dir) {
            o["dir"] = std::string(to_string(*d.dir));
        }
        if (d.index_a) {
            o["index_a"] = *d.index_a;
        }
        if (d.index_b) {
            o["index_b"] = *d.index_b;
        }
        if (!d.field.empty()) {
            o["field"] = d.field;
        }
        if (d.pointer) {
            o["pointer"] = *d.pointer;
        }
        // The values are JSON text already (the compare unit wrote them).
        if (d.a) {
            o["a"] = ordered_json::parse(*d.a);
        }
        if (d.b) {
            o["b"] = ordered_json::parse(*d.b);
        }
        if (d.line_a != 0) {
            o["line_a"] = d.line_a;
        }
        if (d.line_b != 0) {
            o["line_b"] = d.line_b;
        }
        fmt::print(out, "{}\n", o.dump(-1, ' ', false, ordered_json::error_handler_t::replace));
    }
}

void write_junit(const compare::result& r, const std::vector<archive::connection>& expected,
                 const std::vector<archive::connection>& actual, const junit_names& names,
                 std::FILE* out) {
    // Pairs after the last one reached are skipped when --max-diffs stopped the comparison.
    const std::size_t reached =
        r.stopped && !r.differences.empty() ? r.differences.back().connection : r.connections;
    std::vector<std::vector<const compare::difference*>> by_pair(r.connections + 1);
    for (const auto& d : r.differences) {
        by_pair[d.connection].push_back(&d);
    }
    std::size_t failures = 0;
    for (std::size_t pair = 1; pair <= r.connections; ++pair) {
        failures += by_pair[pair].empty() ? 0U : 1U;
    }
    const std::size_t skipped = r.connections - std::min(reached, r.connections);
    const std::string suite = "wssniff diff " + names.expected + " " + names.actual;
    fmt::print(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fmt::print(out, "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\">\n",
               xml_escape(suite), r.connections, failures);
    fmt::print(out,
               "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" "
               "skipped=\"{}\" time=\"0\">\n",
               xml_escape(suite), r.connections, failures, skipped);
    fmt::print(out, "    <properties>\n");
    fmt::print(out, "      <property name=\"expected\" value=\"{}\"/>\n",
               xml_escape(names.expected));
    fmt::print(out, "      <property name=\"actual\" value=\"{}\"/>\n", xml_escape(names.actual));
    fmt::print(out, "    </properties>\n");
    for (std::size_t pair = 1; pair <= r.connections; ++pair) {
        auto target = target_of(expected, pair);
        if (target.empty()) {
            target = target_of(actual, pair);
        }
        const std::string name =
            target.empty() ? fmt::format("conn {}", pair) : fmt::format("conn {} {}", pair, target);
        fmt::print(out, "    <testcase name=\"{}\" classname=\"wssniff.diff\" time=\"0\"",
                   xml_escape(name));
        const auto& found = by_pair[pair];
        if (found.empty() && pair <= reached) {
            fmt::print(out, "/>\n");
            continue;
        }
        fmt::print(out, ">\n");
        if (found.empty()) {
            fmt::print(out, "      <skipped message=\"not compared: --max-diffs reached\"/>\n");
        } else {
            std::string body;
            for (const auto* d : found) {
                body += text_line(*d);
                body += '\n';
            }
            fmt::print(out,
                       "      <failure message=\"{} difference{}\" type=\"difference\">{}"
                       "</failure>\n",
                       found.size(), found.size() == 1 ? "" : "s", xml_escape(body, false));
        }
        fmt::print(out, "    </testcase>\n");
    }
    fmt::print(out, "  </testsuite>\n</testsuites>\n");
}

} // namespace wssniff::app

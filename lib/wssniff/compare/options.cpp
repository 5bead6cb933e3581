#include "wssniff/compare/options.hpp"

#include "wssniff/compare/difference.hpp"

#include <re2/re2.h>

#include <array>
#include <stdexcept>
#include <utility>

namespace wssniff::compare {

namespace {

constexpr std::array<std::pair<std::string_view, field>, 14> field_table{{
    {"status", field::status},
    {"subprotocol", field::subprotocol},
    {"deflate", field::deflate},
    {"op", field::op},
    {"payload", field::payload},
    {"close_code", field::close_code},
    {"close_reason", field::close_reason},
    {"error", field::error},
    {"close.reason", field::close},
    {"fin", field::fin},
    {"rsv", field::rsv},
    {"len", field::len},
    {"masked", field::masked},
    {"control", field::control},
}};

constexpr std::array<std::pair<std::string_view, json_type>, 6> type_table{{
    {"null", json_type::null},
    {"boolean", json_type::boolean},
    {"number", json_type::number},
    {"string", json_type::string},
    {"array", json_type::array},
    {"object", json_type::object},
}};

} // namespace

std::optional<field> field_named(std::string_view name) noexcept {
    for (const auto& [n, f] : field_table) {
        if (n == name) {
            return f;
        }
    }
    return std::nullopt;
}

std::string field_names() {
    std::string out;
    for (const auto& [n, f] : field_table) {
        if (!out.empty()) {
            out += ", ";
        }
        out += n;
    }
    return out;
}

std::string_view to_string(json_type t) noexcept {
    for (const auto& [n, v] : type_table) {
        if (v == t) {
            return n;
        }
    }
    return "null";
}

std::optional<json_type> json_type_named(std::string_view name) noexcept {
    for (const auto& [n, v] : type_table) {
        if (n == name) {
            return v;
        }
    }
    return std::nullopt;
}

std::string_view to_string(part p) noexcept {
    switch (p) {
    case part::connection: return "connection";
    case part::handshake: return "handshake";
    case part::message: return "message";
    case part::frame: return "frame";
    case part::error: return "error";
    case part::close: return "close";
    }
    return "message";
}

std::string_view to_string(change c) noexcept {
    switch (c) {
    case change::changed: return "changed";
    case change::removed: return "removed";
    case change::added: return "added";
    }
    return "changed";
}

json_ignore parse_json_ignore(std::string_view pointer) {
    json_ignore out;
    out.pointer = std::string(pointer);
    if (pointer.empty()) {
        return out; // the whole document
    }
    if (pointer.front() != '/') {
        throw std::invalid_argument("JSON pointer \"" + out.pointer + "\" does not start with '/'");
    }
    std::string token;
    for (std::size_t i = 1; i <= pointer.size(); ++i) {
        if (i == pointer.size() || pointer[i] == '/') {
            out.segments.push_back(std::move(token));
            token.clear();
            continue;
        }
        if (pointer[i] != '~') {
            token += pointer[i];
            continue;
        }
        // RFC 6901 §3: '~' only as ~0 ('~') or ~1 ('/').
        if (i + 1 < pointer.size() && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
            token += pointer[i + 1] == '0' ? '~' : '/';
            ++i;
            continue;
        }
        throw std::invalid_argument("JSON pointer \"" + out.pointer +
                                    "\" has a '~' not followed by 0 or 1");
    }
    return out;
}

normalize_rule parse_normalize(std::string_view rule) {
    const auto arrow = rule.find("=>");
    if (arrow == std::string_view::npos) {
        throw std::invalid_argument("normalize rule \"" + std::string(rule) +
                                    "\" is not REGEX=>REPLACEMENT");
    }
    normalize_rule out{std::string(rule.substr(0, arrow)), std::string(rule.substr(arrow + 2))};
    if (out.pattern.empty()) {
        throw std::invalid_argument("normalize rule \"" + std::string(rule) +
                                    "\" has an empty regular expression");
    }
    RE2 re(out.pattern, RE2::Quiet);
    if (!re.ok()) {
        throw std::invalid_argument("normalize rule \"" + std::string(rule) + "\": " + re.error());
    }
    std::string why;
    if (!re.CheckRewriteString(out.replacement, &why)) {
        throw std::invalid_argument("normalize rule \"" + std::string(rule) + "\": " + why);
    }
    return out;
}

} // namespace wssniff::compare

#pragma once
// HTTP's case-insensitive names and optional whitespace (RFC 9110 §5.1, §5.6.3), shared by the
// head parser, the extension parser and the session.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wssniff::handshake {

inline bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// Without the spaces and tabs (OWS) around it.
inline std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// Content-Length as a number, or nullopt when it is not one (RFC 9110 §8.6). At most 18 digits:
// the value is compared and counted down, never allocated.
inline std::optional<std::uint64_t> parse_content_length(std::string_view value) {
    if (value.empty() || value.size() > 18 || !std::all_of(value.begin(), value.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c));
        })) {
        return std::nullopt;
    }
    return std::stoull(std::string(value));
}

} // namespace wssniff::handshake

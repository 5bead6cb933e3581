#pragma once
// HTTP's case-insensitive names and optional whitespace (RFC 9110 §5.1, §5.6.3), shared by the
// head parser, the extension parser and the session.

#include <algorithm>
#include <cctype>
#include <string_view>

namespace wssniff::handshake {

inline bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
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

} // namespace wssniff::handshake

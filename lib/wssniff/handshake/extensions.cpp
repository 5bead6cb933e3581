#include "wssniff/handshake/extensions.hpp"

#include "wssniff/handshake/text.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace wssniff::handshake {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// Splits on `sep` outside quoted strings.
std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    bool quoted = false;
    std::size_t begin = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '"' && (i == 0 || s[i - 1] != '\\')) {
            quoted = !quoted;
        } else if (s[i] == sep && !quoted) {
            parts.push_back(trim(s.substr(begin, i - begin)));
            begin = i + 1;
        }
    }
    parts.push_back(trim(s.substr(begin)));
    return parts;
}

// A window-bits value: 8-15, as a token or a quoted string (RFC 7692 §7.1.2.1). In a response
// both parameters need one: only the client's offer may send client_max_window_bits bare
// (§7.1.2.2), so a bare one here is as wrong as a bad number.
std::optional<std::uint8_t> window_bits(std::optional<std::string_view> value) {
    if (!value) {
        return std::nullopt;
    }
    std::string_view v = *value;
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
        v = v.substr(1, v.size() - 2);
    }
    if (v.empty() || v.size() > 2 || v.front() == '0' ||
        !std::all_of(v.begin(), v.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        return std::nullopt;
    }
    const int bits = std::stoi(std::string(v));
    if (bits < 8 || bits > 15) {
        return std::nullopt;
    }
    return static_cast<std::uint8_t>(bits);
}

} // namespace

negotiated_extensions parse_response_extensions(std::string_view header_value) {
    negotiated_extensions result;
    for (const std::string_view element : split(header_value, ',')) {
        if (element.empty()) {
            continue;
        }
        const std::vector<std::string_view> parts = split(element, ';');
        const std::string name = lower(parts.front());
        if (name != "permessage-deflate") {
            result.unknown_extension = true;
            continue;
        }
        if (result.deflate_accepted) {
            result.deflate.reset();
            result.problem = "permessage-deflate accepted twice";
            continue;
        }
        result.deflate_accepted = true;
        deflate_params params;
        bool seen[4] = {false, false, false, false};
        std::string problem;
        for (std::size_t i = 1; i < parts.size() && problem.empty(); ++i) {
            const std::string_view param = parts[i];
            const std::size_t eq = param.find('=');
            const std::string key = lower(trim(param.substr(0, eq)));
            std::optional<std::string_view> value;
            if (eq != std::string_view::npos) {
                value = trim(param.substr(eq + 1));
            }
            int index = -1;
            if (key == "server_no_context_takeover" || key == "client_no_context_takeover") {
                index = key[0] == 's' ? 0 : 1;
                if (value) {
                    problem = key + " takes no value";
                    break;
                }
                (index == 0 ? params.server_no_context_takeover
                            : params.client_no_context_takeover) = true;
            } else if (key == "server_max_window_bits" || key == "client_max_window_bits") {
                index = key[0] == 's' ? 2 : 3;
                const auto bits = window_bits(value);
                if (!bits) {
                    problem = key + " must be a number from 8 to 15";
                    break;
                }
                (index == 2 ? params.server_max_window_bits : params.client_max_window_bits) =
                    *bits;
            } else {
                problem = "unknown parameter " + (key.empty() ? std::string("(empty)") : key);
                break;
            }
            if (seen[index]) {
                problem = key + " given twice";
                break;
            }
            seen[index] = true;
        }
        if (problem.empty()) {
            result.deflate = params;
        } else {
            result.problem = "permessage-deflate: " + problem;
        }
    }
    return result;
}

} // namespace wssniff::handshake

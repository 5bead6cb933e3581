#include "wssniff/handshake/body_framing.hpp"

#include "wssniff/handshake/text.hpp"

#include <optional>
#include <string_view>

namespace wssniff::handshake {

namespace {

body_framing framed(body_kind kind) {
    body_framing f;
    f.kind = kind;
    return f;
}

body_framing invalid(error_code code, std::string problem) {
    body_framing f;
    f.kind = body_kind::invalid;
    f.error = code;
    f.problem = std::move(problem);
    return f;
}

// The last coding of Transfer-Encoding's list, all of its fields joined (RFC 9112 §6.1).
std::string_view last_coding(std::string_view list) noexcept {
    const std::size_t comma = list.rfind(',');
    return trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
}

// Every Content-Length value, in every field and list element, must be the same number
// (RFC 9112 §6.3 rule 5, RFC 9110 §8.6): "42, 42" is 42; "0" and "42" make the message invalid,
// since a recipient that believes the other value reads a different message (request smuggling).
std::optional<body_framing> content_length(const http_head& head) {
    std::optional<std::uint64_t> length;
    for (const auto& [name, value] : head.fields) {
        if (!iequals(name, "Content-Length")) {
            continue;
        }
        std::string_view rest = value;
        for (;;) {
            const std::size_t comma = rest.find(',');
            const auto n = parse_content_length(trim(rest.substr(0, comma)));
            if (!n) {
                return invalid(error_code::malformed_head, "Content-Length is not a number");
            }
            if (length && *length != *n) {
                return invalid(error_code::conflicting_content_length,
                               "Content-Length says both " + std::to_string(*length) + " and " +
                                   std::to_string(*n));
            }
            length = n;
            if (comma == std::string_view::npos) {
                break;
            }
            rest.remove_prefix(comma + 1);
        }
    }
    if (!length) {
        return std::nullopt;
    }
    body_framing f;
    f.kind = *length == 0 ? body_kind::none : body_kind::length;
    f.length = *length;
    return f;
}

} // namespace

request_summary summarize(const http_head& request) {
    request_summary r;
    r.head_method = request.method == "HEAD";
    r.connect_method = request.method == "CONNECT";
    r.upgrade = request.find("Upgrade") != nullptr;
    return r;
}

body_framing request_framing(const http_head& request) {
    // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3 rule 3).
    if (const auto codings = request.joined("Transfer-Encoding")) {
        if (!iequals(last_coding(*codings), "chunked")) {
            // Rule 4: a server cannot tell where such a request ends.
            return invalid(error_code::unsupported_body,
                           "request's Transfer-Encoding does not end in chunked");
        }
        return framed(body_kind::chunked);
    }
    if (auto f = content_length(request)) {
        return *f;
    }
    return framed(body_kind::none); // rule 7: a request without either has no body
}

body_framing response_framing(const http_head& response, const request_summary& request) {
    const int status = response.status;
    if (status == 101) {
        return framed(body_kind::switch_protocols);
    }
    if (status >= 100 && status < 200) {
        return framed(body_kind::interim);
    }
    // Rule 1: responses that never have a body.
    if (request.head_method || status == 204 || status == 304) {
        return framed(body_kind::none);
    }
    // Rule 2: a 2xx to CONNECT turns the connection into a tunnel.
    if (request.connect_method && status >= 200 && status < 300) {
        return framed(body_kind::switch_protocols);
    }
    if (const auto codings = response.joined("Transfer-Encoding")) {
        // Rule 4: any other final coding is read until the server closes.
        return framed(iequals(last_coding(*codings), "chunked") ? body_kind::chunked
                                                                : body_kind::until_close);
    }
    if (auto f = content_length(response)) {
        return *f;
    }
    return framed(body_kind::until_close); // rule 8
}

} // namespace wssniff::handshake

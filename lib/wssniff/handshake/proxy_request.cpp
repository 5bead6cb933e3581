#include "wssniff/handshake/proxy_request.hpp"

#include "wssniff/handshake/text.hpp"

#include <algorithm>
#include <cctype>

namespace wssniff::handshake {

namespace {

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Hop-by-hop fields that belong to the client's exchange with the proxy (RFC 9110 §7.6.1,
// §11.7.2; Proxy-Connection is the de-facto one clients still send).
bool proxy_hop_field(std::string_view line) {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
        return false;
    }
    const std::string_view name = line.substr(0, colon);
    return iequals(name, "proxy-authorization") || iequals(name, "proxy-connection");
}

// `head` with the request line's target replaced by `target` and the Proxy-* fields (with
// their obs-fold continuation lines) removed; every other byte as it is.
std::string rewritten(std::string_view head, std::string_view target) {
    std::string out;
    out.reserve(head.size());
    bool request_line_seen = false;
    bool dropping = false;
    std::size_t start = 0;
    while (start < head.size()) {
        std::size_t end = head.find('\n', start);
        end = end == std::string_view::npos ? head.size() : end + 1;
        const std::string_view line = head.substr(start, end - start);
        start = end;
        std::string_view content = line;
        while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) {
            content.remove_suffix(1);
        }
        if (!request_line_seen) {
            if (content.empty()) {
                out.append(line); // CRLFs before the request line
                continue;
            }
            request_line_seen = true;
            const std::size_t sp1 = content.find(' ');
            const std::size_t sp2 = content.find(' ', sp1 + 1);
            out.append(content.substr(0, sp1 + 1));
            out.append(target);
            out.append(line.substr(sp2));
            continue;
        }
        if (!content.empty() && (content.front() == ' ' || content.front() == '\t')) {
            if (!dropping) {
                out.append(line); // obs-fold: goes with the field before it
            }
            continue;
        }
        dropping = proxy_hop_field(content);
        if (!dropping) {
            out.append(line);
        }
    }
    return out;
}

// What may stand between the brackets (RFC 3986 §3.2.2): an IPv6 address, its hex digits,
// colons and a dotted IPv4 tail, with an optional zone (RFC 6874: %25 in a URI, but clients
// write a bare % too). Not a full check of the address: resolving it is; this keeps any other
// byte out of the host a record names and the resolver sees.
bool ipv6_literal(std::string_view host) {
    const std::size_t zone = host.find('%');
    const std::string_view address = host.substr(0, zone);
    const bool address_chars = std::all_of(address.begin(), address.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
    if (!address_chars || address.find(':') == std::string_view::npos) {
        return false;
    }
    if (zone == std::string_view::npos) {
        return true;
    }
    const std::string_view id = host.substr(zone + 1);
    return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '%' || c == '-' || c == '.' ||
               c == '_' || c == '~';
    });
}

} // namespace

bool split_authority(std::string_view authority, std::uint16_t default_port, std::string& host,
                     std::uint16_t& port) {
    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos || close == 1) {
            return false;
        }
        host = std::string(authority.substr(1, close - 1));
        if (!ipv6_literal(host)) {
            return false;
        }
        const std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return false;
            }
            port_text = rest.substr(1);
        } else if (default_port == 0) {
            return false;
        }
    } else {
        const std::size_t colon = authority.rfind(':');
        if (colon == std::string_view::npos) {
            if (default_port == 0) {
                return false;
            }
            host = std::string(authority);
        } else {
            host = std::string(authority.substr(0, colon));
            port_text = authority.substr(colon + 1);
            if (host.find(':') != std::string::npos) {
                return false; // an IPv6 address must be in brackets
            }
        }
        const bool host_chars = std::all_of(host.begin(), host.end(), [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return std::isalnum(u) || c == '.' || c == '-' || c == '_' || c == '~' || c == '%';
        });
        if (host.empty() || !host_chars) {
            return false;
        }
    }
    if (port_text.empty()) {
        if (default_port == 0 || (authority.back() == ':')) {
            return false;
        }
        port = default_port;
        return true;
    }
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c));
        })) {
        return false;
    }
    const unsigned long value = std::stoul(std::string(port_text));
    if (value == 0 || value > 65535) {
        return false;
    }
    port = static_cast<std::uint16_t>(value);
    return true;
}

std::string proxy_request::authority() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

proxy_request_parser::proxy_request_parser(std::size_t max_size)
    : parser_(head_parser::kind::request, max_size) {}

void proxy_request_parser::fail(error_code code, std::string detail) {
    status_ = status::failed;
    error_ = code;
    detail_ = std::move(detail);
}

std::size_t proxy_request_parser::feed(bytes_view in) {
    if (status_ != status::need_more) {
        return 0;
    }
    const std::size_t taken = parser_.feed(in);
    request_.head.append(in.chars().substr(0, taken));
    switch (parser_.state()) {
    case head_parser::status::need_more: break;
    case head_parser::status::failed:
        fail(parser_.error(), std::string(parser_.error_detail()));
        break;
    case head_parser::status::done: classify(); break;
    }
    return taken;
}

void proxy_request_parser::classify() {
    const http_head& h = parser_.head();
    if (h.method == "CONNECT") {
        // RFC 9110 §9.3.6: authority-form, the port required.
        request_.form = proxy_form::connect;
        if (!split_authority(h.target, 0, request_.host, request_.port)) {
            fail(error_code::proxy_request_invalid, "the CONNECT target is not HOST:PORT");
            return;
        }
        status_ = status::done;
        return;
    }
    // RFC 9112 §3.2.2: absolute-form. http:// only (ws:// as some clients write it): https://
    // goes through CONNECT.
    std::string_view target = h.target;
    std::string_view rest;
    if (starts_with_nocase(target, "http://")) {
        rest = target.substr(7);
    } else if (starts_with_nocase(target, "ws://")) {
        rest = target.substr(5);
    } else {
        fail(error_code::proxy_request_invalid,
             target.empty() || target.front() == '/'
                 ? "this is a forward proxy: send CONNECT HOST:PORT or an absolute-form request "
                   "(GET http://HOST/PATH)"
                 : "the request target is not an http:// URI (https:// goes through CONNECT)");
        return;
    }
    const std::size_t path_at = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, path_at);
    if (authority.find('@') != std::string_view::npos) {
        fail(error_code::proxy_request_invalid, "the request target has user information");
        return;
    }
    if (authority.empty() || !split_authority(authority, 80, request_.host, request_.port)) {
        fail(error_code::proxy_request_invalid,
             "the request target's authority is not HOST[:PORT]");
        return;
    }
    std::string origin =
        path_at == std::string_view::npos ? "/" : std::string(rest.substr(path_at));
    if (origin.front() == '?') {
        origin.insert(0, "/");
    }
    if (const std::size_t fragment = origin.find('#'); fragment != std::string::npos) {
        origin.resize(fragment);
        if (origin.empty()) {
            origin = "/";
        }
    }
    request_.form = proxy_form::absolute;
    request_.websocket = h.has_token("Upgrade", "websocket");
    request_.forwarded_head = rewritten(request_.head, origin);
    status_ = status::done;
}

} // namespace wssniff::handshake

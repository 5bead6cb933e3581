#include "wssniff/proxy/upstream_url.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <string>

namespace wssniff::proxy {

namespace {

std::string bracketed(const std::string& host) {
    return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

bool is_ipv6_address(const std::string& text) {
    in6_addr address{};
    return ::inet_pton(AF_INET6, text.c_str(), &address) == 1;
}

// RFC 3986 reg-name and IPv4 characters, without percent-encoding: a host name wssniff can
// pass to the resolver as it is.
bool is_host_name(const std::string& text) {
    return std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_' || c == '~';
    });
}

} // namespace

std::string upstream_url::authority() const {
    const std::string h = bracketed(host);
    return port == (tls ? 443 : 80) ? h : h + ":" + std::to_string(port);
}

std::string upstream_url::host_port() const {
    return bracketed(host) + ":" + std::to_string(port);
}

std::optional<upstream_url> upstream_url::parse(const std::string& url, std::string& problem) {
    upstream_url u;
    std::string rest;
    if (url.rfind("ws://", 0) == 0) {
        rest = url.substr(5);
    } else if (url.rfind("wss://", 0) == 0) {
        rest = url.substr(6);
        u.tls = true;
        u.port = 443;
    } else {
        problem = "the upstream must be a ws://HOST[:PORT] or wss://HOST[:PORT] URL";
        return std::nullopt;
    }
    if (std::any_of(url.begin(), url.end(),
                    [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; })) {
        problem = "the upstream URL contains a space or a control character";
        return std::nullopt;
    }
    const std::size_t authority_end = rest.find_first_of("/?#");
    const std::string after = authority_end == std::string::npos ? "" : rest.substr(authority_end);
    rest.resize(std::min(authority_end, rest.size()));
    // Checked before anything that could quote a part of the URL: a password must never reach
    // the terminal, a log or a client.
    if (rest.find('@') != std::string::npos) {
        problem = "the upstream URL must not carry credentials (user:password@); wssniff does "
                  "not send them, and forwards the client's own Authorization header";
        return std::nullopt;
    }
    if (!after.empty() && after != "/") {
        problem = "the upstream URL must not have a path, query or fragment: wssniff forwards "
                  "each request's own target unchanged; give ws://HOST:PORT";
        return std::nullopt;
    }
    std::string port;
    bool has_port = false;
    if (!rest.empty() && rest.front() == '[') {
        const std::size_t close = rest.find(']');
        if (close == std::string::npos) {
            problem = "unclosed [ in the upstream address";
            return std::nullopt;
        }
        u.host = rest.substr(1, close - 1);
        if (!is_ipv6_address(u.host)) {
            problem = "the upstream's [address] is not an IPv6 address";
            return std::nullopt;
        }
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') {
                problem = "expected :PORT after the IPv6 address";
                return std::nullopt;
            }
            has_port = true;
            port = rest.substr(close + 2);
        }
    } else {
        const std::size_t colon = rest.find(':');
        u.host = rest.substr(0, colon);
        if (colon != std::string::npos) {
            has_port = true;
            port = rest.substr(colon + 1);
        }
        if (!is_host_name(u.host)) {
            problem = "the upstream host must be a name, an IPv4 address or an [IPv6] address";
            return std::nullopt;
        }
    }
    if (u.host.empty()) {
        problem = "the upstream URL has no host";
        return std::nullopt;
    }
    if (has_port) {
        // An empty port after the colon would otherwise quietly mean the scheme's default.
        if (port.empty() || port.size() > 5 ||
            port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) == 0 ||
            std::stoul(port) > 65535) {
            problem = "the upstream port must be a number from 1 to 65535";
            return std::nullopt;
        }
        u.port = static_cast<std::uint16_t>(std::stoul(port));
    }
    return u;
}

} // namespace wssniff::proxy

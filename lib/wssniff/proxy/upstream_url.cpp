#include "wssniff/proxy/upstream_url.hpp"

#include <string>

namespace wssniff::proxy {

std::string upstream_url::authority() const {
    return port == (tls ? 443 : 80) ? host : host + ":" + std::to_string(port);
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
        problem = "the upstream must be a ws:// or wss://HOST[:PORT][/path] URL";
        return std::nullopt;
    }
    const std::size_t slash = rest.find('/');
    if (slash != std::string::npos) {
        u.path = rest.substr(slash);
        rest.resize(slash);
    }
    std::string port;
    if (!rest.empty() && rest.front() == '[') {
        const std::size_t close = rest.find(']');
        if (close == std::string::npos) {
            problem = "unclosed [ in the upstream address";
            return std::nullopt;
        }
        u.host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') {
                problem = "expected :PORT after the IPv6 address";
                return std::nullopt;
            }
            port = rest.substr(close + 2);
        }
    } else {
        const std::size_t colon = rest.rfind(':');
        u.host = rest.substr(0, colon);
        if (colon != std::string::npos) {
            port = rest.substr(colon + 1);
        }
    }
    if (u.host.empty()) {
        problem = "the upstream URL has no host";
        return std::nullopt;
    }
    if (!port.empty()) {
        if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
            std::stoul(port) == 0 || std::stoul(port) > 65535) {
            problem = "the upstream port must be a number from 1 to 65535";
            return std::nullopt;
        }
        u.port = static_cast<std::uint16_t>(std::stoul(port));
    }
    return u;
}

} // namespace wssniff::proxy

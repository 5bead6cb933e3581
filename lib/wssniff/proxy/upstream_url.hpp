#pragma once
// The --upstream URL: where the proxy connects, and the authority it writes into Host.

#include <cstdint>
#include <optional>
#include <string>

namespace wssniff::proxy {

// ws://HOST[:PORT][/path] or wss://HOST[:PORT][/path]
struct upstream_url {
    std::string host;
    std::uint16_t port = 80;
    std::string path = "/";
    bool tls = false; // wss://

    // The Host header value: host, plus :port unless it is the scheme's default.
    std::string authority() const;

    // Parses a ws:// or wss:// URL; returns nullopt with `problem` set when it is not one.
    static std::optional<upstream_url> parse(const std::string& url, std::string& problem);
};

} // namespace wssniff::proxy

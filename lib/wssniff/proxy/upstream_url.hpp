#pragma once
// The --upstream URL: where the proxy connects, and the authority it writes into Host.

#include <cstdint>
#include <optional>
#include <string>

namespace wssniff::proxy {

// ws://HOST[:PORT][/] or wss://HOST[:PORT][/]. No path: the proxy forwards each request's own
// target unchanged, so a path in the URL would be a promise it does not keep.
struct upstream_url {
    std::string host; // an IPv6 address without its brackets
    std::uint16_t port = 80;
    bool tls = false; // wss://

    // The Host header value: host, plus :port unless it is the scheme's default; an IPv6
    // address in brackets ("[::1]:9000").
    std::string authority() const;
    // host:port whatever the port, an IPv6 address in brackets: how records and messages name
    // the upstream ("[::1]:443", "example.com:443").
    std::string host_port() const;

    // Parses a ws:// or wss:// URL; returns nullopt with `problem` set (one sentence, which
    // never repeats the URL's text: it may hold credentials) when it is not one wssniff takes.
    static std::optional<upstream_url> parse(const std::string& url, std::string& problem);
};

} // namespace wssniff::proxy

#pragma once
// What most capture tests start with: the websocketpp echo server, `wssniff::proxy` in front of
// it on a free loopback port, and the capture the proxy records into. The members are public: a
// test connects a client to `proxy.port()`, then reads `server` and `capture`.

#include "websocketpp_peers.hpp"

#include "wssniff/proxy/proxy.hpp"
#include "wssniff/record/capture.hpp"

#include <cstdint>
#include <functional>

namespace wssniff::test {

using configure_proxy = std::function<void(wssniff::proxy::proxy_options&)>;

// Listen on any free port, forward to 127.0.0.1:upstream_port, then whatever `configure` sets.
inline wssniff::proxy::proxy_options proxy_options_for(std::uint16_t upstream_port,
                                                       const configure_proxy& configure) {
    wssniff::proxy::proxy_options options;
    options.listen_port = 0;
    options.upstream.host = "127.0.0.1";
    options.upstream.port = upstream_port;
    if (configure) {
        configure(options);
    }
    return options;
}

struct proxied_echo {
    // `configure` changes the proxy's options (e.g. rewrite_host) before it starts.
    explicit proxied_echo(const configure_proxy& configure = {})
        : proxy(proxy_options_for(server.start(), configure), capture) {
        proxy.start();
    }

    // Declared in the order they must start: the proxy needs the server's port (start() returns
    // it) and the capture.
    echo_server server;
    wssniff::record::capture capture;
    wssniff::proxy::proxy proxy;
};

} // namespace wssniff::test

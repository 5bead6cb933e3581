#pragma once

#include <cstdint>
#include <string>

namespace wssniff::load {

struct server_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
};

// Prints "listening on HOST:PORT" on stdout, then serves until SIGINT or SIGTERM.
int run_server(const server_options& options);

} // namespace wssniff::load

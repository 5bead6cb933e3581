#pragma once
// The demo's upstream: a websocketpp server on 127.0.0.1 that sends every message back as it
// received it, reassembled, in one frame.

#include <cstdint>
#include <memory>

namespace wssniff::app::demo {

class echo_server {
  public:
    echo_server();
    ~echo_server();
    echo_server(const echo_server&) = delete;
    echo_server& operator=(const echo_server&) = delete;

    // Listens on a free loopback port and serves on a thread of its own; returns the port.
    // Throws std::runtime_error.
    std::uint16_t start();
    // Stops listening and returns when the serving thread has ended; connections still open
    // are abandoned. Safe more than once.
    void stop();

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace wssniff::app::demo

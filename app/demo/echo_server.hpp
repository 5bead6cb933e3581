#pragma once
// The websocketpp echo server: listens on 127.0.0.1, on a port the kernel picks, and sends every
// data message back as it received it, reassembled, in one frame. The demo's upstream, and the
// server of the in-process capture tests (tests/integration/capture/), which also read what it
// received: the messages, the Host of the last opening handshake, the close frame.
//
// websocketpp stays inside echo_server.cpp: it needs Asio's deprecated names, which the proxy's
// target turns off (app/CMakeLists.txt).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace wssniff::app::demo {

// One data message as an endpoint sent or received it.
struct ws_message {
    bool text = true;
    std::string payload;

    friend bool operator==(const ws_message& a, const ws_message& b) {
        return a.text == b.text && a.payload == b.payload;
    }
    friend bool operator!=(const ws_message& a, const ws_message& b) { return !(a == b); }
};

class echo_server {
  public:
    echo_server();
    // Stops the server if it is still running.
    ~echo_server();
    echo_server(const echo_server&) = delete;
    echo_server& operator=(const echo_server&) = delete;

    // Listens on a free loopback port and serves on a thread of its own; returns the port.
    // Throws std::runtime_error. Once only.
    std::uint16_t start();
    // Stops listening and returns when the serving thread has ended; connections still open
    // are abandoned. Safe more than once.
    void stop();

    // The port start() bound, 0 before.
    std::uint16_t port() const;
    // Every data message received so far, from all connections, in order.
    std::vector<ws_message> received() const;
    // The Host header of the last opening handshake.
    std::optional<std::string> host() const;
    // The close frame the last client sent (code, reason), once one arrived.
    std::optional<std::pair<std::uint16_t, std::string>> close_received() const;

  private:
    struct state;
    std::unique_ptr<state> state_;
};

} // namespace wssniff::app::demo

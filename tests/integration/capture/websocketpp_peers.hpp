#pragma once
// websocketpp peers for in-process tests: the echo server (the demo's, app/demo/echo_server.hpp)
// and a client on its own thread, driven from the test's thread with calls that block until they
// happen or time out.
//
// websocketpp stays inside the .cpp files (this folder's and the demo's): it needs Asio's
// deprecated names, which the proxy's target turns off.

#include "demo/echo_server.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace wssniff::test {

// Listens on 127.0.0.1, on a port the kernel picks, once started, and sends every data message
// back; records what it received.
using app::demo::echo_server;
// One data message as an endpoint sent or received it.
using app::demo::ws_message;

// Connects to ws://127.0.0.1:PORT/PATH and waits for the opening handshake (throws
// std::runtime_error when it fails or takes longer than `timeout`).
class client {
  public:
    explicit client(std::uint16_t port, const std::string& path = "/",
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    void send_text(const std::string& payload);
    void send_binary(const std::string& payload);
    // Sends a close frame; the close handshake and TCP teardown go on in the background.
    void close(std::uint16_t code, const std::string& reason);

    bool wait_for_messages(std::size_t n, std::chrono::milliseconds timeout) const;
    // Waits until the connection is fully closed (close handshake done, socket gone).
    bool wait_closed(std::chrono::milliseconds timeout) const;

    std::vector<ws_message> received() const;
    // This end of the TCP connection, "127.0.0.1:PORT": what the proxy sees as the client.
    std::string local_address() const;
    // The close frame the server sent back (code, reason), once the connection has closed.
    std::optional<std::pair<std::uint16_t, std::string>> close_received() const;

    struct state;

  private:
    std::unique_ptr<state> state_;
};

} // namespace wssniff::test

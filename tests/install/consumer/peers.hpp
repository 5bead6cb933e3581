#pragma once
// The application side of the consumer: a websocketpp echo server and a websocketpp client,
// each on its own thread. websocketpp stays inside peers.cpp (see CMakeLists.txt).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace consumer {

// Listens on 127.0.0.1, on a port the kernel picks, and sends every data message back.
class echo_server {
  public:
    echo_server();
    ~echo_server();
    echo_server(const echo_server&) = delete;
    echo_server& operator=(const echo_server&) = delete;
    std::uint16_t port() const;

    struct state;

  private:
    std::unique_ptr<state> state_;
};

// Connects to ws://127.0.0.1:PORT/ and waits for the opening handshake (throws
// std::runtime_error when it fails or takes longer than `timeout`).
class client {
  public:
    explicit client(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    void send_text(const std::string& payload);
    // Sends a close frame; the close handshake goes on in the background.
    void close(std::uint16_t code, const std::string& reason);
    // Waits until the connection is fully closed.
    bool wait_closed(std::chrono::milliseconds timeout) const;

    struct state;

  private:
    std::unique_ptr<state> state_;
};

} // namespace consumer

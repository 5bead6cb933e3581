#pragma once
// Blocking loopback TCP sockets with deadlines, for relay tests that must control every byte
// and every FIN themselves (no WebSocket library would send a chunked body before an upgrade,
// or read a frame at a chosen pace).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace wssniff::test {

using namespace std::chrono_literals;

class raw_socket {
  public:
    explicit raw_socket(int fd = -1) : fd_(fd) {}
    raw_socket(raw_socket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    raw_socket& operator=(raw_socket&& other) noexcept;
    ~raw_socket();

    // Connects to 127.0.0.1:port (or [::1]:port).
    static raw_socket connect(std::uint16_t port, bool ipv6 = false);

    bool valid() const noexcept { return fd_ >= 0; }
    void send_all(const std::string& bytes);
    void shutdown_write();
    void set_receive_buffer(int bytes);
    // Up to `max` bytes; empty at EOF; nullopt when nothing came within `timeout`.
    std::optional<std::string> receive_some(std::chrono::milliseconds timeout, std::size_t max = 65536);
    // Reads until `needle` has arrived (everything read is returned), EOF or the timeout.
    std::string receive_until(const std::string& needle, std::chrono::milliseconds timeout);
    // Reads exactly n bytes unless EOF or the timeout comes first.
    std::string receive_exactly(std::size_t n, std::chrono::milliseconds timeout);
    // True when the peer's FIN (or reset) arrives within the timeout, all data before it read.
    bool closed_within(std::chrono::milliseconds timeout);

  private:
    int fd_;
};

class raw_listener {
  public:
    explicit raw_listener(bool ipv6 = false);
    ~raw_listener();
    std::uint16_t port() const noexcept { return port_; }
    raw_socket accept(std::chrono::milliseconds timeout = 5s);

  private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

// A masked client frame (FIN set) and an unmasked server frame, payload under 126 bytes.
std::string client_frame(std::uint8_t opcode, const std::string& payload);
std::string server_frame(std::uint8_t opcode, const std::string& payload);

// A port nothing listens on right now (bound, read and released).
std::uint16_t free_port();

} // namespace wssniff::test

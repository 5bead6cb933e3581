#include "raw_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace wssniff::test {

namespace {

[[noreturn]] void fail(const char* what) {
    throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

bool readable(int fd, std::chrono::milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

using steady = std::chrono::steady_clock;

std::chrono::milliseconds left(steady::time_point deadline) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    return ms.count() > 0 ? ms : 0ms;
}

sockaddr_storage loopback(bool ipv6, std::uint16_t port, socklen_t& size) {
    sockaddr_storage s{};
    if (ipv6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&s);
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons(port);
        size = sizeof(sockaddr_in6);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&s);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons(port);
        size = sizeof(sockaddr_in);
    }
    return s;
}

std::string frame(std::uint8_t opcode, const std::string& payload, bool masked) {
    std::string out;
    out += static_cast<char>(0x80 | opcode);
    out += static_cast<char>((masked ? 0x80 : 0) | payload.size());
    const char key[4] = {0x12, 0x34, 0x56, 0x78};
    if (masked) {
        out.append(key, 4);
    }
    for (std::size_t i = 0; i < payload.size(); ++i) {
        out += masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i];
    }
    return out;
}

} // namespace

raw_socket& raw_socket::operator=(raw_socket&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

raw_socket::~raw_socket() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

raw_socket raw_socket::connect(std::uint16_t port, bool ipv6) {
    raw_socket s(::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0));
    if (!s.valid()) {
        fail("socket");
    }
    socklen_t size = 0;
    const sockaddr_storage to = loopback(ipv6, port, size);
    if (::connect(s.fd_, reinterpret_cast<const sockaddr*>(&to), size) != 0) {
        fail("connect");
    }
    const int one = 1;
    ::setsockopt(s.fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return s;
}

void raw_socket::send_all(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n < 0) {
            fail("send");
        }
        done += static_cast<std::size_t>(n);
    }
}

void raw_socket::shutdown_write() {
    ::shutdown(fd_, SHUT_WR);
}

void raw_socket::set_receive_buffer(int bytes) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

std::optional<std::string> raw_socket::receive_some(std::chrono::milliseconds timeout,
                                                     std::size_t max) {
    if (!readable(fd_, timeout)) {
        return std::nullopt;
    }
    std::string out(max, '\0');
    const ssize_t n = ::recv(fd_, out.data(), max, 0);
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
}

std::string raw_socket::receive_until(const std::string& needle,
                                      std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    std::string got;
    while (got.find(needle) == std::string::npos) {
        const auto chunk = receive_some(left(deadline));
        if (!chunk || chunk->empty()) {
            break;
        }
        got += *chunk;
    }
    return got;
}

std::string raw_socket::receive_exactly(std::size_t n, std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    std::string got;
    while (got.size() < n) {
        const auto chunk = receive_some(left(deadline), n - got.size());
        if (!chunk || chunk->empty()) {
            break;
        }
        got += *chunk;
    }
    return got;
}

bool raw_socket::closed_within(std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    for (;;) {
        const auto chunk = receive_some(left(deadline));
        if (!chunk) {
            return false;
        }
        if (chunk->empty()) {
            return true;
        }
    }
}

raw_listener::raw_listener(bool ipv6) {
    fd_ = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) {
        fail("socket");
    }
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t size = 0;
    sockaddr_storage at = loopback(ipv6, 0, size);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&at), size) != 0 || ::listen(fd_, 64) != 0) {
        fail("bind/listen");
    }
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&at), &size);
    port_ = ntohs(ipv6 ? reinterpret_cast<sockaddr_in6*>(&at)->sin6_port
                       : reinterpret_cast<sockaddr_in*>(&at)->sin_port);
}

raw_listener::~raw_listener() {
    ::close(fd_);
}

raw_socket raw_listener::accept(std::chrono::milliseconds timeout) {
    if (!readable(fd_, timeout)) {
        throw std::runtime_error("no connection within the timeout");
    }
    raw_socket s(::accept(fd_, nullptr, nullptr));
    if (!s.valid()) {
        fail("accept");
    }
    return s;
}

std::string client_frame(std::uint8_t opcode, const std::string& payload) {
    return frame(opcode, payload, true);
}

std::string server_frame(std::uint8_t opcode, const std::string& payload) {
    return frame(opcode, payload, false);
}

std::uint16_t free_port() {
    raw_listener probe;
    return probe.port();
}

} // namespace wssniff::test

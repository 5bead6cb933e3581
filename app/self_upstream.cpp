#include "self_upstream.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <optional>
#include <vector>

namespace wssniff::app {

namespace {

// One IP address, IPv4 kept as such and IPv4-mapped IPv6 (::ffff:a.b.c.d) turned back into
// IPv4: a dual-stack listener sees IPv4 peers in that form.
struct ip_address {
    int family = AF_UNSPEC;
    std::array<unsigned char, 16> bytes{};

    bool operator==(const ip_address& other) const {
        return family == other.family && bytes == other.bytes;
    }
};

std::optional<ip_address> from_sockaddr(const sockaddr* sa) {
    ip_address a;
    if (sa == nullptr) {
        return std::nullopt;
    }
    if (sa->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        a.family = AF_INET;
        std::memcpy(a.bytes.data(), &in->sin_addr, 4);
        return a;
    }
    if (sa->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            a.family = AF_INET;
            std::memcpy(a.bytes.data(), in6->sin6_addr.s6_addr + 12, 4);
        } else {
            a.family = AF_INET6;
            std::memcpy(a.bytes.data(), in6->sin6_addr.s6_addr, 16);
        }
        return a;
    }
    return std::nullopt;
}

std::vector<ip_address> resolve(const std::string& host, std::uint16_t port, bool passive) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    addrinfo* found = nullptr;
    std::vector<ip_address> addresses;
    if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) {
        return addresses;
    }
    for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
        if (const auto a = from_sockaddr(ai->ai_addr)) {
            addresses.push_back(*a);
        }
    }
    ::freeaddrinfo(found);
    return addresses;
}

bool is_unspecified(const ip_address& a) {
    const std::array<unsigned char, 16> zero{};
    return a.bytes == zero; // 0.0.0.0 or ::
}

bool is_loopback(const ip_address& a) {
    if (a.family == AF_INET) {
        return a.bytes[0] == 127;
    }
    std::array<unsigned char, 16> one{};
    one[15] = 1;
    return a.bytes == one;
}

// Whether a connection to `a` ends on this host: a loopback address or one of its interfaces'.
bool is_local(const ip_address& a) {
    if (is_loopback(a) || is_unspecified(a)) {
        return true; // connecting to 0.0.0.0 or :: reaches this host too
    }
    ifaddrs* interfaces = nullptr;
    if (::getifaddrs(&interfaces) != 0) {
        return false;
    }
    bool local = false;
    for (const ifaddrs* i = interfaces; i != nullptr && !local; i = i->ifa_next) {
        const auto address = from_sockaddr(i->ifa_addr);
        local = address && *address == a;
    }
    ::freeifaddrs(interfaces);
    return local;
}

} // namespace

bool upstream_is_listener(const proxy::upstream_url& upstream, const std::string& listen_host,
                          std::uint16_t listen_port) {
    if (listen_port == 0 || upstream.port != listen_port) {
        return false;
    }
    // The relay binds the first address its resolver gives for the listen host.
    const auto bound = resolve(listen_host, listen_port, true);
    if (bound.empty()) {
        return false;
    }
    const ip_address& listener = bound.front();
    for (const ip_address& target : resolve(upstream.host, upstream.port, false)) {
        if (target == listener) {
            return true;
        }
        // A wildcard listener takes connections to every local address: an IPv4 one those of
        // its family, an IPv6 one (dual stack, as Asio opens it) those of both.
        if (is_unspecified(listener) && (listener.family == AF_INET6 || target.family == AF_INET) &&
            is_local(target)) {
            return true;
        }
    }
    return false;
}

} // namespace wssniff::app

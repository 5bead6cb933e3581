#pragma once
// The two kinds of stream a relay leg can be (plain TCP or TLS over it), and what the relay
// does the same way on either: reach the TCP socket beneath, make one, print an address.

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <optional>
#include <string>
#include <type_traits>

namespace wssniff::proxy {

using asio::ip::tcp;
using plain_stream = tcp::socket;
using tls_stream = asio::ssl::stream<tcp::socket>;

template <class Stream> constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

inline tcp::socket& tcp_of(plain_stream& s) {
    return s;
}
inline tcp::socket& tcp_of(tls_stream& s) {
    return s.next_layer();
}

template <class Stream>
Stream make_stream(tcp::socket socket, std::optional<asio::ssl::context>& context) {
    if constexpr (is_tls<Stream>) {
        return Stream(std::move(socket), *context);
    } else {
        (void)context;
        return socket;
    }
}

// A stream not yet connected, on `io`. (Built in place rather than moved from a fresh socket:
// GCC 12 warns falsely, maybe-uninitialized, inside Asio's move of a socket never opened.)
template <class Stream>
Stream make_stream(asio::io_context& io, std::optional<asio::ssl::context>& context) {
    if constexpr (is_tls<Stream>) {
        return Stream(io, *context);
    } else {
        (void)context;
        return Stream(io);
    }
}

// "host:port", with an IPv6 address in brackets.
inline std::string to_string(const tcp::endpoint& ep) {
    const std::string address = ep.address().to_string();
    return (ep.address().is_v6() ? "[" + address + "]" : address) + ":" + std::to_string(ep.port());
}

} // namespace wssniff::proxy

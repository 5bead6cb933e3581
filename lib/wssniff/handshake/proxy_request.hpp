#pragma once
// The request a client sends a forward proxy (RFC 9110 §9.3.6, RFC 9112 §3.2.2-3.2.3): CONNECT
// HOST:PORT (authority-form), or a request whose target is an absolute http:// (or ws://) URI.
// Sans-I/O, over the incremental head parser: bytes in, the request's form, where it goes and,
// for the absolute form, the head as it is forwarded: origin-form request line, the hop-by-hop
// Proxy-Authorization and Proxy-Connection fields removed, every other byte as received.

#include "wssniff/base/bytes.hpp"
#include "wssniff/base/error_code.hpp"
#include "wssniff/handshake/http_head.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wssniff::handshake {

enum class proxy_form : std::uint8_t { connect, absolute };

constexpr std::string_view to_string(proxy_form f) noexcept {
    return f == proxy_form::connect ? "connect" : "absolute";
}

struct proxy_request {
    proxy_form form = proxy_form::connect;
    std::string host; // an IPv6 address without its brackets
    std::uint16_t port = 80;
    // Absolute form with Upgrade: websocket.
    bool websocket = false;
    // The head as the client sent it (CRLFs before the request line included).
    std::string head;
    // Absolute form: the head as forwarded (origin-form, no Proxy-* fields). CONNECT: empty.
    std::string forwarded_head;

    // host:port, an IPv6 address in brackets ("[::1]:9000").
    std::string authority() const;
};

class proxy_request_parser {
  public:
    enum class status : std::uint8_t { need_more, done, failed };

    explicit proxy_request_parser(std::size_t max_size = head_parser::default_max_size);

    // Consumes bytes up to and including the head's empty line and returns how many it took;
    // bytes after the head (a tunnel's or a body's first bytes) are not consumed.
    std::size_t feed(bytes_view in);

    status state() const noexcept { return status_; }
    const proxy_request& request() const noexcept { return request_; }
    // The parsed head (method, target, fields), once done.
    const http_head& head() const noexcept { return parser_.head(); }
    error_code error() const noexcept { return error_; }
    const std::string& error_detail() const noexcept { return detail_; }

  private:
    void fail(error_code code, std::string detail);
    void classify();

    head_parser parser_;
    status status_ = status::need_more;
    proxy_request request_;
    error_code error_ = error_code::proxy_request_invalid;
    std::string detail_;
};

// Splits HOST:PORT ([V6]:PORT) into its parts; false when it is not one (a port 1 to 65535 is
// required when `default_port` is 0).
bool split_authority(std::string_view authority, std::uint16_t default_port, std::string& host,
                     std::uint16_t& port);

} // namespace wssniff::handshake

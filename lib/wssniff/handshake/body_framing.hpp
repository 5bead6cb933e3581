#pragma once
// How an HTTP/1.1 message body is delimited (RFC 9112 §6.3), decided once from a parsed head:
// the session (both directions) and the proxy's Host rewriter follow the same exchange with
// the same decision. Modelled on h11's _body_framing and llhttp's after_headers_complete.

#include "wssniff/base/error_code.hpp"
#include "wssniff/handshake/http_head.hpp"

#include <cstdint>
#include <string>

namespace wssniff::handshake {

enum class body_kind : std::uint8_t {
    none,             // no body: the next head follows at once
    length,           // exactly `length` bytes (Content-Length)
    chunked,          // the chunked transfer coding (RFC 9112 §7.1)
    until_close,      // a response whose body runs until the server closes
    interim,          // a 1xx other than 101: no body, and the final response is still to come
    switch_protocols, // a 101, or a 2xx to CONNECT: what follows the head is another protocol
    invalid,          // cannot be delimited: `error` and `problem` say why
};

struct body_framing {
    body_kind kind = body_kind::none;
    std::uint64_t length = 0; // body_kind::length only; a number to count down, never allocated
    error_code error = error_code::malformed_head; // body_kind::invalid only
    std::string problem;                           // body_kind::invalid only
};

// What a response's framing depends on in the request it answers.
struct request_summary {
    bool head_method = false;    // HEAD: the response has no body, whatever it says
    bool connect_method = false; // CONNECT: a 2xx opens a tunnel
    bool upgrade = false;        // has an Upgrade field (any protocol)
};

request_summary summarize(const http_head& request);

// The request asks to leave HTTP on this connection if the response agrees: an Upgrade field
// (any token: websocket, tcp, h2c...) or CONNECT. The client's next bytes are not HTTP until
// the response says no.
inline bool opens_tunnel(const request_summary& r) noexcept {
    return r.upgrade || r.connect_method;
}

body_framing request_framing(const http_head& request);
body_framing response_framing(const http_head& response, const request_summary& request);

} // namespace wssniff::handshake

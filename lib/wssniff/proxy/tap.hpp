#pragma once
// The tap: what the relay tells whoever watches a connection (the shape of Envoy's per-socket
// tapper). The relay moves bytes and reports what it forwarded, that a direction ended, that
// something failed, that the connection closed; it knows nothing of records or sessions. A
// session-backed tap (session_tap.hpp) turns those events into records; null_tap serves
// forward-only runs (--emit none). Tests can drive a relay with a tap that just remembers.

#include "wssniff/base/bytes.hpp"
#include "wssniff/base/forward_hop.hpp"
#include "wssniff/base/tls_info.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace wssniff::proxy {

using wall_clock = std::chrono::system_clock;

// Why a connection pair ended, in the relay's terms.
enum class end_reason : std::uint8_t {
    client_closed,
    server_closed,
    client_reset,
    server_reset,
    upstream_unreachable,
    timeout,
    shutdown,
};

// What went wrong that the relay answered itself.
enum class failure : std::uint8_t {
    upstream_unreachable,  // resolve, connect or the upstream's TLS failed (the client got a 502)
    client_tls_failed,     // the client's TLS handshake failed
    proxy_denied,          // forward mode: the host named is not in --allow (the client got a 403)
    proxy_request_invalid, // forward mode: not a request a forward proxy serves (a 400)
};

class tap {
  public:
    virtual ~tap() = default;

    // Forward mode, before relaying(): the client's request named this server; a CONNECT
    // tunnel's bytes or an absolute-form upgrade follow.
    virtual void forwarding(const forward_hop& hop) { (void)hop; }

    // Forward mode: this connection is not one the records describe (an absolute-form request
    // that is no upgrade, a client gone before its request): nothing is written for it.
    virtual void unrecorded() {}

    // Setup is done (TLS legs up, upstream connected): bytes start to flow. `tls` is set when
    // either leg speaks TLS.
    virtual void relaying(const tls_info* tls) = 0;

    // `chunk` of `dir` has been taken by the destination's socket (the records describe the
    // bytes forwarded); it was read at `read_at`. The view is valid only during the call.
    virtual void forwarded(direction dir, bytes_view chunk, wall_clock::time_point read_at) = 0;

    // `dir`'s source finished sending (FIN).
    virtual void ended(direction dir, wall_clock::time_point at) = 0;

    // The relay answered a failure itself; `detail` is one sentence without the failure's name.
    virtual void failed(failure what, const std::string& detail) = 0;

    // The connection is torn down and every write has reported; nothing follows.
    virtual void closed(end_reason why, wall_clock::time_point at) = 0;

    // Whether the opening exchange is over: an upgrade was answered (to WebSocket or anything
    // else) or the bytes are no longer understood as HTTP. From then on the handshake timeout
    // no longer applies: it may cut a stalled setup, never a working tunnel.
    virtual bool setup_over() const = 0;

    // Whether the upstream has a request and has not answered anything yet (the handshake
    // timeout then tells the client so with a 504).
    virtual bool awaiting_first_response() const = 0;
};

// Forward only: nothing is watched. There is no setup to time out either, since nothing looks
// at the HTTP exchange.
class null_tap final : public tap {
  public:
    void relaying(const tls_info*) override {}
    void forwarded(direction, bytes_view, wall_clock::time_point) override {}
    void ended(direction, wall_clock::time_point) override {}
    void failed(failure, const std::string&) override {}
    void closed(end_reason, wall_clock::time_point) override {}
    bool setup_over() const override { return true; }
    bool awaiting_first_response() const override { return false; }
};

} // namespace wssniff::proxy

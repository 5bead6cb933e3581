#pragma once
// The one change the proxy makes to forwarded bytes: the Host header of the client's request
// heads, set to the upstream's authority (servers check Host, and the client addressed the
// proxy). Everything else passes as read. Sans-I/O: the relay feeds it both directions.
//
// It follows the exchange as the session does, with the same body framing
// (handshake/body_framing): request heads are held until complete (bounded by max_head),
// rewritten and released; bodies (Content-Length or chunked) pass through, and the next head
// is rewritten too (keep-alive). After a request that asks to switch protocols (any Upgrade
// field, or CONNECT), client bytes pass through unchanged until the response is known: a 101
// (or a 2xx to CONNECT) makes both directions opaque and the rewriter steps aside for good; a
// refusal (401, 403, 426...) sends it back to rewriting the heads that start after it. A head
// that began passing through unrewritten while the response was unknown passes whole. On
// anything it cannot delimit (Content-Length values that disagree, a malformed head or chunk,
// an oversized head) it steps aside too: bytes flow untouched.

#include "wssniff/base/bytes.hpp"
#include "wssniff/base/small_queue.hpp"
#include "wssniff/handshake/body_framing.hpp"
#include "wssniff/handshake/body_reader.hpp"
#include "wssniff/handshake/http_head.hpp"

#include <cstdint>
#include <string>

namespace wssniff::proxy {

class host_rewriter {
  public:
    explicit host_rewriter(std::string authority, std::size_t max_head = 64 * 1024);

    // Client bytes as read. Appends to `out` what may be forwarded now; bytes of an unfinished
    // head that will be rewritten are held.
    void feed(bytes_view in, std::string& out);

    // Server bytes, as forwarded to the client, in order. Must not run at the same time as
    // feed() (one strand).
    void feed_response(bytes_view in);

    // Nothing more will be rewritten and nothing is held: forward both directions as read,
    // without calling feed() or feed_response() again.
    bool stepped_aside() const noexcept { return aside_ && held_.empty(); }

    // The client closed: whatever is held goes out as it is.
    void flush(std::string& out);

  private:
    enum class state : std::uint8_t { head, body };

    void on_request_head(std::string& out);
    void on_request_end();
    void on_response_head();
    void rewrite_host();
    void step_aside() noexcept { aside_ = true; }

    std::string authority_;
    bool aside_ = false;

    // Client to server.
    state request_state_ = state::head;
    handshake::head_parser request_parser_;
    handshake::body_reader request_body_;
    bool head_started_ = false; // the head in progress has had its first byte
    bool rewriting_ = true;     // the head in progress is held and rewritten
    std::string held_;
    small_queue<handshake::request_summary> requests_; // sent, not yet answered
    std::size_t tunnels_pending_ = 0;                  // of them, asking to switch protocols

    // Server to client.
    state response_state_ = state::head;
    handshake::head_parser response_parser_;
    handshake::body_reader response_body_;
};

} // namespace wssniff::proxy

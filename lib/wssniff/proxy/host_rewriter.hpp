#pragma once
// The one change the proxy makes to forwarded bytes: the Host header of the client's request
// heads, set to the upstream's authority (servers check Host, and the client addressed the
// proxy). Everything else passes as read.
//
// Request heads are held until complete (bounded), rewritten, then released. Request bodies
// with Content-Length pass through and the next head is rewritten too (keep-alive). From the
// first upgrade request on, or on anything it cannot delimit (chunked bodies, an oversized or
// malformed head), the rewriter steps aside for the rest of the connection: bytes flow untouched.

#include "wssniff/base/bytes.hpp"
#include "wssniff/handshake/http_head.hpp"

#include <cstdint>
#include <string>

namespace wssniff::proxy {

class host_rewriter {
  public:
    explicit host_rewriter(std::string authority, std::size_t max_head = 64 * 1024);

    // Appends to `out` what may be forwarded now; bytes of an unfinished head are held.
    void feed(bytes_view in, std::string& out);

    // Nothing more will be rewritten: forward bytes as read, without calling feed().
    bool stepped_aside() const noexcept { return state_ == state::aside; }

    // The client closed: whatever is held goes out as it is.
    void flush(std::string& out);

  private:
    enum class state : std::uint8_t { head, body, aside };

    void rewrite_head(std::string& out);

    std::string authority_;
    std::size_t max_head_;
    state state_ = state::head;
    std::string held_;
    handshake::head_parser parser_;
    std::uint64_t body_remaining_ = 0;
};

} // namespace wssniff::proxy

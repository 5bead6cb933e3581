#pragma once
// The records of the NDJSON format (version 1), as plain values. Field names follow the wire
// format in schemas/record.schema.json; the writer turns these into one JSON line each.

#include "wssniff/base/bytes.hpp"
#include "wssniff/base/error_code.hpp"
#include "wssniff/base/forward_hop.hpp"
#include "wssniff/base/tls_info.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace wssniff::record {

// How the payload field is written. `automatic` picks text or hex per frame (DESIGN: `auto`).
enum class payload_mode : std::uint8_t { automatic, text, hex, base64, none };

// The payload field a record carries: its name is the encoding.
enum class payload_encoding : std::uint8_t { none, text, hex, base64 };

struct payload {
    payload_encoding encoding = payload_encoding::none;
    std::string bytes;       // raw bytes; the writer encodes them (and repairs invalid UTF-8)
    bool truncated = false;  // holds only the first --max-payload bytes
    bool valid_utf8 = false; // already validated: the writer need not check it again
};

struct deflate_record {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    std::uint8_t server_max_window_bits = 15;
    std::uint8_t client_max_window_bits = 15;
};

using header_list = std::vector<std::pair<std::string, std::string>>;

// TLS facts (base/tls_info.hpp) as the handshake record shows them.
using tls_leg = wssniff::tls_leg;
using tls_upstream_leg = wssniff::tls_upstream_leg;
using tls_info = wssniff::tls_info;

struct handshake {
    std::optional<std::string> client;   // "host:port", live capture only
    std::optional<std::string> upstream; // "host:port", live capture only
    // When the request head was complete, as the record's ts is when the response head was:
    // their difference is the upgrade's latency as the proxy saw it. Set when ts is.
    std::optional<std::chrono::system_clock::time_point> request_ts;
    std::string method;
    std::string target;
    int status = 0;
    header_list request_headers;
    header_list response_headers;
    std::optional<std::string> subprotocol;
    std::optional<std::string> extensions;
    std::optional<deflate_record> deflate;
    std::optional<tls_info> tls;      // live capture with TLS on either leg
    std::optional<forward_hop> proxy; // `proxy --mode forward`: how the client came through
    // A copy at the start of a rotated output segment (`--rotate-*`), of a connection still
    // open, so that each segment stands alone; `segment` is that segment's number.
    bool repeat = false;
    std::uint64_t segment = 0;
};

struct frame {
    direction dir = direction::c2s;
    std::uint64_t seq = 0;
    std::uint64_t offset = 0;
    bool fin = false;
    bool rsv1 = false;
    bool rsv2 = false;
    bool rsv3 = false;
    std::uint8_t opcode = 0;
    bool masked = false;
    std::array<std::uint8_t, 4> mask{};
    std::uint64_t len = 0;
    bool compressed = false;
    std::uint64_t data_len = 0; // inflated bytes this frame contributed (compressed only)
    payload data;
    std::optional<std::uint16_t> close_code;
    std::optional<std::string> close_reason;
};

struct message {
    direction dir = direction::c2s;
    std::uint64_t seq = 0;
    std::uint8_t opcode = 1; // text or binary
    std::uint64_t frames = 0;
    std::uint64_t len = 0;
    bool compressed = false;
    payload data;
};

struct error {
    error_code code = error_code::malformed_head;
    std::string message;
    bool fatal = false;
    std::optional<direction> dir;
    std::optional<std::uint64_t> offset;
};

enum class close_reason : std::uint8_t {
    client_closed,
    server_closed,
    client_reset,
    server_reset,
    upstream_unreachable,
    timeout,
    shutdown,
    end_of_input, // offline decode: both captures were read to the end
};

constexpr std::string_view to_string(close_reason r) noexcept {
    switch (r) {
    case close_reason::client_closed: return "client_closed";
    case close_reason::server_closed: return "server_closed";
    case close_reason::client_reset: return "client_reset";
    case close_reason::server_reset: return "server_reset";
    case close_reason::upstream_unreachable: return "upstream_unreachable";
    case close_reason::timeout: return "timeout";
    case close_reason::shutdown: return "shutdown";
    case close_reason::end_of_input: return "end_of_input";
    }
    return "shutdown";
}

struct close {
    close_reason reason = close_reason::shutdown;
    std::uint64_t bytes_c2s = 0;
    std::uint64_t bytes_s2c = 0;
    std::uint64_t frames_c2s = 0;
    std::uint64_t frames_s2c = 0;
};

using timestamp = std::chrono::system_clock::time_point;

using record_body = std::variant<handshake, frame, message, error, close>;

struct record {
    std::uint64_t conn = 1;
    std::optional<timestamp> ts; // when the record's last byte was seen; live capture only
    record_body body;
};

// Where records go: the NDJSON writer, an in-process capture, a test's vector.
class sink {
  public:
    virtual ~sink() = default;
    virtual void write(record&& r) = 0;
    // The producer is done for now (one socket read's records, say). A sink that hands records
    // to another thread wakes it here rather than once per record.
    virtual void end_of_batch() {}

    // A sink that writes only some records says so; a session then asks may_keep() when a frame
    // or message begins, and a record no filter could keep costs no payload copy and is never
    // built. `head` is that frame or message record holding what its header tells (conn, dir,
    // seq, op; a frame's offset, flags, mask, len and compressed); the fields its payload decides
    // (ts, the payload, truncated, data_len, close_code and close_reason; a message's frames, len
    // and compressed) are unset and must not decide the answer. false: no record with this head
    // would be written, whatever the payload.
    virtual bool selective() const noexcept { return false; }
    virtual bool may_keep(const record& head) {
        (void)head;
        return true;
    }
};

} // namespace wssniff::record

#pragma once
// The one table of everything wssniff reports as an `error` record. Each row: a stable
// snake_case id (part of the record contract: never rename one), one human sentence, and the
// close code a strict endpoint would send for it (0 where no endpoint would send one).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace wssniff {

#define WSSNIFF_ERROR_CODES(XX)                                                                    \
    /* RFC 6455 §5.2: opcodes 3-7 and 11-15 are reserved for further frames */                    \
    XX(reserved_opcode, "frame uses a reserved opcode", 1002)                                      \
    /* RFC 6455 §5.2: RSV bits must be 0 unless an extension defines them */                      \
    XX(reserved_bits, "frame sets an RSV bit that no negotiated extension defines", 1002)          \
    /* RFC 7692 §6.1: the per-message compressed bit lives on the first frame only */             \
    XX(rsv1_on_continuation, "continuation frame sets RSV1", 1002)                                 \
    /* RFC 7692 §6.1: control frames are never compressed */                                      \
    XX(rsv1_on_control, "control frame sets RSV1", 1002)                                           \
    /* RFC 6455 §5.5 */                                                                           \
    XX(control_frame_too_long, "control frame payload is longer than 125 bytes", 1002)             \
    XX(control_frame_fragmented, "control frame has FIN clear", 1002)                              \
    /* RFC 6455 §5.2: the minimal number of bytes must be used to encode the length */            \
    XX(non_minimal_length, "payload length is not encoded in the fewest bytes", 1002)              \
    XX(length_top_bit_set, "64-bit payload length has its most significant bit set", 1002)         \
    /* RFC 6455 §5.1 */                                                                           \
    XX(unmasked_client_frame, "client-to-server frame is not masked", 1002)                        \
    XX(masked_server_frame, "server-to-client frame is masked", 1002)                              \
    /* RFC 6455 §5.4 */                                                                           \
    XX(unexpected_continuation, "continuation frame without a fragmented message in progress",     \
       1002)                                                                                       \
    XX(expected_continuation, "new data frame while a fragmented message is in progress", 1002)    \
    /* RFC 6455 §5.6, §8.1 */                                                                    \
    XX(invalid_utf8, "text message is not valid UTF-8", 1007)                                      \
    /* RFC 6455 §5.5.1, §7.4 */                                                                  \
    XX(close_payload_one_byte, "close frame payload is 1 byte, too short for a close code", 1002)  \
    XX(invalid_close_code, "close frame carries a close code that may not be sent", 1002)          \
    XX(invalid_close_reason, "close reason is not valid UTF-8", 1007)                              \
    /* RFC 6455 §5.5.1: after sending a close frame an endpoint sends no more frames */           \
    XX(frame_after_close, "frame sent after a close frame", 1002)                                  \
    XX(stream_ended_mid_frame, "stream ended inside a frame", 1006)                                \
    XX(stream_ended_mid_message, "stream ended inside a fragmented message", 1006)                 \
    /* HTTP/1.1 heads (RFC 9112) and the opening handshake (RFC 6455 §4) */                       \
    XX(head_too_large, "HTTP head is larger than the limit", 0)                                    \
    XX(malformed_head, "HTTP head is malformed", 0)                                                \
    XX(invalid_extension_params, "Sec-WebSocket-Extensions parameters are invalid", 1010)          \
    XX(pending_overflow, "client sent more bytes before the server's response than are kept", 0)   \
    XX(unsupported_body, "HTTP message body cannot be delimited, so later heads are not parsed",   \
       0)                                                                                          \
    /* RFC 9112 §6.3: differing Content-Length values make the message invalid */                 \
    XX(conflicting_content_length,                                                                 \
       "HTTP message has Content-Length values that disagree, so its body cannot be delimited", 0) \
    /* RFC 9112 §7.1 */                                                                           \
    XX(invalid_chunked_body, "chunked HTTP message body is malformed", 0)                          \
    /* RFC 7692: the payload of this direction is no longer inflated after these */                \
    XX(inflate_failed,                                                                             \
       "permessage-deflate data does not inflate; later payloads of this direction are shown as "  \
       "sent",                                                                                     \
       1007)                                                                                       \
    XX(inflate_limit,                                                                              \
       "a message inflates past --max-message; later payloads of this direction are shown as "     \
       "sent",                                                                                     \
       1009)                                                                                       \
    /* The proxy */                                                                                \
    XX(upstream_unreachable, "cannot connect to the upstream", 0)                                  \
    XX(client_tls_failed, "the client's TLS handshake failed", 0)                                  \
    /* The forward proxy (--mode forward) */                                                       \
    XX(proxy_denied, "the forward proxy's --allow list does not include the requested host", 0)    \
    XX(proxy_request_invalid,                                                                      \
       "the request to the forward proxy is not CONNECT HOST:PORT or an absolute-form http:// "    \
       "request",                                                                                  \
       0)                                                                                          \
    /* wssniff replay: the live server against the archive */                                      \
    XX(replay_rejected, "the server did not accept the replayed upgrade as it did in the archive", \
       0)                                                                                          \
    XX(replay_sync_timeout, "the server did not send the messages the archive shows in time", 0)   \
    /* The capture itself (not the traffic) */                                                     \
    XX(records_dropped, "records were dropped because the output fell behind", 0)                  \
    /* wssniff decode --pcap: what a packet capture did not hold */                                \
    XX(capture_gap, "bytes of this direction are missing from the capture; its framing is lost",   \
       0)                                                                                          \
    XX(overlap_conflict,                                                                           \
       "a retransmitted TCP segment carries other bytes than the first; the first are decoded", 0) \
    XX(tls_not_decoded, "the connection is TLS, whose WebSocket traffic a capture cannot show", 0)

enum class error_code : std::uint8_t {
#define XX(id, message, close_code) id,
    WSSNIFF_ERROR_CODES(XX)
#undef XX
};

// How many codes there are: error_code values run from 0 to error_code_count - 1 (for tables
// indexed by code, such as the proxy's error counters).
inline constexpr std::size_t error_code_count = 0
#define XX(id, message, close_code) +1
    WSSNIFF_ERROR_CODES(XX)
#undef XX
    ;

constexpr std::string_view to_string(error_code c) noexcept {
    switch (c) {
#define XX(id, message, close_code)                                                                \
    case error_code::id: return #id;
        WSSNIFF_ERROR_CODES(XX)
#undef XX
    }
    return "unknown";
}

constexpr std::string_view describe(error_code c) noexcept {
    switch (c) {
#define XX(id, message, close_code)                                                                \
    case error_code::id: return message;
        WSSNIFF_ERROR_CODES(XX)
#undef XX
    }
    return "unknown error";
}

constexpr std::uint16_t close_code_for(error_code c) noexcept {
    switch (c) {
#define XX(id, message, close_code)                                                                \
    case error_code::id: return close_code;
        WSSNIFF_ERROR_CODES(XX)
#undef XX
    }
    return 0;
}

} // namespace wssniff

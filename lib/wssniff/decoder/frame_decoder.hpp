#pragma once
// Incremental, sans-I/O RFC 6455 frame decoder for one direction of one connection.
//
// feed() takes the bytes as they were forwarded, split anywhere, and never writes to them.
// Payload is unmasked into a buffer the decoder owns and handed out in pieces, so memory per
// decoder is fixed whatever the frame sizes. Rule violations whose frame length is still known
// are reported and decoding goes on; one that loses the framing (a length that cannot be right)
// is reported once as fatal and the decoder stays failed.

#include "wssniff/base/bytes.hpp"
#include "wssniff/base/error_code.hpp"
#include "wssniff/decoder/mask.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace wssniff::decoder {

struct frame_header {
    std::uint64_t offset = 0;         // of the frame's first byte in this direction's stream
    std::uint64_t payload_length = 0; // as the header says; a number, never an allocation size
    mask_key mask{};
    std::uint8_t opcode = 0; // raw 4 bits
    std::uint8_t header_size = 0;
    bool fin = false;
    bool rsv1 = false;
    bool rsv2 = false;
    bool rsv3 = false;
    bool masked = false;
    // The data message this frame carries part of: text (1), binary (2), or 0 for control
    // frames, reserved opcodes and continuations with no message to continue.
    std::uint8_t message_opcode = 0;
    bool message_begins = false; // first frame of a data message
    bool message_ends = false;   // last frame of a data message
};

struct frame_end {
    bool stream_ended = false; // the stream ended before the payload was complete
    std::uint64_t payload_seen = 0;
    // Close frames with at least two payload bytes.
    std::optional<std::uint16_t> close_code;
    bytes_view close_reason; // valid until the handler returns
};

struct decode_error {
    error_code code;
    std::uint64_t offset = 0;
    bool fatal = false;
};

// What the handler needs of a frame's payload, said when its header arrives.
enum class payload_delivery : std::uint8_t {
    bytes,       // on_frame_payload with the unmasked bytes
    length_only, // no on_frame_payload calls and no unmasking; frame_end.payload_seen counts
                 // them. Control frames are delivered whole regardless (the close frame is
                 // parsed from them).
};

// Receives the decoder's events, in stream order. Errors about a frame come before its
// on_frame_end.
class frame_handler {
  public:
    virtual payload_delivery on_frame_header(const frame_header& header) = 0;
    virtual void on_frame_payload(const frame_header& header, bytes_view unmasked) = 0;
    virtual void on_frame_end(const frame_header& header, const frame_end& end) = 0;
    virtual void on_error(const decode_error& error) = 0;

  protected:
    ~frame_handler() = default;
};

struct decoder_options {
    direction dir = direction::c2s;
    // permessage-deflate was negotiated: RSV1 may be set on the first frame of a data message.
    bool rsv1_allowed = false;
    // An extension wssniff does not know was negotiated: the RSV bits are its to define.
    bool rsv_defined_by_extension = false;
};

class frame_decoder {
  public:
    frame_decoder(frame_handler& handler, decoder_options options) noexcept;

    void feed(bytes_view in);
    // End of stream: reports a frame or message left unfinished.
    void finish();

    std::uint64_t offset() const noexcept { return offset_; }
    bool failed() const noexcept { return state_ == state::failed; }
    bool in_message() const noexcept { return message_opcode_ != 0; }

  private:
    enum class state : std::uint8_t { header, payload, failed, finished };

    void begin_frame();
    void end_frame(bool stream_ended);
    void check_close_payload(frame_end& end);
    void error(error_code code, std::uint64_t offset, bool fatal = false);

    frame_handler& handler_;
    decoder_options options_;
    state state_ = state::header;

    std::uint64_t offset_ = 0; // bytes consumed so far in this direction
    frame_header header_;
    std::uint64_t payload_remaining_ = 0;

    // Header bytes collected so far; 14 is the longest header (2 + 8 length + 4 mask).
    std::array<std::uint8_t, 14> header_bytes_{};
    std::uint8_t header_have_ = 0;

    std::uint8_t message_opcode_ = 0; // data message in progress across fragments, 0 if none
    bool deliver_payload_ = true;     // the handler wants this frame's bytes
    bool close_seen_ = false;

    // Control frame payloads are at most 125 bytes (longer ones are an error); close frames are
    // parsed from this copy.
    std::array<std::uint8_t, 125> control_payload_{};
    std::size_t control_have_ = 0;

    // Unmasked payload is handed out from here, one piece of at most unmasked_size at a time.
    // Allocated at the first masked payload (a server-to-client decoder, or a connection that
    // stays silent, never needs it) and grown as pieces grow: a chat of 200-byte messages keeps
    // 256 bytes, not 16 KiB, on each of thousands of connections.
    static constexpr std::size_t unmasked_size = 16 * 1024;
    static constexpr std::size_t unmasked_min_size = 256;
    std::unique_ptr<std::uint8_t[]> unmasked_;
    std::size_t unmasked_capacity_ = 0;
};

} // namespace wssniff::decoder

#pragma once
// One direction's frames, turned into records: frame and message records with their payload
// fields, UTF-8 judgement of text messages, and permessage-deflate inflation (RFC 7692) when
// it was negotiated. Fed by the frame decoder; knows nothing of HTTP.

#include "wssniff/decoder/frame_decoder.hpp"
#include "wssniff/decoder/utf8.hpp"
#include "wssniff/inflate/inflater.hpp"
#include "wssniff/record/record.hpp"
#include "wssniff/session/held_payload.hpp"
#include "wssniff/session/session.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace wssniff::session {

// permessage-deflate as it applies to one direction's sender.
struct deflate_direction {
    // Negotiated with parameters that make sense: inflate. Otherwise RSV1 still marks
    // compressed messages, but they are shown as sent.
    bool inflate = true;
    bool no_context_takeover = false;
};

// The payload field of a record: encoding chosen by mode, cut to what was kept.
record::payload make_payload(const session_options& options, std::string&& bytes,
                             std::uint64_t total, bool valid_text, bool stream_ended);

class frame_recorder final : public decoder::frame_handler, private inflate::output_handler {
  public:
    frame_recorder(record_emitter& out, direction dir, const session_options& options,
                   std::optional<deflate_direction> deflate);

    std::uint64_t frames() const noexcept { return frames_; }
    // Data messages ended so far: complete, or cut by the end of the stream.
    std::uint64_t messages() const noexcept { return message_seq_; }

    // Gives back the payload held for a frame or message left unfinished (the stream ended
    // after a fatal error): nothing more will be recorded.
    void release() noexcept;

    decoder::payload_delivery on_frame_header(const decoder::frame_header& h) override;
    void on_frame_payload(const decoder::frame_header& h, bytes_view data) override;
    void on_frame_end(const decoder::frame_header& h, const decoder::frame_end& end) override;
    void on_error(const decoder::decode_error& e) override;

  private:
    // Whether the record of the frame or message that `h` begins is worth building: emitted at
    // all, and, behind a filtering sink, one it could keep.
    bool frame_wanted(const decoder::frame_header& h);
    bool message_wanted(const decoder::frame_header& h);
    // Data bytes of the current frame (inflated when compressed); `wire_at` is the stream
    // offset of the first of them when they are the bytes on the wire.
    void take(const decoder::frame_header& h, bytes_view data,
              std::optional<std::uint64_t> wire_at);
    void on_inflated(bytes_view data) override;
    void inflate_stopped(inflate::inflater::status status, const decoder::frame_header& h);
    void emit_error(error_code code, std::uint64_t offset, bool fatal = false,
                    std::string_view detail = {});
    // The stream ended inside a data message: said by an error (when it was fragmented) and,
    // with messages emitted, by a message record with what arrived, truncated.
    void message_cut(std::uint64_t offset, bool report);

    record_emitter& out_;
    direction dir_;
    const session_options& options_;
    bool deflate_negotiated_ = false;           // RSV1 marks a compressed message
    std::optional<inflate::inflater> inflater_; // reset to nullopt once inflation has failed
    std::uint64_t frames_ = 0;

    // The frame in progress.
    const decoder::frame_header* header_ = nullptr;
    held_payload frame_data_;
    std::uint64_t frame_data_len_ = 0;
    decoder::utf8_validator frame_utf8_;
    bool frame_inflated_ = false;
    bool frame_counted_only_ = false; // its bytes were not delivered (payload_delivery)
    bool frame_wanted_ = false;       // its record is emitted (and may be kept by the sink)

    // The data message in progress.
    held_payload message_data_;
    std::uint64_t message_len_ = 0;
    std::uint8_t message_opcode_ = 0; // of the data message in progress, 0 if none
    std::uint64_t message_frames_ = 0;
    std::uint64_t message_seq_ = 0;
    decoder::utf8_validator message_utf8_;
    bool message_utf8_reported_ = false;
    bool message_compressed_ = false; // RSV1 on its first frame under permessage-deflate
    bool message_inflated_ = false;   // compressed, and inflated from its first byte on
    bool message_judged_ = false;     // its text can be judged (uncompressed, or inflating)
    bool message_wanted_ = false;     // its record is emitted (and may be kept by the sink)

    // The heads asked about, kept so that asking builds nothing. Only a filtering sink asks:
    // for any other they are not made (two records are over a kilobyte, and an idle
    // connection has two recorders).
    struct heads {
        record::record frame;
        record::record message;
    };
    std::unique_ptr<heads> heads_;
};

} // namespace wssniff::session

#pragma once
// One direction of a connection, as the session sees it: HTTP heads and bodies, then (after a
// 101) frames, or nothing more it can decode. It parses what its phase says and reports what
// happened (a head is complete, a body ended, something failed); it never decides what comes
// next. The session does, by calling the transitions below: only it knows both directions.

#include "wssniff/base/bytes.hpp"
#include "wssniff/decoder/frame_decoder.hpp"
#include "wssniff/handshake/body_framing.hpp"
#include "wssniff/handshake/body_reader.hpp"
#include "wssniff/handshake/http_head.hpp"
#include "wssniff/session/frame_recorder.hpp"
#include "wssniff/session/session.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace wssniff::session {

class direction_stream {
  public:
    enum class phase : std::uint8_t {
        head,              // reading an HTTP head
        body,              // reading a body the session said to expect
        awaiting_response, // client bytes after an upgrade request: held until the answer
        frames,            // WebSocket frames, decoded
        opaque,            // not HTTP and not WebSocket (another protocol, a body until close)
        failed,            // a fatal error was reported: never decoded again
    };
    enum class event : std::uint8_t { none, head_complete, body_complete, failed, overflow };
    struct step {
        std::size_t used = 0;
        event what = event::none;
    };

    direction_stream(direction dir, const session_options& options);

    // Takes what the current phase takes of `in`, stopping right after an event.
    step consume(bytes_view in);

    direction dir() const noexcept { return dir_; }
    phase current() const noexcept { return phase_; }
    // After head_complete: the head.
    const handshake::http_head& head() const noexcept { return http().parser.head(); }
    // After failed or overflow: the error to report.
    error_code error() const noexcept { return error_; }
    const std::string& detail() const noexcept { return detail_; }

    // Transitions; the session calls them.
    void next_head();
    void expect_body(const handshake::body_framing& framing);
    void await_response() noexcept { phase_ = phase::awaiting_response; }
    // The upgrade was refused: back to HTTP. Returns the bytes held meanwhile, to consume again.
    std::string resume_http();
    // The upgrade succeeded: frames from here on, starting with the bytes held meanwhile.
    void start_frames(record_emitter& out, decoder::decoder_options options,
                      std::optional<deflate_direction> deflate);
    void make_opaque() noexcept;
    void fail() noexcept;

    // That side finished sending.
    void end();
    std::uint64_t frames() const noexcept {
        const auto* f = std::get_if<frames_state>(&state_);
        return f != nullptr ? f->recorder.frames() : 0;
    }
    std::uint64_t messages() const noexcept {
        const auto* f = std::get_if<frames_state>(&state_);
        return f != nullptr ? f->recorder.messages() : 0;
    }

    std::uint64_t bytes = 0; // fed so far, as forwarded

  private:
    // What the HTTP phases (head, body, awaiting_response) parse and hold; kept, unused, by
    // opaque and failed.
    struct http_state {
        http_state(direction dir, std::size_t max_head)
            : parser(dir == direction::c2s ? handshake::head_parser::kind::request
                                           : handshake::head_parser::kind::response,
                     max_head) {}
        handshake::head_parser parser;
        handshake::body_reader body;
        std::string pending; // held while awaiting the response
    };
    // What the frames phase decodes with. Made in place and never moved: the decoder holds a
    // reference to the recorder.
    struct frames_state {
        frames_state(record_emitter& out, direction dir, const session_options& options,
                     std::optional<deflate_direction> deflate, decoder::decoder_options decoding)
            : recorder(out, dir, options, deflate), decoder(recorder, decoding) {}
        frame_recorder recorder;
        decoder::frame_decoder decoder;
    };

    http_state& http() noexcept { return std::get<http_state>(state_); }
    const http_state& http() const noexcept { return std::get<http_state>(state_); }
    frames_state& framing() noexcept { return std::get<frames_state>(state_); }

    step consume_head(bytes_view in);
    step consume_body(bytes_view in);
    step hold(bytes_view in);

    direction dir_;
    const session_options& options_;
    phase phase_ = phase::head;
    bool ended_ = false;
    error_code error_ = error_code::malformed_head;
    std::string detail_;
    // One or the other, as the phase says: a direction that switched to frames keeps no HTTP
    // parser, and one that reads HTTP no decoder (each about 400 bytes).
    std::variant<http_state, frames_state> state_;
};

} // namespace wssniff::session

#include "wssniff/session/direction_stream.hpp"

namespace wssniff::session {

direction_stream::direction_stream(direction dir, const session_options& options)
    : dir_(dir), options_(options), state_(std::in_place_type<http_state>, dir, options.max_head) {}

direction_stream::step direction_stream::consume(bytes_view in) {
    switch (phase_) {
    case phase::head: return consume_head(in);
    case phase::body: return consume_body(in);
    case phase::awaiting_response: return hold(in);
    case phase::frames: framing().decoder.feed(in); return {in.size(), event::none};
    case phase::opaque:
    case phase::failed: return {in.size(), event::none};
    }
    return {in.size(), event::none};
}

direction_stream::step direction_stream::consume_head(bytes_view in) {
    handshake::head_parser& parser = http().parser;
    const std::size_t used = parser.feed(in);
    switch (parser.state()) {
    case handshake::head_parser::status::need_more: return {used, event::none};
    case handshake::head_parser::status::done: return {used, event::head_complete};
    case handshake::head_parser::status::failed:
        error_ = parser.error();
        detail_ = std::string(parser.error_detail());
        return {used, event::failed};
    }
    return {used, event::none};
}

direction_stream::step direction_stream::consume_body(bytes_view in) {
    handshake::body_reader& body = http().body;
    const std::size_t used = body.feed(in);
    switch (body.state()) {
    case handshake::body_reader::status::in_body: return {used, event::none};
    case handshake::body_reader::status::done: return {used, event::body_complete};
    case handshake::body_reader::status::failed:
        error_ = error_code::invalid_chunked_body;
        detail_ = std::string(body.problem());
        return {used, event::failed};
    }
    return {used, event::none};
}

direction_stream::step direction_stream::hold(bytes_view in) {
    std::string& pending = http().pending;
    if (in.size() > options_.max_pending - pending.size()) {
        error_ = error_code::pending_overflow;
        detail_ = "more than " + std::to_string(options_.max_pending) + " bytes";
        return {in.size(), event::overflow};
    }
    pending.append(in.chars());
    return {in.size(), event::none};
}

void direction_stream::next_head() {
    http().parser.reset();
    phase_ = phase::head;
}

void direction_stream::expect_body(const handshake::body_framing& framing) {
    http().body.start(framing);
    phase_ = phase::body;
}

std::string direction_stream::resume_http() {
    next_head();
    std::string held;
    held.swap(http().pending);
    return held;
}

void direction_stream::start_frames(record_emitter& out, decoder::decoder_options options,
                                    std::optional<deflate_direction> deflate) {
    // The held bytes first: the HTTP state ends here (the handshake record has what it needed
    // of the head).
    std::string held;
    held.swap(http().pending);
    frames_state& f = state_.emplace<frames_state>(out, dir_, options_, deflate, options);
    phase_ = phase::frames;
    if (!held.empty()) {
        f.decoder.feed(bytes_view{held});
    }
    if (ended_) {
        f.decoder.finish();
    }
}

void direction_stream::make_opaque() noexcept {
    if (phase_ != phase::failed) {
        phase_ = phase::opaque;
    }
    if (auto* h = std::get_if<http_state>(&state_)) {
        std::string().swap(h->pending);
        h->parser.release();
    }
}

void direction_stream::fail() noexcept {
    phase_ = phase::failed;
    if (auto* h = std::get_if<http_state>(&state_)) {
        std::string().swap(h->pending);
    }
}

void direction_stream::end() {
    if (ended_) {
        return;
    }
    ended_ = true;
    if (phase_ == phase::frames) {
        frames_state& f = framing();
        f.decoder.finish();
        f.recorder.release(); // what a fatal error left unfinished gives its budget back
    }
}

} // namespace wssniff::session

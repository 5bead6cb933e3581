#include "wssniff/session/direction_stream.hpp"

namespace wssniff::session {

direction_stream::direction_stream(direction dir, const session_options& options)
    : dir_(dir), options_(options),
      parser_(dir == direction::c2s ? handshake::head_parser::kind::request
                                    : handshake::head_parser::kind::response,
              options.max_head) {}

direction_stream::step direction_stream::consume(bytes_view in) {
    switch (phase_) {
    case phase::head: return consume_head(in);
    case phase::body: return consume_body(in);
    case phase::awaiting_response: return hold(in);
    case phase::frames: decoder_->feed(in); return {in.size(), event::none};
    case phase::opaque:
    case phase::failed: return {in.size(), event::none};
    }
    return {in.size(), event::none};
}

direction_stream::step direction_stream::consume_head(bytes_view in) {
    const std::size_t used = parser_.feed(in);
    switch (parser_.state()) {
    case handshake::head_parser::status::need_more: return {used, event::none};
    case handshake::head_parser::status::done: return {used, event::head_complete};
    case handshake::head_parser::status::failed:
        error_ = parser_.error();
        detail_ = std::string(parser_.error_detail());
        return {used, event::failed};
    }
    return {used, event::none};
}

direction_stream::step direction_stream::consume_body(bytes_view in) {
    const std::size_t used = body_.feed(in);
    switch (body_.state()) {
    case handshake::body_reader::status::in_body: return {used, event::none};
    case handshake::body_reader::status::done: return {used, event::body_complete};
    case handshake::body_reader::status::failed:
        error_ = error_code::invalid_chunked_body;
        detail_ = std::string(body_.problem());
        return {used, event::failed};
    }
    return {used, event::none};
}

direction_stream::step direction_stream::hold(bytes_view in) {
    if (in.size() > options_.max_pending - pending_.size()) {
        error_ = error_code::pending_overflow;
        detail_ = "more than " + std::to_string(options_.max_pending) + " bytes";
        return {in.size(), event::overflow};
    }
    pending_.append(in.chars());
    return {in.size(), event::none};
}

void direction_stream::next_head() {
    parser_.reset();
    phase_ = phase::head;
}

void direction_stream::expect_body(const handshake::body_framing& framing) {
    body_.start(framing);
    phase_ = phase::body;
}

std::string direction_stream::resume_http() {
    next_head();
    std::string held;
    held.swap(pending_);
    return held;
}

void direction_stream::start_frames(record_emitter& out, decoder::decoder_options options,
                                    std::optional<deflate_direction> deflate) {
    recorder_.emplace(out, dir_, options_, deflate);
    decoder_.emplace(*recorder_, options);
    phase_ = phase::frames;
    parser_.release(); // the handshake record has what it needed of the head
    std::string held;
    held.swap(pending_);
    if (!held.empty()) {
        decoder_->feed(bytes_view{held});
    }
    if (ended_) {
        decoder_->finish();
    }
}

void direction_stream::make_opaque() noexcept {
    if (phase_ != phase::failed) {
        phase_ = phase::opaque;
    }
    std::string().swap(pending_);
    parser_.release();
}

void direction_stream::fail() noexcept {
    phase_ = phase::failed;
    std::string().swap(pending_);
}

void direction_stream::end() {
    if (ended_) {
        return;
    }
    ended_ = true;
    if (phase_ == phase::frames) {
        decoder_->finish();
        recorder_->release(); // what a fatal error left unfinished gives its budget back
    }
}

} // namespace wssniff::session

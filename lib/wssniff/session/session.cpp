#include "wssniff/session/session.hpp"

#include "wssniff/record/error_record.hpp"
#include "wssniff/session/direction_stream.hpp"
#include "wssniff/session/upgrade.hpp"

namespace wssniff::session {

namespace {

constexpr std::size_t max_queued_requests = 64;

using phase = direction_stream::phase;
using handshake::body_kind;

} // namespace

session::session(record::sink& sink, session_options options)
    : sink_(sink), selective_(sink.selective()), options_(std::move(options)),
      c2s_(std::make_unique<direction_stream>(direction::c2s, options_)),
      s2c_(std::make_unique<direction_stream>(direction::s2c, options_)) {
    if (!options_.handshake) {
        c2s_->start_frames(*this, decoder::decoder_options{direction::c2s}, std::nullopt);
        s2c_->start_frames(*this, decoder::decoder_options{direction::s2c}, std::nullopt);
    }
}

session::~session() = default;

void session::emit_record(record::record_body&& body) {
    sink_.write(record::record{options_.conn, now_, std::move(body)});
}

// A head or body that cannot be parsed ends this direction's decoding; its bytes still flow.
void session::http_error(direction dir, error_code code, const std::string& detail) {
    const bool fatal = code != error_code::invalid_extension_params;
    count_error(options_, code);
    emit_record(record::make_error(code, detail, dir, std::nullopt, fatal));
    if (fatal) {
        of(dir).fail();
    }
}

std::size_t session::consume(direction dir, bytes_view in, bool stop_after_head) {
    direction_stream& s = of(dir);
    std::size_t pos = 0;
    while (pos < in.size()) {
        if (stop_after_head && !in_http(dir)) {
            return pos;
        }
        const direction_stream::step step = s.consume(in.subview(pos));
        pos += step.used;
        switch (step.what) {
        case direction_stream::event::none:
            if (step.used == 0) {
                return pos; // cannot happen: a phase takes bytes or says why not
            }
            break;
        case direction_stream::event::head_complete:
            if (dir == direction::c2s) {
                on_request();
            } else {
                on_response();
            }
            if (stop_after_head) {
                return pos;
            }
            break;
        case direction_stream::event::body_complete:
            if (dir == direction::c2s) {
                on_request_end();
            } else {
                s.next_head();
            }
            break;
        case direction_stream::event::failed:
        case direction_stream::event::overflow: http_error(dir, s.error(), s.detail()); break;
        }
    }
    return pos;
}

void session::on_request() {
    pending_request request;
    request.head = c2s_->head();
    request.summary = handshake::summarize(request.head);
    request.websocket = request.head.has_token("Upgrade", "websocket");
    request.ts = now_;
    if (requests_.size() >= max_queued_requests) {
        http_error(direction::c2s, error_code::unsupported_body,
                   "more than " + std::to_string(max_queued_requests) +
                       " requests without responses");
        return;
    }
    const handshake::body_framing framing = handshake::request_framing(request.head);
    requests_.push_back(std::move(request));
    switch (framing.kind) {
    case body_kind::length:
    case body_kind::chunked: c2s_->expect_body(framing); return;
    case body_kind::invalid: http_error(direction::c2s, framing.error, framing.problem); return;
    default: on_request_end(); return;
    }
}

// The request is complete, body included: after an upgrade request the client's next bytes
// wait for the response to say what they are. A server may answer before the body ends (a 413,
// or a response to a request it did not wait for): then that request is no longer pending, and
// the response has settled what follows it.
void session::on_request_end() {
    if (!requests_.empty() && handshake::opens_tunnel(requests_.back().summary)) {
        c2s_->await_response();
    } else {
        c2s_->next_head();
    }
}

void session::on_response() {
    const handshake::http_head& response = s2c_->head();
    const handshake::request_summary summary =
        requests_.empty() ? handshake::request_summary{} : requests_.front().summary;
    const handshake::body_framing framing = handshake::response_framing(response, summary);
    if (framing.kind == body_kind::interim) {
        s2c_->next_head(); // 100 Continue and the like: the final response is still to come
        return;
    }
    std::optional<pending_request> request;
    if (!requests_.empty()) {
        request = std::move(requests_.front());
        requests_.pop_front();
    }
    handshake::negotiated_extensions extensions;
    if (request && request->websocket) {
        extensions = negotiated(response);
        record::handshake h = make_handshake_record(options_, request->head, response, extensions);
        h.request_ts = request->ts;
        emit_record(std::move(h));
        if (extensions.deflate_accepted && !extensions.deflate) {
            http_error(direction::s2c, error_code::invalid_extension_params, extensions.problem);
        }
    }
    if (framing.kind == body_kind::switch_protocols) {
        // Only client bytes held for this answer are frames: a direction reported fatal (held
        // bytes overflowed, say) is never decoded again.
        if (request && request->websocket && response.status == 101) {
            const frame_setup server = setup_for(direction::s2c, extensions);
            s2c_->start_frames(*this, server.decoder, server.deflate);
            if (c2s_->current() == phase::awaiting_response) {
                const frame_setup client = setup_for(direction::c2s, extensions);
                c2s_->start_frames(*this, client.decoder, client.deflate);
            } else {
                c2s_->make_opaque();
            }
        } else {
            // Another protocol (or CONNECT's tunnel): nothing left to decode either way.
            s2c_->make_opaque();
            c2s_->make_opaque();
        }
        return;
    }
    if (request && handshake::opens_tunnel(request->summary) &&
        c2s_->current() == phase::awaiting_response) {
        // Refused: what the client sent meanwhile is its next requests.
        const std::string held = c2s_->resume_http();
        consume(direction::c2s, bytes_view{held}, false);
    }
    switch (framing.kind) {
    case body_kind::length:
    case body_kind::chunked: s2c_->expect_body(framing); return;
    case body_kind::until_close:
        // The body runs until the server closes (RFC 9112 §6.3): nothing more to parse.
        s2c_->make_opaque();
        return;
    case body_kind::invalid: http_error(direction::s2c, framing.error, framing.problem); return;
    default: s2c_->next_head(); return;
    }
}

direction_stream& session::of(direction dir) const noexcept {
    return dir == direction::c2s ? *c2s_ : *s2c_;
}

void session::feed(direction dir, bytes_view in, std::optional<record::timestamp> ts) {
    if (closed_) {
        return;
    }
    now_ = ts;
    of(dir).bytes += in.size();
    consume(dir, in, false);
    sink_.end_of_batch();
}

std::size_t session::feed_head(direction dir, bytes_view in) {
    if (closed_) {
        return 0;
    }
    now_.reset();
    const std::size_t n = consume(dir, in, true);
    of(dir).bytes += n;
    sink_.end_of_batch();
    return n;
}

bool session::in_http(direction dir) const noexcept {
    const phase p = of(dir).current();
    return p == phase::head || p == phase::body;
}

bool session::awaiting_response() const noexcept {
    return !requests_.empty();
}

bool session::setup_over() const noexcept {
    for (const direction_stream* s : {c2s_.get(), s2c_.get()}) {
        const phase p = s->current();
        if (p == phase::frames || p == phase::opaque || p == phase::failed) {
            return true;
        }
    }
    return false;
}

bool session::upgraded() const noexcept {
    return s2c_->current() == phase::frames;
}

std::uint64_t session::bytes(direction dir) const noexcept {
    return of(dir).bytes;
}

std::uint64_t session::frames(direction dir) const noexcept {
    return of(dir).frames();
}

std::uint64_t session::messages(direction dir) const noexcept {
    return of(dir).messages();
}

void session::end(direction dir, std::optional<record::timestamp> ts) {
    if (closed_) {
        return;
    }
    now_ = ts;
    of(dir).end();
    sink_.end_of_batch();
}

void session::close(record::close_reason reason, std::optional<record::timestamp> ts) {
    if (closed_) {
        return;
    }
    now_ = ts;
    c2s_->end();
    s2c_->end();
    record::close c;
    c.reason = reason;
    c.bytes_c2s = c2s_->bytes;
    c.bytes_s2c = s2c_->bytes;
    c.frames_c2s = c2s_->frames();
    c.frames_s2c = s2c_->frames();
    emit_record(std::move(c));
    closed_ = true;
    sink_.end_of_batch();
}

} // namespace wssniff::session

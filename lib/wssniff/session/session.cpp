#include "wssniff/session/session.hpp"

#include "wssniff/session/frame_recorder.hpp"

#include "wssniff/decoder/frame_decoder.hpp"
#include "wssniff/decoder/opcode.hpp"
#include "wssniff/decoder/utf8.hpp"
#include "wssniff/handshake/extensions.hpp"
#include "wssniff/handshake/http_head.hpp"
#include "wssniff/handshake/text.hpp"

#include <algorithm>
#include <cctype>
#include <deque>

namespace wssniff::session {

namespace {

using handshake::iequals;

constexpr std::size_t max_queued_requests = 64;

// Credentials do not belong in a capture file by default. The auth scheme stays: it is what
// one debugs ("Bearer" or "Basic"), the secret is not.
record::header_list redacted(const handshake::header_fields& fields, bool redact) {
    record::header_list out(fields.begin(), fields.end());
    if (!redact) {
        return out;
    }
    for (auto& [name, value] : out) {
        if (iequals(name, "authorization") || iequals(name, "proxy-authorization")) {
            const std::size_t space = value.find(' ');
            value =
                space == std::string::npos ? "[redacted]" : value.substr(0, space) + " [redacted]";
        } else if (iequals(name, "cookie") || iequals(name, "set-cookie")) {
            value = "[redacted]";
        }
    }
    return out;
}

struct pending_request {
    handshake::http_head head;
    bool upgrade = false;
    bool head_method = false;
};

} // namespace

class session::stream {
  public:
    enum class phase : std::uint8_t { http, body, awaiting_response, frames, passthrough };

    stream(session& owner, direction dir)
        : owner_(owner), dir_(dir),
          parser_(dir == direction::c2s ? handshake::head_parser::kind::request
                                        : handshake::head_parser::kind::response,
                  owner.options_.max_head) {}

    direction dir() const noexcept { return dir_; }
    phase current() const noexcept { return phase_; }
    std::uint64_t bytes = 0;
    std::deque<pending_request> requests; // c2s: requests awaiting their responses

    handshake::head_parser& parser() noexcept { return parser_; }

    void set_phase(phase p) noexcept { phase_ = p; }
    void skip_body(std::uint64_t n) noexcept {
        body_remaining_ = n;
        phase_ = n == 0 ? phase::http : phase::body;
    }

    std::size_t consume(bytes_view in, bool stop_after_head) {
        std::size_t pos = 0;
        while (pos < in.size()) {
            if (stop_after_head && phase_ != phase::http && phase_ != phase::body) {
                return pos;
            }
            switch (phase_) {
            case phase::http: {
                pos += parser_.feed(in.subview(pos));
                if (parser_.state() == handshake::head_parser::status::failed) {
                    owner_.http_error(dir_, parser_.error(), std::string(parser_.error_detail()));
                    phase_ = phase::passthrough;
                } else if (parser_.state() == handshake::head_parser::status::done) {
                    if (dir_ == direction::c2s) {
                        owner_.on_request(*this);
                    } else {
                        owner_.on_response(*this);
                    }
                    if (stop_after_head) {
                        return pos;
                    }
                }
                break;
            }
            case phase::body: {
                const auto take = static_cast<std::size_t>(
                    std::min<std::uint64_t>(body_remaining_, in.size() - pos));
                pos += take;
                body_remaining_ -= take;
                if (body_remaining_ == 0) {
                    phase_ = phase::http;
                }
                break;
            }
            case phase::awaiting_response: {
                const std::size_t room = owner_.options_.max_pending - pending_.size();
                if (in.size() - pos > room) {
                    owner_.http_error(dir_, error_code::pending_overflow,
                                      "more than " + std::to_string(owner_.options_.max_pending) +
                                          " bytes");
                    pending_.clear();
                    pending_.shrink_to_fit();
                    phase_ = phase::passthrough;
                    return in.size();
                }
                pending_.append(in.chars().substr(pos));
                return in.size();
            }
            case phase::frames: decoder_->feed(in.subview(pos)); return in.size();
            case phase::passthrough: return in.size();
            }
        }
        return pos;
    }

    // The upgrade succeeded: from here on this direction carries frames.
    void start_frames(decoder::decoder_options options, std::optional<deflate_direction> deflate) {
        recorder_.emplace(owner_, dir_, owner_.options_, deflate);
        decoder_.emplace(*recorder_, options);
        phase_ = phase::frames;
        std::string held;
        held.swap(pending_);
        if (!held.empty()) {
            decoder_->feed(bytes_view{held});
        }
        if (ended_) {
            decoder_->finish();
        }
    }

    // The upgrade was refused: held client bytes are the next requests.
    void resume_http() {
        phase_ = phase::http;
        parser_.reset();
        std::string held;
        held.swap(pending_);
        if (!held.empty()) {
            consume(bytes_view{held}, false);
        }
    }

    void end() {
        if (ended_) {
            return;
        }
        ended_ = true;
        if (phase_ == phase::frames) {
            decoder_->finish();
        }
    }

    std::uint64_t frames() const noexcept { return recorder_ ? recorder_->frames() : 0; }

  private:
    session& owner_;
    direction dir_;
    phase phase_ = phase::http;
    handshake::head_parser parser_;
    std::uint64_t body_remaining_ = 0;
    std::string pending_;
    bool ended_ = false;
    // Declared before the decoder, which holds a reference to it.
    std::optional<frame_recorder> recorder_;
    std::optional<decoder::frame_decoder> decoder_;
};

session::session(record::sink& sink, session_options options)
    : sink_(sink), options_(std::move(options)),
      c2s_(std::make_unique<stream>(*this, direction::c2s)),
      s2c_(std::make_unique<stream>(*this, direction::s2c)) {
    if (!options_.handshake) {
        c2s_->start_frames(decoder::decoder_options{direction::c2s}, std::nullopt);
        s2c_->start_frames(decoder::decoder_options{direction::s2c}, std::nullopt);
    }
}

session::~session() = default;

void session::emit(record::record_body&& body) {
    sink_.write(record::record{options_.conn, now_, std::move(body)});
}

void session::emit_record(record::record_body&& body) {
    emit(std::move(body));
}

void session::emit_error(direction dir, error_code code, std::optional<std::uint64_t> offset,
                         bool fatal, const std::string& detail) {
    record::error e;
    e.code = code;
    e.message = std::string(describe(code));
    if (!detail.empty()) {
        e.message += ": " + detail;
    }
    e.fatal = fatal;
    e.dir = dir;
    e.offset = offset;
    emit(std::move(e));
}

// A head that cannot be parsed ends this direction's decoding; its bytes still flow.
void session::http_error(direction dir, error_code code, const std::string& detail) {
    emit_error(dir, code, std::nullopt, code != error_code::invalid_extension_params, detail);
}

void session::on_request(stream& c2s) {
    pending_request request;
    request.head = c2s.parser().head();
    request.upgrade = request.head.has_token("Upgrade", "websocket");
    request.head_method = request.head.method == "HEAD";
    c2s.parser().reset();
    if (c2s.requests.size() >= max_queued_requests) {
        http_error(direction::c2s, error_code::unsupported_body,
                   "more than " + std::to_string(max_queued_requests) +
                       " requests without responses");
        c2s.set_phase(stream::phase::passthrough);
        return;
    }
    const bool upgrade = request.upgrade;
    const std::string* transfer_encoding = request.head.find("Transfer-Encoding");
    const std::string* length = request.head.find("Content-Length");
    c2s.requests.push_back(std::move(request));
    if (upgrade) {
        c2s.set_phase(stream::phase::awaiting_response);
        return;
    }
    if (transfer_encoding) {
        http_error(direction::c2s, error_code::unsupported_body, "request uses Transfer-Encoding");
        c2s.set_phase(stream::phase::passthrough);
        return;
    }
    if (length) {
        const auto n = handshake::parse_content_length(*length);
        if (!n) {
            http_error(direction::c2s, error_code::malformed_head,
                       "Content-Length is not a number");
            c2s.set_phase(stream::phase::passthrough);
            return;
        }
        c2s.skip_body(*n);
    }
}

void session::on_response(stream& s2c) {
    const handshake::http_head response = s2c.parser().head();
    s2c.parser().reset();
    if (response.status >= 100 && response.status < 200 && response.status != 101) {
        return; // informational (100 Continue): the final response is still to come
    }
    std::optional<pending_request> request;
    if (!c2s_->requests.empty()) {
        request = std::move(c2s_->requests.front());
        c2s_->requests.pop_front();
    }
    const bool upgrade_attempt = request && request->upgrade;
    handshake::negotiated_extensions extensions;
    if (upgrade_attempt) {
        record::handshake h;
        h.client = options_.client;
        h.upstream = options_.upstream;
        h.tls = options_.tls;
        h.method = request->head.method;
        h.target = request->head.target;
        h.status = response.status;
        h.request_headers = redacted(request->head.fields, options_.redact);
        h.response_headers = redacted(response.fields, options_.redact);
        if (const std::string* protocol = response.find("Sec-WebSocket-Protocol")) {
            h.subprotocol = *protocol;
        }
        h.extensions = response.joined("Sec-WebSocket-Extensions");
        if (h.extensions && response.status == 101) {
            extensions = handshake::parse_response_extensions(*h.extensions);
            if (extensions.deflate) {
                const handshake::deflate_params& d = *extensions.deflate;
                h.deflate = record::deflate_record{
                    d.server_no_context_takeover, d.client_no_context_takeover,
                    d.server_max_window_bits, d.client_max_window_bits};
            }
        }
        emit(std::move(h));
        if (extensions.deflate_accepted && !extensions.deflate) {
            http_error(direction::s2c, error_code::invalid_extension_params, extensions.problem);
        }
    }

    if (response.status == 101) {
        if (!upgrade_attempt) {
            // Switched to a protocol that is not WebSocket: nothing left to decode.
            c2s_->set_phase(stream::phase::passthrough);
            s2c.set_phase(stream::phase::passthrough);
            return;
        }
        decoder::decoder_options options;
        options.rsv1_allowed = extensions.deflate_accepted;
        options.rsv_defined_by_extension = extensions.unknown_extension;
        std::optional<deflate_direction> server_deflate;
        std::optional<deflate_direction> client_deflate;
        if (extensions.deflate) {
            server_deflate =
                deflate_direction{true, extensions.deflate->server_no_context_takeover};
            client_deflate =
                deflate_direction{true, extensions.deflate->client_no_context_takeover};
        } else if (extensions.deflate_accepted) {
            server_deflate = client_deflate = deflate_direction{false, false};
        }
        options.dir = direction::s2c;
        s2c.start_frames(options, server_deflate);
        options.dir = direction::c2s;
        c2s_->start_frames(options, client_deflate);
        return;
    }

    if (upgrade_attempt && c2s_->current() == stream::phase::awaiting_response) {
        c2s_->resume_http();
    }
    const bool no_body =
        (request && request->head_method) || response.status == 204 || response.status == 304;
    if (no_body) {
        return;
    }
    if (response.find("Transfer-Encoding")) {
        http_error(direction::s2c, error_code::unsupported_body, "response uses Transfer-Encoding");
        s2c.set_phase(stream::phase::passthrough);
        return;
    }
    if (const std::string* length = response.find("Content-Length")) {
        const auto n = handshake::parse_content_length(*length);
        if (!n) {
            http_error(direction::s2c, error_code::malformed_head,
                       "Content-Length is not a number");
            s2c.set_phase(stream::phase::passthrough);
            return;
        }
        s2c.skip_body(*n);
        return;
    }
    // No length: the body runs until the server closes (RFC 9112 §6.3), nothing more to parse.
    s2c.set_phase(stream::phase::passthrough);
}

session::stream& session::of(direction dir) const noexcept {
    return dir == direction::c2s ? *c2s_ : *s2c_;
}

void session::feed(direction dir, bytes_view in, std::optional<record::timestamp> ts) {
    if (closed_) {
        return;
    }
    now_ = ts;
    stream& s = of(dir);
    s.bytes += in.size();
    s.consume(in, false);
    sink_.end_of_batch();
}

std::size_t session::feed_head(direction dir, bytes_view in) {
    if (closed_) {
        return 0;
    }
    now_.reset();
    stream& s = of(dir);
    const std::size_t n = s.consume(in, true);
    s.bytes += n;
    sink_.end_of_batch();
    return n;
}

bool session::in_http(direction dir) const noexcept {
    const auto p = of(dir).current();
    return p == stream::phase::http || p == stream::phase::body;
}

bool session::awaiting_response() const noexcept {
    return !c2s_->requests.empty();
}

bool session::upgraded() const noexcept {
    return s2c_->current() == stream::phase::frames;
}

std::uint64_t session::bytes(direction dir) const noexcept {
    return of(dir).bytes;
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
    emit(std::move(c));
    closed_ = true;
    sink_.end_of_batch();
}

} // namespace wssniff::session

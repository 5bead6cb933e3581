#include "wssniff/proxy/session_tap.hpp"

#include "wssniff/handshake/http_head.hpp"
#include "wssniff/proxy/proxy_state.hpp"
#include "wssniff/record/error_record.hpp"

namespace wssniff::proxy {

namespace {

record::close_reason to_close_reason(end_reason why) {
    switch (why) {
    case end_reason::client_closed: return record::close_reason::client_closed;
    case end_reason::server_closed: return record::close_reason::server_closed;
    case end_reason::client_reset: return record::close_reason::client_reset;
    case end_reason::server_reset: return record::close_reason::server_reset;
    case end_reason::upstream_unreachable: return record::close_reason::upstream_unreachable;
    case end_reason::timeout: return record::close_reason::timeout;
    case end_reason::shutdown: return record::close_reason::shutdown;
    }
    return record::close_reason::shutdown;
}

} // namespace

// Drops what the filters reject. The bytes forwarded after the conn-filter rejected the
// connection reach no session, so they are added to its close record here.
class session_tap::filtered_sink final : public record::sink {
  public:
    filtered_sink(record::sink& out, const filter::filters& filters)
        : out_(out), selector_(filters) {}

    void write(record::record&& r) override {
        if (auto* c = std::get_if<record::close>(&r.body)) {
            c->bytes_c2s += undecoded[0];
            c->bytes_s2c += undecoded[1];
        }
        if (selector_.keep(r)) {
            out_.write(std::move(r));
        }
    }
    void end_of_batch() override { out_.end_of_batch(); }
    bool selective() const noexcept override { return true; }
    bool may_keep(const record::record& head) override { return selector_.may_keep(head); }
    bool rejected() const noexcept { return selector_.rejected(); }

    std::array<std::uint64_t, 2> undecoded{}; // c2s, s2c

  private:
    record::sink& out_;
    filter::connection_filter selector_;
};

session_tap::session_tap(record::sink& sink, session::session_options options,
                         const filter::filters& filters, traffic_counters* counters)
    : sink_(sink), counters_(counters), state_(std::move(options)) {
    if (filters.any()) {
        filtered_ = std::make_unique<filtered_sink>(sink_, filters);
    }
}

session_tap::~session_tap() = default;

bool session_tap::forward_only() const noexcept {
    return filtered_ && filtered_->rejected();
}

record::sink& session_tap::out() noexcept {
    return filtered_ ? static_cast<record::sink&>(*filtered_) : sink_;
}

const session::session_options& session_tap::options() const noexcept {
    if (const auto* s = live()) {
        return s->options();
    }
    return std::get<session::session_options>(state_);
}

session::session& session_tap::start() {
    // Out of the variant first: emplacing the session ends the options' lifetime.
    session::session_options options = std::move(std::get<session::session_options>(state_));
    return state_.emplace<session::session>(out(), std::move(options));
}

void session_tap::forwarding(const forward_hop& hop) {
    // The proxy's request comes before the relay starts (tap.hpp), when the options are still
    // the tap's.
    auto* options = std::get_if<session::session_options>(&state_);
    if (options == nullptr) {
        return;
    }
    options->proxy = hop;
    options->upstream = hop.authority;
    tunnel_undecided_ = hop.mode == "connect";
}

// A tunnel's first bytes, judged by the head parser's first-byte check (a TLS ClientHello's
// 0x16 is no request's first byte).
namespace {
bool starts_like_request(bytes_view chunk) {
    handshake::head_parser probe(handshake::head_parser::kind::request);
    probe.feed(chunk.first(std::min<std::size_t>(chunk.size(), 64)));
    return probe.state() != handshake::head_parser::status::failed;
}
} // namespace

void session_tap::relaying(const tls_info* tls) {
    // Once per connection; the session takes the options with the TLS details in them.
    auto* options = std::get_if<session::session_options>(&state_);
    if (options == nullptr) {
        return;
    }
    if (tls != nullptr) {
        options->tls = *tls;
    }
    start();
}

void session_tap::forwarded(direction dir, bytes_view chunk, wall_clock::time_point read_at) {
    if (silent_) {
        return;
    }
    if (tunnel_undecided_) {
        tunnel_undecided_ = false;
        // HTTP clients speak first: a server that does is not one.
        opaque_ = dir == direction::s2c || !starts_like_request(chunk);
    }
    if (opaque_) {
        opaque_bytes_[dir == direction::c2s ? 0 : 1] += chunk.size();
        return;
    }
    if (forward_only()) {
        filtered_->undecoded[dir == direction::c2s ? 0 : 1] += chunk.size();
        return;
    }
    live()->feed(dir, chunk, read_at);
    tally(dir);
}

void session_tap::tally(direction dir) noexcept {
    if (counters_ == nullptr) {
        return;
    }
    // Only this loop's thread writes its counters: a plain load and store, and only when the
    // chunk completed something.
    const std::size_t i = dir == direction::c2s ? 0 : 1;
    const session::session& session = *live();
    const std::uint64_t frames = session.frames(dir);
    if (frames != frames_tallied_[i]) {
        traffic_counters::add(counters_->frames[i], frames - frames_tallied_[i]);
        frames_tallied_[i] = frames;
    }
    const std::uint64_t messages = session.messages(dir);
    if (messages != messages_tallied_[i]) {
        traffic_counters::add(counters_->messages[i], messages - messages_tallied_[i]);
        messages_tallied_[i] = messages;
    }
}

void session_tap::ended(direction dir, wall_clock::time_point at) {
    session::session* session = live();
    if (silent_ || opaque_ || session == nullptr) {
        return;
    }
    if (forward_only()) {
        return; // nothing decoded, nothing left unfinished to report
    }
    session->end(dir, at);
    tally(dir); // a message the end cut is counted
}

void session_tap::failed(failure what, const std::string& detail) {
    if (silent_) {
        return;
    }
    record::error e;
    switch (what) {
    case failure::client_tls_failed:
        e = record::make_error(error_code::client_tls_failed, detail, direction::c2s, {}, true);
        break;
    case failure::upstream_unreachable:
        e = record::make_error(error_code::upstream_unreachable, detail, {}, {}, true);
        break;
    case failure::proxy_denied:
        e = record::make_error(error_code::proxy_denied, detail, direction::c2s, {}, true);
        break;
    case failure::proxy_request_invalid:
        e = record::make_error(error_code::proxy_request_invalid, detail, direction::c2s, {}, true);
        break;
    }
    session::count_error(options(), e.code);
    out().write(record::record{options().conn, wall_clock::now(), std::move(e)});
    out().end_of_batch();
}

void session_tap::closed(end_reason why, wall_clock::time_point at) {
    if (silent_) {
        return;
    }
    if (opaque_) {
        record::close c;
        c.reason = to_close_reason(why);
        c.bytes_c2s = opaque_bytes_[0];
        c.bytes_s2c = opaque_bytes_[1];
        out().write(record::record{options().conn, at, c});
        out().end_of_batch();
        return;
    }
    session::session* session = live();
    if (session == nullptr) {
        session = &start();
    }
    session->close(to_close_reason(why), at);
    tally(direction::c2s);
    tally(direction::s2c);
}

bool session_tap::setup_over() const {
    const session::session* session = live();
    return silent_ || opaque_ || forward_only() || (session != nullptr && session->setup_over());
}

bool session_tap::awaiting_first_response() const {
    const session::session* session = live();
    return !silent_ && !opaque_ && !forward_only() && session != nullptr &&
           session->awaiting_response() && session->bytes(direction::s2c) == 0;
}

} // namespace wssniff::proxy

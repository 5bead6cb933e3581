#include "wssniff/proxy/session_tap.hpp"

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

session_tap::session_tap(record::sink& sink, session::session_options options)
    : sink_(sink), options_(std::move(options)) {}

void session_tap::relaying(const tls_info* tls) {
    if (tls != nullptr) {
        options_.tls = *tls;
    }
    session_.emplace(sink_, options_);
}

void session_tap::forwarded(direction dir, bytes_view chunk, wall_clock::time_point read_at) {
    session_->feed(dir, chunk, read_at);
}

void session_tap::ended(direction dir, wall_clock::time_point at) {
    session_->end(dir, at);
}

void session_tap::failed(failure what, const std::string& detail) {
    record::error e =
        what == failure::client_tls_failed
            ? record::make_error(error_code::client_tls_failed, detail, direction::c2s, {}, true)
            : record::make_error(error_code::upstream_unreachable, detail, {}, {}, true);
    sink_.write(record::record{options_.conn, wall_clock::now(), std::move(e)});
    sink_.end_of_batch();
}

void session_tap::closed(end_reason why, wall_clock::time_point at) {
    if (!session_) {
        session_.emplace(sink_, options_);
    }
    session_->close(to_close_reason(why), at);
}

bool session_tap::setup_over() const {
    return session_ && session_->setup_over();
}

bool session_tap::awaiting_first_response() const {
    return session_ && session_->awaiting_response() && session_->bytes(direction::s2c) == 0;
}

} // namespace wssniff::proxy

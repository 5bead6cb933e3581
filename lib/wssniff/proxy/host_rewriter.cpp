#include "wssniff/proxy/host_rewriter.hpp"

#include <algorithm>
#include <cctype>

namespace wssniff::proxy {

namespace {

using handshake::body_kind;
using handshake::body_reader;
using handshake::head_parser;

// Requests sent without responses that the rewriter follows; past it, it steps aside.
constexpr std::size_t max_queued_requests = 64;

bool starts_with_host(std::string_view line) noexcept {
    constexpr std::string_view host = "host:";
    return line.size() >= host.size() &&
           std::equal(host.begin(), host.end(), line.begin(), [](char a, char b) {
               return a == std::tolower(static_cast<unsigned char>(b));
           });
}

bool is_space(char c) noexcept {
    return c == ' ' || c == '\t';
}

} // namespace

host_rewriter::host_rewriter(std::string authority, std::size_t max_head)
    : authority_(std::move(authority)), request_parser_(head_parser::kind::request, max_head),
      response_parser_(head_parser::kind::response, max_head) {}

void host_rewriter::feed(bytes_view in, std::string& out) {
    std::size_t pos = 0;
    while (pos < in.size() && !aside_) {
        const bytes_view rest = in.subview(pos);
        if (request_state_ == state::body) {
            const std::size_t used = request_body_.feed(rest);
            out.append(rest.chars().substr(0, used));
            pos += used;
            if (request_body_.state() == body_reader::status::failed) {
                step_aside(); // a chunked body it cannot follow: the rest passes as read
            } else if (request_body_.state() == body_reader::status::done) {
                on_request_end();
            }
            continue;
        }
        if (!head_started_) {
            // Decided at the head's first byte: while an upgrade's answer is unknown the head
            // may be another protocol's bytes, so it passes as read, whatever comes later.
            head_started_ = true;
            rewriting_ = tunnels_pending_ == 0;
        }
        const std::size_t used = request_parser_.feed(rest);
        (rewriting_ ? held_ : out).append(rest.chars().substr(0, used));
        pos += used;
        if (request_parser_.state() == head_parser::status::failed) {
            step_aside(); // not ours to fix: pass it on untouched and stay out of the way
        } else if (request_parser_.state() == head_parser::status::done) {
            on_request_head(out);
        }
    }
    if (aside_) {
        out.append(held_);
        held_.clear();
        out.append(in.chars().substr(pos));
    }
}

void host_rewriter::on_request_head(std::string& out) {
    const handshake::http_head& head = request_parser_.head();
    const handshake::body_framing framing = handshake::request_framing(head);
    if (framing.kind == body_kind::invalid || requests_.size() >= max_queued_requests) {
        // Where this request ends is a guess (two Content-Length values, say): a Host line
        // might be in what the upstream reads as the body. Forward it all as sent.
        step_aside();
        return;
    }
    if (rewriting_) {
        rewrite_host();
        out.append(held_);
        held_.clear();
    }
    const handshake::request_summary summary = handshake::summarize(head);
    requests_.push_back(summary);
    if (handshake::opens_tunnel(summary)) {
        ++tunnels_pending_;
    }
    request_parser_.reset();
    head_started_ = false;
    if (framing.kind == body_kind::length || framing.kind == body_kind::chunked) {
        request_body_.start(framing);
        request_state_ = state::body;
        return;
    }
    on_request_end();
}

void host_rewriter::on_request_end() {
    request_state_ = state::head;
}

// Replaces the value of the first Host field in the raw bytes, so every other byte of the head
// (order, case, spacing) stays as the client sent it. An obs-folded value (continuation lines
// starting with whitespace, RFC 9112 §5.2) is replaced whole, continuation lines included.
void host_rewriter::rewrite_host() {
    std::size_t line = 0;
    while (line < held_.size()) {
        std::size_t end = held_.find('\n', line);
        if (end == std::string::npos) {
            return;
        }
        const std::string_view text(held_.data() + line, end - line);
        if (line == 0 || !starts_with_host(text)) {
            line = end + 1;
            continue;
        }
        while (end + 1 < held_.size() && is_space(held_[end + 1])) {
            end = held_.find('\n', end + 1); // the head ends with an empty line: always found
        }
        std::size_t value_begin = line + 5;
        while (value_begin < end && is_space(held_[value_begin])) {
            ++value_begin;
        }
        std::size_t value_end = end;
        if (value_end > value_begin && held_[value_end - 1] == '\r') {
            --value_end;
        }
        while (value_end > value_begin && is_space(held_[value_end - 1])) {
            --value_end;
        }
        // Only the value changes: the name as sent, the spaces around the value and the line
        // ending stay. An empty first line of a folded value gets the space a value needs.
        const bool bare =
            value_begin < end && (held_[value_begin] == '\r' || held_[value_begin] == '\n');
        held_.replace(value_begin, value_end - value_begin, bare ? " " + authority_ : authority_);
        return;
    }
}

void host_rewriter::feed_response(bytes_view in) {
    std::size_t pos = 0;
    while (pos < in.size() && !aside_) {
        const bytes_view rest = in.subview(pos);
        if (response_state_ == state::body) {
            pos += response_body_.feed(rest);
            if (response_body_.state() == body_reader::status::failed) {
                step_aside();
            } else if (response_body_.state() == body_reader::status::done) {
                response_state_ = state::head;
            }
            continue;
        }
        pos += response_parser_.feed(rest);
        if (response_parser_.state() == head_parser::status::failed) {
            step_aside();
        } else if (response_parser_.state() == head_parser::status::done) {
            on_response_head();
        }
    }
}

void host_rewriter::on_response_head() {
    const handshake::request_summary request =
        requests_.empty() ? handshake::request_summary{} : requests_.front();
    const handshake::body_framing framing =
        handshake::response_framing(response_parser_.head(), request);
    response_parser_.reset();
    if (framing.kind == body_kind::interim) {
        return; // 100 Continue and the like: the final response is still to come
    }
    if (!requests_.empty()) {
        if (handshake::opens_tunnel(requests_.front())) {
            --tunnels_pending_; // answered: heads that start from now on are rewritten again
        }
        requests_.pop_front();
    }
    switch (framing.kind) {
    case body_kind::length:
    case body_kind::chunked:
        response_body_.start(framing);
        response_state_ = state::body;
        return;
    case body_kind::none: return;
    default:
        // Switched protocols (both directions are opaque from here), a body until the server
        // closes, or one it cannot delimit: nothing more to follow.
        step_aside();
        return;
    }
}

void host_rewriter::flush(std::string& out) {
    out.append(held_);
    held_.clear();
    step_aside();
}

} // namespace wssniff::proxy

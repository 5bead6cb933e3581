#include "wssniff/proxy/host_rewriter.hpp"

#include "wssniff/handshake/text.hpp"

#include <algorithm>
#include <cctype>

namespace wssniff::proxy {

namespace {

bool starts_with_host(std::string_view line) noexcept {
    constexpr std::string_view host = "host:";
    return line.size() >= host.size() &&
           std::equal(host.begin(), host.end(), line.begin(), [](char a, char b) {
               return a == std::tolower(static_cast<unsigned char>(b));
           });
}

} // namespace

host_rewriter::host_rewriter(std::string authority, std::size_t max_head)
    : authority_(std::move(authority)), max_head_(max_head),
      parser_(handshake::head_parser::kind::request, max_head) {}

void host_rewriter::feed(bytes_view in, std::string& out) {
    std::size_t pos = 0;
    while (pos < in.size()) {
        switch (state_) {
        case state::aside: out.append(in.chars().substr(pos)); return;
        case state::body: {
            const auto take =
                static_cast<std::size_t>(std::min<std::uint64_t>(body_remaining_, in.size() - pos));
            out.append(in.chars().substr(pos, take));
            pos += take;
            body_remaining_ -= take;
            if (body_remaining_ == 0) {
                state_ = state::head;
            }
            break;
        }
        case state::head: {
            const std::size_t used = parser_.feed(in.subview(pos));
            held_.append(in.chars().substr(pos, used));
            pos += used;
            if (parser_.state() == handshake::head_parser::status::failed) {
                // Not ours to fix: pass it on untouched and stay out of the way.
                out.append(held_);
                held_.clear();
                state_ = state::aside;
            } else if (parser_.state() == handshake::head_parser::status::done) {
                rewrite_head(out);
            }
            break;
        }
        }
    }
}

void host_rewriter::rewrite_head(std::string& out) {
    const handshake::http_head& head = parser_.head();
    // Replace the value of the first Host line in the raw bytes, so every other byte of the
    // head (order, case, spacing) stays as the client sent it.
    std::size_t line = 0;
    while (line < held_.size()) {
        const std::size_t end = held_.find('\n', line);
        if (end == std::string::npos) {
            break;
        }
        const std::string_view text(held_.data() + line, end - line);
        if (line != 0 && starts_with_host(text)) {
            // Only the value changes: the name as sent, the spaces around the value, the
            // line ending all stay.
            std::size_t value_begin = line + 5;
            while (value_begin < end && (held_[value_begin] == ' ' || held_[value_begin] == '\t')) {
                ++value_begin;
            }
            std::size_t value_end = end;
            if (value_end > value_begin && held_[value_end - 1] == '\r') {
                --value_end;
            }
            while (value_end > value_begin &&
                   (held_[value_end - 1] == ' ' || held_[value_end - 1] == '\t')) {
                --value_end;
            }
            held_.replace(value_begin, value_end - value_begin, authority_);
            break;
        }
        line = end + 1;
    }
    out.append(held_);
    held_.clear();

    const bool upgrade = head.has_token("Upgrade", "websocket");
    const std::string* length = head.find("Content-Length");
    const bool chunked = head.find("Transfer-Encoding") != nullptr;
    if (upgrade || chunked) {
        state_ = state::aside;
        return;
    }
    std::uint64_t body = 0;
    if (length != nullptr) {
        const auto n = handshake::parse_content_length(*length);
        if (!n) {
            state_ = state::aside;
            return;
        }
        body = *n;
    }
    parser_.reset();
    body_remaining_ = body;
    state_ = body == 0 ? state::head : state::body;
}

void host_rewriter::flush(std::string& out) {
    out.append(held_);
    held_.clear();
    state_ = state::aside;
}

} // namespace wssniff::proxy

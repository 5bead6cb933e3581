#pragma once
// Reads past one HTTP message body as body_framing delimited it: a Content-Length to count
// down or a chunked body (chunked_body). It only finds where the body ends; its bytes are
// neither kept nor judged. The session and the Host rewriter both use it.

#include "wssniff/base/bytes.hpp"
#include "wssniff/handshake/body_framing.hpp"
#include "wssniff/handshake/chunked_body.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>

namespace wssniff::handshake {

class body_reader {
  public:
    using status = chunked_body::status;

    // framing.kind is length or chunked.
    void start(const body_framing& framing) {
        remaining_ = framing.length;
        chunked_.reset();
        if (framing.kind == body_kind::chunked) {
            chunked_.emplace();
        }
    }

    // Consumes body bytes up to the body's end; returns how many it took.
    std::size_t feed(bytes_view in) {
        if (chunked_) {
            return chunked_->feed(in);
        }
        const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
        remaining_ -= take;
        return take;
    }

    status state() const noexcept {
        if (chunked_) {
            return chunked_->state();
        }
        return remaining_ == 0 ? status::done : status::in_body;
    }

    // After failed: what was wrong with the chunked body.
    std::string_view problem() const noexcept {
        return chunked_ ? chunked_->problem() : std::string_view{};
    }

  private:
    std::uint64_t remaining_ = 0;
    std::optional<chunked_body> chunked_;
};

} // namespace wssniff::handshake

#pragma once
// RFC 7692 permessage-deflate, receiving side, for one direction: raw DEFLATE inflated
// incrementally as frames arrive, the context kept across messages unless no_context_takeover
// applies. Output comes in pieces from a fixed buffer and is capped per message, so memory per
// direction is zlib's state and window, whatever the input claims. The output buffer is one per
// thread, not one per direction: inflation hands each piece on before it inflates more, and a
// thousand idle deflate connections should not pin 16 KiB each for nothing.

#include "wssniff/base/bytes.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace wssniff::inflate {

class output_handler {
  public:
    virtual void on_inflated(bytes_view data) = 0;

  protected:
    ~output_handler() = default;
};

struct inflate_limits {
    // Inflated bytes one message may produce (a decompression bomb stops here).
    std::uint64_t max_message = 64ULL * 1024 * 1024;
};

class inflater {
  public:
    enum class status : std::uint8_t { ok, corrupt, limit_exceeded };

    inflater(bool no_context_takeover, inflate_limits limits);
    ~inflater();
    inflater(const inflater&) = delete;
    inflater& operator=(const inflater&) = delete;

    // Compressed bytes of the current message, in order.
    status feed(bytes_view compressed, output_handler& out);
    // The message's last frame ended: RFC 7692 §7.2.2 appends 00 00 ff ff before inflating
    // the rest.
    status end_message(output_handler& out);

    // After corrupt or limit_exceeded: what went wrong, in one phrase.
    const std::string& problem() const noexcept { return problem_; }

  private:
    status run(bytes_view in, output_handler& out);

    struct stream;
    std::unique_ptr<stream> z_;
    bool no_context_takeover_;
    inflate_limits limits_;
    std::uint64_t message_out_ = 0;
    std::string problem_;
};

} // namespace wssniff::inflate

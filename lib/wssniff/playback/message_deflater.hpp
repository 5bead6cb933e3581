#pragma once
// RFC 7692 permessage-deflate, sending side, for the replayer's client messages: raw DEFLATE
// with the window the server granted (client_max_window_bits), the context kept across messages
// unless client_no_context_takeover, each message flushed and its 00 00 ff ff tail removed
// (§7.2.1).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace wssniff::playback {

class message_deflater {
  public:
    message_deflater(std::uint8_t window_bits, bool no_context_takeover);
    ~message_deflater();
    message_deflater(const message_deflater&) = delete;
    message_deflater& operator=(const message_deflater&) = delete;

    // The next piece of a message, compressed. Each piece ends on a byte boundary (a sync
    // flush), so the pieces can be the payloads of the message's fragments; the last one
    // (`final`) drops the 00 00 ff ff tail that the receiver adds back.
    std::string compress(std::string_view piece, bool final = true);

  private:
    struct stream;
    std::unique_ptr<stream> z_;
    bool no_context_takeover_;
};

} // namespace wssniff::playback

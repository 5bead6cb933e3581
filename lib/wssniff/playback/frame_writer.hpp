#pragma once
// Client frames on the wire (RFC 6455 §5.2): the header with the shortest length encoding and a
// fresh masking key, then the masked payload. Any header the archive shows can be written,
// reserved opcodes and RSV bits included, so that a recorded protocol violation can be
// reproduced against a live server.

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace wssniff::playback {

struct frame_bits {
    bool fin = true;
    bool rsv1 = false;
    bool rsv2 = false;
    bool rsv3 = false;
    std::uint8_t opcode = 1; // raw 4 bits
};

// Fresh masking keys (RFC 6455 §5.3 asks for unpredictable ones; a mask only has to defeat
// cache poisoning by intermediaries, so a seeded PRNG per player is enough).
class mask_source {
  public:
    mask_source();
    std::array<std::uint8_t, 4> next();

  private:
    std::mt19937 random_;
};

// Appends one masked frame to `out`.
void append_client_frame(std::string& out, frame_bits bits, std::string_view payload,
                         std::array<std::uint8_t, 4> mask);

// A close frame's payload: the code (big-endian) then the reason; empty without a code.
std::string close_payload(std::optional<std::uint16_t> code, std::string_view reason);

} // namespace wssniff::playback

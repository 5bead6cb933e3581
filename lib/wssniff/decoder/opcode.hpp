#pragma once
// RFC 6455 §5.2 opcodes. The wire carries 4 bits, so frames keep the raw value (0-15) and this
// enum names the ones the RFC defines; everything else is reserved.

#include <cstdint>
#include <string_view>

namespace wssniff::decoder {

enum class opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

constexpr bool is_control(std::uint8_t op) noexcept {
    return (op & 0x8) != 0;
}

constexpr bool is_reserved(std::uint8_t op) noexcept {
    return (op >= 0x3 && op <= 0x7) || op >= 0xB;
}

// The `op` field of a frame record.
constexpr std::string_view op_name(std::uint8_t op) noexcept {
    switch (op) {
    case 0x0: return "continuation";
    case 0x1: return "text";
    case 0x2: return "binary";
    case 0x8: return "close";
    case 0x9: return "ping";
    case 0xA: return "pong";
    default: return "reserved";
    }
}

} // namespace wssniff::decoder

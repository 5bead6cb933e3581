#pragma once
// RFC 6455 §5.2 opcodes, and the names the record format gives them. They live in base because
// both the decoder (which judges frames by them) and the record writer (which prints the `op`
// field) need them, and the writer must not depend on the decoder. The wire carries 4 bits, so
// frames keep the raw value (0-15) and this enum names the ones the RFC defines; everything else
// is reserved.

#include <cstdint>
#include <string_view>

namespace wssniff {

enum class opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

// Frames and records carry the raw 4-bit value; these compare it with a named opcode.
constexpr bool operator==(std::uint8_t raw, opcode op) noexcept {
    return raw == static_cast<std::uint8_t>(op);
}
constexpr bool operator!=(std::uint8_t raw, opcode op) noexcept {
    return !(raw == op);
}
constexpr bool operator==(opcode op, std::uint8_t raw) noexcept {
    return raw == op;
}
constexpr bool operator!=(opcode op, std::uint8_t raw) noexcept {
    return !(raw == op);
}

// The raw value of a named opcode, for the fields that carry it.
constexpr std::uint8_t to_raw(opcode op) noexcept {
    return static_cast<std::uint8_t>(op);
}

constexpr bool is_control(std::uint8_t op) noexcept {
    return (op & 0x8) != 0;
}

constexpr bool is_reserved(std::uint8_t op) noexcept {
    return (op >= 0x3 && op <= 0x7) || op >= 0xB;
}

// A data opcode that starts a message (not a continuation).
constexpr bool is_message_start(std::uint8_t op) noexcept {
    return op == opcode::text || op == opcode::binary;
}

// The `op` field of a frame or message record.
constexpr std::string_view op_name(std::uint8_t op) noexcept {
    switch (static_cast<opcode>(op)) {
    case opcode::continuation: return "continuation";
    case opcode::text: return "text";
    case opcode::binary: return "binary";
    case opcode::close: return "close";
    case opcode::ping: return "ping";
    case opcode::pong: return "pong";
    }
    return "reserved";
}

} // namespace wssniff

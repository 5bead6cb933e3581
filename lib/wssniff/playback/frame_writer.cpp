#include "wssniff/playback/frame_writer.hpp"

namespace wssniff::playback {

mask_source::mask_source() : random_(std::random_device{}()) {}

std::array<std::uint8_t, 4> mask_source::next() {
    const auto v = static_cast<std::uint32_t>(random_());
    return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
            static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

void append_client_frame(std::string& out, frame_bits bits, std::string_view payload,
                         std::array<std::uint8_t, 4> mask) {
    auto b0 = static_cast<std::uint8_t>(bits.opcode & 0x0f);
    b0 = static_cast<std::uint8_t>(b0 | (bits.fin ? 0x80 : 0) | (bits.rsv1 ? 0x40 : 0) |
                                   (bits.rsv2 ? 0x20 : 0) | (bits.rsv3 ? 0x10 : 0));
    out.push_back(static_cast<char>(b0));
    const std::uint64_t n = payload.size();
    if (n < 126) {
        out.push_back(static_cast<char>(0x80 | n));
    } else if (n <= 0xffff) {
        out.push_back(static_cast<char>(0x80 | 126));
        out.push_back(static_cast<char>(n >> 8));
        out.push_back(static_cast<char>(n & 0xff));
    } else {
        out.push_back(static_cast<char>(0x80 | 127));
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((n >> shift) & 0xff));
        }
    }
    out.append(reinterpret_cast<const char*>(mask.data()), mask.size());
    const std::size_t start = out.size();
    out.append(payload);
    for (std::size_t i = 0; i < payload.size(); ++i) {
        out[start + i] = static_cast<char>(static_cast<std::uint8_t>(out[start + i]) ^ mask[i % 4]);
    }
}

std::string close_payload(std::optional<std::uint16_t> code, std::string_view reason) {
    std::string out;
    if (code) {
        out.push_back(static_cast<char>(*code >> 8));
        out.push_back(static_cast<char>(*code & 0xff));
        out.append(reason);
    }
    return out;
}

} // namespace wssniff::playback

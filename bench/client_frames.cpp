#include "client_frames.hpp"

#include <algorithm>
#include <array>
#include <random>

namespace wssniff::bench {

std::string random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::string out(n, '\0');
    for (char& c : out) {
        c = static_cast<char>(static_cast<unsigned char>(byte(rng)));
    }
    return out;
}

std::string chat_text(std::size_t n) {
    static constexpr std::string_view pieces[] = {
        R"({"type":"message","room":"lobby","from":"zoë","text":")",
        "Déjà vu: the \\\"quick\\\" brown fox jumps over the lazy dog ",
        "— naïve café ",
        R"(","id":)",
        "18446744073709",
        R"(,"tags":["ws","debug"]})",
        "\n",
    };
    std::string out;
    out.reserve(n);
    for (std::size_t i = 0;; ++i) {
        const std::string_view piece = pieces[i % std::size(pieces)];
        if (out.size() + piece.size() > n) {
            break;
        }
        out.append(piece);
    }
    // Pad with ASCII so no multi-byte character is cut.
    out.append(n - out.size(), ' ');
    return out;
}

std::string prose_text(std::size_t n) {
    static constexpr std::string_view sentence =
        "The quick brown fox jumps over the lazy dog, and the proxy writes down every frame. ";
    std::string out;
    out.reserve(n + sentence.size());
    while (out.size() < n) {
        out.append(sentence);
    }
    out.resize(n);
    return out;
}

std::size_t frames_for(std::size_t payload_size) {
    return std::max<std::size_t>(1, stream_target_size / payload_size);
}

std::vector<std::uint8_t> masked_frames(std::uint8_t opcode, std::string_view payload,
                                        std::size_t count) {
    std::vector<std::uint8_t> wire;
    wire.reserve(count * (payload.size() + 14));
    std::mt19937 rng(0x6455);
    std::uniform_int_distribution<int> byte(0, 255);
    const std::uint64_t len = payload.size();
    for (std::size_t f = 0; f < count; ++f) {
        wire.push_back(static_cast<std::uint8_t>(0x80 | opcode));
        // RFC 6455 §5.2: the shortest length encoding, mask bit set.
        if (len < 126) {
            wire.push_back(static_cast<std::uint8_t>(0x80 | len));
        } else if (len <= 0xFFFF) {
            wire.push_back(0x80 | 126);
            wire.push_back(static_cast<std::uint8_t>(len >> 8));
            wire.push_back(static_cast<std::uint8_t>(len));
        } else {
            wire.push_back(0x80 | 127);
            for (int shift = 56; shift >= 0; shift -= 8) {
                wire.push_back(static_cast<std::uint8_t>(len >> shift));
            }
        }
        std::array<std::uint8_t, 4> key{};
        for (auto& k : key) {
            k = static_cast<std::uint8_t>(byte(rng));
        }
        wire.insert(wire.end(), key.begin(), key.end());
        for (std::size_t i = 0; i < payload.size(); ++i) {
            wire.push_back(
                static_cast<std::uint8_t>(static_cast<unsigned char>(payload[i]) ^ key[i & 3]));
        }
    }
    return wire;
}

} // namespace wssniff::bench

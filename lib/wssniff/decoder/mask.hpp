#pragma once
// RFC 6455 §5.3 unmasking into a separate buffer: the input is the forwarded bytes and is never
// written. `phase` is how many payload bytes came before, so the key's rotation carries across
// chunk boundaries.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace wssniff::decoder {

using mask_key = std::array<std::uint8_t, 4>;

inline void unmask(std::uint8_t* out, const std::uint8_t* in, std::size_t n, const mask_key& key,
                   std::size_t phase) noexcept {
    std::uint8_t rotated[8];
    for (std::size_t i = 0; i < 8; ++i) {
        rotated[i] = key[(phase + i) & 3];
    }
    std::uint64_t key64;
    std::memcpy(&key64, rotated, sizeof key64);
    std::size_t i = 0;
    // Eight bytes at a time; the rotated key repeats every 4 bytes so it lines up with each word.
    for (; i + 8 <= n; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, in + i, sizeof word);
        word ^= key64;
        std::memcpy(out + i, &word, sizeof word);
    }
    for (; i < n; ++i) {
        out[i] = static_cast<std::uint8_t>(in[i] ^ rotated[i & 7]);
    }
}

} // namespace wssniff::decoder

#pragma once
// Wire bytes for the benchmarks: masked client frames as a browser would send them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wssniff::bench {

// What one read from a client socket returns in the proxy's relay loop.
constexpr std::size_t proxy_read_size = 64 * 1024;

// Bytes the frames of one benchmark add up to: large enough that per-call overhead does not
// dominate, small enough to stay near the cache sizes a relay actually works in.
constexpr std::size_t stream_target_size = 4 * 1024 * 1024;

// Payload with no structure, like binary messages or compressed data.
std::string random_bytes(std::size_t n, std::uint32_t seed);

// Chat-style JSON text: valid UTF-8 with some multi-byte characters and quotes that JSON must
// escape, as text frames in the wild tend to carry.
std::string chat_text(std::size_t n);

// Plain ASCII prose with nothing JSON must escape: the easiest text a writer can meet.
std::string prose_text(std::size_t n);

// How many frames of `payload_size` make about stream_target_size bytes; at least one.
std::size_t frames_for(std::size_t payload_size);

// `count` masked client frames (FIN set, `opcode`) each carrying `payload` under its own
// masking key, back to back.
std::vector<std::uint8_t> masked_frames(std::uint8_t opcode, std::string_view payload,
                                        std::size_t count);

} // namespace wssniff::bench

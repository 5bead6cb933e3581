// Frame decoder throughput beside memcpy of the same bytes: the relay forwards every byte it
// reads, so a copy of those bytes is what the decoder's cost is weighed against.

#include "client_frames.hpp"

#include "wssniff/decoder/frame_decoder.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace {

using namespace wssniff;

constexpr std::uint8_t binary_opcode = 0x2;

// Does as little as a handler can while still reading the unmasked bytes it is given, so the
// unmasking cannot be optimised away and the measurement stays the decoder's own.
class touching_handler final : public decoder::frame_handler {
  public:
    decoder::payload_delivery on_frame_header(const decoder::frame_header&) override {
        return decoder::payload_delivery::bytes;
    }
    void on_frame_payload(const decoder::frame_header&, bytes_view unmasked) override {
        if (!unmasked.empty()) {
            touched ^= static_cast<std::uint8_t>(unmasked[0] ^ unmasked[unmasked.size() - 1]);
        }
    }
    void on_frame_end(const decoder::frame_header&, const decoder::frame_end&) override {
        ++frames;
    }
    void on_error(const decoder::decode_error&) override { ++errors; }

    std::uint8_t touched = 0;
    std::uint64_t frames = 0;
    std::uint64_t errors = 0;
};

void decode(benchmark::State& state, std::size_t payload_size, std::size_t read_size) {
    const std::size_t count = bench::frames_for(payload_size);
    const auto wire =
        bench::masked_frames(binary_opcode, bench::random_bytes(payload_size, 1), count);
    const std::size_t chunk = read_size == 0 ? wire.size() : read_size;

    touching_handler handler;
    decoder::frame_decoder decoder(handler, decoder::decoder_options{direction::c2s});
    for (auto _ : state) {
        for (std::size_t at = 0; at < wire.size(); at += chunk) {
            decoder.feed(bytes_view{wire.data() + at, std::min(chunk, wire.size() - at)});
        }
        benchmark::DoNotOptimize(handler.touched);
    }
    if (handler.errors != 0 ||
        handler.frames != count * static_cast<std::uint64_t>(state.iterations())) {
        state.SkipWithError("the decoder did not see the frames that were built");
        return;
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));
}

void decode_64k_reads(benchmark::State& state, std::size_t payload_size) {
    decode(state, payload_size, bench::proxy_read_size);
}

void decode_one_shot(benchmark::State& state, std::size_t payload_size) {
    decode(state, payload_size, 0);
}

// The same wire bytes as decode_*, copied into a buffer of the same size.
void copy_memcpy(benchmark::State& state, std::size_t payload_size) {
    const std::size_t count = bench::frames_for(payload_size);
    const auto wire =
        bench::masked_frames(binary_opcode, bench::random_bytes(payload_size, 1), count);
    std::vector<std::uint8_t> copy(wire.size());
    for (auto _ : state) {
        std::memcpy(copy.data(), wire.data(), wire.size());
        benchmark::DoNotOptimize(copy.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));
}

} // namespace

BENCHMARK_CAPTURE(decode_64k_reads, 125B, std::size_t{125});
BENCHMARK_CAPTURE(decode_one_shot, 125B, std::size_t{125});
BENCHMARK_CAPTURE(copy_memcpy, 125B, std::size_t{125});
BENCHMARK_CAPTURE(decode_64k_reads, 16KiB, std::size_t{16 * 1024});
BENCHMARK_CAPTURE(decode_one_shot, 16KiB, std::size_t{16 * 1024});
BENCHMARK_CAPTURE(copy_memcpy, 16KiB, std::size_t{16 * 1024});
BENCHMARK_CAPTURE(decode_64k_reads, 1MiB, std::size_t{1024 * 1024});
BENCHMARK_CAPTURE(decode_one_shot, 1MiB, std::size_t{1024 * 1024});
BENCHMARK_CAPTURE(copy_memcpy, 1MiB, std::size_t{1024 * 1024});

// The whole per-frame path: session (decoder, UTF-8 check, payload capture, record) and the
// NDJSON writer, over 16 KiB masked client frames fed in proxy-sized reads. Compare with
// copy_memcpy/16KiB, which copies the same number of bytes.

#include "client_frames.hpp"

#include "wssniff/base/opcode.hpp"
#include "wssniff/record/ndjson.hpp"
#include "wssniff/session/session.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <variant>

namespace {

using namespace wssniff;

constexpr std::size_t frame_payload_size = 16 * 1024;

// Writes each record as an NDJSON line into one reused buffer: the writer's cost without the
// stdio stream's.
class ndjson_string_sink final : public record::sink {
  public:
    explicit ndjson_string_sink(bool serialize) : serialize_(serialize) {}
    void write(record::record&& r) override {
        if (std::holds_alternative<record::error>(r.body)) {
            ++errors;
        } else {
            ++frames;
        }
        if (serialize_) {
            line_.clear();
            record::append_ndjson(line_, r);
            ndjson_bytes += line_.size();
            benchmark::DoNotOptimize(line_.data());
        }
    }

    std::uint64_t frames = 0;
    std::uint64_t errors = 0;
    std::uint64_t ndjson_bytes = 0;

  private:
    bool serialize_;
    record::line_buffer line_;
};

void run_session(benchmark::State& state, record::payload_mode mode, std::uint8_t opcode,
                 bool serialize) {
    const std::size_t count = bench::frames_for(frame_payload_size);
    const std::string payload = opcode == wssniff::opcode::text
                                    ? bench::chat_text(frame_payload_size)
                                    : bench::random_bytes(frame_payload_size, 3);
    const auto wire = bench::masked_frames(opcode, payload, count);

    ndjson_string_sink sink(serialize);
    session::session_options options;
    options.handshake = false;
    options.payload = mode;
    session::session session(sink, options);
    for (auto _ : state) {
        for (std::size_t at = 0; at < wire.size(); at += bench::proxy_read_size) {
            session.feed(
                direction::c2s,
                bytes_view{wire.data() + at, std::min(bench::proxy_read_size, wire.size() - at)});
        }
    }
    if (sink.errors != 0 || sink.frames != count * static_cast<std::uint64_t>(state.iterations())) {
        state.SkipWithError("the session did not record the frames that were built");
        return;
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));
    state.counters["ndjson_bytes_per_second"] =
        benchmark::Counter(static_cast<double>(sink.ndjson_bytes), benchmark::Counter::kIsRate,
                           benchmark::Counter::kIs1024);
}

void session_ndjson(benchmark::State& state, record::payload_mode mode, std::uint8_t opcode) {
    run_session(state, mode, opcode, true);
}

// Records built but not written: what the session costs on its own.
void session_discard(benchmark::State& state, record::payload_mode mode, std::uint8_t opcode) {
    run_session(state, mode, opcode, false);
}

} // namespace

BENCHMARK_CAPTURE(session_ndjson, none_binary_16KiB, record::payload_mode::none, std::uint8_t{0x2});
BENCHMARK_CAPTURE(session_ndjson, auto_binary_16KiB, record::payload_mode::automatic,
                  std::uint8_t{0x2});
BENCHMARK_CAPTURE(session_ndjson, auto_text_16KiB, record::payload_mode::automatic,
                  std::uint8_t{0x1});
BENCHMARK_CAPTURE(session_discard, none_binary_16KiB, record::payload_mode::none,
                  std::uint8_t{0x2});
BENCHMARK_CAPTURE(session_discard, auto_binary_16KiB, record::payload_mode::automatic,
                  std::uint8_t{0x2});
BENCHMARK_CAPTURE(session_discard, auto_text_16KiB, record::payload_mode::automatic,
                  std::uint8_t{0x1});

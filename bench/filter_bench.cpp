// The cost of a --filter beside the cost of writing the record it decides on: the same frame
// records evaluated by typical expressions and written by the NDJSON writer, in one run.
//
//   build-bench/bench/wssniff_filter_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true --benchmark_enable_random_interleaving=true

#include "client_frames.hpp"

#include "wssniff/base/opcode.hpp"
#include "wssniff/filter/expression.hpp"
#include "wssniff/record/line_buffer.hpp"
#include "wssniff/record/ndjson.hpp"
#include "wssniff/record/record.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <string>

namespace {

using namespace wssniff;

// A server push of about `size` bytes: JSON with the fields the filters ask for, padded with
// chat text. 0: no payload field at all.
record::record frame_record(std::size_t size) {
    record::frame f;
    f.dir = direction::s2c;
    f.seq = 4711;
    f.offset = 9'876'543;
    f.fin = true;
    f.opcode = to_raw(opcode::text);
    if (size > 0) {
        std::string text = R"({"type":"trade","price":101.5,"qty":3,"note":)";
        std::string pad = bench::prose_text(size > 64 ? size - 64 : 1);
        text += '"' + pad + "\"}";
        f.data.encoding = record::payload_encoding::text;
        f.data.valid_utf8 = true;
        f.len = text.size();
        f.data.bytes = std::move(text);
    }
    const record::timestamp ts{std::chrono::microseconds{1'795'719'953'123'456}};
    return record::record{3, ts, std::move(f)};
}

const char* const expressions[] = {
    // 0: one clause that fails at once: what --filter 'type == "error"' costs a frame
    R"(type == "error")",
    // 1: three clauses on record fields, all true
    R"(type == "frame" and dir == "s2c" and op == "text")",
    // 2: three clauses, the last two on the JSON payload (parsed once per record)
    R"(dir == "s2c" and json.type == "trade" and json.price > 100)",
    // 3: a regular expression over the payload
    R"(text matches /"price":1[0-9][0-9]/)",
    // 4: the handshake's target, as a connection filter would read it on every record
    R"(hs.target matches /^\/ws\/chat/ and hs.header["x-trace-id"] == "abc123")",
};

void filter_evaluate(benchmark::State& state) {
    const auto r = frame_record(static_cast<std::size_t>(state.range(0)));
    const auto e =
        filter::expression::compile(expressions[static_cast<std::size_t>(state.range(1))]);
    record::handshake hs;
    hs.target = "/ws/chat?room=1";
    hs.request_headers = {
        {"Host", "example.com"}, {"User-Agent", "bench"}, {"X-Trace-Id", "abc123"}};
    std::size_t kept = 0;
    for (auto _ : state) {
        kept += e->matches(r, &hs) ? 1U : 0U;
        benchmark::DoNotOptimize(kept);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(expressions[static_cast<std::size_t>(state.range(1))]);
}
BENCHMARK(filter_evaluate)
    ->ArgsProduct({{0, 1024}, {0, 1, 2, 3, 4}})
    ->ArgNames({"payload", "expr"});

// The writer's cost for the same record: what a record that the filter drops saves.
void filter_write_record(benchmark::State& state) {
    const auto r = frame_record(static_cast<std::size_t>(state.range(0)));
    record::line_buffer line;
    for (auto _ : state) {
        line.clear();
        record::append_ndjson(line, r);
        benchmark::DoNotOptimize(line.view().data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(filter_write_record)->Arg(0)->Arg(1024)->ArgNames({"payload"});

// Compiling an expression (once per run; RE2 included).
void filter_compile(benchmark::State& state) {
    for (auto _ : state) {
        auto e = filter::expression::compile(
            R"(type in {"error","close"} or (dir == "s2c" and json.type == "trade" and json.price > 100) or text matches /^\{/)");
        benchmark::DoNotOptimize(e.get());
    }
}
BENCHMARK(filter_compile);

} // namespace

BENCHMARK_MAIN();

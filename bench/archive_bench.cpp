// Reading archives back: the JSON reader chosen by measurement (issue 11: "reading must not be
// the slow part of diffing a 1 GiB archive"). The same archive lines, as `wssniff proxy`
// writes them (frame records of JSON chat pushes, `ts`, masks on client frames), are
//   - parsed by nlohmann/json (json::parse per line: a DOM, as the compare unit builds for
//     payloads),
//   - parsed by simdjson (dom::parser per line, in place, as archive::record_reader does),
//   - read whole by archive::record_reader from a file (lines in 1 MiB blocks, simdjson, the
//     record structs built and payload fields decoded),
// beside a memcpy of the same bytes. Bytes/s counts archive bytes.

#include "wssniff/archive/record_reader.hpp"
#include "wssniff/record/ndjson.hpp"

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace wssniff;

// `count` frame records, alternating client requests and server pushes.
std::string make_archive(std::size_t count) {
    std::mt19937 rng(11);
    std::string out;
    for (std::size_t i = 0; i < count; ++i) {
        record::frame f;
        f.dir = i % 10 == 0 ? direction::c2s : direction::s2c;
        f.seq = i;
        f.offset = i * 100;
        f.fin = true;
        f.opcode = 1;
        f.masked = f.dir == direction::c2s;
        f.mask = {1, 2, 3, 4};
        const double price = 100.0 + static_cast<double>(rng() % 1000) / 100.0;
        f.data.encoding = record::payload_encoding::text;
        f.data.bytes = "{\"n\":" + std::to_string(i) +
                       ",\"sym\":\"ABC\",\"price\":" + std::to_string(price) + ",\"book\":[[" +
                       std::to_string(price - 0.01) + ",100],[" + std::to_string(price + 0.01) +
                       ",200]]}";
        f.len = f.data.bytes.size();
        record::record r{1,
                         record::timestamp{std::chrono::microseconds{
                             1'764'000'000'000'000 + static_cast<std::int64_t>(i) * 1000}},
                         f};
        record::append_ndjson(out, r);
    }
    return out;
}

const std::string& archive_text() {
    static const std::string text = make_archive(20'000);
    return text;
}

std::vector<std::string_view> lines_of(const std::string& text) {
    std::vector<std::string_view> lines;
    std::size_t at = 0;
    while (at < text.size()) {
        const auto end = text.find('\n', at);
        lines.emplace_back(text.data() + at, end - at);
        at = end + 1;
    }
    return lines;
}

void parse_nlohmann(benchmark::State& state) {
    const auto& text = archive_text();
    const auto lines = lines_of(text);
    for (auto _ : state) {
        for (const auto line : lines) {
            auto doc = nlohmann::json::parse(line);
            benchmark::DoNotOptimize(doc);
        }
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(lines.size()));
}

void parse_simdjson(benchmark::State& state) {
    const auto& text = archive_text();
    const auto lines = lines_of(text);
    // Each line with simdjson's padding after it, as line_source hands them out.
    std::vector<simdjson::padded_string> padded;
    padded.reserve(lines.size());
    for (const auto line : lines) {
        padded.emplace_back(line);
    }
    simdjson::dom::parser parser;
    for (auto _ : state) {
        for (const auto& line : padded) {
            simdjson::dom::element doc;
            if (parser.parse(line).get(doc) != simdjson::SUCCESS) {
                state.SkipWithError("simdjson refused a line");
                return;
            }
            benchmark::DoNotOptimize(doc);
        }
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(lines.size()));
}

void read_records(benchmark::State& state) {
    const auto& text = archive_text();
    std::FILE* file = std::tmpfile();
    std::fwrite(text.data(), 1, text.size(), file);
    std::fflush(file);
    std::size_t records = 0;
    for (auto _ : state) {
        ::lseek(fileno(file), 0, SEEK_SET);
        archive::record_reader reader(fileno(file), "bench");
        while (auto e = reader.next()) {
            benchmark::DoNotOptimize(e);
            ++records;
        }
    }
    std::fclose(file);
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
    state.SetItemsProcessed(static_cast<std::int64_t>(records));
}

void copy_memcpy(benchmark::State& state) {
    const auto& text = archive_text();
    std::string copy(text.size(), '\0');
    for (auto _ : state) {
        std::memcpy(copy.data(), text.data(), text.size());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}

} // namespace

BENCHMARK(parse_nlohmann)->Unit(benchmark::kMillisecond);
BENCHMARK(parse_simdjson)->Unit(benchmark::kMillisecond);
BENCHMARK(read_records)->Unit(benchmark::kMillisecond);
BENCHMARK(copy_memcpy)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

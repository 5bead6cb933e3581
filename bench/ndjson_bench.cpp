// The NDJSON writer beside the obvious alternative: build an nlohmann::json object for the same
// record and dump() it. Both sides produce the whole line, timestamp and hex included, from the
// same record value.

#include "client_frames.hpp"

#include "wssniff/base/opcode.hpp"
#include "wssniff/record/identity.hpp"
#include "wssniff/record/ndjson.hpp"
#include "wssniff/record/record.hpp"

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace {

using namespace wssniff;

// chat: JSON-like text (quotes, escapes, multi-byte characters); prose: plain ASCII; none: the
// fields every frame record carries, and no payload field.
enum class payload_kind : std::uint8_t { chat, prose, hex, none };

record::record frame_record(payload_kind kind, std::size_t size) {
    record::frame f;
    f.dir = direction::c2s;
    f.seq = 4711;
    f.offset = 9'876'543;
    f.fin = true;
    f.opcode = to_raw(kind == payload_kind::hex ? opcode::binary : opcode::text);
    f.masked = true;
    f.mask = {0x37, 0xfa, 0x21, 0x3d};
    f.len = size;
    if (kind != payload_kind::hex) {
        f.data.encoding = record::payload_encoding::text;
        // As the session hands text over in auto mode: already validated as UTF-8.
        f.data.valid_utf8 = true;
        f.data.bytes =
            kind == payload_kind::chat ? bench::chat_text(size) : bench::prose_text(size);
    } else {
        f.data.encoding = record::payload_encoding::hex;
        f.data.bytes = bench::random_bytes(size, 2);
    }
    // 2026-11-26T19:05:53.123456Z
    const record::timestamp ts{std::chrono::microseconds{1'795'719'953'123'456}};
    return record::record{3, ts, std::move(f)};
}

std::string lowercase_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(bytes.size() * 2, '\0');
    char* o = out.data();
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        *o++ = digits[b >> 4];
        *o++ = digits[b & 0xF];
    }
    return out;
}

// The same fields the writer emits for a frame record (DESIGN.md "Record format").
nlohmann::json frame_json(const record::record& r) {
    const auto& f = std::get<record::frame>(r.body);
    std::string ts;
    record::append_timestamp(ts, *r.ts);
    nlohmann::json j;
    j["type"] = "frame";
    j["conn"] = r.conn;
    j["ts"] = std::move(ts);
    j["dir"] = to_string(f.dir);
    j["seq"] = f.seq;
    j["offset"] = f.offset;
    j["fin"] = f.fin;
    j["rsv1"] = f.rsv1;
    j["rsv2"] = f.rsv2;
    j["rsv3"] = f.rsv3;
    j["opcode"] = f.opcode;
    j["op"] = op_name(f.opcode);
    j["masked"] = f.masked;
    if (f.masked) {
        j["mask"] = lowercase_hex(
            std::string_view{reinterpret_cast<const char*>(f.mask.data()), f.mask.size()});
    }
    j["len"] = f.len;
    if (f.data.encoding == record::payload_encoding::text) {
        j["text"] = f.data.bytes;
    } else if (f.data.encoding == record::payload_encoding::hex) {
        j["hex"] = lowercase_hex(f.data.bytes);
    }
    return j;
}

// One NDJSON line the way nlohmann would write it; `replace` matches the writer's promise that
// a line is valid UTF-8 whatever the payload held.
void append_nlohmann_line(std::string& out, const record::record& r) {
    out.append(frame_json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    out.push_back('\n');
}

// Both sides must describe the same record, or the ratio means nothing.
bool same_record(const record::record& r) {
    std::string ours;
    record::append_ndjson(ours, r);
    std::string theirs;
    append_nlohmann_line(theirs, r);
    return nlohmann::json::parse(ours) == nlohmann::json::parse(theirs);
}

// `Buffer` is what each side writes into at its best: wssniff's line_buffer (what the sink
// uses), a std::string for nlohmann's dump().
template <typename Buffer, typename Write>
void write_lines(benchmark::State& state, payload_kind kind, std::size_t size, Write write) {
    const record::record r = frame_record(kind, size);
    if (!same_record(r)) {
        state.SkipWithError("append_ndjson and nlohmann disagree on the record");
        return;
    }
    Buffer line;
    for (auto _ : state) {
        line.clear();
        write(line, r);
        benchmark::DoNotOptimize(line.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(line.size()));
}

void write_ndjson(benchmark::State& state, payload_kind kind, std::size_t size) {
    write_lines<record::line_buffer>(
        state, kind, size,
        [](record::line_buffer& out, const record::record& r) { record::append_ndjson(out, r); });
}

// The same with the identity every live record carries (`,"instance":...,"run":...` after
// "conn"): the cost of the copied, pre-escaped fields.
void write_ndjson_identity(benchmark::State& state, payload_kind kind, std::size_t size) {
    const record::identity id = record::identity::make("web-1.example", "0123456789abcdef");
    write_lines<record::line_buffer>(state, kind, size,
                                     [&id](record::line_buffer& out, const record::record& r) {
                                         record::append_ndjson(out, r, id.fields);
                                     });
}

void write_nlohmann(benchmark::State& state, payload_kind kind, std::size_t size) {
    write_lines<std::string>(state, kind, size, append_nlohmann_line);
}

// Parts of the writer's cost, to see where a record's time goes.
void part_timestamp(benchmark::State& state) {
    const record::timestamp ts{std::chrono::microseconds{1'795'719'953'123'456}};
    std::string out;
    for (auto _ : state) {
        out.clear();
        record::append_timestamp(out, ts);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
}

void part_json_string(benchmark::State& state, payload_kind kind, std::size_t size) {
    const std::string text =
        kind == payload_kind::chat ? bench::chat_text(size) : bench::prose_text(size);
    std::string out;
    for (auto _ : state) {
        out.clear();
        record::append_json_string_contents(out, text);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}

} // namespace

BENCHMARK_CAPTURE(write_ndjson, no_payload, payload_kind::none, std::size_t{0});
BENCHMARK_CAPTURE(write_ndjson_identity, no_payload, payload_kind::none, std::size_t{0});
BENCHMARK_CAPTURE(write_nlohmann, no_payload, payload_kind::none, std::size_t{0});
BENCHMARK_CAPTURE(write_ndjson, text_125B, payload_kind::chat, std::size_t{125});
BENCHMARK_CAPTURE(write_ndjson_identity, text_125B, payload_kind::chat, std::size_t{125});
BENCHMARK_CAPTURE(write_nlohmann, text_125B, payload_kind::chat, std::size_t{125});
BENCHMARK_CAPTURE(write_ndjson, text_1KiB, payload_kind::chat, std::size_t{1024});
BENCHMARK_CAPTURE(write_nlohmann, text_1KiB, payload_kind::chat, std::size_t{1024});
BENCHMARK_CAPTURE(write_ndjson, prose_1KiB, payload_kind::prose, std::size_t{1024});
BENCHMARK_CAPTURE(write_nlohmann, prose_1KiB, payload_kind::prose, std::size_t{1024});
BENCHMARK_CAPTURE(write_ndjson, hex_1KiB, payload_kind::hex, std::size_t{1024});
BENCHMARK_CAPTURE(write_nlohmann, hex_1KiB, payload_kind::hex, std::size_t{1024});

BENCHMARK(part_timestamp);
BENCHMARK_CAPTURE(part_json_string, chat_1KiB, payload_kind::chat, std::size_t{1024});
BENCHMARK_CAPTURE(part_json_string, prose_1KiB, payload_kind::prose, std::size_t{1024});

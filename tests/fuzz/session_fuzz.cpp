// Differential fuzz target over one connection: the same two byte streams are replayed in one
// piece and again in chunks whose sizes come from the input, and both must give the same
// records. Built as a libFuzzer program with clang (-DWSSNIFF_FUZZ=ON) and, with replay_main.cpp,
// as a plain program that runs saved inputs under any compiler.
//
// Input layout (every byte string is a valid input, so the fuzzer never wastes a run):
//   [0]      options: bits 0-2 payload mode (mod 5), bits 3-4 emit (frames, messages, both,
//            frames), bit 5 no handshake, bit 6 no redaction, bit 7 small limits (head,
//            pending client bytes, inflated message)
//   [1]      max_payload: 0..64 as is, anything larger keeps the default
//   [2]      k = count of chunk sizes (mod 17)
//   [3..3+k) chunk sizes, each byte b meaning b + 1 bytes; k = 0 feeds one byte at a time
//   2 bytes  c2s length, little-endian, clamped to what is left
//   ...      c2s bytes, then the s2c bytes

#include "fuzz_support.hpp"

#include "wssniff/record/ndjson.hpp"
#include "wssniff/session/replay.hpp"
#include "wssniff/session/session.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using wssniff::bytes_view;

[[noreturn]] void fail(const char* property, std::string_view detail = {}) {
    wssniff::fuzz::fail("session_fuzz", property, detail);
}

struct fuzz_input {
    wssniff::session::session_options options;
    std::vector<std::size_t> chunk_sizes;
    bytes_view c2s;
    bytes_view s2c;
};

fuzz_input split(const std::uint8_t* data, std::size_t size) {
    fuzz_input in;
    wssniff::fuzz::input_reader input(data, size);
    const std::uint8_t flags = input.byte();
    constexpr wssniff::record::payload_mode modes[] = {
        wssniff::record::payload_mode::automatic, wssniff::record::payload_mode::text,
        wssniff::record::payload_mode::hex, wssniff::record::payload_mode::base64,
        wssniff::record::payload_mode::none};
    in.options.payload = modes[(flags & 0x07u) % 5];
    const unsigned emit = (flags >> 3) & 0x03u;
    in.options.emit_frames = emit != 1;
    in.options.emit_messages = emit == 1 || emit == 2;
    in.options.handshake = (flags & 0x20u) == 0;
    in.options.redact = (flags & 0x40u) == 0;
    if ((flags & 0x80u) != 0) {
        // Small enough that a fuzz input can hit them: head_too_large, pending_overflow and
        // the inflate cap without megabyte inputs.
        in.options.max_head = 256;
        in.options.max_pending = 64;
        in.options.max_message = 1024;
    }

    const std::uint8_t max_payload = input.byte();
    if (max_payload <= 64) {
        in.options.max_payload = max_payload;
    }

    in.chunk_sizes = input.chunk_sizes();
    in.c2s = input.take(input.u16());
    in.s2c = input.rest();
    return in;
}

// Hands out one direction's bytes in chunks of the given sizes (cycled), each checked unchanged
// once the session is done with it.
class chunked_stream {
  public:
    chunked_stream(bytes_view all, const std::vector<std::size_t>& sizes, std::size_t first)
        : rest_(all), cutter_(sizes, first) {}

    bytes_view next() {
        check_unchanged();
        const bytes_view chunk = cutter_.cut(rest_);
        rest_ = rest_.subview(chunk.size());
        return chunk;
    }

    void check_unchanged() const {
        if (!cutter_.unchanged()) {
            fail("the session wrote into the bytes it was fed");
        }
    }

  private:
    bytes_view rest_;
    wssniff::fuzz::chunk_cutter cutter_;
};

class ndjson_collector final : public wssniff::record::sink {
  public:
    void write(wssniff::record::record&& r) override {
        const std::size_t before = text.size();
        wssniff::record::append_ndjson(text, r);
        const std::string_view line = std::string_view{text}.substr(before);
        if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1) {
            fail("a record is not exactly one line", line);
        }
    }
    std::string text;
};

// Replays both directions, cut by `sizes`; s2c starts further along the list than c2s so that
// the two directions are not cut in lockstep.
std::string run(const fuzz_input& in, const std::vector<std::size_t>& sizes) {
    ndjson_collector out;
    wssniff::session::session s(out, in.options);
    chunked_stream c2s(in.c2s, sizes, 0);
    chunked_stream s2c(in.s2c, sizes, sizes.size() / 2);
    wssniff::session::replay(
        s, [&] { return c2s.next(); }, [&] { return s2c.next(); });
    c2s.check_unchanged();
    s2c.check_unchanged();
    return std::move(out.text);
}

std::uint64_t count_of(const nlohmann::json& close, const char* field) {
    const auto it = close.find(field);
    if (it == close.end() || !it->is_number_unsigned()) {
        fail("close record lacks a count", close.dump());
    }
    return it->get<std::uint64_t>();
}

// Each line is a JSON object with a known type; the close record comes once, last, and its
// counts agree with what was fed and with the frame records.
void check_records(const fuzz_input& in, const std::string& ndjson) {
    static const std::string_view types[] = {"handshake", "frame", "message", "error", "close"};
    std::uint64_t frames[2] = {0, 0};
    std::uint64_t messages[2] = {0, 0};
    std::size_t pos = 0;
    bool closed = false;
    while (pos < ndjson.size()) {
        const std::size_t end = ndjson.find('\n', pos);
        const std::string_view line = std::string_view{ndjson}.substr(pos, end - pos);
        pos = end + 1;
        if (closed) {
            fail("a record follows the close record", line);
        }
        nlohmann::json j;
        try {
            // Throws on malformed JSON and on strings that are not valid UTF-8.
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            fail(e.what(), line);
        }
        if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
            fail("a record has no type", line);
        }
        const std::string type = j["type"].get<std::string>();
        if (std::find(std::begin(types), std::end(types), type) == std::end(types)) {
            fail("a record has an unknown type", line);
        }
        if (!j.contains("conn") || j["conn"] != in.options.conn) {
            fail("a record has the wrong conn", line);
        }
        if (type == "frame" || type == "message") {
            const auto dir = j.value("dir", std::string{});
            if (dir != "c2s" && dir != "s2c") {
                fail("a frame or message record has no direction", line);
            }
            std::uint64_t& seen = (type == "frame" ? frames : messages)[dir == "c2s" ? 0 : 1];
            if (!j.contains("seq") || j["seq"] != seen) {
                fail("seq is not consecutive from 0", line);
            }
            ++seen;
        } else if (type == "close") {
            closed = true;
            if (count_of(j, "bytes_c2s") != in.c2s.size() ||
                count_of(j, "bytes_s2c") != in.s2c.size()) {
                fail("close record byte counts differ from the bytes fed", line);
            }
            if (in.options.emit_frames && (count_of(j, "frames_c2s") != frames[0] ||
                                           count_of(j, "frames_s2c") != frames[1])) {
                fail("close record frame counts differ from the frame records", line);
            }
        }
    }
    if (!closed) {
        fail("no close record", ndjson);
    }
}

// The first line where the two runs part, from each run.
std::string first_difference(const std::string& one_shot, const std::string& chunked) {
    const auto mismatch =
        std::mismatch(one_shot.begin(), one_shot.end(), chunked.begin(), chunked.end());
    const std::size_t at = static_cast<std::size_t>(mismatch.first - one_shot.begin());
    const std::size_t newline = at == 0 ? std::string::npos : one_shot.rfind('\n', at - 1);
    const std::size_t start = newline == std::string::npos ? 0 : newline + 1;
    auto line_at = [start](const std::string& text) {
        if (start >= text.size()) {
            return std::string("(no more records)\n");
        }
        return text.substr(start, text.find('\n', start) - start + 1);
    };
    return "one-shot: " + line_at(one_shot) + "chunked:  " + line_at(chunked);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::vector<std::uint8_t> original(data, data + size);
    const fuzz_input in = split(data, size);

    const std::string one_shot =
        run(in, {std::max<std::size_t>(1, std::max(in.c2s.size(), in.s2c.size()))});
    const std::string chunked = run(in, in.chunk_sizes);

    if (size != 0 && std::memcmp(data, original.data(), size) != 0) {
        fail("the input buffer changed");
    }
    if (one_shot != chunked) {
        fail("one-shot and chunked replay give different records",
             first_difference(one_shot, chunked));
    }
    check_records(in, one_shot);
    return 0;
}

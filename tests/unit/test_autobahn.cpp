// The Autobahn test suite's cases 1-7 (framing, pings and pongs, reserved bits, opcodes,
// fragmentation, UTF-8 handling, close handling) as decoder cases.
//
// Autobahn's fuzzing client sends each case's frames to a server, masked; its fuzzing server
// sends them to a client, unmasked. Every case here runs both ways (c2s masked, s2c unmasked).
// Where a strict endpoint fails the connection, wssniff writes an error record with the code
// that failure implies and goes on decoding the frames whose length it still knows, so each
// case states the exact records: frame records, message records (messages are emitted too) and
// error records, in stream order.
//
// The suite sends some cases whole, some "frame-wise" (sync) and some "octet-wise" (chopsize 1):
// the same bytes cut differently. Every case here is decoded whole, byte by byte and frame by
// frame, and the three must give the same NDJSON; the case lists keep Autobahn's numbering.

#include "support/records.hpp"

#include "wssniff/base/bytes.hpp"
#include "wssniff/record/record.hpp"
#include "wssniff/session/session.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using nlohmann::json;
using wssniff::bytes_view;
using wssniff::direction;
namespace test = wssniff::test;

// ---------------------------------------------------------------------------------------------
// Frames as the fuzzer sends them

struct wire_frame {
    std::uint8_t first_byte = 0; // FIN, RSV1-3 and opcode
    std::string payload;         // before masking
};

constexpr bool not_final = false;

std::uint8_t first_byte_of(std::uint8_t opcode, bool final) {
    return static_cast<std::uint8_t>((final ? 0x80 : 0x00) | opcode);
}

wire_frame raw_frame(std::uint8_t first_byte, std::string payload = {}) {
    return {first_byte, std::move(payload)};
}
wire_frame continuation_frame(std::string payload, bool final = true) {
    return {first_byte_of(0x0, final), std::move(payload)};
}
wire_frame text_frame(std::string payload, bool final = true) {
    return {first_byte_of(0x1, final), std::move(payload)};
}
wire_frame binary_frame(std::string payload, bool final = true) {
    return {first_byte_of(0x2, final), std::move(payload)};
}
wire_frame ping_frame(std::string payload = {}, bool final = true) {
    return {first_byte_of(0x9, final), std::move(payload)};
}
wire_frame pong_frame(std::string payload = {}, bool final = true) {
    return {first_byte_of(0xA, final), std::move(payload)};
}

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
    std::string payload;
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    payload.append(reason);
    return payload;
}
wire_frame close_frame(std::uint16_t code, std::string_view reason = {}) {
    return {0x88, close_payload(code, reason)};
}
wire_frame empty_close_frame() {
    return {0x88, {}};
}

// Autobahn numbers the RSV bits as one 3-bit field: RSV = 1 is RSV3, 2 is RSV2, 4 is RSV1.
wire_frame with_rsv(wire_frame f, int rsv) {
    f.first_byte = static_cast<std::uint8_t>(f.first_byte | (rsv << 4));
    return f;
}

std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xF]);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// The bytes on the wire and where each frame lies in them

struct wire {
    std::string bytes;
    std::vector<std::uint64_t> frame_offsets;   // each frame's first byte
    std::vector<std::uint64_t> payload_offsets; // each frame's first payload byte
    std::vector<std::string> masks;             // each frame's masking key, hex; empty for s2c
};

// Each frame gets its own key, so a decoder that carries one frame's key rotation into the next
// is caught.
std::string masking_key(std::size_t index) {
    return {static_cast<char>(0x37 + index), '\xfa', static_cast<char>(0x21 ^ index), '\x3d'};
}

wire build(direction dir, const std::vector<wire_frame>& frames) {
    wire w;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const std::string key = dir == direction::c2s ? masking_key(i) : std::string{};
        const std::string bytes = test::frame(frames[i].first_byte, frames[i].payload, key);
        w.frame_offsets.push_back(w.bytes.size());
        w.payload_offsets.push_back(w.bytes.size() + bytes.size() - frames[i].payload.size());
        w.masks.push_back(hex(key));
        w.bytes += bytes;
    }
    return w;
}

// ---------------------------------------------------------------------------------------------
// Decoding

wssniff::session::session_options frames_and_messages() {
    wssniff::session::session_options options;
    options.emit_messages = true;
    return options;
}

std::string decode(direction dir, std::string_view bytes, std::size_t chunk) {
    return test::decode_frames(dir, bytes, frames_and_messages(), chunk);
}

// Feeds `bytes` in pieces that end at `cuts`, as the fuzzer's sync and chop options send them.
std::string decode_cut(direction dir, std::string_view bytes,
                       const std::vector<std::uint64_t>& cuts) {
    test::ndjson_capture capture;
    auto options = frames_and_messages();
    options.handshake = false;
    wssniff::session::session s(capture, options);
    std::size_t at = 0;
    for (const std::uint64_t cut : cuts) {
        const auto end = static_cast<std::size_t>(cut);
        if (end > at) {
            s.feed(dir, bytes_view{bytes.substr(at, end - at)});
            at = end;
        }
    }
    if (at < bytes.size()) {
        s.feed(dir, bytes_view{bytes.substr(at)});
    }
    s.end(direction::c2s);
    s.end(direction::s2c);
    s.close(wssniff::record::close_reason::end_of_input);
    return capture.text();
}

// Long payloads differ at either end more often than in the middle: keep both ends.
std::string shortened(const std::string& s) {
    if (s.size() <= 160) {
        return s;
    }
    return s.substr(0, 90) + " ... " + s.substr(s.size() - 50) + " (" + std::to_string(s.size()) +
           " chars)";
}

// "" when both NDJSON texts are the same, else their first differing line.
std::string first_difference(const std::string& got, const std::string& want) {
    if (got == want) {
        return {};
    }
    const auto a = test::parse_lines(got);
    const auto b = test::parse_lines(want);
    for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
        const std::string x = i < a.size() ? a[i].dump() : "(none)";
        const std::string y = i < b.size() ? b[i].dump() : "(none)";
        if (x != y) {
            return "record " + std::to_string(i) + ":\n  " + shortened(x) + "\nwhole gave:\n  " +
                   shortened(y);
        }
    }
    return "same records, different bytes";
}

// ---------------------------------------------------------------------------------------------
// Records, summarised into one line each so a case lists them like the spec reads:
//   frame <op>[ rsv1][ rsv2][ rsv3][ nofin] len=<n>[ text=<payload>| hex=<payload>][ code= reason=]
//   message <op> frames=<n> len=<n>[ text=| hex=]
//   error <code> @<offset>[ fatal]
// An expected error may give its offset as "@f<i>" (frame i's first byte) or "@f<i>+<k>"
// (payload byte k of frame i); it is resolved for the direction under test.

std::uint64_t number(const json& r, const char* key) {
    return r.at(key).get<std::uint64_t>();
}
bool flag(const json& r, const char* key) {
    return r.at(key).get<bool>();
}
std::string string_of(const json& r, const char* key) {
    return r.at(key).get<std::string>();
}

std::string payload_field(const json& r) {
    if (r.contains("text")) {
        return " text=" + string_of(r, "text");
    }
    if (r.contains("hex")) {
        return " hex=" + string_of(r, "hex");
    }
    return {};
}

// The payload bytes a frame record carries, whichever field holds them.
std::string payload_bytes(const json& r) {
    if (r.contains("text")) {
        return string_of(r, "text");
    }
    if (r.contains("hex")) {
        return test::unhex(string_of(r, "hex"));
    }
    return "(no payload field)";
}

std::string summary(const json& r, bool with_payload) {
    const std::string type = string_of(r, "type");
    std::string s = type;
    if (type == "frame") {
        s += " " + string_of(r, "op");
        if (string_of(r, "op") == "reserved") {
            s += "(" + std::to_string(number(r, "opcode")) + ")";
        }
        for (const char* bit : {"rsv1", "rsv2", "rsv3"}) {
            if (flag(r, bit)) {
                s += std::string(" ") + bit;
            }
        }
        if (!flag(r, "fin")) {
            s += " nofin";
        }
        s += " len=" + std::to_string(number(r, "len"));
        if (with_payload) {
            s += payload_field(r);
        }
        if (r.contains("close_code")) {
            s += " code=" + std::to_string(number(r, "close_code")) +
                 " reason=" + string_of(r, "close_reason");
        }
    } else if (type == "message") {
        s += " " + string_of(r, "op") + " frames=" + std::to_string(number(r, "frames")) +
             " len=" + std::to_string(number(r, "len"));
        if (with_payload) {
            s += payload_field(r);
        }
    } else if (type == "error") {
        s += " " + string_of(r, "code") + " @" + std::to_string(number(r, "offset"));
        if (flag(r, "fatal")) {
            s += " fatal";
        }
    }
    return s;
}

std::string frame_head(std::string_view op, std::size_t len, bool final) {
    return "frame " + std::string(op) + (final ? "" : " nofin") + " len=" + std::to_string(len);
}
// A frame record whose payload field is `text`; `op` may carry RSV names ("text rsv3").
std::string as_text(std::string_view op, std::string_view payload, bool final = true) {
    return frame_head(op, payload.size(), final) + " text=" + std::string(payload);
}
// A frame record whose payload field is `hex`.
std::string as_hex(std::string_view op, std::string_view payload, bool final = true) {
    return frame_head(op, payload.size(), final) + " hex=" + hex(payload);
}
std::string close_record(std::uint16_t code, std::string_view reason = {}) {
    return as_hex("close", close_payload(code, reason)) + " code=" + std::to_string(code) +
           " reason=" + std::string(reason);
}
std::string text_message(std::string_view payload, std::size_t frames = 1) {
    return "message text frames=" + std::to_string(frames) +
           " len=" + std::to_string(payload.size()) + " text=" + std::string(payload);
}
// A text message that is not valid UTF-8 can only be shown as hex.
std::string invalid_text_message(std::string_view payload, std::size_t frames = 1) {
    return "message text frames=" + std::to_string(frames) +
           " len=" + std::to_string(payload.size()) + " hex=" + hex(payload);
}
std::string binary_message(std::string_view payload, std::size_t frames = 1) {
    return "message binary frames=" + std::to_string(frames) +
           " len=" + std::to_string(payload.size()) + " hex=" + hex(payload);
}

std::string resolved(const std::string& expected, const wire& w) {
    const std::size_t at = expected.find(" @f");
    if (expected.rfind("error ", 0) != 0 || at == std::string::npos) {
        return expected;
    }
    std::size_t pos = at + 3;
    std::size_t digits = 0;
    const std::size_t frame = std::stoul(expected.substr(pos), &digits);
    pos += digits;
    std::uint64_t offset = w.frame_offsets.at(frame);
    if (pos < expected.size() && expected[pos] == '+') {
        offset = w.payload_offsets.at(frame) + std::stoul(expected.substr(pos + 1), &digits);
        pos += 1 + digits;
    }
    return expected.substr(0, at) + " @" + std::to_string(offset) + expected.substr(pos);
}

std::string listing(const std::vector<std::string>& got, const std::vector<std::string>& want) {
    std::string out = "records (got | expected):\n";
    for (std::size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
        const std::string g = i < got.size() ? got[i] : "(none)";
        const std::string e = i < want.size() ? want[i] : "(none)";
        out += (g == e ? "   " : "!! ") + shortened(g) + "\n";
        if (g != e) {
            out += "   expected " + shortened(e) + "\n";
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// One case, one direction

struct decoded {
    wire w;
    std::string ndjson; // decoded in one piece
};

// Checks what every frame record must say about the frame that was sent.
void check_frame_record(const json& r, std::size_t k, const wire_frame& sent, const wire& w,
                        direction dir) {
    INFO("frame record " << k << ": " << shortened(r.dump()));
    CHECK(number(r, "seq") == k);
    CHECK(number(r, "offset") == w.frame_offsets[k]);
    CHECK(number(r, "opcode") == (sent.first_byte & 0x0Fu));
    CHECK(flag(r, "fin") == ((sent.first_byte & 0x80) != 0));
    CHECK(flag(r, "rsv1") == ((sent.first_byte & 0x40) != 0));
    CHECK(flag(r, "rsv2") == ((sent.first_byte & 0x20) != 0));
    CHECK(flag(r, "rsv3") == ((sent.first_byte & 0x10) != 0));
    CHECK(flag(r, "masked") == (dir == direction::c2s));
    if (dir == direction::c2s) {
        CHECK(string_of(r, "mask") == w.masks[k]);
    } else {
        CHECK_FALSE(r.contains("mask"));
    }
    CHECK(number(r, "len") == sent.payload.size());
    CHECK(payload_bytes(r) == sent.payload);
    CHECK_FALSE(r.contains("truncated"));
}

// Decodes `frames` sent in `dir` whole, byte by byte and frame by frame; all three must give the
// same NDJSON. Then every frame record must match its frame, and the records, summarised, must
// be `expected`. `with_payload` false leaves the payload fields out of the summaries (the frame
// records' payload bytes are still checked).
decoded run_case(const std::vector<wire_frame>& frames, const std::vector<std::string>& expected,
                 direction dir, bool with_payload = true) {
    INFO("direction " << to_string(dir));
    decoded d{build(dir, frames), {}};
    d.ndjson = decode(dir, d.w.bytes, 0);
    CHECK(first_difference(decode(dir, d.w.bytes, 1), d.ndjson) == "");
    CHECK(first_difference(decode_cut(dir, d.w.bytes, d.w.frame_offsets), d.ndjson) == "");

    const std::vector<json> records = test::parse_lines(d.ndjson);
    REQUIRE_FALSE(records.empty());
    const json& last = records.back();
    CHECK(string_of(last, "type") == "close");
    CHECK(string_of(last, "reason") == "end_of_input");
    CHECK(number(last, dir == direction::c2s ? "frames_c2s" : "frames_s2c") == frames.size());

    std::vector<std::string> got;
    std::size_t frame_records = 0;
    std::size_t message_records = 0;
    for (std::size_t i = 0; i + 1 < records.size(); ++i) {
        const json& r = records[i];
        const std::string type = string_of(r, "type");
        CHECK(string_of(r, "dir") == to_string(dir));
        if (type == "frame") {
            if (frame_records < frames.size()) {
                check_frame_record(r, frame_records, frames[frame_records], d.w, dir);
            }
            ++frame_records;
        } else if (type == "message") {
            CHECK(number(r, "seq") == message_records);
            CHECK_FALSE(flag(r, "compressed"));
            ++message_records;
        }
        got.push_back(summary(r, with_payload));
    }
    CHECK(frame_records == frames.size());

    std::vector<std::string> want;
    for (const auto& e : expected) {
        want.push_back(resolved(e, d.w));
    }
    const bool same = got == want;
    INFO((same ? std::string{} : listing(got, want)));
    CHECK(same);
    return d;
}

struct autobahn_case {
    std::string id;
    std::string title;
    std::vector<wire_frame> frames;
    std::vector<std::string> records;
};

constexpr direction both_directions[] = {direction::c2s, direction::s2c};

void check_cases(const std::vector<autobahn_case>& cases) {
    for (const auto& c : cases) {
        DYNAMIC_SECTION(c.id << " " << c.title) {
            for (const direction dir : both_directions) {
                run_case(c.frames, c.records, dir);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// UTF-8 cases (6.5-6.23): one text message, whole and split into two fragments at every byte

constexpr std::size_t valid_utf8 = static_cast<std::size_t>(-1);

struct utf8_case {
    std::string id;
    std::string payload_hex;
    // Index of the first byte that cannot continue valid UTF-8: where a strict endpoint fails
    // fast. The payload length when only the end is missing; valid_utf8 for valid text.
    std::size_t first_bad;
};

bool starts_code_point(std::string_view text, std::size_t k) {
    return k == text.size() || (static_cast<unsigned char>(text[k]) & 0xC0) != 0x80;
}

void check_utf8_whole(const utf8_case& c, const std::string& payload) {
    std::vector<std::string> expected;
    if (c.first_bad == valid_utf8) {
        expected = {as_text("text", payload), text_message(payload)};
    } else {
        expected = {"error invalid_utf8 @f0+" + std::to_string(c.first_bad),
                    as_hex("text", payload), invalid_text_message(payload)};
    }
    for (const direction dir : both_directions) {
        run_case({text_frame(payload)}, expected, dir);
    }
}

// Fragments `payload[0, k)` and `payload[k, n)`: the error must land on the same payload byte,
// wherever the fragment boundary (and so the second frame header) falls.
void check_utf8_split(const utf8_case& c, const std::string& payload, std::size_t k) {
    INFO("fragmented at payload byte " << k);
    const std::string first = payload.substr(0, k);
    const std::string second = payload.substr(k);
    const std::vector<wire_frame> frames = {text_frame(first, not_final),
                                            continuation_frame(second)};
    if (c.first_bad == valid_utf8) {
        // Each fragment is valid UTF-8 on its own exactly when the cut falls between characters.
        const bool whole_characters = starts_code_point(payload, k);
        const auto record = whole_characters ? as_text : as_hex;
        for (const direction dir : both_directions) {
            run_case(frames,
                     {record("text", first, not_final), record("continuation", second, true),
                      text_message(payload, 2)},
                     dir);
        }
        return;
    }
    const std::string error = c.first_bad < k
                                  ? "error invalid_utf8 @f0+" + std::to_string(c.first_bad)
                                  : "error invalid_utf8 @f1+" + std::to_string(c.first_bad - k);
    std::vector<std::string> expected = {frame_head("text", first.size(), not_final),
                                         frame_head("continuation", second.size(), true),
                                         "message text frames=2 len=" +
                                             std::to_string(payload.size())};
    expected.insert(expected.begin() + (c.first_bad < k ? 0 : 1), error);
    for (const direction dir : both_directions) {
        run_case(frames, expected, dir, false);
    }
}

void check_utf8_cases(const std::vector<utf8_case>& cases) {
    for (const auto& c : cases) {
        DYNAMIC_SECTION(c.id << " " << c.payload_hex) {
            const std::string payload = test::unhex(c.payload_hex);
            check_utf8_whole(c, payload);
            for (std::size_t k = 0; k <= payload.size(); ++k) {
                check_utf8_split(c, payload, k);
            }
        }
    }
}

// Bytes first, first + 1, ..., last - 1 as hex, each followed by `separator`.
std::string byte_run(int first, int last, std::string_view separator = {}) {
    std::string out;
    for (int b = first; b < last; ++b) {
        out += hex(std::string(1, static_cast<char>(b)));
        out += separator;
    }
    return out;
}

// A payload sent one octet per frame (Autobahn's payload_frag_size = 1).
std::vector<wire_frame> one_octet_fragments(std::string_view payload) {
    std::vector<wire_frame> frames;
    for (std::size_t i = 0; i < payload.size(); ++i) {
        const std::string octet(1, payload[i]);
        const bool final = i + 1 == payload.size();
        frames.push_back(i == 0 ? text_frame(octet, final) : continuation_frame(octet, final));
    }
    return frames;
}

// Their frame records: an ASCII octet is valid UTF-8 on its own, any other single octet is not.
std::vector<std::string> one_octet_records(std::string_view payload) {
    std::vector<std::string> records;
    for (std::size_t i = 0; i < payload.size(); ++i) {
        const std::string octet(1, payload[i]);
        const bool final = i + 1 == payload.size();
        const char* op = i == 0 ? "text" : "continuation";
        records.push_back(static_cast<unsigned char>(payload[i]) < 0x80 ? as_text(op, octet, final)
                                                                        : as_hex(op, octet, final));
    }
    return records;
}

const std::string hello = "Hello, world!";
const std::string binary_octets = test::unhex("00fffefdfcfb00ff");
// κόσμε, the Greek word Markus Kuhn's test file opens with.
const std::string kosme = test::unhex("cebae1bdb9cf83cebcceb5");

} // namespace

// =============================================================================================
// 1 Framing

TEST_CASE("autobahn 1.1 text messages", "[autobahn]") {
    // Lengths either side of the 7-bit, 16-bit and 64-bit length encodings (RFC 6455 §5.2).
    const std::pair<const char*, std::size_t> cases[] = {
        {"1.1.1", 0},   {"1.1.2", 125},   {"1.1.3", 126},  {"1.1.4", 127},
        {"1.1.5", 128}, {"1.1.6", 65535}, {"1.1.7", 65536}};
    for (const auto& [id, length] : cases) {
        DYNAMIC_SECTION(id << " text message of " << length << " octets") {
            const std::string payload(length, '*');
            for (const direction dir : both_directions) {
                run_case({text_frame(payload)}, {as_text("text", payload), text_message(payload)},
                         dir);
            }
        }
    }
    SECTION("1.1.8 text message of 65536 octets sent in chops of 997 octets") {
        const std::string payload(65536, '*');
        for (const direction dir : both_directions) {
            const decoded d = run_case({text_frame(payload)},
                                       {as_text("text", payload), text_message(payload)}, dir);
            CHECK(first_difference(decode(dir, d.w.bytes, 997), d.ndjson) == "");
        }
    }
}

TEST_CASE("autobahn 1.2 binary messages", "[autobahn]") {
    const std::pair<const char*, std::size_t> cases[] = {
        {"1.2.1", 0},   {"1.2.2", 125},   {"1.2.3", 126},  {"1.2.4", 127},
        {"1.2.5", 128}, {"1.2.6", 65535}, {"1.2.7", 65536}};
    for (const auto& [id, length] : cases) {
        DYNAMIC_SECTION(id << " binary message of " << length << " octets") {
            const std::string payload(length, '\xfe');
            for (const direction dir : both_directions) {
                run_case({binary_frame(payload)},
                         {as_hex("binary", payload), binary_message(payload)}, dir);
            }
        }
    }
    SECTION("1.2.8 binary message of 65536 octets sent in chops of 997 octets") {
        const std::string payload(65536, '\xfe');
        for (const direction dir : both_directions) {
            const decoded d = run_case({binary_frame(payload)},
                                       {as_hex("binary", payload), binary_message(payload)}, dir);
            CHECK(first_difference(decode(dir, d.w.bytes, 997), d.ndjson) == "");
        }
    }
}

// =============================================================================================
// 2 Pings and pongs. Control frames carry no text-message data, so their payload is hex.

TEST_CASE("autobahn 2 pings and pongs", "[autobahn]") {
    const std::string fe125(125, '\xfe');
    const std::string fe126(126, '\xfe');
    std::vector<wire_frame> ten_pings;
    std::vector<std::string> ten_ping_records;
    for (int i = 0; i < 10; ++i) {
        const std::string payload = "payload-" + std::to_string(i);
        ten_pings.push_back(ping_frame(payload));
        ten_ping_records.push_back(as_hex("ping", payload));
    }
    check_cases({
        {"2.1", "ping without payload", {ping_frame()}, {as_hex("ping", "")}},
        {"2.2", "ping with a small text payload", {ping_frame(hello)}, {as_hex("ping", hello)}},
        {"2.3",
         "ping with a small binary payload",
         {ping_frame(binary_octets)},
         {as_hex("ping", binary_octets)}},
        {"2.4", "ping with a 125-octet payload", {ping_frame(fe125)}, {as_hex("ping", fe125)}},
        // RFC 6455 §5.5: all control frames have a payload length of 125 bytes or less.
        {"2.5",
         "ping with a 126-octet payload",
         {ping_frame(fe126)},
         {"error control_frame_too_long @f0", as_hex("ping", fe126)}},
        {"2.6",
         "ping with a 125-octet payload in octet-wise chops",
         {ping_frame(fe125)},
         {as_hex("ping", fe125)}},
        {"2.7", "unsolicited pong without payload", {pong_frame()}, {as_hex("pong", "")}},
        {"2.8",
         "unsolicited pong with payload",
         {pong_frame("unsolicited pong payload")},
         {as_hex("pong", "unsolicited pong payload")}},
        {"2.9",
         "unsolicited pong, then ping",
         {pong_frame("unsolicited pong payload"), ping_frame("ping payload")},
         {as_hex("pong", "unsolicited pong payload"), as_hex("ping", "ping payload")}},
        {"2.10", "10 pings with payload", ten_pings, ten_ping_records},
        {"2.11", "10 pings with payload in octet-wise chops", ten_pings, ten_ping_records},
    });
}

// =============================================================================================
// 3 Reserved bits: no extension was negotiated, so any RSV bit fails the connection (§5.2).

TEST_CASE("autobahn 3 reserved bits", "[autobahn]") {
    check_cases({
        {"3.1",
         "text message with RSV = 1",
         {with_rsv(text_frame(hello), 1)},
         {"error reserved_bits @f0", as_text("text rsv3", hello), text_message(hello)}},
        {"3.2",
         "text message, then again with RSV = 2, then ping",
         {text_frame(hello), with_rsv(text_frame(hello), 2), ping_frame()},
         {as_text("text", hello), text_message(hello), "error reserved_bits @f1",
          as_text("text rsv2", hello), text_message(hello), as_hex("ping", "")}},
        {"3.3",
         "text message, then again with RSV = 3, then ping, frame-wise chops",
         {text_frame(hello), with_rsv(text_frame(hello), 3), ping_frame()},
         {as_text("text", hello), text_message(hello), "error reserved_bits @f1",
          as_text("text rsv2 rsv3", hello), text_message(hello), as_hex("ping", "")}},
        {"3.4",
         "text message, then again with RSV = 4, then ping, octet-wise chops",
         {text_frame(hello), with_rsv(text_frame(hello), 4), ping_frame()},
         {as_text("text", hello), text_message(hello), "error reserved_bits @f1",
          as_text("text rsv1", hello), text_message(hello), as_hex("ping", "")}},
        {"3.5",
         "binary message with RSV = 5",
         {with_rsv(binary_frame(binary_octets), 5)},
         {"error reserved_bits @f0", as_hex("binary rsv1 rsv3", binary_octets),
          binary_message(binary_octets)}},
        {"3.6",
         "ping with RSV = 6",
         {with_rsv(ping_frame(hello), 6)},
         {"error reserved_bits @f0", as_hex("ping rsv1 rsv2", hello)}},
        // The suite's 3.6 source sends opcode 2, not the ping its description names.
        {"3.6",
         "as the suite's source sends it: binary with RSV = 6",
         {with_rsv(binary_frame(hello), 6)},
         {"error reserved_bits @f0", as_hex("binary rsv1 rsv2", hello), binary_message(hello)}},
        {"3.7",
         "close with RSV = 7",
         {with_rsv(empty_close_frame(), 7)},
         {"error reserved_bits @f0", as_hex("close rsv1 rsv2 rsv3", "")}},
    });
}

// =============================================================================================
// 4 Opcodes: 3-7 and 11-15 are reserved (§5.2). The frame's length is still known, so the
// frames before and after are decoded.

TEST_CASE("autobahn 4.1 reserved non-control opcodes", "[autobahn]") {
    check_cases({
        {"4.1.1",
         "opcode 3",
         {raw_frame(0x83)},
         {"error reserved_opcode @f0", as_hex("reserved(3)", "")}},
        {"4.1.2",
         "opcode 4 with payload",
         {raw_frame(0x84, "reserved opcode payload")},
         {"error reserved_opcode @f0", as_hex("reserved(4)", "reserved opcode payload")}},
        {"4.1.3",
         "text message, then opcode 5, then ping",
         {text_frame(hello), raw_frame(0x85), ping_frame()},
         {as_text("text", hello), text_message(hello), "error reserved_opcode @f1",
          as_hex("reserved(5)", ""), as_hex("ping", "")}},
        {"4.1.4",
         "text message, then opcode 6 with payload, then ping",
         {text_frame(hello), raw_frame(0x86, hello), ping_frame()},
         {as_text("text", hello), text_message(hello), "error reserved_opcode @f1",
          as_hex("reserved(6)", hello), as_hex("ping", "")}},
        {"4.1.5",
         "text message, then opcode 7 with payload, then ping, octet-wise chops",
         {text_frame(hello), raw_frame(0x87, hello), ping_frame()},
         {as_text("text", hello), text_message(hello), "error reserved_opcode @f1",
          as_hex("reserved(7)", hello), as_hex("ping", "")}},
    });
}

TEST_CASE("autobahn 4.2 reserved control opcodes", "[autobahn]") {
    check_cases({
        {"4.2.1",
         "opcode 11",
         {raw_frame(0x8B)},
         {"error reserved_opcode @f0", as_hex("reserved(11)", "")}},
        {"4.2.2",
         "opcode 12 with payload",
         {raw_frame(0x8C, "reserved opcode payload")},
         {"error reserved_opcode @f0", as_hex("reserved(12)", "reserved opcode payload")}},
        {"4.2.3",
         "text message, then opcode 13, then ping",
         {text_frame(hello), raw_frame(0x8D), ping_frame()},
         {as_text("text", hello), text_message(hello), "error reserved_opcode @f1",
          as_hex("reserved(13)", ""), as_hex("ping", "")}},
        {"4.2.4",
         "text message, then opcode 14 with payload, then ping",
         {text_frame(hello), raw_frame(0x8E, hello), ping_frame()},
         {as_text("text", hello), text_message(hello), "error reserved_opcode @f1",
          as_hex("reserved(14)", hello), as_hex("ping", "")}},
        {"4.2.5",
         "text message, then opcode 15 with payload, then ping, octet-wise chops",
         {text_frame(hello), raw_frame(0x8F, hello), ping_frame()},
         {as_text("text", hello), text_message(hello), "error reserved_opcode @f1",
          as_hex("reserved(15)", hello), as_hex("ping", "")}},
    });
}

// =============================================================================================
// 5 Fragmentation (§5.4): control frames are never fragmented but may come between fragments;
// a continuation needs a message to continue, and a new data frame may not start inside one.

TEST_CASE("autobahn 5 fragmentation", "[autobahn]") {
    const std::vector<wire_frame> two_fragments = {text_frame("fragment1", not_final),
                                                   continuation_frame("fragment2")};
    const std::vector<std::string> two_fragment_records = {as_text("text", "fragment1", not_final),
                                                           as_text("continuation", "fragment2"),
                                                           text_message("fragment1fragment2", 2)};
    const std::vector<wire_frame> ping_between = {text_frame("fragment1", not_final),
                                                  ping_frame("ping payload"),
                                                  continuation_frame("fragment2")};
    const std::vector<std::string> ping_between_records = {
        as_text("text", "fragment1", not_final), as_hex("ping", "ping payload"),
        as_text("continuation", "fragment2"), text_message("fragment1fragment2", 2)};
    const std::vector<wire_frame> final_continuation_first = {
        continuation_frame("non-continuation payload"), text_frame(hello)};
    const std::vector<std::string> final_continuation_first_records = {
        "error unexpected_continuation @f0", as_hex("continuation", "non-continuation payload"),
        as_text("text", hello), text_message(hello)};
    const std::vector<wire_frame> open_continuation_first = {
        continuation_frame("non-continuation payload", not_final), text_frame(hello)};
    const std::vector<std::string> open_continuation_first_records = {
        "error unexpected_continuation @f0",
        as_hex("continuation", "non-continuation payload", not_final), as_text("text", hello),
        text_message(hello)};
    const std::vector<wire_frame> two_pings_between = {text_frame("fragment1", not_final),
                                                       continuation_frame("fragment2", not_final),
                                                       ping_frame("pongme 1!"),
                                                       continuation_frame("fragment3", not_final),
                                                       continuation_frame("fragment4", not_final),
                                                       ping_frame("pongme 2!"),
                                                       continuation_frame("fragment5")};
    const std::vector<std::string> two_pings_between_records = {
        as_text("text", "fragment1", not_final),
        as_text("continuation", "fragment2", not_final),
        as_hex("ping", "pongme 1!"),
        as_text("continuation", "fragment3", not_final),
        as_text("continuation", "fragment4", not_final),
        as_hex("ping", "pongme 2!"),
        as_text("continuation", "fragment5"),
        text_message("fragment1fragment2fragment3fragment4fragment5", 5)};

    check_cases({
        {"5.1",
         "ping fragmented into 2 fragments",
         {ping_frame("fragment1", not_final), continuation_frame("fragment2")},
         {"error control_frame_fragmented @f0", as_hex("ping", "fragment1", not_final),
          "error unexpected_continuation @f1", as_hex("continuation", "fragment2")}},
        {"5.2",
         "pong fragmented into 2 fragments",
         {pong_frame("fragment1", not_final), continuation_frame("fragment2")},
         {"error control_frame_fragmented @f0", as_hex("pong", "fragment1", not_final),
          "error unexpected_continuation @f1", as_hex("continuation", "fragment2")}},
        {"5.3", "text message fragmented into 2 fragments", two_fragments, two_fragment_records},
        {"5.4", "same, frame-wise chops", two_fragments, two_fragment_records},
        {"5.5", "same, octet-wise chops", two_fragments, two_fragment_records},
        {"5.6", "text message in 2 fragments, a ping in between", ping_between,
         ping_between_records},
        {"5.7", "same, frame-wise chops", ping_between, ping_between_records},
        {"5.8", "same, octet-wise chops", ping_between, ping_between_records},
        {"5.9", "continuation with FIN set and nothing to continue, then text message",
         final_continuation_first, final_continuation_first_records},
        {"5.10", "same, frame-wise chops", final_continuation_first,
         final_continuation_first_records},
        {"5.11", "same, octet-wise chops", final_continuation_first,
         final_continuation_first_records},
        {"5.12", "continuation with FIN clear and nothing to continue, then text message",
         open_continuation_first, open_continuation_first_records},
        {"5.13", "same, frame-wise chops", open_continuation_first,
         open_continuation_first_records},
        {"5.14", "same, octet-wise chops", open_continuation_first,
         open_continuation_first_records},
        {"5.15",
         "text message in 2 fragments, then a continuation with nothing to continue, "
         "then text message",
         {text_frame("fragment1", not_final), continuation_frame("fragment2"),
          continuation_frame("fragment3", not_final), text_frame("fragment4")},
         {as_text("text", "fragment1", not_final), as_text("continuation", "fragment2"),
          text_message("fragment1fragment2", 2), "error unexpected_continuation @f2",
          as_hex("continuation", "fragment3", not_final), as_text("text", "fragment4"),
          text_message("fragment4")}},
        {"5.16",
         "twice: continuation (FIN clear) with nothing to continue, then text message "
         "in 2 fragments",
         {continuation_frame("fragment1", not_final), text_frame("fragment2", not_final),
          continuation_frame("fragment3"), continuation_frame("fragment1", not_final),
          text_frame("fragment2", not_final), continuation_frame("fragment3")},
         {"error unexpected_continuation @f0", as_hex("continuation", "fragment1", not_final),
          as_text("text", "fragment2", not_final), as_text("continuation", "fragment3"),
          text_message("fragment2fragment3", 2), "error unexpected_continuation @f3",
          as_hex("continuation", "fragment1", not_final), as_text("text", "fragment2", not_final),
          as_text("continuation", "fragment3"), text_message("fragment2fragment3", 2)}},
        {"5.17",
         "twice: continuation (FIN set) with nothing to continue, then text message "
         "in 2 fragments",
         {continuation_frame("fragment1"), text_frame("fragment2", not_final),
          continuation_frame("fragment3"), continuation_frame("fragment1"),
          text_frame("fragment2", not_final), continuation_frame("fragment3")},
         {"error unexpected_continuation @f0", as_hex("continuation", "fragment1"),
          as_text("text", "fragment2", not_final), as_text("continuation", "fragment3"),
          text_message("fragment2fragment3", 2), "error unexpected_continuation @f3",
          as_hex("continuation", "fragment1"), as_text("text", "fragment2", not_final),
          as_text("continuation", "fragment3"), text_message("fragment2fragment3", 2)}},
        // The second text frame abandons the first message and starts a new one.
        {"5.18",
         "text message in 2 fragments, both with opcode text",
         {text_frame("fragment1", not_final), text_frame("fragment2")},
         {as_text("text", "fragment1", not_final), "error expected_continuation @f1",
          as_text("text", "fragment2"), text_message("fragment2")}},
        {"5.19", "text message in 5 fragments, 2 pings in between", two_pings_between,
         two_pings_between_records},
        {"5.20", "same, frame-wise chops", two_pings_between, two_pings_between_records},
    });
}

// =============================================================================================
// 6 UTF-8 handling (§8.1): text messages must be valid UTF-8, and a strict endpoint fails the
// connection at the first byte that cannot continue valid UTF-8, wherever fragments and chops
// fall. The error's offset is that byte's offset in the stream.

TEST_CASE("autobahn 6.1 valid UTF-8 with zero payload fragments", "[autobahn]") {
    check_cases({
        {"6.1.1",
         "text message of length 0",
         {text_frame("")},
         {as_text("text", ""), text_message("")}},
        {"6.1.2",
         "text message in 3 fragments, each of length 0",
         {text_frame("", not_final), continuation_frame("", not_final), continuation_frame("")},
         {as_text("text", "", not_final), as_text("continuation", "", not_final),
          as_text("continuation", ""), text_message("", 3)}},
        {"6.1.3",
         "text message in 3 fragments, first and last of length 0",
         {text_frame("", not_final), continuation_frame("middle frame payload", not_final),
          continuation_frame("")},
         {as_text("text", "", not_final),
          as_text("continuation", "middle frame payload", not_final), as_text("continuation", ""),
          text_message("middle frame payload", 3)}},
    });
}

TEST_CASE("autobahn 6.2 valid UTF-8 fragmented on and within code points", "[autobahn]") {
    const std::string greeting = "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!";
    std::vector<std::string> greeting_octets = one_octet_records(greeting);
    greeting_octets.push_back(text_message(greeting, greeting.size()));
    std::vector<std::string> kosme_octets = one_octet_records(kosme);
    kosme_octets.push_back(text_message(kosme, kosme.size()));
    const std::string before = "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-";
    check_cases({
        {"6.2.1",
         "valid UTF-8 text message in one fragment",
         {text_frame(greeting)},
         {as_text("text", greeting), text_message(greeting)}},
        {"6.2.2",
         "valid UTF-8 text message in 2 fragments, cut on a code point boundary",
         {text_frame(before, not_final), continuation_frame("UTF-8!!")},
         {as_text("text", before, not_final), as_text("continuation", "UTF-8!!"),
          text_message(greeting, 2)}},
        {"6.2.3", "valid UTF-8 text message in fragments of 1 octet", one_octet_fragments(greeting),
         greeting_octets},
        {"6.2.4", "valid UTF-8 text message (kosme) in fragments of 1 octet",
         one_octet_fragments(kosme), kosme_octets},
    });
}

TEST_CASE("autobahn 6.3 invalid UTF-8 differently fragmented", "[autobahn]") {
    // κόσμε, then U+D800 (a UTF-16 surrogate: ED A0 80), then "edited". ED may start a character;
    // A0 cannot follow it, so byte 12 is where a strict endpoint fails.
    const std::string payload = kosme + test::unhex("eda080") + "edited";
    std::vector<std::string> octets = one_octet_records(payload);
    octets.insert(octets.begin() + 12, "error invalid_utf8 @f12+0");
    octets.push_back(invalid_text_message(payload, payload.size()));
    check_cases({
        {"6.3.1",
         "invalid UTF-8 text message unfragmented",
         {text_frame(payload)},
         {"error invalid_utf8 @f0+12", as_hex("text", payload), invalid_text_message(payload)}},
        {"6.3.2", "invalid UTF-8 text message in fragments of 1 octet",
         one_octet_fragments(payload), octets},
    });
}

TEST_CASE("autobahn 6.4 fail fast on invalid UTF-8", "[autobahn]") {
    // F4 90 80 80 follows the UTF-8 bit pattern but encodes 0x110000, past U+10FFFF: after F4 the
    // next byte must be 80-8F, so the 90 (payload byte 12) is the first byte that cannot be right.
    const std::string part1 = kosme;
    const std::string part2 = test::unhex("f4908080");
    const std::string part3 = "edited";
    const std::string payload = part1 + part2 + part3;

    check_cases({
        {"6.4.1",
         "3 frames, the second makes the text invalid",
         {text_frame(part1, not_final), continuation_frame(part2, not_final),
          continuation_frame(part3)},
         {as_text("text", part1, not_final), "error invalid_utf8 @f1+1",
          as_hex("continuation", part2, not_final), as_text("continuation", part3),
          invalid_text_message(payload, 3)}},
        {"6.4.2",
         "3 frames, cut right before the first invalid byte",
         {text_frame(payload.substr(0, 12), not_final),
          continuation_frame(payload.substr(12, 1), not_final),
          continuation_frame(payload.substr(13))},
         {as_hex("text", payload.substr(0, 12), not_final), "error invalid_utf8 @f1+0",
          as_hex("continuation", payload.substr(12, 1), not_final),
          as_hex("continuation", payload.substr(13)), invalid_text_message(payload, 3)}},
    });

    // 6.4.3 and 6.4.4 send the same bytes in one frame, in three chops of the stream.
    const std::pair<const char*, std::vector<std::size_t>> chopped[] = {
        {"6.4.3 one frame, chopped as 6.4.1's frames", {11, 15}},
        {"6.4.4 one frame, chopped as 6.4.2's frames", {12, 13}}};
    for (const auto& [name, payload_cuts] : chopped) {
        DYNAMIC_SECTION(name) {
            for (const direction dir : both_directions) {
                const decoded d = run_case({text_frame(payload)},
                                           {"error invalid_utf8 @f0+12", as_hex("text", payload),
                                            invalid_text_message(payload)},
                                           dir);
                std::vector<std::uint64_t> cuts;
                for (const std::size_t k : payload_cuts) {
                    cuts.push_back(d.w.payload_offsets[0] + k);
                }
                CHECK(first_difference(decode_cut(dir, d.w.bytes, cuts), d.ndjson) == "");
            }
        }
    }
}

// 6.5-6.23: Markus Kuhn's "UTF-8 decoder capability and stress test" as the suite arranges it,
// each payload one text message: whole, then split into two fragments at every byte.

TEST_CASE("autobahn 6.5 some valid UTF-8 sequences", "[autobahn]") {
    check_utf8_cases({
        {"6.5.1", "68656c6c6f24776f726c64", valid_utf8},       // hello$world, U+0024
        {"6.5.2", "68656c6c6fc2a2776f726c64", valid_utf8},     // U+00A2
        {"6.5.3", "68656c6c6fe282ac776f726c64", valid_utf8},   // U+20AC
        {"6.5.4", "68656c6c6ff0a4ada2776f726c64", valid_utf8}, // U+24B62
        {"6.5.5", "cebae1bdb9cf83cebcceb5", valid_utf8},       // κόσμε
    });
}

TEST_CASE("autobahn 6.6 all prefixes of a valid UTF-8 string", "[autobahn]") {
    // A prefix that stops inside a character is invalid where the message ends.
    check_utf8_cases({
        {"6.6.1", "ce", 1},
        {"6.6.2", "ceba", valid_utf8},
        {"6.6.3", "cebae1", 3},
        {"6.6.4", "cebae1bd", 4},
        {"6.6.5", "cebae1bdb9", valid_utf8},
        {"6.6.6", "cebae1bdb9cf", 6},
        {"6.6.7", "cebae1bdb9cf83", valid_utf8},
        {"6.6.8", "cebae1bdb9cf83ce", 8},
        {"6.6.9", "cebae1bdb9cf83cebc", valid_utf8},
        {"6.6.10", "cebae1bdb9cf83cebcce", 10},
        {"6.6.11", "cebae1bdb9cf83cebcceb5", valid_utf8},
    });
}

TEST_CASE("autobahn 6.7 first possible sequence of a certain length", "[autobahn]") {
    check_utf8_cases({
        {"6.7.1", "00", valid_utf8},       // U+0000
        {"6.7.2", "c280", valid_utf8},     // U+0080
        {"6.7.3", "e0a080", valid_utf8},   // U+0800
        {"6.7.4", "f0908080", valid_utf8}, // U+10000
    });
}

TEST_CASE("autobahn 6.8 first possible sequence of length 5 and 6", "[autobahn]") {
    // RFC 3629 ended UTF-8 at four bytes: F8-FF never appear.
    check_utf8_cases({
        {"6.8.1", "f888808080", 0},
        {"6.8.2", "fc8480808080", 0},
    });
}

TEST_CASE("autobahn 6.9 last possible sequence of a certain length", "[autobahn]") {
    check_utf8_cases({
        {"6.9.1", "7f", valid_utf8},       // U+007F
        {"6.9.2", "dfbf", valid_utf8},     // U+07FF
        {"6.9.3", "efbfbf", valid_utf8},   // U+FFFF
        {"6.9.4", "f48fbfbf", valid_utf8}, // U+10FFFF
    });
}

TEST_CASE("autobahn 6.10 last possible sequence of length 4, 5 and 6", "[autobahn]") {
    // F5-F7 would start code points past U+10FFFF.
    check_utf8_cases({
        {"6.10.1", "f7bfbfbf", 0},
        {"6.10.2", "fbbfbfbfbf", 0},
        {"6.10.3", "fdbfbfbfbfbf", 0},
    });
}

TEST_CASE("autobahn 6.11 other boundary conditions", "[autobahn]") {
    check_utf8_cases({
        {"6.11.1", "ed9fbf", valid_utf8},   // U+D7FF, just below the surrogates
        {"6.11.2", "ee8080", valid_utf8},   // U+E000, just above them
        {"6.11.3", "efbfbd", valid_utf8},   // U+FFFD
        {"6.11.4", "f48fbfbf", valid_utf8}, // U+10FFFF
        {"6.11.5", "f4908080", 1},          // 0x110000: after F4 only 80-8F may follow
    });
}

TEST_CASE("autobahn 6.12 unexpected continuation bytes", "[autobahn]") {
    check_utf8_cases({
        {"6.12.1", "80", 0},
        {"6.12.2", "bf", 0},
        {"6.12.3", "80bf", 0},
        {"6.12.4", "80bf80", 0},
        {"6.12.5", "80bf80bf", 0},
        {"6.12.6", "80bf80bf80", 0},
        {"6.12.7", "80bf80bf80bf", 0},
        {"6.12.8", byte_run(0x80, 0xbf), 0}, // 80..BE, as the suite builds it
    });
}

TEST_CASE("autobahn 6.13 lonely start characters", "[autobahn]") {
    // Each start byte followed by a space. C0 can never start a character, so 6.13.1 fails at
    // once; E0 and F0 can, and the space after them is the first bad byte.
    check_utf8_cases({
        {"6.13.1", byte_run(0xc0, 0xdf, "20"), 0},
        {"6.13.2", byte_run(0xe0, 0xef, "20"), 1},
        {"6.13.3", byte_run(0xf0, 0xf7, "20"), 1},
        {"6.13.4", byte_run(0xf8, 0xfb, "20"), 0},
        {"6.13.5", byte_run(0xfc, 0xfd, "20"), 0},
    });
}

TEST_CASE("autobahn 6.14 sequences with last continuation byte missing", "[autobahn]") {
    check_utf8_cases({
        {"6.14.1", "c0", 0},     // C0 is never a start byte (overlong)
        {"6.14.2", "e080", 1},   // after E0 only A0-BF may follow (overlong)
        {"6.14.3", "f08080", 1}, // after F0 only 90-BF may follow (overlong)
        {"6.14.4", "f8808080", 0},
        {"6.14.5", "fc80808080", 0},
        {"6.14.6", "df", 1}, // a correct start; the message ends where 80-BF must come
        {"6.14.7", "efbf", 2},
        {"6.14.8", "f7bfbf", 0},
        {"6.14.9", "fbbfbfbf", 0},
        {"6.14.10", "fdbfbfbfbf", 0},
    });
}

TEST_CASE("autobahn 6.15 concatenation of incomplete sequences", "[autobahn]") {
    check_utf8_cases({
        {"6.15.1", "c0e080f08080f8808080fc80808080dfefbff7bfbffbbfbfbffdbfbfbfbf", 0},
    });
}

TEST_CASE("autobahn 6.16 impossible bytes", "[autobahn]") {
    check_utf8_cases({
        {"6.16.1", "fe", 0},
        {"6.16.2", "ff", 0},
        {"6.16.3", "fefeffff", 0},
    });
}

TEST_CASE("autobahn 6.17 examples of an overlong ASCII character", "[autobahn]") {
    check_utf8_cases({
        {"6.17.1", "c0af", 0},
        {"6.17.2", "e080af", 1},
        {"6.17.3", "f08080af", 1},
        {"6.17.4", "f8808080af", 0},
        {"6.17.5", "fc80808080af", 0},
    });
}

TEST_CASE("autobahn 6.18 maximum overlong sequences", "[autobahn]") {
    check_utf8_cases({
        {"6.18.1", "c1bf", 0},
        {"6.18.2", "e09fbf", 1},
        {"6.18.3", "f08fbfbf", 1},
        {"6.18.4", "f887bfbfbf", 0},
        {"6.18.5", "fc83bfbfbfbf", 0},
    });
}

TEST_CASE("autobahn 6.19 overlong representation of the NUL character", "[autobahn]") {
    check_utf8_cases({
        {"6.19.1", "c080", 0},
        {"6.19.2", "e08080", 1},
        {"6.19.3", "f0808080", 1},
        {"6.19.4", "f880808080", 0},
        {"6.19.5", "fc8080808080", 0},
    });
}

TEST_CASE("autobahn 6.20 single UTF-16 surrogates", "[autobahn]") {
    // After ED only 80-9F may follow: A0-BF would encode U+D800-U+DFFF.
    check_utf8_cases({
        {"6.20.1", "eda080", 1}, // U+D800
        {"6.20.2", "edadbf", 1}, // U+DB7F
        {"6.20.3", "edae80", 1}, // U+DB80
        {"6.20.4", "edafbf", 1}, // U+DBFF
        {"6.20.5", "edb080", 1}, // U+DC00
        {"6.20.6", "edbe80", 1}, // U+DF80
        {"6.20.7", "edbfbf", 1}, // U+DFFF
    });
}

TEST_CASE("autobahn 6.21 paired UTF-16 surrogates", "[autobahn]") {
    check_utf8_cases({
        {"6.21.1", "eda080edb080", 1},
        {"6.21.2", "eda080edbfbf", 1},
        {"6.21.3", "edadbfedb080", 1},
        {"6.21.4", "edadbfedbfbf", 1},
        {"6.21.5", "edae80edb080", 1},
        {"6.21.6", "edae80edbfbf", 1},
        {"6.21.7", "edafbfedb080", 1},
        {"6.21.8", "edafbfedbfbf", 1},
    });
}

TEST_CASE("autobahn 6.22 non-character code points", "[autobahn]") {
    // Noncharacters (U+FFFE, U+FFFF, U+nFFFE, U+nFFFF) are valid UTF-8 (RFC 3629).
    check_utf8_cases({
        {"6.22.1", "efbfbe", valid_utf8},    {"6.22.2", "efbfbf", valid_utf8},
        {"6.22.3", "f09fbfbe", valid_utf8},  {"6.22.4", "f09fbfbf", valid_utf8},
        {"6.22.5", "f0afbfbe", valid_utf8},  {"6.22.6", "f0afbfbf", valid_utf8},
        {"6.22.7", "f0bfbfbe", valid_utf8},  {"6.22.8", "f0bfbfbf", valid_utf8},
        {"6.22.9", "f18fbfbe", valid_utf8},  {"6.22.10", "f18fbfbf", valid_utf8},
        {"6.22.11", "f19fbfbe", valid_utf8}, {"6.22.12", "f19fbfbf", valid_utf8},
        {"6.22.13", "f1afbfbe", valid_utf8}, {"6.22.14", "f1afbfbf", valid_utf8},
        {"6.22.15", "f1bfbfbe", valid_utf8}, {"6.22.16", "f1bfbfbf", valid_utf8},
        {"6.22.17", "f28fbfbe", valid_utf8}, {"6.22.18", "f28fbfbf", valid_utf8},
        {"6.22.19", "f29fbfbe", valid_utf8}, {"6.22.20", "f29fbfbf", valid_utf8},
        {"6.22.21", "f2afbfbe", valid_utf8}, {"6.22.22", "f2afbfbf", valid_utf8},
        {"6.22.23", "f2bfbfbe", valid_utf8}, {"6.22.24", "f2bfbfbf", valid_utf8},
        {"6.22.25", "f38fbfbe", valid_utf8}, {"6.22.26", "f38fbfbf", valid_utf8},
        {"6.22.27", "f39fbfbe", valid_utf8}, {"6.22.28", "f39fbfbf", valid_utf8},
        {"6.22.29", "f3afbfbe", valid_utf8}, {"6.22.30", "f3afbfbf", valid_utf8},
        {"6.22.31", "f3bfbfbe", valid_utf8}, {"6.22.32", "f3bfbfbf", valid_utf8},
        {"6.22.33", "f48fbfbe", valid_utf8}, {"6.22.34", "f48fbfbf", valid_utf8},
    });
}

TEST_CASE("autobahn 6.23 Unicode specials", "[autobahn]") {
    check_utf8_cases({
        {"6.23.1", "efbfb9", valid_utf8}, // U+FFF9
        {"6.23.2", "efbfba", valid_utf8},
        {"6.23.3", "efbfbb", valid_utf8},
        {"6.23.4", "efbfbc", valid_utf8},
        {"6.23.5", "efbfbd", valid_utf8}, // U+FFFD REPLACEMENT CHARACTER
        {"6.23.6", "efbfbe", valid_utf8},
        {"6.23.7", "efbfbf", valid_utf8},
    });
}

// =============================================================================================
// 7 Close handling (§5.5.1, §7.4): after a close frame an endpoint sends nothing more; a close
// payload is empty or a 2-byte code and a UTF-8 reason; some codes may never be sent.

TEST_CASE("autobahn 7.1 basic close behavior", "[autobahn]") {
    // 7.1.6's message is 256 KiB of "BAsd7&jh23" repeated.
    std::string big;
    while (big.size() < 256 * 1024) {
        big += "BAsd7&jh23";
    }
    big.resize(256 * 1024);
    check_cases({
        {"7.1.1",
         "text message, then close",
         {text_frame("Hello World!"), close_frame(1000)},
         {as_text("text", "Hello World!"), text_message("Hello World!"), close_record(1000)}},
        {"7.1.2",
         "two close frames",
         {close_frame(1000), empty_close_frame()},
         {close_record(1000), "error frame_after_close @f1", as_hex("close", "")}},
        {"7.1.3",
         "ping after close",
         {close_frame(1000), ping_frame()},
         {close_record(1000), "error frame_after_close @f1", as_hex("ping", "")}},
        {"7.1.4",
         "text message after close",
         {close_frame(1000), text_frame("Hello World!")},
         {close_record(1000), "error frame_after_close @f1", as_text("text", "Hello World!"),
          text_message("Hello World!")}},
        {"7.1.5",
         "first fragment, close, last fragment",
         {text_frame("fragment1", not_final), close_frame(1000), continuation_frame("fragment2")},
         {as_text("text", "fragment1", not_final), close_record(1000),
          "error frame_after_close @f2", as_text("continuation", "fragment2"),
          text_message("fragment1fragment2", 2)}},
        {"7.1.6",
         "256 KiB text message, text message, close, then ping",
         {text_frame(big), text_frame("Hello World!"), close_frame(1000), ping_frame()},
         {as_text("text", big), text_message(big), as_text("text", "Hello World!"),
          text_message("Hello World!"), close_record(1000), "error frame_after_close @f3",
          as_hex("ping", "")}},
    });
}

TEST_CASE("autobahn 7.3 close frame structure: payload length", "[autobahn]") {
    const std::string reason_123(123, '*');
    const std::string reason_124(124, '*');
    check_cases({
        {"7.3.1", "close with payload length 0", {empty_close_frame()}, {as_hex("close", "")}},
        // A lone byte cannot hold a close code (§5.5.1).
        {"7.3.2",
         "close with payload length 1",
         {raw_frame(0x88, "a")},
         {"error close_payload_one_byte @f0", as_hex("close", "a")}},
        {"7.3.3",
         "close with payload length 2: a code, no reason",
         {close_frame(1000)},
         {close_record(1000)}},
        {"7.3.4",
         "close with code and reason",
         {close_frame(1000, "Hello World!")},
         {close_record(1000, "Hello World!")}},
        {"7.3.5",
         "close with a reason of the longest length, 123",
         {close_frame(1000, reason_123)},
         {close_record(1000, reason_123)}},
    });
    // 2 + 124 = 126 payload octets, one more than a control frame may carry (§5.5). The length
    // is known, so the frame is still recorded, and its close_reason must be the reason that was
    // sent: all 124 octets, not the 123 that fit a 125-octet control payload buffer.
    SECTION("7.3.6 close with a reason that is too long, 124") {
        for (const direction dir : both_directions) {
            const decoded d =
                run_case({close_frame(1000, reason_124)},
                         {"error control_frame_too_long @f0", close_record(1000, reason_124)}, dir);
            const auto frames = test::of_type(d.ndjson, "frame");
            REQUIRE(frames.size() == 1);
            CHECK(string_of(frames[0], "close_reason").size() == reason_124.size());
        }
    }
}

TEST_CASE("autobahn 7.5 close frame structure: payload value", "[autobahn]") {
    // The reason is κόσμε, U+D800 (ED A0 80, not UTF-8) and "edited". The record's close_reason
    // is a JSON string, so each of the three bad bytes shows as U+FFFD.
    const std::string reason = kosme + test::unhex("eda080") + "edited";
    const std::string shown = kosme + "\ufffd\ufffd\ufffd" + "edited";
    check_cases({
        {"7.5.1",
         "close with a reason that is not UTF-8",
         {close_frame(1000, reason)},
         {"error invalid_close_reason @f0",
          as_hex("close", close_payload(1000, reason)) + " code=1000 reason=" + shown}},
    });
}

TEST_CASE("autobahn 7.7 valid close codes", "[autobahn]") {
    const std::uint16_t valid_codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                         1010, 1011, 3000, 3999, 4000, 4999};
    std::vector<autobahn_case> cases;
    for (std::size_t i = 0; i < std::size(valid_codes); ++i) {
        const std::uint16_t code = valid_codes[i];
        cases.push_back({"7.7." + std::to_string(i + 1),
                         "close code " + std::to_string(code),
                         {close_frame(code)},
                         {close_record(code)}});
    }
    // Not in the suite: 1012-1014 were registered with IANA after RFC 6455 and may be sent.
    for (const std::uint16_t code : std::initializer_list<std::uint16_t>{1012, 1013, 1014}) {
        cases.push_back({"IANA",
                         "close code " + std::to_string(code),
                         {close_frame(code)},
                         {close_record(code)}});
    }
    check_cases(cases);
}

TEST_CASE("autobahn 7.9 invalid close codes", "[autobahn]") {
    const std::uint16_t invalid_codes[] = {0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999};
    std::vector<autobahn_case> cases;
    for (std::size_t i = 0; i < std::size(invalid_codes); ++i) {
        const std::uint16_t code = invalid_codes[i];
        cases.push_back({"7.9." + std::to_string(i + 1),
                         "close code " + std::to_string(code),
                         {close_frame(code)},
                         {"error invalid_close_code @f0", close_record(code)}});
    }
    // Not in the suite: 1015 (TLS handshake failure) is, like 1005 and 1006, for reporting only
    // and MUST NOT be set in a close frame (§7.4.1).
    cases.push_back({"RFC 6455 7.4.1",
                     "close code 1015",
                     {close_frame(1015)},
                     {"error invalid_close_code @f0", close_record(1015)}});
    check_cases(cases);
}

TEST_CASE("autobahn 7.13 close codes outside the defined ranges", "[autobahn]") {
    // The suite leaves the outcome open; §7.4.2 defines no code above 4999, so a strict endpoint
    // refuses them.
    check_cases({
        {"7.13.1",
         "close code 5000",
         {close_frame(5000)},
         {"error invalid_close_code @f0", close_record(5000)}},
        {"7.13.2",
         "close code 65535",
         {close_frame(65535)},
         {"error invalid_close_code @f0", close_record(65535)}},
    });
}

// The frame decoder, one rule at a time, from raw bytes (after Beast's
// `check(error::bad_close_code, "\x88\x02\x03\xed")`).

#include "support/records.hpp"

#include "wssniff/decoder/frame_decoder.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace wssniff;
using wssniff::test::decode_frames;
using wssniff::test::error_codes;
using wssniff::test::frame;
using wssniff::test::of_type;
using wssniff::test::unhex;

namespace {

const std::string mask = unhex("37fa213d");

// Decodes `hex` as one direction's frames; requires that exactly `codes` are reported, and the
// same records whole and byte by byte.
std::string check(direction dir, const std::vector<std::string>& codes, const std::string& hex) {
    const std::string bytes = unhex(hex);
    const std::string whole = decode_frames(dir, bytes);
    REQUIRE(decode_frames(dir, bytes, {}, 1) == whole);
    REQUIRE(error_codes(whole) == codes);
    return whole;
}

nlohmann::json first_error(const std::string& ndjson) {
    return of_type(ndjson, "error").at(0);
}

// A recording handler for driving the decoder directly.
struct recorder final : decoder::frame_handler {
    std::vector<decoder::frame_header> headers;
    std::string payload;
    std::vector<decoder::decode_error> errors;
    std::size_t largest_piece = 0;
    int ends = 0;
    decoder::payload_delivery delivery = decoder::payload_delivery::bytes;
    std::vector<decoder::frame_end> frame_ends;
    decoder::payload_delivery on_frame_header(const decoder::frame_header& h) override {
        headers.push_back(h);
        return delivery;
    }
    void on_frame_payload(const decoder::frame_header&, bytes_view p) override {
        payload.append(p.chars());
        largest_piece = std::max(largest_piece, p.size());
    }
    void on_frame_end(const decoder::frame_header&, const decoder::frame_end& e) override {
        ++ends;
        frame_ends.push_back(e);
    }
    void on_error(const decoder::decode_error& e) override { errors.push_back(e); }
};

} // namespace

TEST_CASE("decoder: a valid masked text frame", "[decoder]") {
    // RFC 6455 §5.7: a single-frame masked text message "Hello".
    const auto out = check(direction::c2s, {}, "81 85 37fa213d 7f9f4d5158");
    const auto f = of_type(out, "frame").at(0);
    CHECK(f["text"] == "Hello");
    CHECK(f["mask"] == "37fa213d");
    CHECK(f["masked"] == true);
    CHECK(f["len"] == 5);
    CHECK(f["offset"] == 0);
}

TEST_CASE("decoder: reserved_opcode", "[decoder][errors]") {
    const auto out = check(direction::s2c, {"reserved_opcode"}, "83 00  81 02 6869");
    CHECK(of_type(out, "frame").at(0)["op"] == "reserved");
    CHECK(of_type(out, "frame").at(1)["text"] == "hi"); // decoding went on
    CHECK(first_error(out)["fatal"] == false);
}

TEST_CASE("decoder: reserved_bits without an extension", "[decoder][errors]") {
    check(direction::s2c, {"reserved_bits"}, "c1 00");
    check(direction::s2c, {"reserved_bits"}, "a1 00");
    check(direction::s2c, {"reserved_bits"}, "91 00");
}

TEST_CASE("decoder: rsv1_on_control and rsv1_on_continuation under deflate", "[decoder][errors]") {
    // Driven directly: RSV1 is allowed only when permessage-deflate was negotiated.
    recorder r;
    decoder::frame_decoder d(r, {direction::s2c, true});
    const std::string bytes = unhex("41 01 61  c0 01 62  c9 00");
    d.feed(bytes_view{bytes});
    REQUIRE(r.errors.size() == 2);
    CHECK(r.errors[0].code == error_code::rsv1_on_continuation);
    CHECK(r.errors[0].offset == 3);
    CHECK(r.errors[1].code == error_code::rsv1_on_control);
    CHECK(r.errors[1].offset == 6);
}

TEST_CASE("decoder: control_frame_too_long", "[decoder][errors]") {
    const std::string ping = frame(0x89, std::string(126, 'p'));
    const auto out = decode_frames(direction::s2c, ping);
    CHECK(error_codes(out) == std::vector<std::string>{"control_frame_too_long"});
    CHECK(of_type(out, "frame").at(0)["len"] == 126);
}

TEST_CASE("decoder: control_frame_fragmented", "[decoder][errors]") {
    check(direction::s2c, {"control_frame_fragmented"}, "09 00");
}

TEST_CASE("decoder: non_minimal_length", "[decoder][errors]") {
    // 16-bit length 5, then 64-bit length 5.
    check(direction::s2c, {"non_minimal_length"}, "82 7e 0005 0102030405");
    check(direction::s2c, {"non_minimal_length"}, "82 7f 0000000000000005 0102030405");
    // 64-bit length 65535 still fits in 16 bits.
    const std::string big = unhex("82 7f 000000000000ffff") + std::string(65535, 'x');
    CHECK(error_codes(decode_frames(direction::s2c, big)) ==
          std::vector<std::string>{"non_minimal_length"});
}

TEST_CASE("decoder: length_top_bit_set is fatal and stops the direction", "[decoder][errors]") {
    const auto out = check(direction::s2c, {"length_top_bit_set"}, "82 7f 8000000000000000 81 00");
    const auto e = first_error(out);
    CHECK(e["fatal"] == true);
    CHECK(e["offset"] == 0);
    CHECK(of_type(out, "frame").empty()); // the frame after it is not trusted
    CHECK(of_type(out, "close").at(0)["bytes_s2c"] == 12);
}

TEST_CASE("decoder: masking by role", "[decoder][errors]") {
    check(direction::c2s, {"unmasked_client_frame"}, "81 01 61");
    check(direction::s2c, {"masked_server_frame"}, "81 81 00000000 61");
}

TEST_CASE("decoder: unexpected_continuation", "[decoder][errors]") {
    check(direction::s2c, {"unexpected_continuation"}, "80 01 61");
}

TEST_CASE("decoder: expected_continuation", "[decoder][errors]") {
    const auto out = check(direction::s2c, {"expected_continuation"}, "01 01 61  81 01 62");
    CHECK(first_error(out)["offset"] == 3);
}

TEST_CASE("decoder: invalid_utf8 reports the offset of the bad byte", "[decoder][errors]") {
    // "ab" then 0xff in the second fragment: frame 2 starts at 4, its payload at 6, the bad
    // byte is its second.
    const auto out = check(direction::s2c, {"invalid_utf8"}, "01 02 6162  80 02 63ff");
    CHECK(first_error(out)["offset"] == 7);
}

TEST_CASE("decoder: invalid_utf8 when a message ends inside a code point", "[decoder][errors]") {
    const auto out = check(direction::s2c, {"invalid_utf8"}, "81 02 e29c");
    CHECK(first_error(out)["offset"] == 4);
}

TEST_CASE("decoder: close_payload_one_byte", "[decoder][errors]") {
    check(direction::s2c, {"close_payload_one_byte"}, "88 01 03");
}

TEST_CASE("decoder: invalid_close_code", "[decoder][errors]") {
    const auto out = check(direction::s2c, {"invalid_close_code"}, "88 02 03ed"); // 1005
    CHECK(of_type(out, "frame").at(0)["close_code"] == 1005);
    check(direction::s2c, {}, "88 02 0bb8");                     // 3000
    check(direction::s2c, {"invalid_close_code"}, "88 02 03e7"); // 999
    check(direction::s2c, {"invalid_close_code"}, "88 02 0bb7"); // 2999
    check(direction::s2c, {"invalid_close_code"}, "88 02 1388"); // 5000
}

TEST_CASE("decoder: invalid_close_reason", "[decoder][errors]") {
    const auto out = check(direction::s2c, {"invalid_close_reason"}, "88 04 03e8 ceff");
    // The reason is still shown, made valid UTF-8 for the NDJSON.
    CHECK(of_type(out, "frame").at(0)["close_reason"] == "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("decoder: frame_after_close", "[decoder][errors]") {
    check(direction::s2c, {"frame_after_close"}, "88 00  81 01 61");
}

TEST_CASE("decoder: stream_ended_mid_frame records the partial frame", "[decoder][errors]") {
    const auto out = check(direction::s2c, {"stream_ended_mid_frame"}, "82 05 010203");
    const auto f = of_type(out, "frame").at(0);
    CHECK(f["len"] == 5);
    CHECK(f["hex"] == "010203");
    CHECK(f["truncated"] == true);
    // Inside the header there is no frame to record, only the loss.
    const auto header_only = check(direction::s2c, {"stream_ended_mid_frame"}, "82 7e 00");
    CHECK(of_type(header_only, "frame").empty());
}

TEST_CASE("decoder: stream_ended_mid_message", "[decoder][errors]") {
    check(direction::s2c, {"stream_ended_mid_message"}, "01 01 61");
}

TEST_CASE("decoder: control frames inside a fragmented message are legal", "[decoder]") {
    session::session_options options;
    options.emit_messages = true;
    const std::string bytes =
        frame(0x01, "frag", mask) + frame(0x89, "ping", mask) + frame(0x80, "ment", mask);
    const auto out = decode_frames(direction::c2s, bytes, options, 1);
    CHECK(error_codes(out).empty());
    const auto m = of_type(out, "message").at(0);
    CHECK(m["text"] == "fragment");
    CHECK(m["frames"] == 2);
    CHECK(of_type(out, "frame").at(1)["op"] == "ping");
}

TEST_CASE("decoder: never writes to its input and keeps the mask rotation across chunks",
          "[decoder]") {
    std::string payload;
    for (int i = 0; i < 40000; ++i) {
        payload.push_back(static_cast<char>(i * 7));
    }
    const std::string wire = frame(0x82, payload, mask);
    const std::string copy = wire;
    for (const std::size_t chunk :
         {std::size_t{1}, std::size_t{3}, std::size_t{5}, std::size_t{4096}, wire.size()}) {
        recorder r;
        decoder::frame_decoder d(r, {direction::c2s});
        for (std::size_t at = 0; at < wire.size(); at += chunk) {
            d.feed(bytes_view{wire}.subview(at, std::min(chunk, wire.size() - at)));
        }
        INFO("chunk " << chunk);
        REQUIRE(r.payload == payload);
        REQUIRE(r.ends == 1);
        REQUIRE(r.errors.empty());
        // Payload is handed out in pieces from a fixed buffer, whatever the frame size.
        REQUIRE(r.largest_piece <= 16 * 1024);
    }
    REQUIRE(wire == copy);
}

TEST_CASE("decoder: the unmasking buffer grows with the pieces and unmasks the same", "[decoder]") {
    // Small frames first (a small buffer), then pieces of every size up to the largest, fed
    // in chunks that grow and shrink: each growth lands between two pieces of one frame.
    std::string wire;
    std::string payloads;
    for (const std::size_t size : {std::size_t{3}, std::size_t{200}, std::size_t{257},
                                   std::size_t{5000}, std::size_t{40000}, std::size_t{9}}) {
        std::string payload;
        for (std::size_t i = 0; i < size; ++i) {
            payload.push_back(static_cast<char>(i * 13 + size));
        }
        wire += frame(0x82, payload, mask);
        payloads += payload;
    }
    for (const std::vector<std::size_t>& chunks :
         {std::vector<std::size_t>{wire.size()}, std::vector<std::size_t>{1, 100, 300, 20000},
          std::vector<std::size_t>{7, 4096, 33, 16385, 2}}) {
        recorder r;
        decoder::frame_decoder d(r, {direction::c2s});
        std::size_t at = 0;
        for (std::size_t k = 0; at < wire.size(); ++k) {
            const std::size_t n = std::min(chunks[k % chunks.size()], wire.size() - at);
            d.feed(bytes_view{wire}.subview(at, n));
            at += n;
        }
        REQUIRE(r.payload == payloads);
        REQUIRE(r.ends == 6);
        REQUIRE(r.errors.empty());
        REQUIRE(r.largest_piece <= 16 * 1024);
    }
}

TEST_CASE("decoder: length_only delivery counts a frame without handing out its bytes",
          "[decoder]") {
    std::string payload(40000, 'x');
    const std::string close_payload = unhex("03e8") + "bye";
    const std::string wire =
        frame(0x82, payload, mask) + frame(0x89, "ping", mask) + frame(0x88, close_payload, mask);
    for (const std::size_t chunk : {std::size_t{1}, std::size_t{7}, wire.size()}) {
        recorder r;
        r.delivery = decoder::payload_delivery::length_only;
        decoder::frame_decoder d(r, {direction::c2s});
        for (std::size_t at = 0; at < wire.size(); at += chunk) {
            d.feed(bytes_view{wire}.subview(at, std::min(chunk, wire.size() - at)));
        }
        INFO("chunk " << chunk);
        REQUIRE(r.ends == 3);
        REQUIRE(r.errors.empty());
        REQUIRE(r.frame_ends.at(0).payload_seen == payload.size());
        // Control frames are delivered whatever the handler asked: the close is still parsed.
        REQUIRE(r.payload == "ping" + close_payload);
        REQUIRE(r.frame_ends.at(2).close_code == 1000);
        REQUIRE(r.frame_ends.at(2).close_reason.chars() == "bye");
    }
}

TEST_CASE("decoder: a huge declared length allocates nothing", "[decoder]") {
    // 2^62 bytes announced; only the 3 that arrive are seen.
    recorder r;
    decoder::frame_decoder d(r, {direction::s2c});
    const std::string bytes = unhex("82 7f 4000000000000000 010203");
    d.feed(bytes_view{bytes});
    d.finish();
    REQUIRE(r.headers.at(0).payload_length == (std::uint64_t{1} << 62));
    REQUIRE(r.payload.size() == 3);
    REQUIRE(r.errors.back().code == error_code::stream_ended_mid_frame);
    static_assert(sizeof(decoder::frame_decoder) < 20 * 1024, "decoder memory is fixed");
}

TEST_CASE("decoder: every error code has an id, a sentence and a close code", "[decoder]") {
#define XX(id, message, close_code)                                                                \
    CHECK(to_string(error_code::id) == #id);                                                       \
    CHECK_FALSE(describe(error_code::id).empty());
    WSSNIFF_ERROR_CODES(XX)
#undef XX
    CHECK(close_code_for(error_code::invalid_utf8) == 1007);
    CHECK(close_code_for(error_code::reserved_opcode) == 1002);
}

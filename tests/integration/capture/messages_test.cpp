// Many messages both ways through the proxy, at every payload length boundary of RFC 6455 §5.2
// (7-bit, 16-bit and 64-bit lengths): each side receives exactly what the other sent, and the
// capture's frames carry the same bytes.

#include "capture_support.hpp"
#include "proxied_echo.hpp"

#include "wssniff/base/opcode.hpp"
#include "wssniff/record/capture.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using wssniff::direction;
using wssniff::test::captured;
using wssniff::test::ws_message;

namespace {

// Text messages are random ASCII letters (valid UTF-8 of exactly `size` bytes), binary ones
// random bytes of any value.
std::vector<ws_message> messages_at_length_boundaries() {
    std::mt19937 random(6455);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> letter('a', 'z');
    std::vector<ws_message> out;
    for (const std::size_t size : {0UL, 1UL, 125UL, 126UL, 65535UL, 65536UL, 300UL * 1024}) {
        ws_message text{true, std::string(size, ' ')};
        for (char& c : text.payload) {
            c = static_cast<char>(letter(random));
        }
        ws_message binary{false, std::string(size, '\0')};
        for (char& c : binary.payload) {
            c = static_cast<char>(byte(random));
        }
        out.push_back(std::move(text));
        out.push_back(std::move(binary));
    }
    out.push_back({true, "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9d\x84\x9e"}); // héllo ☃ 𝄞
    return out;
}

// RFC 6455 §5.2: 2 bytes, then 2 or 8 more for 16- or 64-bit lengths, then the masking key.
std::uint64_t frame_size(const wssniff::record::frame& f) {
    const std::uint64_t length_bytes = f.len < 126 ? 0 : f.len <= 0xffff ? 2 : 8;
    return 2 + length_bytes + (f.masked ? 4 : 0) + f.len;
}

// The heads as the writers here put them on the wire: "Name: value" lines, CRLF.
std::uint64_t head_size(const std::string& first_line,
                        const wssniff::record::header_list& headers) {
    std::uint64_t n = first_line.size() + 2;
    for (const auto& [name, value] : headers) {
        n += name.size() + 2 + value.size() + 2;
    }
    return n + 2;
}

void check_frames(const std::vector<wssniff::record::frame>& frames,
                  const std::vector<ws_message>& sent, direction dir) {
    REQUIRE(frames.size() == sent.size() + 1); // and the close frame
    std::uint64_t offset = 0;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        INFO("frame " << i << " of " << to_string(dir));
        const auto& f = frames[i];
        CHECK(f.dir == dir);
        CHECK(f.seq == i);
        CHECK(f.offset == offset);
        offset += frame_size(f);
        CHECK(f.fin);
        CHECK_FALSE(f.rsv1);
        CHECK(f.masked == (dir == direction::c2s));
        if (i == sent.size()) {
            CHECK(f.opcode == wssniff::opcode::close);
            continue;
        }
        CHECK(f.opcode == (sent[i].text ? 0x1 : 0x2));
        CHECK(f.len == sent[i].payload.size());
        CHECK_FALSE(f.data.truncated);
        CHECK(f.data.encoding == (sent[i].text ? wssniff::record::payload_encoding::text
                                               : wssniff::record::payload_encoding::hex));
        CHECK(f.data.bytes == sent[i].payload);
    }
}

} // namespace

TEST_CASE("messages at every length boundary, both ways, arrive whole and are recorded whole") {
    wssniff::test::proxied_echo echo;
    auto& [server, capture, proxy] = echo;

    const std::vector<ws_message> sent = messages_at_length_boundaries();
    wssniff::test::client client(proxy.port());
    for (const auto& m : sent) {
        m.text ? client.send_text(m.payload) : client.send_binary(m.payload);
    }
    REQUIRE(client.wait_for_messages(sent.size(), 30s));
    client.close(1000, "all sent");
    REQUIRE(client.wait_closed(10s));
    REQUIRE(capture.wait_for_count("close", 1, 10s));
    wssniff::test::dump_for_schema(capture);

    CHECK(server.received() == sent);
    CHECK(client.received() == sent);
    check_frames(capture.frames(direction::c2s), sent, direction::c2s);
    check_frames(capture.frames(direction::s2c), sent, direction::s2c);

    const auto close_c2s = capture.frames(direction::c2s).back();
    CHECK(close_c2s.close_code == 1000);
    CHECK(close_c2s.close_reason == "all sent");
    CHECK(server.close_received() == std::make_pair(std::uint16_t{1000}, std::string("all sent")));

    const auto handshakes = captured<wssniff::record::handshake>(capture);
    REQUIRE(handshakes.size() == 1);
    const auto& handshake = handshakes[0];
    CHECK(handshake.method == "GET");
    CHECK(handshake.target == "/");
    CHECK(handshake.status == 101);
    CHECK_FALSE(handshake.deflate);
    CHECK_FALSE(handshake.extensions);
    CHECK_FALSE(handshake.subprotocol);

    // The close record counts every byte forwarded: both heads, then every frame.
    const auto closes = captured<wssniff::record::close>(capture);
    REQUIRE(closes.size() == 1);
    const auto& close = closes[0];
    CHECK(close.reason == wssniff::record::close_reason::server_closed);
    const auto wire_size = [](const std::vector<wssniff::record::frame>& frames) {
        std::uint64_t n = 0;
        for (const auto& f : frames) {
            n += frame_size(f);
        }
        return n;
    };
    CHECK(close.bytes_c2s == head_size("GET / HTTP/1.1", handshake.request_headers) +
                                 wire_size(capture.frames(direction::c2s)));
    CHECK(close.bytes_s2c ==
          head_size("HTTP/1.1 101 Switching Protocols", handshake.response_headers) +
              wire_size(capture.frames(direction::s2c)));
    CHECK(close.frames_c2s == sent.size() + 1);
    CHECK(close.frames_s2c == sent.size() + 1);
    CHECK(captured<wssniff::record::error>(capture).empty());
}

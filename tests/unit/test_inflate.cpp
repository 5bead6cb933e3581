// permessage-deflate (RFC 7692): the §7.2.3 examples, generated streams for every window size
// and context-takeover combination (as Autobahn's categories 12 and 13 do), and bombs.

#include "support/records.hpp"

#include "wssniff/inflate/inflater.hpp"

#include <catch2/catch.hpp>
#include <zlib.h>

#include <string>
#include <vector>

using namespace wssniff;
using wssniff::test::decode_connection;
using wssniff::test::error_codes;
using wssniff::test::frame;
using wssniff::test::of_type;
using wssniff::test::unhex;

namespace {

const std::string mask = unhex("5a6b7c8d");

std::string upgrade(const std::string& offer) {
    return "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Extensions: " +
           offer + "\r\n\r\n";
}

std::string accepted(const std::string& params) {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
           "Sec-WebSocket-Extensions: permessage-deflate" +
           params + "\r\n\r\n";
}

// A sender's compressor (RFC 7692 §7.2.1): raw DEFLATE, each message flushed with
// Z_SYNC_FLUSH and its 00 00 ff ff tail removed.
class compressor {
  public:
    compressor(int window_bits, bool no_context_takeover) : reset_(no_context_takeover) {
        // zlib refuses raw windows of 8 bits for deflate; 9 is what senders use instead.
        REQUIRE(deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                             -(window_bits == 8 ? 9 : window_bits), 8, Z_DEFAULT_STRATEGY) == Z_OK);
    }
    ~compressor() { deflateEnd(&z_); }

    std::string compress(const std::string& message) {
        std::string out(message.size() + 64 + message.size() / 100, '\0');
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
        z_.avail_in = static_cast<uInt>(message.size());
        z_.next_out = reinterpret_cast<Bytef*>(&out[0]);
        z_.avail_out = static_cast<uInt>(out.size());
        const int rc = deflate(&z_, Z_SYNC_FLUSH);
        if (rc == Z_BUF_ERROR && message.empty()) {
            return std::string(1, '\0'); // nothing to flush: an empty message is one 00 byte
        }
        REQUIRE(rc == Z_OK);
        REQUIRE(z_.avail_in == 0);
        out.resize(out.size() - z_.avail_out);
        REQUIRE(out.substr(out.size() - 4) == std::string("\x00\x00\xff\xff", 4));
        out.resize(out.size() - 4);
        if (reset_) {
            deflateReset(&z_);
        }
        return out;
    }

  private:
    z_stream z_{};
    bool reset_;
};

session::session_options messages_and_frames() {
    session::session_options o;
    o.emit_messages = true;
    return o;
}

} // namespace

TEST_CASE("inflate: RFC 7692 §7.2.3 examples", "[inflate]") {
    const std::string hello_compressed = unhex("f248cdc9c90700");
    struct example {
        const char* name;
        std::string params;
        std::string s2c_frames;
        std::vector<std::string> messages;
    };
    const example examples[] = {
        {"7.2.3.1 a message compressed in one frame", "", unhex("c1 07 f248cdc9c90700"), {"Hello"}},
        {"7.2.3.1 the same message in two fragments",
         "",
         unhex("41 03 f248cd  80 04 c9c90700"),
         {"Hello"}},
        {"7.2.3.2 context takeover: the second Hello refers to the first",
         "",
         unhex("c1 07 f248cdc9c90700  c1 05 f200110000"),
         {"Hello", "Hello"}},
        {"7.2.3.2 no context takeover: both compressed alone",
         "; server_no_context_takeover",
         unhex("c1 07 f248cdc9c90700  c1 07 f248cdc9c90700"),
         {"Hello", "Hello"}},
        {"7.2.3.3 a stored (uncompressed) block",
         "",
         unhex("c1 0b 0005 00faff 48656c6c6f 00"),
         {"Hello"}},
        {"7.2.3.4 BFINAL set: the next message starts a new stream",
         "",
         unhex("c1 08 f348cdc9c90700 00  c1 07 f248cdc9c90700"),
         {"Hello", "Hello"}},
        {"7.2.3.5 two DEFLATE blocks in one message",
         "",
         unhex("c1 0d f24805000000ffff cac9c90700"),
         {"Hello"}},
    };
    (void)hello_compressed;
    for (const auto& e : examples) {
        SECTION(e.name) {
            const std::string c2s = upgrade("permessage-deflate");
            const std::string s2c = accepted(e.params) + e.s2c_frames;
            const auto out = decode_connection(c2s, s2c, messages_and_frames());
            for (std::size_t chunk = 1; chunk <= s2c.size(); chunk += 7) {
                REQUIRE(decode_connection(c2s, s2c, messages_and_frames(), chunk) == out);
            }
            REQUIRE(error_codes(out).empty());
            const auto messages = of_type(out, "message");
            REQUIRE(messages.size() == e.messages.size());
            for (std::size_t i = 0; i < messages.size(); ++i) {
                CHECK(messages[i]["text"] == e.messages[i]);
                CHECK(messages[i]["compressed"] == true);
                CHECK(messages[i]["len"] == e.messages[i].size());
            }
            std::string contributed;
            for (const auto& f : of_type(out, "frame")) {
                CHECK(f["compressed"] == true);
                contributed += f.contains("text") ? f["text"].get<std::string>()
                                                  : unhex(f["hex"].get<std::string>());
            }
            std::string all;
            for (const auto& m : e.messages) {
                all += m;
            }
            CHECK(contributed == all); // each frame's record holds what it contributed
        }
    }
}

TEST_CASE("inflate: every window size and takeover combination", "[inflate]") {
    // Many similar messages make the shared context matter; an empty message and one over
    // 256 KiB stress the edges.
    std::vector<std::string> messages;
    for (int i = 0; i < 40; ++i) {
        messages.push_back("{\"event\":\"tick\",\"seq\":" + std::to_string(i) +
                           ",\"payload\":\"the quick brown fox jumps over the lazy dog\"}");
    }
    messages.emplace_back();
    std::string big;
    for (int i = 0; big.size() < 300 * 1024; ++i) {
        big += "line " + std::to_string(i * 7919 % 10007) + " ✓ ";
    }
    messages.push_back(big);

    for (int bits = 8; bits <= 15; ++bits) {
        for (const bool server_reset : {false, true}) {
            for (const bool client_reset : {false, true}) {
                DYNAMIC_SECTION("window " << bits << ", server_no_context_takeover " << server_reset
                                          << ", client_no_context_takeover " << client_reset) {
                    std::string params = "; server_max_window_bits=" + std::to_string(bits) +
                                         "; client_max_window_bits=" + std::to_string(bits);
                    if (server_reset)
                        params += "; server_no_context_takeover";
                    if (client_reset)
                        params += "; client_no_context_takeover";
                    compressor client(bits, client_reset);
                    compressor server(bits, server_reset);
                    std::string c2s = upgrade("permessage-deflate; client_max_window_bits");
                    std::string s2c = accepted(params);
                    for (const auto& m : messages) {
                        const std::string cm = client.compress(m);
                        // Fragment the large one: RSV1 on the first frame only.
                        if (m.size() > 100000) {
                            const std::size_t half = cm.size() / 2;
                            c2s += frame(0x41, cm.substr(0, half), mask) +
                                   frame(0x80, cm.substr(half), mask);
                        } else {
                            c2s += frame(0xC1, cm, mask);
                        }
                        s2c += frame(0xC1, server.compress(m));
                    }
                    const auto out = decode_connection(c2s, s2c, messages_and_frames(), 4096);
                    REQUIRE(error_codes(out).empty());
                    const auto records = of_type(out, "message");
                    REQUIRE(records.size() == 2 * messages.size());
                    for (std::size_t i = 0; i < records.size(); ++i) {
                        const std::string& sent = messages[i % messages.size()];
                        REQUIRE(records[i]["text"] == sent);
                        REQUIRE(records[i]["len"] == sent.size());
                    }
                    CHECK(of_type(out, "handshake")[0]["deflate"]["server_max_window_bits"] ==
                          bits);
                }
            }
        }
    }
}

TEST_CASE("inflate: a bomb stops at the cap and the stream goes on", "[inflate]") {
    // 16 MiB of zeros compress to a few KiB; the cap is 1 MiB.
    compressor server(15, false);
    const std::string bomb = server.compress(std::string(16 * 1024 * 1024, '\0'));
    REQUIRE(bomb.size() < 64 * 1024);
    session::session_options options = messages_and_frames();
    options.max_message = 1024 * 1024;
    options.max_payload = 64;
    const std::string s2c = accepted("") + frame(0xC2, bomb) + frame(0x81, "after");
    const auto out = decode_connection(upgrade("permessage-deflate"), s2c, options);
    REQUIRE(error_codes(out) == std::vector<std::string>{"inflate_limit"});
    const auto frames = of_type(out, "frame");
    REQUIRE(frames.size() == 2);
    CHECK(frames[0]["len"] == bomb.size());
    CHECK(frames[0]["data_len"] <= 1024 * 1024);
    CHECK(frames[0]["truncated"] == true);
    CHECK(frames[1]["text"] == "after"); // decoding goes on, no longer inflating
}

TEST_CASE("inflate: past the cap, a message gives exactly its first max_message bytes",
          "[inflate]") {
    // Found by inflate_fuzz: how many bytes one zlib call produces depends on how much input it
    // had, and the inflater used to drop a whole call's output once it crossed the cap, so the
    // bytes shown before the inflate_limit error depended on how the frame was cut.
    compressor server(15, false);
    std::string text;
    for (int i = 0; text.size() < 100000; ++i) {
        text += "line " + std::to_string(i) + "\n";
    }
    const std::string compressed = server.compress(text);
    session::session_options options;
    options.max_message = 1000;
    options.max_payload = 4096;
    options.payload = record::payload_mode::text;
    const std::string s2c = accepted("") + frame(0xC1, compressed);
    const auto whole = decode_connection(upgrade("permessage-deflate"), s2c, options);
    REQUIRE(error_codes(whole) == std::vector<std::string>{"inflate_limit"});
    const auto frames = of_type(whole, "frame");
    REQUIRE(frames.size() == 1);
    CHECK(frames[0]["data_len"] == 1000);
    CHECK(frames[0]["text"] == text.substr(0, 1000));
    for (const std::size_t chunk : {1U, 2U, 3U, 7U, 64U, 1000U}) {
        INFO("chunk " << chunk);
        CHECK(decode_connection(upgrade("permessage-deflate"), s2c, options, chunk) == whole);
    }
}

TEST_CASE("inflate: a corrupt stream is reported once, headers are still recorded", "[inflate]") {
    const std::string s2c = accepted("") + frame(0xC1, unhex("ffffffffffff")) +
                            frame(0xC1, unhex("f248cdc9c90700")) + frame(0x82, "\x01");
    const auto out = decode_connection(upgrade("permessage-deflate"), s2c, messages_and_frames());
    REQUIRE(error_codes(out) == std::vector<std::string>{"inflate_failed"});
    const auto frames = of_type(out, "frame");
    REQUIRE(frames.size() == 3);
    CHECK_FALSE(frames[1].contains("compressed")); // shown as sent from then on
    CHECK(frames[1]["hex"] == "f248cdc9c90700");
    CHECK(frames[2]["hex"] == "01");
}

TEST_CASE("inflate: a message in 100k one-byte compressed fragments", "[inflate]") {
    compressor client(15, false);
    std::string text;
    for (int i = 0; i < 20000; ++i) {
        text += "fragment " + std::to_string(i) + "; ";
    }
    const std::string compressed = client.compress(text);
    std::string c2s = upgrade("permessage-deflate");
    for (std::size_t i = 0; i < compressed.size(); ++i) {
        const std::uint8_t first = (i == 0 ? 0x41 : 0x00) | (i + 1 == compressed.size() ? 0x80 : 0);
        c2s += frame(first, compressed.substr(i, 1), mask);
    }
    session::session_options options;
    options.emit_frames = false;
    options.emit_messages = true;
    const auto out = decode_connection(c2s, accepted(""), options);
    REQUIRE(error_codes(out).empty());
    const auto messages = of_type(out, "message");
    REQUIRE(messages.size() == 1);
    CHECK(messages[0]["text"] == text);
    CHECK(messages[0]["frames"] == compressed.size());
}

TEST_CASE("inflate: invalid UTF-8 is judged on the inflated message", "[inflate]") {
    compressor server(15, false);
    const std::string s2c = accepted("") + frame(0xC1, server.compress("ok \xC0\xAF"));
    const auto out = decode_connection(upgrade("permessage-deflate"), s2c, messages_and_frames());
    REQUIRE(error_codes(out) == std::vector<std::string>{"invalid_utf8"});
    CHECK(of_type(out, "frame")[0]["hex"] == "6f6b20c0af");
}

TEST_CASE("inflate: nonsense parameters leave payloads as sent, unjudged", "[inflate]") {
    const std::string s2c = accepted("; server_max_window_bits=99") +
                            frame(0xC1, unhex("f248cdc9c90700")) + frame(0x81, "plain");
    const auto out = decode_connection(upgrade("permessage-deflate"), s2c, messages_and_frames());
    // The parameters are reported; the compressed bytes are not mistaken for bad text.
    REQUIRE(error_codes(out) == std::vector<std::string>{"invalid_extension_params"});
    const auto frames = of_type(out, "frame");
    CHECK(frames[0]["hex"] == "f248cdc9c90700");
    CHECK_FALSE(frames[0].contains("compressed"));
    CHECK(frames[1]["text"] == "plain");
    CHECK(of_type(out, "message")[0]["compressed"] == false);
}

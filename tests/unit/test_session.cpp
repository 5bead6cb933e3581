#include "support/records.hpp"

#include "wssniff/session/replay.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace wssniff;
using wssniff::test::decode_connection;
using wssniff::test::decode_frames;
using wssniff::test::error_codes;
using wssniff::test::frame;
using wssniff::test::of_type;
using wssniff::test::parse_lines;
using wssniff::test::unhex;

namespace {

const std::string mask = unhex("0a1b2c3d");

std::string upgrade_request(const std::string& extra = "") {
    return "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n" +
           extra + "\r\n";
}

std::string switching(const std::string& extra = "") {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
           extra + "\r\n";
}

} // namespace

TEST_CASE("session: frames in the same chunk as the heads are decoded", "[session]") {
    // The client pipelines a frame right behind its request; the server's first frame shares
    // a segment with the 101: the classic loss bug of hijacking proxies.
    const std::string c2s = upgrade_request() + frame(0x81, "early", mask);
    const std::string s2c = switching() + frame(0x81, "welcome");
    const auto out = decode_connection(c2s, s2c);
    const auto records = parse_lines(out);
    REQUIRE(records.size() == 4);
    CHECK(records[0]["type"] == "handshake");
    CHECK(records[0]["status"] == 101);
    CHECK(records[1]["dir"] == "c2s");
    CHECK(records[1]["text"] == "early");
    CHECK(records[1]["offset"] == 0);
    CHECK(records[2]["dir"] == "s2c");
    CHECK(records[2]["text"] == "welcome");
    CHECK(records[3]["type"] == "close");
    CHECK(records[3]["bytes_c2s"] == c2s.size());
    CHECK(records[3]["bytes_s2c"] == s2c.size());
    CHECK(records[3]["frames_c2s"] == 1);
    CHECK(records[3]["frames_s2c"] == 1);
    CHECK(records[3]["reason"] == "end_of_input");
}

TEST_CASE("session: records do not depend on how the bytes were split", "[session]") {
    session::session_options options;
    options.emit_messages = true;
    const std::string c2s = upgrade_request() + frame(0x01, "he", mask) + frame(0x89, "", mask) +
                            frame(0x80, "llo \xE2\x9C\x93", mask) + frame(0x82, "\x01\x02", mask) +
                            frame(0x88,
                                  "\x03\xE8"
                                  "done",
                                  mask);
    const std::string s2c = switching() + frame(0x81, std::string(300, 'z')) + frame(0x8A, "") +
                            frame(0x88, "\x03\xE8");
    const std::string whole = decode_connection(c2s, s2c, options);
    for (std::size_t chunk = 1; chunk <= std::max(c2s.size(), s2c.size()); ++chunk) {
        INFO("chunk " << chunk);
        REQUIRE(decode_connection(c2s, s2c, options, chunk) == whole);
    }
    const auto messages = of_type(whole, "message");
    REQUIRE(messages.size() == 3);
    CHECK(messages[0]["text"] == "hello \xE2\x9C\x93");
    CHECK(messages[0]["frames"] == 2);
    CHECK(messages[1]["hex"] == "0102");
    CHECK(messages[2]["dir"] == "s2c");
    CHECK(messages[2]["len"] == 300);
}

TEST_CASE("session: a refused upgrade records the status and decodes nothing", "[session]") {
    const std::string c2s = upgrade_request() + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    const std::string s2c = "HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!"
                            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    const auto out = decode_connection(c2s, s2c);
    const auto handshakes = of_type(out, "handshake");
    REQUIRE(handshakes.size() == 1);
    CHECK(handshakes[0]["status"] == 403);
    CHECK(of_type(out, "frame").empty());
    CHECK(error_codes(out).empty());
}

TEST_CASE("session: plain HTTP requests before the upgrade are skipped", "[session]") {
    const std::string c2s = "POST /login HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd" +
                            upgrade_request() + frame(0x81, "hi", mask);
    const std::string s2c =
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + switching() + frame(0x81, "yo");
    for (const std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{13}}) {
        const auto out = decode_connection(c2s, s2c, {}, chunk);
        INFO("chunk " << chunk);
        REQUIRE(of_type(out, "handshake").size() == 1);
        REQUIRE(of_type(out, "handshake")[0]["target"] == "/ws");
        REQUIRE(of_type(out, "frame").size() == 2);
        REQUIRE(error_codes(out).empty());
    }
}

TEST_CASE("session: credentials are redacted unless asked", "[session]") {
    const std::string c2s = upgrade_request("Authorization: Bearer abc.def\r\nCookie: sid=42\r\n");
    const std::string s2c = switching("Set-Cookie: sid=43; HttpOnly\r\n");
    const auto h = of_type(decode_connection(c2s, s2c), "handshake").at(0);
    const std::string dump = h.dump();
    CHECK(dump.find("abc.def") == std::string::npos);
    CHECK(dump.find("sid=4") == std::string::npos);
    CHECK(h["request_headers"][5][1] == "Bearer [redacted]");
    CHECK(h["request_headers"][6][1] == "[redacted]");
    CHECK(h["response_headers"][3][1] == "[redacted]");

    session::session_options keep;
    keep.redact = false;
    const auto raw = of_type(decode_connection(c2s, s2c, keep), "handshake").at(0);
    CHECK(raw["request_headers"][5][1] == "Bearer abc.def");
}

TEST_CASE("session: the handshake record carries subprotocol and deflate", "[session]") {
    const std::string c2s = upgrade_request("Sec-WebSocket-Protocol: chat, superchat\r\n"
                                            "Sec-WebSocket-Extensions: permessage-deflate; "
                                            "client_max_window_bits\r\n");
    const std::string s2c = switching("Sec-WebSocket-Protocol: chat\r\n"
                                      "Sec-WebSocket-Extensions: permessage-deflate; "
                                      "client_max_window_bits=12; server_no_context_takeover\r\n") +
                            // RFC 7692 §7.2.3.1: "Hello", compressed; RSV1 is legal now.
                            frame(0xC1, unhex("f248cdc9c90700"));
    const auto out = decode_connection(c2s, s2c);
    const auto h = of_type(out, "handshake").at(0);
    CHECK(h["subprotocol"] == "chat");
    CHECK(h["deflate"]["client_max_window_bits"] == 12);
    CHECK(h["deflate"]["server_no_context_takeover"] == true);
    CHECK(h["deflate"]["server_max_window_bits"] == 15);
    CHECK(error_codes(out).empty());
    const auto f = of_type(out, "frame").at(0);
    CHECK(f["compressed"] == true);
    CHECK(f["text"] == "Hello");
    CHECK(f["len"] == 7);
    CHECK(f["data_len"] == 5);
}

TEST_CASE("session: invalid deflate parameters are an error record", "[session]") {
    const std::string s2c =
        switching("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=20\r\n");
    const auto out = decode_connection(upgrade_request(), s2c);
    CHECK(of_type(out, "handshake").at(0)["deflate"].is_null());
    REQUIRE(error_codes(out) == std::vector<std::string>{"invalid_extension_params"});
    CHECK(of_type(out, "error").at(0)["fatal"] == false);
}

TEST_CASE("session: a malformed head is fatal for that direction only", "[session]") {
    const auto out = decode_connection("GET / HTTP/1.1\r\nbroken line\r\n\r\n", "");
    const auto e = of_type(out, "error").at(0);
    CHECK(e["code"] == "malformed_head");
    CHECK(e["fatal"] == true);
    CHECK(e["dir"] == "c2s");
}

TEST_CASE("session: client bytes held before the response are bounded", "[session]") {
    session::session_options options;
    options.max_pending = 1024;
    // Live order: the client's bytes all arrive before the server answers.
    const std::string c2s = upgrade_request() + frame(0x82, std::string(4000, 'x'), mask);
    const std::string s2c = switching() + frame(0x81, "ok");
    test::ndjson_capture capture;
    session::session s(capture, options);
    s.feed(direction::c2s, bytes_view{c2s});
    s.feed(direction::s2c, bytes_view{s2c});
    s.close(record::close_reason::client_closed);
    const std::string out = capture.text();
    CHECK(error_codes(out) == std::vector<std::string>{"pending_overflow"});
    CHECK(of_type(out, "error").at(0)["fatal"] == true);
    // The server side still decodes.
    CHECK(of_type(out, "frame").at(0)["text"] == "ok");
    CHECK(of_type(out, "close").at(0)["bytes_c2s"] == c2s.size());
}

TEST_CASE("session: payload modes", "[session]") {
    const std::string bytes = frame(0x81, "h\xC3\xA9", mask) +
                              frame(0x82, std::string("\xFF\x00", 2), mask) +
                              frame(0x81, "\xFF", mask);
    auto first_frames = [&](record::payload_mode mode) {
        session::session_options options;
        options.payload = mode;
        return of_type(decode_frames(direction::c2s, bytes, options), "frame");
    };
    const auto automatic = first_frames(record::payload_mode::automatic);
    CHECK(automatic[0]["text"] == "h\xC3\xA9");
    CHECK(automatic[1]["hex"] == "ff00");
    CHECK(automatic[2]["hex"] == "ff"); // not valid UTF-8 on its own: hex
    const auto text = first_frames(record::payload_mode::text);
    CHECK(text[1]["text"] == std::string("\xEF\xBF\xBD\x00", 4)); // NUL survives, 0xFF replaced
    const auto hex = first_frames(record::payload_mode::hex);
    CHECK(hex[0]["hex"] == "68c3a9");
    const auto base64 = first_frames(record::payload_mode::base64);
    CHECK(base64[0]["base64"] == "aMOp");
    CHECK(base64[1]["base64"] == "/wA=");
    const auto none = first_frames(record::payload_mode::none);
    CHECK_FALSE(none[0].contains("text"));
    CHECK_FALSE(none[0].contains("hex"));
}

TEST_CASE("session: payload none describes every frame as a payload mode does", "[session]") {
    // With no payload to show, binary frames are counted without being unmasked; the records
    // must say the same as when every byte is read, fragments, control frames and a frame cut
    // short by the end of the stream included.
    const std::string bytes = frame(0x02, std::string(70000, '\x01'), mask) +
                              frame(0x89, "ping", mask) + frame(0x80, "tail", mask) +
                              frame(0x81, "text", mask) + frame(0x82, "whole", mask) +
                              frame(0x82, "cut short", mask).substr(0, 10);
    auto records = [&](record::payload_mode mode) {
        session::session_options options;
        options.payload = mode;
        options.emit_messages = true;
        std::vector<nlohmann::json> out;
        for (const auto& line : parse_lines(decode_frames(direction::c2s, bytes, options))) {
            nlohmann::json r = line;
            for (const char* key : {"text", "hex", "truncated"}) {
                r.erase(key);
            }
            out.push_back(r);
        }
        return out;
    };
    const auto none = records(record::payload_mode::none);
    REQUIRE(none.size() > 8);
    CHECK(none == records(record::payload_mode::automatic));
}

TEST_CASE("session: --max-payload keeps whole characters and says truncated", "[session]") {
    session::session_options options;
    options.max_payload = 4;
    options.emit_messages = true;
    const std::string bytes = frame(0x81, "ab\xE2\x9C\x93z", mask) + frame(0x82, "123456", mask);
    const auto out = decode_frames(direction::c2s, bytes, options);
    const auto frames = of_type(out, "frame");
    CHECK(frames[0]["text"] == "ab");
    CHECK(frames[0]["truncated"] == true);
    CHECK(frames[0]["len"] == 6);
    CHECK(frames[1]["hex"] == "31323334");
    CHECK(frames[1]["truncated"] == true);
    const auto messages = of_type(out, "message");
    CHECK(messages[0]["len"] == 6);
    CHECK(messages[0]["truncated"] == true);
    CHECK_FALSE(
        of_type(decode_frames(direction::c2s, frame(0x81, "abcd", mask), options), "frame")[0]
            .contains("truncated"));
}

TEST_CASE("session: emit modes", "[session]") {
    const std::string bytes = frame(0x01, "a", mask) + frame(0x80, "b", mask);
    session::session_options options;
    options.emit_frames = false;
    options.emit_messages = true;
    const auto out = decode_frames(direction::c2s, bytes, options);
    CHECK(of_type(out, "frame").empty());
    CHECK(of_type(out, "message").at(0)["text"] == "ab");
    CHECK(of_type(out, "close").at(0)["frames_c2s"] == 2); // counted even when not written
}

TEST_CASE("session: nothing is recorded after close", "[session]") {
    test::ndjson_capture capture;
    session::session_options options;
    options.handshake = false;
    session::session s(capture, options);
    const std::string f = frame(0x82, "x");
    s.feed(direction::s2c, bytes_view{f});
    s.close(record::close_reason::server_closed);
    s.feed(direction::s2c, bytes_view{f});
    s.close(record::close_reason::shutdown);
    const auto records = capture.json();
    REQUIRE(records.size() == 2);
    CHECK(records[1]["reason"] == "server_closed");
}

TEST_CASE("session: live records carry a timestamp and the conn number", "[session]") {
    test::ndjson_capture capture;
    session::session_options options;
    options.handshake = false;
    options.conn = 7;
    session::session s(capture, options);
    const std::string f = frame(0x82, "x");
    const auto ts = std::chrono::system_clock::time_point{} + std::chrono::seconds(1795000000) +
                    std::chrono::microseconds(123456);
    s.feed(direction::s2c, bytes_view{f}, ts);
    const auto records = capture.json();
    REQUIRE(records.size() == 1);
    CHECK(records[0]["conn"] == 7);
    CHECK(records[0]["ts"] == "2026-11-18T11:06:40.123456Z");
}

TEST_CASE("session: a request answered before its body ended, then an upgrade", "[session]") {
    // Found by the session fuzzer: the response took the request off the pending list, and the
    // end of its body then looked at a list that was empty.
    test::ndjson_capture capture;
    session::session s(capture, {});
    s.feed(direction::c2s, bytes_view{std::string_view{"POST /p HTTP/1.1\r\nHost: a\r\n"
                                                       "Content-Length: 3\r\n\r\n"}});
    s.feed(direction::s2c, bytes_view{std::string_view{"HTTP/1.1 413 Payload Too Large\r\n"
                                                       "Content-Length: 0\r\n\r\n"}});
    s.feed(direction::c2s, bytes_view{std::string_view{"abc"}});
    const std::string upgrade = upgrade_request();
    s.feed(direction::c2s, bytes_view{upgrade});
    s.feed(direction::s2c, bytes_view{switching()});
    const auto records = capture.json();
    REQUIRE(records.size() == 1);
    CHECK(records[0]["type"] == "handshake");
    CHECK(records[0]["status"] == 101);
}

TEST_CASE("session: the handshake record says when the request head was complete", "[session]") {
    test::ndjson_capture capture;
    session::session s(capture, {});
    const auto t0 = std::chrono::system_clock::time_point{} + std::chrono::seconds(1795000000);
    const std::string request = upgrade_request();
    // The head completes in the second piece; its time is the request's.
    s.feed(direction::c2s, bytes_view{std::string_view{request}.substr(0, 10)}, t0);
    s.feed(direction::c2s, bytes_view{std::string_view{request}.substr(10)},
           t0 + std::chrono::milliseconds(2));
    s.feed(direction::s2c, bytes_view{switching()}, t0 + std::chrono::milliseconds(14));
    const auto records = capture.json();
    REQUIRE(records.size() == 1);
    CHECK(records[0]["request_ts"] == "2026-11-18T11:06:40.002000Z");
    CHECK(records[0]["ts"] == "2026-11-18T11:06:40.014000Z");

    test::ndjson_capture clockless; // offline decode has no clock: neither time
    session::session d(clockless, {});
    d.feed(direction::c2s, bytes_view{request});
    d.feed(direction::s2c, bytes_view{switching()});
    REQUIRE(clockless.json().size() == 1);
    CHECK_FALSE(clockless.json()[0].contains("request_ts"));
}

TEST_CASE("session: after pending_overflow the client side is never decoded again (issue 19 "
          "item 7)",
          "[session]") {
    // Live order: the client pipelines 350 KB of frames behind its request; the 101 arrives
    // when 300 KB of them are through (past the 256 KiB held), the rest follows.
    std::string frames;
    while (frames.size() < 350 * 1000) {
        frames += frame(0x82, std::string(1000, 'x'), mask);
    }
    const std::string c2s = upgrade_request() + frames;
    const std::size_t mid_way = upgrade_request().size() + 300 * 1000 + 17; // inside a frame
    for (const std::size_t chunk : {std::size_t{1460}, std::size_t{65536}, c2s.size()}) {
        INFO("chunk " << chunk);
        test::ndjson_capture capture;
        session::session s(capture, session::session_options{});
        auto feed_c2s = [&](std::size_t from, std::size_t to) {
            for (std::size_t at = from; at < to; at += chunk) {
                s.feed(direction::c2s, bytes_view{c2s}.subview(at, std::min(chunk, to - at)));
            }
        };
        feed_c2s(0, std::min(mid_way, c2s.size()));
        s.feed(direction::s2c, bytes_view{switching() + frame(0x81, "ok")});
        feed_c2s(std::min(mid_way, c2s.size()), c2s.size());
        CHECK(s.setup_over());
        s.close(record::close_reason::client_closed);
        const std::string out = capture.text();
        REQUIRE(error_codes(out) == std::vector<std::string>{"pending_overflow"});
        CHECK(of_type(out, "error").at(0)["fatal"] == true);
        const auto frames_seen = of_type(out, "frame");
        REQUIRE(frames_seen.size() == 1); // the server's; no bogus client frames
        CHECK(frames_seen[0]["dir"] == "s2c");
        CHECK(of_type(out, "close").at(0)["bytes_c2s"] == c2s.size());
    }
}

TEST_CASE("session: setup_over says when a setup timeout no longer applies", "[session]") {
    auto run = [](const std::string& c2s, const std::string& s2c) {
        test::ndjson_capture capture;
        session::session s(capture, session::session_options{});
        s.feed(direction::c2s, bytes_view{c2s});
        s.feed(direction::s2c, bytes_view{s2c});
        return s.setup_over();
    };
    CHECK_FALSE(run("", ""));
    CHECK_FALSE(run(upgrade_request(), ""));
    // Plain keep-alive HTTP, chunked, is still setup: an upgrade may follow.
    CHECK_FALSE(run("GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));
    CHECK(run(upgrade_request(), switching()));
    // A 101 to another protocol (Docker's attach): both directions opaque.
    CHECK(run("POST /attach HTTP/1.1\r\nHost: a\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\nls\n",
              "HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\nbin\n"));
    CHECK(run("CONNECT a:443 HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"));
    // No longer understood.
    CHECK(run("\x16\x03\x01", ""));
    CHECK(run("GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\nuntil close"));
}

TEST_CASE("session: a refused upgrade of another protocol goes back to HTTP", "[session]") {
    const std::string c2s = "POST /attach HTTP/1.1\r\nHost: a\r\nUpgrade: tcp\r\n\r\n" +
                            upgrade_request() + frame(0x81, "hi", mask);
    const std::string s2c = "HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno" + switching();
    const auto out = decode_connection(c2s, s2c);
    CHECK(error_codes(out).empty());
    CHECK(of_type(out, "handshake").at(0)["status"] == 101);
    CHECK(of_type(out, "frame").at(0)["text"] == "hi");
}

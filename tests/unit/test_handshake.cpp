#include "wssniff/handshake/extensions.hpp"
#include "wssniff/handshake/http_head.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace wssniff;
using handshake::head_parser;

namespace {

const std::string request = "GET /chat?room=1 HTTP/1.1\r\n"
                            "Host: example.com\r\n"
                            "Upgrade: websocket\r\n"
                            "Connection: keep-alive, Upgrade\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                            "X-Dup: one\r\n"
                            "x-dup: two\r\n"
                            "Sec-WebSocket-Version: 13\r\n"
                            "\r\n";

} // namespace

TEST_CASE("http head: a request, whole and byte by byte", "[handshake]") {
    for (const std::size_t chunk : {request.size(), std::size_t{1}, std::size_t{7}}) {
        head_parser p(head_parser::kind::request);
        const std::string with_frames = request + "\x81\x80"; // frame bytes right behind
        std::size_t used = 0;
        for (std::size_t at = 0;
             at < with_frames.size() && p.state() == head_parser::status::need_more; at += chunk) {
            used += p.feed(
                bytes_view{with_frames}.subview(at, std::min(chunk, with_frames.size() - at)));
        }
        INFO("chunk " << chunk);
        REQUIRE(p.state() == head_parser::status::done);
        REQUIRE(used == request.size()); // the frame bytes are left for the decoder
        const auto& h = p.head();
        CHECK(h.method == "GET");
        CHECK(h.target == "/chat?room=1");
        CHECK(h.version == "HTTP/1.1");
        REQUIRE(h.fields.size() == 7);
        CHECK(h.fields[4] == std::pair<std::string, std::string>{"X-Dup", "one"}); // wire order
        CHECK(h.fields[5] == std::pair<std::string, std::string>{"x-dup", "two"});
        CHECK(h.has_token("connection", "upgrade"));
        CHECK(h.has_token("Upgrade", "WebSocket"));
        CHECK(*h.joined("X-DUP") == "one, two");
    }
}

TEST_CASE("http head: release lets the head go and leaves a parser that parses again",
          "[handshake]") {
    head_parser p(head_parser::kind::request);
    REQUIRE(p.feed(bytes_view{request}) == request.size());
    REQUIRE(p.head().fields.size() == 7);
    p.release();
    CHECK(p.state() == head_parser::status::need_more);
    CHECK(p.head().method.empty());
    CHECK(p.head().fields.empty());
    const std::string next = "GET /again HTTP/1.1\r\nHost: b\r\n\r\n";
    REQUIRE(p.feed(bytes_view{next}) == next.size());
    REQUIRE(p.state() == head_parser::status::done);
    CHECK(p.head().target == "/again");
    REQUIRE(p.head().fields.size() == 1);
}

TEST_CASE("http head: a response with bare LF line ends", "[handshake]") {
    head_parser p(head_parser::kind::response);
    const std::string response = "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n";
    REQUIRE(p.feed(bytes_view{response}) == response.size());
    REQUIRE(p.state() == head_parser::status::done);
    CHECK(p.head().status == 101);
    CHECK(p.head().reason == "Switching Protocols");
}

TEST_CASE("http head: malformed heads are rejected", "[handshake]") {
    const char* bad_requests[] = {
        "GET /\r\n\r\n",                         // no version
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",     // header without colon
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", // whitespace in a field name
        "GET / HTTP/1.1\r\n Folded: x\r\n\r\n",  // folding with nothing to fold into
        "GET / FTP/1.0\r\n\r\n",
    };
    for (const char* text : bad_requests) {
        INFO(text);
        head_parser p(head_parser::kind::request);
        p.feed(bytes_view{std::string_view{text}});
        CHECK(p.state() == head_parser::status::failed);
        CHECK(p.error() == error_code::malformed_head);
    }
    head_parser r(head_parser::kind::response);
    r.feed(bytes_view{std::string_view{"HTTP/1.1 1O1 Nope\r\n\r\n"}});
    CHECK(r.state() == head_parser::status::failed);
}

TEST_CASE("http head: obs-fold is one space, a blank continuation adds nothing", "[handshake]") {
    // Found by http_head_fuzz: a continuation line of only whitespace left a value ending in a
    // space, and one folded into an empty value began with one (RFC 9112 §5.2, §5.5).
    const std::string request = "GET / HTTP/1.1\r\nX-Long: one\r\n two\r\n\t three\r\n"
                                "X-Blank: b\r\n \t\r\nX-Empty:\r\n later\r\n\r\n";
    head_parser p(head_parser::kind::request);
    REQUIRE(p.feed(bytes_view{request}) == request.size());
    REQUIRE(p.state() == head_parser::status::done);
    const handshake::header_fields expected = {
        {"X-Long", "one two three"}, {"X-Blank", "b"}, {"X-Empty", "later"}};
    CHECK(p.head().fields == expected);
}

TEST_CASE("http head: empty lines that fill the size limit are too large, however cut",
          "[handshake]") {
    // Found by http_head_fuzz: fed whole, the byte after the limit was judged (not HTTP); fed a
    // byte at a time, the limit came first. Both must say head_too_large.
    const std::string stream = std::string(8, '\n') + std::string(1, '\0');
    for (const std::size_t chunk : {1U, 2U, 3U, 9U}) {
        INFO("chunk " << chunk);
        head_parser p(head_parser::kind::request, 8);
        for (std::size_t at = 0; at < stream.size() && p.state() == head_parser::status::need_more;
             at += chunk) {
            p.feed(bytes_view{std::string_view{stream}.substr(at, chunk)});
        }
        CHECK(p.state() == head_parser::status::failed);
        CHECK(p.error() == error_code::head_too_large);
    }
}

TEST_CASE("http head: the size limit holds", "[handshake]") {
    head_parser p(head_parser::kind::request, 1024);
    const std::string huge = "GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n";
    const std::size_t used = p.feed(bytes_view{huge});
    CHECK(used == 1024);
    CHECK(p.state() == head_parser::status::failed);
    CHECK(p.error() == error_code::head_too_large);
}

TEST_CASE("http head: leading empty lines before a request are skipped", "[handshake]") {
    head_parser p(head_parser::kind::request);
    const std::string text = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    REQUIRE(p.feed(bytes_view{text}) == text.size());
    REQUIRE(p.state() == head_parser::status::done);
    CHECK(p.head().target == "/");
}

TEST_CASE("extensions: permessage-deflate parameters from the response", "[handshake]") {
    using handshake::parse_response_extensions;
    auto plain = parse_response_extensions("permessage-deflate");
    REQUIRE(plain.deflate);
    CHECK(plain.deflate->server_max_window_bits == 15);
    CHECK_FALSE(plain.unknown_extension);

    auto full = parse_response_extensions(
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=\"12\"");
    REQUIRE(full.deflate);
    CHECK(full.deflate->server_no_context_takeover);
    CHECK(full.deflate->client_no_context_takeover);
    CHECK(full.deflate->server_max_window_bits == 10);
    CHECK(full.deflate->client_max_window_bits == 12);

    // Only an offer may carry client_max_window_bits without a value (RFC 7692 §7.1.2.2).
    for (const char* bare : {"permessage-deflate; client_max_window_bits",
                             "permessage-deflate; server_max_window_bits"}) {
        INFO(bare);
        auto no_value = parse_response_extensions(bare);
        CHECK_FALSE(no_value.deflate);
        CHECK(no_value.problem.find("must be a number from 8 to 15") != std::string::npos);
    }
}

TEST_CASE("extensions: nonsense parameters are rejected", "[handshake]") {
    using handshake::parse_response_extensions;
    for (const char* bad :
         {"permessage-deflate; server_max_window_bits=7",
          "permessage-deflate; server_max_window_bits=16",
          "permessage-deflate; client_max_window_bits=08",
          "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
          "permessage-deflate; server_no_context_takeover=1", "permessage-deflate; mystery",
          "permessage-deflate, permessage-deflate"}) {
        INFO(bad);
        const auto result = parse_response_extensions(bad);
        CHECK(result.deflate_accepted);
        CHECK_FALSE(result.deflate);
        CHECK_FALSE(result.problem.empty());
    }
    const auto other = parse_response_extensions("x-webkit-deflate-frame");
    CHECK(other.unknown_extension);
    CHECK_FALSE(other.deflate_accepted);
}

TEST_CASE("http head: a peer that is not speaking HTTP is told at once", "[handshake]") {
    // A TLS ClientHello starts with record type 0x16: no line end will ever come.
    head_parser tls(head_parser::kind::request);
    const std::string hello = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    CHECK(tls.feed(bytes_view{hello}) == 0);
    CHECK(tls.state() == head_parser::status::failed);
    CHECK(tls.error_detail().find("TLS") != std::string_view::npos);

    head_parser response(head_parser::kind::response);
    response.feed(bytes_view{std::string_view{"\r\nSSH-2.0-OpenSSH"}});
    CHECK(response.state() == head_parser::status::failed);

    // Split after the leading empty lines, the judgement is the same.
    head_parser split(head_parser::kind::request);
    split.feed(bytes_view{std::string_view{"\r\n"}});
    CHECK(split.state() == head_parser::status::need_more);
    split.feed(bytes_view{std::string_view{"\x16\x03"}});
    CHECK(split.state() == head_parser::status::failed);
}

// Body framing (RFC 9112 §6.3) decided once for the session and the Host rewriter, and the
// chunked body reader (RFC 9112 §7.1), fed whole and at every split point.

#include "wssniff/handshake/body_framing.hpp"
#include "wssniff/handshake/chunked_body.hpp"
#include "wssniff/handshake/http_head.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace wssniff;
using handshake::body_kind;
using handshake::chunked_body;

namespace {

handshake::http_head parse(const std::string& text, handshake::head_parser::kind k) {
    handshake::head_parser p(k);
    p.feed(bytes_view{text});
    REQUIRE(p.state() == handshake::head_parser::status::done);
    return p.head();
}

handshake::body_framing request(const std::string& fields) {
    return handshake::request_framing(
        parse("POST / HTTP/1.1\r\n" + fields + "\r\n", handshake::head_parser::kind::request));
}

handshake::body_framing response(const std::string& status_and_fields,
                                 handshake::request_summary req = {}) {
    return handshake::response_framing(
        parse("HTTP/1.1 " + status_and_fields + "\r\n", handshake::head_parser::kind::response),
        req);
}

// Feeds a chunked body in pieces of `chunk`; returns how many bytes it took and the status.
std::pair<std::size_t, chunked_body::status> read_chunked(const std::string& body,
                                                          std::size_t chunk) {
    chunked_body c;
    std::size_t at = 0;
    while (at < body.size() && c.state() == chunked_body::status::in_body) {
        const std::size_t n = std::min(chunk, body.size() - at);
        const std::size_t used = c.feed(bytes_view{body}.subview(at, n));
        at += used;
        if (used < n) {
            break;
        }
    }
    return {at, c.state()};
}

} // namespace

TEST_CASE("body framing: requests", "[handshake]") {
    CHECK(request("").kind == body_kind::none);
    CHECK(request("Content-Length: 0\r\n").kind == body_kind::none);
    const auto five = request("Content-Length: 5\r\n");
    CHECK(five.kind == body_kind::length);
    CHECK(five.length == 5);
    CHECK(request("Content-Length: 5, 5\r\nContent-Length: 5\r\n").length == 5);
    CHECK(request("Transfer-Encoding: gzip, chunked\r\n").kind == body_kind::chunked);
    // Transfer-Encoding overrides Content-Length (rule 3).
    CHECK(request("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n").kind ==
          body_kind::chunked);

    const auto conflicting = request("Content-Length: 0\r\nContent-Length: 42\r\n");
    CHECK(conflicting.kind == body_kind::invalid);
    CHECK(conflicting.error == error_code::conflicting_content_length);
    CHECK(request("Content-Length: 42, 0\r\n").error == error_code::conflicting_content_length);
    const auto nan = request("Content-Length: 4x\r\n");
    CHECK(nan.kind == body_kind::invalid);
    CHECK(nan.error == error_code::malformed_head);
    CHECK(request("Content-Length: 1234567890123456789\r\n").kind == body_kind::invalid);
    const auto gzip = request("Transfer-Encoding: gzip\r\n");
    CHECK(gzip.kind == body_kind::invalid);
    CHECK(gzip.error == error_code::unsupported_body);
}

TEST_CASE("body framing: responses", "[handshake]") {
    handshake::request_summary head_request;
    head_request.head_method = true;
    handshake::request_summary connect;
    connect.connect_method = true;

    CHECK(response("101 Switching Protocols\r\n").kind == body_kind::switch_protocols);
    CHECK(response("100 Continue\r\n").kind == body_kind::interim);
    CHECK(response("103 Early Hints\r\nContent-Length: 9\r\n").kind == body_kind::interim);
    CHECK(response("204 No Content\r\nContent-Length: 9\r\n").kind == body_kind::none);
    CHECK(response("304 Not Modified\r\nTransfer-Encoding: chunked\r\n").kind == body_kind::none);
    CHECK(response("200 OK\r\nContent-Length: 9\r\n", head_request).kind == body_kind::none);
    CHECK(response("200 OK\r\n", connect).kind == body_kind::switch_protocols);
    CHECK(response("407 Proxy Authentication Required\r\nContent-Length: 2\r\n", connect).kind ==
          body_kind::length);
    CHECK(response("200 OK\r\nTransfer-Encoding: chunked\r\n").kind == body_kind::chunked);
    CHECK(response("200 OK\r\nTransfer-Encoding: gzip\r\n").kind == body_kind::until_close);
    CHECK(response("200 OK\r\n").kind == body_kind::until_close);
    CHECK(response("401 Unauthorized\r\nContent-Length: 12\r\n").length == 12);
    CHECK(response("200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n").error ==
          error_code::conflicting_content_length);
}

TEST_CASE("body framing: what opens a tunnel", "[handshake]") {
    const auto summary = [](const std::string& head) {
        return handshake::summarize(parse(head, handshake::head_parser::kind::request));
    };
    CHECK(handshake::opens_tunnel(summary("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")));
    CHECK(handshake::opens_tunnel(summary("POST /attach HTTP/1.1\r\nUpgrade: tcp\r\n\r\n")));
    CHECK(handshake::opens_tunnel(summary("CONNECT a:443 HTTP/1.1\r\n\r\n")));
    CHECK_FALSE(handshake::opens_tunnel(summary("GET / HTTP/1.1\r\n\r\n")));
    CHECK(summary("HEAD / HTTP/1.1\r\n\r\n").head_method);
}

TEST_CASE("chunked body: sizes, extensions and trailers, at every split point", "[handshake]") {
    const std::string body = "5\r\nhello\r\n"
                             "1A;name=value; other = \"quoted\"\r\n"
                             "abcdefghijklmnopqrstuvwxyz\r\n"
                             "00000\r\n"
                             "Expires: never\r\n"
                             "X-Trailer: yes\r\n"
                             "\r\n";
    const std::string after = "GET /next HTTP/1.1\r\n\r\n";
    for (std::size_t chunk = 1; chunk <= body.size() + after.size(); ++chunk) {
        INFO("chunk " << chunk);
        const auto [used, status] = read_chunked(body + after, chunk);
        CHECK(status == chunked_body::status::done);
        CHECK(used == body.size()); // the next message's bytes are not taken
    }
    // Bare LF line ends, as heads allow them; the last chunk with no trailers.
    CHECK(read_chunked("3\nabc\n0\n\n", 1) ==
          std::make_pair(std::size_t{9}, chunked_body::status::done));
    CHECK(read_chunked("0\r\n\r\n", 2).second == chunked_body::status::done);
}

TEST_CASE("chunked body: malformed bodies fail where they break", "[handshake]") {
    const std::pair<const char*, std::size_t> cases[] = {
        {"x\r\n", 0},                    // chunk size is not a hex number
        {"\r\n", 0},                     // no size at all
        {"5\r\nhelloX", 8},              // chunk data is longer than its size
        {"5\r\nhello\rX", 9},            // CR not followed by LF
        {"5 x\r\n", 2},                  // something other than an extension after the size
        {"11112222333344445\r\n", 16},   // larger than 64 bits
        {"5;ext\x01\r\n", 5},            // a control character in an extension
        {"0\r\n bad: fold\r\n\r\n", 3},  // a trailer line starting with whitespace
        {"0\r\nName: a\rb\r\n\r\n", 11}, // CR inside a trailer line
    };
    for (const auto& [text, at] : cases) {
        const std::string body = text;
        INFO(body);
        for (std::size_t chunk = 1; chunk <= body.size(); ++chunk) {
            const auto [used, status] = read_chunked(body, chunk);
            REQUIRE(status == chunked_body::status::failed);
            CHECK(used == at);
        }
    }
    // A huge declared size is only compared: nothing is allocated for it.
    chunked_body huge;
    const std::string header = "ffffffffffffffff\r\n";
    CHECK(huge.feed(bytes_view{header}) == header.size());
    CHECK(huge.state() == chunked_body::status::in_body);
}

TEST_CASE("chunked body: lines and trailers are bounded", "[handshake]") {
    chunked_body size_line(64, 1024);
    const std::string long_ext = "5;" + std::string(100, 'a') + "\r\n";
    size_line.feed(bytes_view{long_ext});
    CHECK(size_line.state() == chunked_body::status::failed);

    chunked_body zeros(64, 1024);
    const std::string many_zeros(100, '0');
    zeros.feed(bytes_view{many_zeros});
    CHECK(zeros.state() == chunked_body::status::failed);

    chunked_body trailers(64, 1024);
    std::string body = "0\r\n";
    for (int i = 0; i < 40; ++i) {
        body += "X-Trailer-" + std::to_string(i) + ": " + std::string(30, 'v') + "\r\n";
    }
    trailers.feed(bytes_view{body});
    CHECK(trailers.state() == chunked_body::status::failed);
    CHECK(std::string(trailers.problem()).find("trailer section") != std::string::npos);
}

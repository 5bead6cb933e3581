#include "wssniff/handshake/proxy_request.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace wssniff;
using handshake::proxy_form;
using handshake::proxy_request_parser;

namespace {

using status = proxy_request_parser::status;

// Feeds `input` in chunks of `chunk` bytes until the parser is done or failed; returns how many
// bytes it took.
std::size_t feed_in_chunks(proxy_request_parser& p, const std::string& input, std::size_t chunk) {
    std::size_t used = 0;
    for (std::size_t at = 0; at < input.size() && p.state() == status::need_more; at += chunk) {
        const std::string_view piece = std::string_view{input}.substr(at, chunk);
        const std::size_t took = p.feed(bytes_view{piece});
        used += took;
        if (took < piece.size()) {
            break;
        }
    }
    return used;
}

const std::string absolute = "\r\nGET http://Example.com:8080/chat?room=1 HTTP/1.1\r\n"
                             "Host: example.com:8080\r\n"
                             "Proxy-Authorization: Basic c2VjcmV0\r\n"
                             "Upgrade: websocket\r\n"
                             "Proxy-Connection: keep-alive\r\n"
                             " folded\r\n"
                             "Connection: Upgrade\r\n"
                             "proxy-authorization:Bearer x\r\n"
                             "Sec-WebSocket-Version: 13\r\n"
                             "\r\n";
const std::string absolute_forwarded = "\r\nGET /chat?room=1 HTTP/1.1\r\n"
                                       "Host: example.com:8080\r\n"
                                       "Upgrade: websocket\r\n"
                                       "Connection: Upgrade\r\n"
                                       "Sec-WebSocket-Version: 13\r\n"
                                       "\r\n";

} // namespace

TEST_CASE("proxy request: CONNECT, split anywhere, tunnel bytes left alone", "[proxy_request]") {
    const std::string head = "CONNECT [::1]:9000 HTTP/1.1\r\nHost: [::1]:9000\r\n\r\n";
    const std::string input = head + "\x16\x03\x01 tunnel bytes";
    for (std::size_t chunk = 1; chunk <= input.size(); ++chunk) {
        proxy_request_parser p;
        const std::size_t used = feed_in_chunks(p, input, chunk);
        REQUIRE(p.state() == status::done);
        CHECK(used == head.size());
        const auto& r = p.request();
        CHECK(r.form == proxy_form::connect);
        CHECK(r.host == "::1");
        CHECK(r.port == 9000);
        CHECK(r.authority() == "[::1]:9000");
        CHECK(r.head == head);
        CHECK(r.forwarded_head.empty());
    }
}

TEST_CASE("proxy request: absolute form in origin form, Proxy-* fields removed",
          "[proxy_request]") {
    const std::string input = absolute + "\x81\x82";
    for (std::size_t chunk = 1; chunk <= input.size(); ++chunk) {
        proxy_request_parser p;
        const std::size_t used = feed_in_chunks(p, input, chunk);
        REQUIRE(p.state() == status::done);
        CHECK(used == absolute.size());
        const auto& r = p.request();
        CHECK(r.form == proxy_form::absolute);
        CHECK(r.websocket);
        CHECK(r.host == "Example.com");
        CHECK(r.port == 8080);
        CHECK(r.head == absolute);
        CHECK(r.forwarded_head == absolute_forwarded);
    }
}

TEST_CASE("proxy request: origin targets of absolute URIs", "[proxy_request]") {
    const auto forwarded_line = [](const std::string& target) {
        proxy_request_parser p;
        const std::string head = "GET " + target + " HTTP/1.1\nHost: h\n\n";
        p.feed(bytes_view{head});
        REQUIRE(p.state() == status::done);
        CHECK_FALSE(p.request().websocket);
        const std::string& f = p.request().forwarded_head;
        return f.substr(0, f.find('\n'));
    };
    CHECK(forwarded_line("http://h") == "GET / HTTP/1.1");
    CHECK(forwarded_line("http://h?q=1") == "GET /?q=1 HTTP/1.1");
    CHECK(forwarded_line("HTTP://h:81/a/b") == "GET /a/b HTTP/1.1");
    CHECK(forwarded_line("ws://[::1]/x#frag") == "GET /x HTTP/1.1");
    CHECK(forwarded_line("http://[fe80::1%25eth0]:8080/") == "GET / HTTP/1.1");
    CHECK(forwarded_line("http://[::ffff:127.0.0.1]/y") == "GET /y HTTP/1.1");
}

TEST_CASE("proxy request: what a forward proxy refuses", "[proxy_request]") {
    const auto refusal = [](const std::string& head) {
        proxy_request_parser p;
        p.feed(bytes_view{head});
        REQUIRE(p.state() == status::failed);
        return std::pair{p.error(), p.error_detail()};
    };
    // Origin form: a request for the proxy itself.
    CHECK(refusal("GET /chat HTTP/1.1\r\n\r\n").first == error_code::proxy_request_invalid);
    // RFC 9110 §9.3.6: CONNECT names a port.
    CHECK(refusal("CONNECT example.com HTTP/1.1\r\n\r\n").second ==
          "the CONNECT target is not HOST:PORT");
    CHECK(refusal("CONNECT example.com:0 HTTP/1.1\r\n\r\n").first ==
          error_code::proxy_request_invalid);
    CHECK(refusal("CONNECT ::1:80 HTTP/1.1\r\n\r\n").first == error_code::proxy_request_invalid);
    // Between brackets only an IPv6 address (found by fuzzing: any bytes were a host).
    CHECK(refusal("CONNECT [\xe5\xe5]:9000 HTTP/1.1\r\n\r\n").second ==
          "the CONNECT target is not HOST:PORT");
    CHECK(refusal("CONNECT [example.com]:443 HTTP/1.1\r\n\r\n").first ==
          error_code::proxy_request_invalid);
    CHECK(refusal("CONNECT [::1%]:443 HTTP/1.1\r\n\r\n").first ==
          error_code::proxy_request_invalid);
    CHECK(refusal("GET http://[a/b]/ HTTP/1.1\r\n\r\n").first == error_code::proxy_request_invalid);
    // https:// goes through CONNECT.
    CHECK(refusal("GET https://h/ HTTP/1.1\r\n\r\n").first == error_code::proxy_request_invalid);
    CHECK(refusal("GET http://user@h/ HTTP/1.1\r\n\r\n").second ==
          "the request target has user information");
    CHECK(refusal("GET http:///x HTTP/1.1\r\n\r\n").first == error_code::proxy_request_invalid);
    CHECK(refusal("GET http://h:99999/ HTTP/1.1\r\n\r\n").first ==
          error_code::proxy_request_invalid);
    // The head parser's own verdicts pass through.
    CHECK(refusal("\x16\x03\x01").first == error_code::malformed_head);
}

TEST_CASE("proxy request: a head past the limit", "[proxy_request]") {
    proxy_request_parser p(64);
    const std::string head = "CONNECT h:1 HTTP/1.1\r\nX: " + std::string(100, 'a') + "\r\n\r\n";
    p.feed(bytes_view{head});
    REQUIRE(p.state() == status::failed);
    CHECK(p.error() == error_code::head_too_large);
}

#include "wssniff/proxy/host_rewriter.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace wssniff;

namespace {

// Feeds `in` in pieces of `chunk` and returns everything released for forwarding.
std::string forward(proxy::host_rewriter& r, const std::string& in, std::size_t chunk) {
    std::string out;
    for (std::size_t at = 0; at < in.size(); at += chunk) {
        if (r.stepped_aside()) {
            out += in.substr(at); // the relay forwards as read from here on
            break;
        }
        r.feed(bytes_view{in}.subview(at, std::min(chunk, in.size() - at)), out);
    }
    return out;
}

} // namespace

TEST_CASE("host rewriter: only the Host value changes, wherever the head is split", "[proxy]") {
    const std::string request =
        "GET /ws HTTP/1.1\r\nhost:  proxy.local:8080 \r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\n\x81\x80\x01\x02\x03\x04";
    const std::string expected =
        "GET /ws HTTP/1.1\r\nhost:  127.0.0.1:9000 \r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\n\x81\x80\x01\x02\x03\x04";
    for (std::size_t chunk = 1; chunk <= request.size(); ++chunk) {
        proxy::host_rewriter r("127.0.0.1:9000");
        INFO("chunk " << chunk);
        REQUIRE(forward(r, request, chunk) == expected);
        REQUIRE(r.stepped_aside()); // after an upgrade request: frames pass untouched
    }
}

TEST_CASE("host rewriter: keep-alive requests with bodies are each rewritten", "[proxy]") {
    const std::string request = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nHost:"
                                "GET /b HTTP/1.1\r\nHost: y\r\n\r\n";
    proxy::host_rewriter r("up:1");
    std::string out;
    r.feed(bytes_view{request}, out);
    CHECK(out == "POST /a HTTP/1.1\r\nHost: up:1\r\nContent-Length: 5\r\n\r\nHost:"
                 "GET /b HTTP/1.1\r\nHost: up:1\r\n\r\n");
    CHECK_FALSE(r.stepped_aside());
}

TEST_CASE("host rewriter: what it cannot delimit passes untouched", "[proxy]") {
    proxy::host_rewriter chunked("up:1");
    std::string out;
    const std::string request = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "5\r\nHost:\r\n";
    chunked.feed(bytes_view{request}, out);
    CHECK(chunked.stepped_aside());
    CHECK(out.find("Host: up:1") != std::string::npos); // this head was complete
    CHECK(out.substr(out.size() - 10) == "5\r\nHost:\r\n");

    proxy::host_rewriter malformed("up:1");
    std::string out2;
    const std::string junk = "NOT HTTP AT ALL\r\n\r\n";
    malformed.feed(bytes_view{junk}, out2);
    CHECK(out2 == junk);
    CHECK(malformed.stepped_aside());

    proxy::host_rewriter cut("up:1");
    std::string out3;
    const std::string partial = "GET / HTTP/1.1\r\nHo";
    cut.feed(bytes_view{partial}, out3);
    CHECK(out3.empty()); // held until the head is complete
    cut.flush(out3);
    CHECK(out3 == partial); // the client closed: what arrived goes on as it arrived
}

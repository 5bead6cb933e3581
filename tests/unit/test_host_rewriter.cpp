// The Host rewriter, driven as the relay drives it: client bytes through feed(), server bytes
// through feed_response(), both as raw bytes, and every script at every chunk size: the same
// bytes split anywhere give the same output.

#include "wssniff/proxy/host_rewriter.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace wssniff;

namespace {

// What one side sent, in the order the relay saw it.
struct segment {
    direction dir;
    std::string bytes;
};

// Runs the script with each segment fed in pieces of `chunk`, as the relay would: feeds while
// the rewriter has not stepped aside, forwards as read after. Returns the client bytes that
// reach the upstream.
std::string relay(const std::vector<segment>& script, std::size_t chunk, bool* aside = nullptr) {
    proxy::host_rewriter r("up:1");
    std::string upstream;
    for (const segment& s : script) {
        for (std::size_t at = 0; at < s.bytes.size(); at += chunk) {
            const bytes_view piece =
                bytes_view{s.bytes}.subview(at, std::min(chunk, s.bytes.size() - at));
            if (s.dir == direction::c2s) {
                if (r.stepped_aside()) {
                    upstream.append(piece.chars());
                } else {
                    r.feed(piece, upstream);
                }
            } else if (!r.stepped_aside()) {
                r.feed_response(piece);
            }
        }
    }
    if (aside != nullptr) {
        *aside = r.stepped_aside();
    }
    return upstream;
}

// The script gives `expected` at every chunk size.
void check_every_split(const std::vector<segment>& script, const std::string& expected,
                       bool aside_at_end) {
    std::size_t longest = 1;
    for (const segment& s : script) {
        longest = std::max(longest, s.bytes.size());
    }
    for (std::size_t chunk = 1; chunk <= longest; ++chunk) {
        INFO("chunk " << chunk);
        bool aside = false;
        REQUIRE(relay(script, chunk, &aside) == expected);
        CHECK(aside == aside_at_end);
    }
}

const std::string upgrade_request = "GET /ws HTTP/1.1\r\nHost: proxy:8080\r\nUpgrade: websocket\r\n"
                                    "Connection: Upgrade\r\n\r\n";
const std::string rewritten_upgrade = "GET /ws HTTP/1.1\r\nHost: up:1\r\nUpgrade: websocket\r\n"
                                      "Connection: Upgrade\r\n\r\n";
const std::string switching = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\n\r\n";

} // namespace

TEST_CASE("host rewriter: only the Host value changes, wherever the head is split", "[proxy]") {
    const std::string frame = "\x81\x80\x01\x02\x03\x04";
    check_every_split(
        {{direction::c2s, "GET /ws HTTP/1.1\r\nhost:  proxy.local:8080 \r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\n\r\n" +
                              frame},
         {direction::s2c, switching},
         {direction::c2s, frame}},
        "GET /ws HTTP/1.1\r\nhost:  up:1 \r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" +
            frame + frame,
        true); // after the 101: both directions pass untouched
}

TEST_CASE("host rewriter: keep-alive requests with bodies are each rewritten", "[proxy]") {
    check_every_split({{direction::c2s, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
                                        "Host:GET /b HTTP/1.1\r\nHost: y\r\n\r\n"}},
                      "POST /a HTTP/1.1\r\nHost: up:1\r\nContent-Length: 5\r\n\r\nHost:"
                      "GET /b HTTP/1.1\r\nHost: up:1\r\n\r\n",
                      false);
}

TEST_CASE("host rewriter: chunked request bodies are followed", "[proxy]") {
    // A chunk that looks like a Host line stays as sent; the next head is rewritten.
    check_every_split(
        {{direction::c2s, "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "7;ext=1\r\nHost: z\r\n0\r\nTrailer: t\r\n\r\n"
                          "GET /b HTTP/1.1\r\nHost: y\r\n\r\n"}},
        "POST /a HTTP/1.1\r\nHost: up:1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "7;ext=1\r\nHost: z\r\n0\r\nTrailer: t\r\n\r\n"
        "GET /b HTTP/1.1\r\nHost: up:1\r\n\r\n",
        false);
}

TEST_CASE("host rewriter: a refused upgrade goes back to rewriting (issue 19 item 8)", "[proxy]") {
    const std::string retry = "GET /ws HTTP/1.1\r\nHost: proxy:8080\r\nUpgrade: websocket\r\n"
                              "Authorization: Basic dXNlcjpwYXNz\r\nConnection: Upgrade\r\n\r\n";
    const std::string rewritten_retry =
        "GET /ws HTTP/1.1\r\nHost: up:1\r\nUpgrade: websocket\r\n"
        "Authorization: Basic dXNlcjpwYXNz\r\nConnection: Upgrade\r\n\r\n";
    // 401 with a chunked body, then the retry is rewritten and upgraded.
    check_every_split({{direction::c2s, upgrade_request},
                       {direction::s2c, "HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked"
                                        "\r\n\r\n4\r\nnope\r\n0\r\n\r\n"},
                       {direction::c2s, retry},
                       {direction::s2c, switching}},
                      rewritten_upgrade + rewritten_retry, true);
    // 403 with Content-Length, then a plain GET.
    check_every_split({{direction::c2s, upgrade_request},
                       {direction::s2c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"},
                       {direction::c2s, "GET / HTTP/1.1\r\nHost: proxy\r\n\r\n"}},
                      rewritten_upgrade + "GET / HTTP/1.1\r\nHost: up:1\r\n\r\n", false);
}

TEST_CASE("host rewriter: a head sent before the answer passes whole, unrewritten", "[proxy]") {
    // The client pipelines a request behind its upgrade request: while the answer is unknown it
    // may be another protocol's bytes, so it goes as sent, even once the refusal arrives in the
    // middle of it; the head after the refusal is rewritten, and positions stay exact.
    const std::string pipelined = "GET /a HTTP/1.1\r\nHost: proxy\r\nContent-Length: 3\r\n\r\nabc";
    const std::string half = pipelined.substr(0, 20);
    check_every_split(
        {{direction::c2s, upgrade_request + half},
         {direction::s2c, "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n"},
         {direction::c2s, pipelined.substr(20)},
         {direction::s2c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"},
         {direction::c2s, "GET /b HTTP/1.1\r\nHost: proxy\r\n\r\n"}},
        rewritten_upgrade + pipelined + "GET /b HTTP/1.1\r\nHost: up:1\r\n\r\n", false);
}

TEST_CASE("host rewriter: a 101 to any protocol makes the tunnel opaque (issue 19 item 4)",
          "[proxy]") {
    // Docker's attach: Upgrade: tcp. The client's bytes after the request flow at once, before
    // and after the 101, and are never taken for a head.
    const std::string attach = "POST /attach HTTP/1.1\r\nHost: docker\r\nUpgrade: tcp\r\n"
                               "Connection: Upgrade\r\n\r\n";
    check_every_split({{direction::c2s, attach + "ls\n"},
                       {direction::s2c, "HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\nbin\n"},
                       {direction::c2s, "exit\n"}},
                      "POST /attach HTTP/1.1\r\nHost: up:1\r\nUpgrade: tcp\r\n"
                      "Connection: Upgrade\r\n\r\nls\nexit\n",
                      true);
    // The bytes after the request are released as they come, before any answer.
    proxy::host_rewriter r("up:1");
    std::string out;
    r.feed(bytes_view{attach + "ls\n"}, out);
    CHECK(out.substr(out.size() - 3) == "ls\n");
    // CONNECT answered 200: a tunnel too.
    check_every_split({{direction::c2s, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"},
                       {direction::s2c, "HTTP/1.1 200 Connection established\r\n\r\n"},
                       {direction::c2s, "\x16\x03\x01"}},
                      "CONNECT a:443 HTTP/1.1\r\nHost: up:1\r\n\r\n\x16\x03\x01", true);
}

TEST_CASE("host rewriter: Content-Length values that disagree step aside (issue 19 item 9)",
          "[proxy]") {
    // Which value the upstream believes decides where the body ends: a Host line may be body.
    const std::string smuggle = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                "Content-Length: 42\r\n\r\nGET /admin HTTP/1.1\r\nHost: y\r\n\r\n";
    check_every_split({{direction::c2s, smuggle}}, smuggle, true);
    const std::string listed = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 42\r\n\r\n";
    check_every_split({{direction::c2s, listed}}, listed, true);
    const std::string nan = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4x\r\n\r\nHost:";
    check_every_split({{direction::c2s, nan}}, nan, true);
}

TEST_CASE("host rewriter: an obs-folded Host is replaced whole (issue 19 item 10)", "[proxy]") {
    check_every_split({{direction::c2s, "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\tc\r\nX: 1\r\n\r\n"}},
                      "GET / HTTP/1.1\r\nHost: up:1\r\nX: 1\r\n\r\n", false);
    check_every_split({{direction::c2s, "GET / HTTP/1.1\r\nHost:\r\n a\r\n\r\n"}},
                      "GET / HTTP/1.1\r\nHost: up:1\r\n\r\n", false);
}

TEST_CASE("host rewriter: what it cannot delimit passes untouched", "[proxy]") {
    const std::string junk = "NOT HTTP AT ALL\r\n\r\n";
    check_every_split({{direction::c2s, junk}}, junk, true);

    const std::string bad_chunk = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "zz\r\nHost: y\r\n\r\n";
    check_every_split({{direction::c2s, bad_chunk}},
                      "POST / HTTP/1.1\r\nHost: up:1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "zz\r\nHost: y\r\n\r\n",
                      true);

    // A response body until close: nothing more to follow.
    check_every_split({{direction::c2s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
                       {direction::s2c, "HTTP/1.1 200 OK\r\n\r\nbody"},
                       {direction::c2s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"}},
                      "GET / HTTP/1.1\r\nHost: up:1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
                      true);

    proxy::host_rewriter cut("up:1");
    std::string out;
    const std::string partial = "GET / HTTP/1.1\r\nHo";
    cut.feed(bytes_view{partial}, out);
    CHECK(out.empty()); // held until the head is complete
    cut.flush(out);
    CHECK(out == partial); // the client closed: what arrived goes on as it arrived
    CHECK(cut.stepped_aside());
}

TEST_CASE("host rewriter: a head held is bounded by max_head", "[proxy]") {
    proxy::host_rewriter r("up:1", 1024);
    std::string out;
    const std::string huge = "GET / HTTP/1.1\r\nX: " + std::string(4096, 'a');
    r.feed(bytes_view{huge}, out);
    CHECK(r.stepped_aside());
    CHECK(out == huge);
}

TEST_CASE("host rewriter: an unprompted 101 releases a held head on the next feed", "[proxy]") {
    proxy::host_rewriter r("up:1");
    std::string out;
    r.feed(bytes_view{std::string("GET / HTTP/1.1\r\nHo")}, out);
    r.feed_response(bytes_view{switching});
    CHECK_FALSE(r.stepped_aside()); // still holds the client's bytes
    r.feed(bytes_view{std::string("st: x\r\n\r\n")}, out);
    CHECK(out == "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(r.stepped_aside());
}

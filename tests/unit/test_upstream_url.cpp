#include "wssniff/proxy/upstream_url.hpp"

#include <catch2/catch.hpp>

#include <string>

using wssniff::proxy::upstream_url;

namespace {

upstream_url parsed(const std::string& url) {
    std::string problem;
    const auto u = upstream_url::parse(url, problem);
    INFO(url << ": " << problem);
    REQUIRE(u);
    return *u;
}

std::string refusal(const std::string& url) {
    std::string problem;
    const auto u = upstream_url::parse(url, problem);
    INFO(url);
    REQUIRE_FALSE(u);
    REQUIRE_FALSE(problem.empty());
    return problem;
}

} // namespace

TEST_CASE("upstream url: host, port and scheme", "[upstream_url]") {
    const auto plain = parsed("ws://127.0.0.1:9000");
    CHECK(plain.host == "127.0.0.1");
    CHECK(plain.port == 9000);
    CHECK_FALSE(plain.tls);
    CHECK(plain.authority() == "127.0.0.1:9000");
    CHECK(plain.host_port() == "127.0.0.1:9000");

    const auto secure = parsed("wss://example.com/");
    CHECK(secure.tls);
    CHECK(secure.port == 443);
    CHECK(secure.authority() == "example.com"); // the scheme's default port is left out
    CHECK(secure.host_port() == "example.com:443");

    CHECK(parsed("ws://localhost").authority() == "localhost");
    CHECK(parsed("ws://localhost").host_port() == "localhost:80");
}

TEST_CASE("upstream url: an IPv6 address keeps its brackets in Host and in records",
          "[upstream_url]") {
    const auto v6 = parsed("ws://[::1]:9000/");
    CHECK(v6.host == "::1"); // what the resolver takes
    CHECK(v6.port == 9000);
    CHECK(v6.authority() == "[::1]:9000");
    CHECK(v6.host_port() == "[::1]:9000");

    const auto v6_default = parsed("wss://[2001:db8::7]");
    CHECK(v6_default.authority() == "[2001:db8::7]");
    CHECK(v6_default.host_port() == "[2001:db8::7]:443");
}

TEST_CASE("upstream url: credentials are refused without repeating them", "[upstream_url]") {
    for (const std::string url : {"ws://alice:s3cret@127.0.0.1:9000/", "ws://s3cret@127.0.0.1/",
                                  "wss://alice:s3cret@[::1]:9000"}) {
        const std::string problem = refusal(url);
        CHECK(problem.find("credentials") != std::string::npos);
        CHECK(problem.find("s3cret") == std::string::npos);
        CHECK(problem.find("alice") == std::string::npos);
    }
}

TEST_CASE("upstream url: a path, query or fragment is refused, a lone / is not", "[upstream_url]") {
    CHECK(parsed("ws://127.0.0.1:9000/").port == 9000);
    for (const std::string url :
         {"ws://127.0.0.1:9000/chat", "ws://127.0.0.1:9000//", "ws://127.0.0.1:9000?token=s3cret",
          "ws://127.0.0.1:9000/#x", "wss://example.com/socket"}) {
        const std::string problem = refusal(url);
        CHECK(problem.find("own target") != std::string::npos);
        CHECK(problem.find("s3cret") == std::string::npos);
    }
}

TEST_CASE("upstream url: malformed hosts and ports are refused", "[upstream_url]") {
    for (const std::string url : {"http://127.0.0.1:9000",
                                  "ws://",
                                  "ws://:9000",
                                  "ws://127.0.0.1:/",
                                  "ws://127.0.0.1:",
                                  "ws://127.0.0.1:0",
                                  "ws://127.0.0.1:65536",
                                  "ws://127.0.0.1:99999999999",
                                  "ws://127.0.0.1:-1",
                                  "ws://127.0.0.1:9x",
                                  "ws://127.0.0.1 :9000",
                                  "ws://127.0.0.1: 9000",
                                  "ws:// 127.0.0.1:9000",
                                  "ws://127.0.0.1:9000/ ",
                                  "ws://exa mple.com",
                                  "ws://example.com\t:9000",
                                  "ws://[::1",
                                  "ws://[::1]9000",
                                  "ws://[not-v6]:9000",
                                  "ws://[::1]:",
                                  "ws://::1:9000",
                                  "ws://ex%61mple.com"}) {
        refusal(url);
    }
}

// README.md's "Testing your own WebSocket code in-process", as a program built against an
// installed wssniff: an echo server, the proxy with a capture sink in front of it, a client that
// sends "hello" and closes with 1000 "bye". Exits 0 only when the capture shows the text frame
// "hello" from the client and its close code 1000; otherwise says what it saw and exits 1.

#include "peers.hpp"

#include <wssniff/decoder/opcode.hpp>
#include <wssniff/proxy/proxy.hpp>
#include <wssniff/record/capture.hpp>
#include <wssniff/record/ndjson.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

using namespace std::chrono_literals;

namespace {

int fail(const std::string& why, const wssniff::record::capture& capture) {
    std::fprintf(stderr, "wssniff consumer: %s; the capture held:\n", why.c_str());
    std::string lines;
    for (const auto& r : capture.records()) {
        wssniff::record::append_ndjson(lines, r);
    }
    std::fputs(lines.c_str(), stderr);
    return 1;
}

int run() {
    consumer::echo_server server;

    wssniff::record::capture capture;
    wssniff::proxy::proxy_options options;
    options.listen_port = 0; // any free port
    options.upstream.host = "127.0.0.1";
    options.upstream.port = server.port();
    wssniff::proxy::proxy proxy(options, capture);
    proxy.start(); // relay on a background thread

    {
        consumer::client client(proxy.port()); // the client, pointed at the proxy
        client.send_text("hello");
        client.close(1000, "bye");
        client.wait_closed(5s);
    }

    if (!capture.wait_for_count("close", 1, 5s)) {
        return fail("no close record within 5 s", capture);
    }
    const auto sent = capture.frames(wssniff::direction::c2s);
    if (sent.size() < 2) {
        return fail("expected two client frames, saw " + std::to_string(sent.size()), capture);
    }
    if (wssniff::decoder::op_name(sent[0].opcode) != "text" || sent[0].data.bytes != "hello") {
        return fail("the first client frame is not the text \"hello\"", capture);
    }
    if (wssniff::decoder::op_name(sent[1].opcode) != "close" || sent[1].close_code != 1000) {
        return fail("the second client frame is not a close with code 1000", capture);
    }
    std::fprintf(stderr, "wssniff consumer: saw c2s text \"hello\" and close 1000\n");
    return 0;
}

} // namespace

int main() {
    try {
        return run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "wssniff consumer: %s\n", e.what());
        return 1;
    }
}

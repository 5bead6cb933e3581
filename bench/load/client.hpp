#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace wssniff::load {

enum class client_mode : std::uint8_t { blast, pingpong, idle, chat };

struct client_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    client_mode mode = client_mode::blast;
    std::size_t size = 1024;
    bool text = false;
    bool deflate = false;
    double seconds = 3.0;
    // blast: stop after the batch that reaches this many frames on a connection, if that comes
    // first. A forwarder that reads without backpressure (mitmproxy) would otherwise take in S
    // seconds' worth of the client's speed and need minutes to pass it on.
    std::uint64_t max_frames = UINT64_MAX;
    // blast: at most this many MB (10^6 bytes) per second on each connection; 0 for as fast as
    // the socket takes them. A paced stream loads the client's CPU alike behind every forwarder.
    double rate_mb_per_s = 0;
    std::size_t connections = 1;
    // chat: messages per second on each connection. The connections' first messages are spread
    // evenly over one period (1 / per_second), so the load is smooth rather than in bursts.
    double per_second = 1.0;
    std::size_t batch_bytes = 1024 * 1024;
};

// Runs the workload and prints one JSON object on stdout. Returns 0 when every connection
// upgraded and every byte arrived intact, 1 otherwise.
int run_client(const client_options& options);

} // namespace wssniff::load

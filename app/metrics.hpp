#pragma once
// --metrics: the proxy's counters in Prometheus' text format on http://HOST:PORT/metrics, served
// by prometheus-cpp's Exposer (civetweb threads of its own). Nothing is pushed into
// prometheus-cpp as traffic flows: each scrape calls `read`, which loads the counters the relay,
// the queue and the output keep with relaxed atomics, so the relay pays nothing per frame for
// being watched. Only this file and metrics.cpp know prometheus-cpp.

#include "wssniff/base/error_code.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace wssniff::app {

// One reading of everything exported.
struct metrics_sample {
    std::uint64_t connections_open = 0;
    std::uint64_t connections_total = 0;
    std::array<std::uint64_t, 2> frames{};   // c2s, s2c
    std::array<std::uint64_t, 2> messages{}; // c2s, s2c
    std::array<std::uint64_t, 2> bytes{};    // c2s, s2c
    std::uint64_t records_written = 0;
    std::uint64_t records_dropped = 0;
    std::array<std::uint64_t, error_code_count> errors{}; // by code
    std::uint64_t upstream_connect_failures = 0;
    std::uint64_t output_failures = 0;
    std::uint64_t queue_depth = 0;
};

// Where --metrics serves: an IPv4 address (civetweb as Debian builds it has no IPv6) and a
// port, 0 picking a free one.
struct metrics_address {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
};

// PORT, :PORT or HOST:PORT (HOST an IPv4 address; "localhost" is 127.0.0.1). Throws
// CLI::ValidationError naming --metrics.
metrics_address parse_metrics_address(const std::string& text);

// Whether `host` is a loopback address (127.0.0.0/8).
bool is_loopback_ipv4(const std::string& host);

class metrics_server {
  public:
    // Binds and starts serving (/metrics answers 404 until serve()). Throws runtime_failure
    // (one line) when the address cannot be bound.
    explicit metrics_server(const metrics_address& where);
    // From now on /metrics answers from `read`, which runs on the server's thread, once per
    // scrape.
    void serve(std::function<metrics_sample()> read);
    // Stops serving (waits for a scrape in progress).
    ~metrics_server();
    metrics_server(const metrics_server&) = delete;
    metrics_server& operator=(const metrics_server&) = delete;

    // "HOST:PORT" as bound, and the port (the one chosen when 0 was asked).
    std::string address() const;
    int port() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// The metrics' names, types and meanings, for --help.
std::string metrics_help();

} // namespace wssniff::app

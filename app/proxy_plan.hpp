#pragma once
// `wssniff proxy`'s options as CLI11 fills them, and the plan they make once checked: the
// relay's options, the output and how it rotates, Kafka's settings, the metrics address. Every
// usage mistake (exit 2) is found by plan_proxy(), before anything is bound or opened;
// proxy_command.cpp then only starts, runs and stops.

#include "kafka_output.hpp"
#include "metrics.hpp"
#include "options.hpp"
#include "output_target.hpp"
#include "rotating_output.hpp"

#include "wssniff/proxy/proxy.hpp"
#include "wssniff/record/identity.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace wssniff::app {

// One relay loop per core the process may run on.
std::size_t default_threads();

struct proxy_command_options {
    std::string mode = "reverse";
    std::vector<std::string> allow;
    bool host_header_given = false;
    std::string upstream;
    std::string listen = "127.0.0.1:8080";
    std::string host_header = "upstream";
    bool drop_when_behind = false;
    double connect_timeout = 5;
    double handshake_timeout = 30;
    double idle_timeout = 0;
    std::size_t queue = 8192;
    // --threads: relay event loops; 0 until parsed means one per core.
    std::size_t threads = default_threads();
    std::string ca_file;
    bool insecure = false;
    std::string mitm_ca; // --mitm-ca DIR
    std::string tls_cert;
    std::string tls_key;
    output_options output;
    std::uint64_t rotate_size = 0;
    double rotate_time = 0;
    std::uint64_t rotate_keep = 0;
    double output_connect_timeout = 5;
    std::string instance; // empty: the host name
    std::string metrics;  // --metrics
    bool metrics_given = false;
    bool quiet = false;
    // --output kafka://...: librdkafka properties (KEY=VALUE) and the bound on waiting for the
    // brokers at start and for the last deliveries at exit.
    std::vector<std::string> kafka_options;
    double kafka_timeout = 5;
};

// What the options ask for, checked: what the relay and the output are started with.
struct proxy_plan {
    output_target target;
    std::optional<kafka_target> kafka;
    kafka_settings kafka_config;
    rotation_policy rotation;
    record::identity identity;
    proxy::proxy_options options;
    std::optional<metrics_address> metrics_at;
    std::chrono::milliseconds output_connect_timeout{5000}; // --output-connect-timeout

    bool to_file() const noexcept { return target.type == output_target::kind::file; }
    bool to_kafka() const noexcept { return target.type == output_target::kind::kafka; }
};

// Checks `o` and makes the plan; throws CLI::ValidationError or CLI::RequiredError (exit 2).
// The checks run in the order that decides which of several mistakes the user hears about.
proxy_plan plan_proxy(const proxy_command_options& o);

} // namespace wssniff::app

#include "metrics.hpp"

#include "options.hpp"

#include <CLI/CLI.hpp>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <fmt/format.h>

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace wssniff::app {

namespace {

// The codes only `wssniff decode --pcap` and `wssniff replay` write, and records_dropped (its
// own metric, wssniff_records_dropped_total): the proxy never counts them, so they are not
// exported as series that stay 0 forever.
bool proxy_writes(error_code code) {
    switch (code) {
    case error_code::replay_rejected:
    case error_code::replay_sync_timeout:
    case error_code::records_dropped:
    case error_code::capture_gap:
    case error_code::overlap_conflict:
    case error_code::tls_not_decoded: return false;
    default: return true;
    }
}

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type) {
    prometheus::MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = type;
    return f;
}

void add(prometheus::MetricFamily& f, std::uint64_t value,
         std::vector<prometheus::ClientMetric::Label> labels = {}) {
    prometheus::ClientMetric m;
    m.label = std::move(labels);
    if (f.type == prometheus::MetricType::Gauge) {
        m.gauge.value = static_cast<double>(value);
    } else {
        m.counter.value = static_cast<double>(value);
    }
    f.metric.push_back(std::move(m));
}

prometheus::MetricFamily counter(std::string name, std::string help, std::uint64_t value) {
    prometheus::MetricFamily f =
        family(std::move(name), std::move(help), prometheus::MetricType::Counter);
    add(f, value);
    return f;
}

prometheus::MetricFamily gauge(std::string name, std::string help, std::uint64_t value) {
    prometheus::MetricFamily f =
        family(std::move(name), std::move(help), prometheus::MetricType::Gauge);
    add(f, value);
    return f;
}

prometheus::MetricFamily per_direction(std::string name, std::string help,
                                       const std::array<std::uint64_t, 2>& values) {
    prometheus::MetricFamily f =
        family(std::move(name), std::move(help), prometheus::MetricType::Counter);
    add(f, values[0], {{"direction", "c2s"}});
    add(f, values[1], {{"direction", "s2c"}});
    return f;
}

// Read at scrape time, on the exposer's thread: nothing is kept between scrapes.
class proxy_collectable final : public prometheus::Collectable {
  public:
    explicit proxy_collectable(std::function<metrics_sample()> read) : read_(std::move(read)) {}

    std::vector<prometheus::MetricFamily> Collect() const override {
        const metrics_sample s = read_();
        std::vector<prometheus::MetricFamily> out;
        out.push_back(
            gauge("wssniff_connections_open", "Client connections open now", s.connections_open));
        out.push_back(counter("wssniff_connections_total", "Client connections accepted",
                              s.connections_total));
        out.push_back(per_direction("wssniff_frames_total",
                                    "WebSocket frames decoded, by direction (c2s, s2c)", s.frames));
        out.push_back(per_direction(
            "wssniff_messages_total",
            "WebSocket data messages decoded (complete, or cut by the end of the stream)",
            s.messages));
        out.push_back(per_direction("wssniff_bytes_total",
                                    "Bytes forwarded, HTTP heads included, by direction", s.bytes));
        out.push_back(counter("wssniff_records_written_total", "Records written to the output",
                              s.records_written));
        out.push_back(counter("wssniff_records_dropped_total",
                              "Records dropped because the output fell behind "
                              "(--drop-when-behind)",
                              s.records_dropped));
        prometheus::MetricFamily errors =
            family("wssniff_errors_total",
                   "Error records of the traffic, by code (before --filter chooses records)",
                   prometheus::MetricType::Counter);
        for (std::size_t i = 0; i < error_code_count; ++i) {
            const auto code = static_cast<error_code>(i);
            if (proxy_writes(code) || s.errors[i] != 0) {
                add(errors, s.errors[i], {{"code", std::string(to_string(code))}});
            }
        }
        out.push_back(std::move(errors));
        out.push_back(counter("wssniff_upstream_connect_failures_total",
                              "Connections whose upstream could not be reached (resolve, "
                              "connect or TLS failed; the client got a 502)",
                              s.upstream_connect_failures));
        out.push_back(counter("wssniff_output_failures_total",
                              "Failures of the output: a write that did not reach the file "
                              "or pipe (once per file), a network output given up, a record "
                              "Kafka failed to deliver",
                              s.output_failures));
        out.push_back(
            gauge("wssniff_queue_depth", "Records waiting for the writer thread", s.queue_depth));
        return out;
    }

  private:
    std::function<metrics_sample()> read_;
};

// Why binding `where` fails, asked of the kernel (civetweb only says it could not start).
std::string bind_problem(const metrics_address& where) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return std::strerror(errno);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(where.port);
    ::inet_pton(AF_INET, where.host.c_str(), &address.sin_addr);
    std::string problem = "the server did not start";
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        problem = std::strerror(errno);
    }
    ::close(fd);
    return problem;
}

} // namespace

metrics_address parse_metrics_address(const std::string& text) {
    const auto bad = [&text](const std::string& why) {
        return CLI::ValidationError("--metrics", why + ", got '" + text + "'");
    };
    metrics_address where;
    std::string port = text;
    const std::size_t colon = text.rfind(':');
    if (colon != std::string::npos) {
        std::string host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string::npos || (!host.empty() && host.front() == '[')) {
            throw bad("IPv6 is not served (civetweb as Debian builds it has none): give an "
                      "IPv4 address");
        }
        if (host == "localhost") {
            host = "127.0.0.1";
        }
        if (!host.empty()) {
            in_addr parsed{};
            if (::inet_pton(AF_INET, host.c_str(), &parsed) != 1) {
                throw bad("expected PORT or IPV4:PORT (an address, not a name)");
            }
            where.host = host;
        }
    }
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535) {
        throw bad("expected PORT or IPV4:PORT, the port a number from 0 to 65535");
    }
    where.port = static_cast<std::uint16_t>(std::stoul(port));
    return where;
}

bool is_loopback_ipv4(const std::string& host) {
    in_addr parsed{};
    return ::inet_pton(AF_INET, host.c_str(), &parsed) == 1 && (ntohl(parsed.s_addr) >> 24) == 127;
}

struct metrics_server::impl {
    std::string host;
    std::unique_ptr<prometheus::Exposer> exposer;
    std::shared_ptr<proxy_collectable> collectable;
};

metrics_server::metrics_server(const metrics_address& where) : impl_(std::make_unique<impl>()) {
    impl_->host = where.host;
    const std::string bind = fmt::format("{}:{}", where.host, where.port);
    try {
        // One worker thread: a scrape is a few microseconds of loads and formatting.
        impl_->exposer = std::make_unique<prometheus::Exposer>(bind, 1);
    } catch (const std::exception&) {
        throw runtime_failure(
            fmt::format("cannot serve --metrics on {}: {}", bind, bind_problem(where)));
    }
}

void metrics_server::serve(std::function<metrics_sample()> read) {
    impl_->collectable = std::make_shared<proxy_collectable>(std::move(read));
    impl_->exposer->RegisterCollectable(impl_->collectable);
}

metrics_server::~metrics_server() {
    // The exposer's threads stop before what they read goes. civetweb's listening thread sees
    // the stop request only when its poll() returns, which it does every 2 s when nothing
    // arrives: connections to the port wake it, so stopping takes milliseconds.
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port()));
    const std::string host = impl_->host == "0.0.0.0" ? "127.0.0.1" : impl_->host;
    ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
    std::atomic<bool> stopped{false};
    std::thread waker([&address, &stopped] {
        while (!stopped.load()) {
            const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0) {
                ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
                ::close(fd);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });
    impl_->exposer.reset();
    stopped = true;
    waker.join();
}

int metrics_server::port() const {
    const std::vector<int> ports = impl_->exposer->GetListeningPorts();
    return ports.empty() ? 0 : ports.front();
}

std::string metrics_server::address() const {
    return fmt::format("{}:{}", impl_->host, port());
}

std::string metrics_help() {
    return "Metrics (--metrics [IPV4:]PORT, Prometheus text format on /metrics; loopback unless\n"
           "an address is given; port 0 picks a free one, printed as 'metrics on ...'):\n"
           "  wssniff_connections_open gauge, wssniff_connections_total,\n"
           "  wssniff_frames_total / wssniff_messages_total / wssniff_bytes_total "
           "{direction=c2s|s2c},\n"
           "  wssniff_records_written_total, wssniff_records_dropped_total,\n"
           "  wssniff_errors_total{code=...}, wssniff_upstream_connect_failures_total,\n"
           "  wssniff_output_failures_total, wssniff_queue_depth gauge.\n";
}

} // namespace wssniff::app

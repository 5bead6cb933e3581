#pragma once
// `--output kafka://BROKER[,BROKER...]/TOPIC`: records produced to a Kafka topic through
// librdkafka, each as its NDJSON line (the value) under the key "instance/run/conn", so that a
// connection's records go to one partition, in order. The producer is idempotent (no
// duplicates or reordering when librdkafka retries) and batches for a few milliseconds, in
// line with the queued sink's 10 ms flush.
//
// Lossless like a file: when librdkafka's local queue is full, write() waits for room (which
// holds up the queued sink's writer and so, in lossless mode, the relay); with `drop` it drops
// and counts instead. Deliveries are counted as librdkafka reports them (a thread of this
// sink's own serves the reports, so they are counted while the traffic pauses too), failures
// (after librdkafka's own retries) are said on stderr, one line per distinct error and at
// most one per error every 10 s.
//
// write() and flush() are called from one thread (the queued sink's writer); the counters and
// stop_waiting() from any.

#include "proxy_output.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

struct rd_kafka_s;
struct rd_kafka_topic_s;
struct rd_kafka_message_s;

namespace wssniff::app {

// Where kafka:// points: the bootstrap brokers and the topic.
struct kafka_target {
    std::vector<std::string> brokers; // HOST[:PORT] each, as written
    std::string topic;
    std::string bootstrap() const; // "B1,B2", librdkafka's bootstrap.servers
};

// True when `text` names Kafka (starts with kafka://).
bool is_kafka_url(std::string_view text);
// kafka://B1[,B2...]/TOPIC. nullopt with `problem` set (one sentence) when it is malformed.
std::optional<kafka_target> parse_kafka_url(std::string_view text, std::string& problem);

struct kafka_settings {
    // --kafka-option KEY=VALUE: librdkafka properties applied after wssniff's own (so they can
    // override them), e.g. security.protocol=SASL_SSL.
    std::vector<std::pair<std::string, std::string>> properties;
    // At start, how long the brokers may take to answer a metadata request for the topic.
    std::chrono::milliseconds connect_timeout{5000};
    // At close, how long the records not yet delivered may take.
    std::chrono::milliseconds flush_timeout{5000};
    // When librdkafka's queue is full: drop and count (--drop-when-behind) instead of waiting.
    bool drop_when_full = false;
    // Says a line (without its newline) on stderr, from any thread; empty: fmt::print. The
    // proxy's erases its status line first.
    std::function<void(const std::string&)> say;
};

// The first of settings.properties librdkafka refuses, as "KEY=VALUE: why"; empty: none.
std::string kafka_property_problem(const kafka_settings& settings);

// KEY=VALUE into a pair; nullopt when there is no '=' or no key.
std::optional<std::pair<std::string, std::string>> parse_kafka_option(std::string_view text);

class kafka_output final : public proxy_output {
  public:
    // Connects: creates the producer (a property librdkafka refuses → runtime_failure) and waits
    // up to settings.connect_timeout for the topic's metadata (brokers unreachable, or no such
    // topic → runtime_failure, one line). `instance` and `run` make the key's first two parts.
    kafka_output(kafka_target target, std::string instance, std::string run,
                 kafka_settings settings);
    ~kafka_output() override;
    kafka_output(const kafka_output&) = delete;
    kafka_output& operator=(const kafka_output&) = delete;

    void write(record::record&& r) override;
    // Serves librdkafka's events; false once a record failed to be delivered.
    bool flush() override;
    bool ok() const noexcept { return failed() == 0; }
    // Bytes of the NDJSON lines handed to librdkafka.
    std::uint64_t bytes() const noexcept { return bytes_.load(std::memory_order_relaxed); }
    // The first delivery failure's librdkafka error (kafka_category()).
    std::error_code error() const noexcept;
    // Called once, on whichever thread serves the report, at the first failed delivery.
    void on_failure(std::function<void(std::error_code)> report) override;

    // From any thread: from now on a full librdkafka queue drops (and counts) instead of
    // waiting: for shutting down while the brokers are unreachable.
    void stop_waiting() noexcept { stop_waiting_.store(true, std::memory_order_relaxed); }
    // The proxy stops: the same, at once (close() then waits settings.flush_timeout).
    void give_up_at(std::chrono::steady_clock::time_point) noexcept override { stop_waiting(); }

    // Waits up to settings.flush_timeout for every record to be delivered, says on stderr how
    // many were delivered, failed and never delivered, and destroys the producer. False if any
    // record failed or was still in flight, or (unless settings.drop_when_full) was dropped.
    bool close() override;

    // The delivery counters (for --metrics), from any thread.
    std::uint64_t produced() const noexcept { return produced_.load(std::memory_order_relaxed); }
    std::uint64_t delivered() const noexcept { return delivered_.load(std::memory_order_relaxed); }
    std::uint64_t failed() const noexcept { return failed_.load(std::memory_order_relaxed); }
    // Dropped because librdkafka's queue was full (--drop-when-behind, or after stop_waiting()).
    std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
    // Handed to librdkafka and not yet reported delivered or failed.
    std::uint64_t in_flight() const noexcept { return produced() - delivered() - failed(); }

    // Records written (delivered or not), as rotating_output::written() counts them.
    std::uint64_t written() const noexcept override { return produced(); }

    // The line that says records did not all reach Kafka (after close()).
    std::string failure() const override;

  private:
    static void delivered_report(rd_kafka_s* rk, const rd_kafka_message_s* message, void* self);
    static void error_report(rd_kafka_s* rk, int err, const char* reason, void* self);
    // `delivery`: a record was lost (the first such error is error()'s).
    void say_error(int err, const std::string& text, bool delivery);
    void serve();
    void say(const std::string& line) const;

    kafka_target target_;
    std::string key_prefix_; // "instance/run/"
    kafka_settings settings_;
    rd_kafka_s* rk_ = nullptr;
    rd_kafka_topic_s* topic_ = nullptr;
    std::string line_; // the writer's line, reused
    std::string key_;

    std::atomic<std::uint64_t> produced_{0};
    std::atomic<std::uint64_t> delivered_{0};
    std::atomic<std::uint64_t> failed_{0};
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> bytes_{0};
    std::atomic<bool> stop_waiting_{false};
    // Set once close() has counted: the reports of what it then purges are not counted.
    std::atomic<bool> counted_{false};
    std::uint64_t closed_undelivered_ = 0;

    // What the report callbacks share (the server thread, the writer, close()).
    mutable std::mutex said_lock_;
    int first_error_ = 0;
    std::function<void(std::error_code)> on_failure_;
    struct said {
        std::chrono::steady_clock::time_point last;
        std::uint64_t since = 0; // occurrences not said since `last`
    };
    std::map<int, said> said_; // by librdkafka error code (delivery and client errors)

    std::atomic<bool> serving_{true};
    std::thread server_;
};

// std::error_code for librdkafka's rd_kafka_resp_err_t.
const std::error_category& kafka_category() noexcept;

} // namespace wssniff::app

#include "kafka_output.hpp"

#include "options.hpp"

#include "wssniff/record/ndjson.hpp"

#include <fmt/format.h>

#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace wssniff::app {

namespace {

constexpr std::string_view scheme = "kafka://";

// How often one kind of error is said on stderr at most.
constexpr std::chrono::seconds say_again_after{10};

bool valid_port(std::string_view port) {
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string_view::npos) {
        return false;
    }
    const unsigned long n = std::stoul(std::string(port));
    return n >= 1 && n <= 65535;
}

// HOST, HOST:PORT or [V6]:PORT.
bool valid_broker(std::string_view b) {
    if (b.empty() || b.find_first_of(" \t/@?#") != std::string_view::npos) {
        return false;
    }
    if (b.front() == '[') {
        const std::size_t close = b.find(']');
        if (close == std::string_view::npos || close == 1) {
            return false;
        }
        const std::string_view rest = b.substr(close + 1);
        return rest.empty() || (rest.front() == ':' && valid_port(rest.substr(1)));
    }
    const std::size_t colon = b.find(':');
    if (colon == std::string_view::npos) {
        return true;
    }
    return colon > 0 && valid_port(b.substr(colon + 1));
}

// Kafka's own rule: 1 to 249 of [A-Za-z0-9._-], and not "." or "..".
bool valid_topic(std::string_view t) {
    return !t.empty() && t.size() <= 249 && t != "." && t != ".." &&
           t.find_first_not_of(
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
               std::string_view::npos;
}

class kafka_error_category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "kafka"; }
    std::string message(int err) const override {
        return rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err));
    }
};

struct conf_deleter {
    void operator()(rd_kafka_conf_t* c) const noexcept { rd_kafka_conf_destroy(c); }
};
using conf_ptr = std::unique_ptr<rd_kafka_conf_t, conf_deleter>;

// wssniff's producer properties, then the user's; the first a librdkafka refuses is named in
// `problem`.
conf_ptr make_conf(const kafka_target& target, const kafka_settings& settings,
                   std::string& problem) {
    conf_ptr conf(rd_kafka_conf_new());
    char why[512];
    const std::pair<std::string, std::string> ours[] = {
        {"bootstrap.servers", target.bootstrap()},
        {"client.id", "wssniff"},
        // No duplicates and no reordering when librdkafka retries: a connection's records
        // arrive once each, in order.
        {"enable.idempotence", "true"},
        // Batches of what arrives within 5 ms: the queued sink flushes every 10 ms.
        {"linger.ms", "5"},
    };
    for (const auto& [key, value] : ours) {
        if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), why, sizeof why) !=
            RD_KAFKA_CONF_OK) {
            problem = fmt::format("{}={}: {}", key, value, why);
            return nullptr;
        }
    }
    for (const auto& [key, value] : settings.properties) {
        if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), why, sizeof why) !=
            RD_KAFKA_CONF_OK) {
            problem = fmt::format("{}={}: {}", key, value, why);
            return nullptr;
        }
    }
    return conf;
}

} // namespace

const std::error_category& kafka_category() noexcept {
    static const kafka_error_category category;
    return category;
}

std::string kafka_target::bootstrap() const {
    return fmt::format("{}", fmt::join(brokers, ","));
}

bool is_kafka_url(std::string_view text) {
    return text.substr(0, scheme.size()) == scheme;
}

std::optional<kafka_target> parse_kafka_url(std::string_view text, std::string& problem) {
    const std::string_view usage = "expected kafka://BROKER[,BROKER...]/TOPIC";
    if (!is_kafka_url(text)) {
        problem = fmt::format("{}, got '{}'", usage, text);
        return std::nullopt;
    }
    const std::string_view rest = text.substr(scheme.size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
        problem = fmt::format("{}: '{}' names no topic", usage, text);
        return std::nullopt;
    }
    kafka_target target;
    std::string_view brokers = rest.substr(0, slash);
    for (;;) {
        const std::size_t comma = brokers.find(',');
        const std::string_view broker = brokers.substr(0, comma);
        if (!valid_broker(broker)) {
            problem = fmt::format("{}: '{}' is not a broker (HOST, HOST:PORT or [IPV6]:PORT)",
                                  usage, broker);
            return std::nullopt;
        }
        target.brokers.emplace_back(broker);
        if (comma == std::string_view::npos) {
            break;
        }
        brokers.remove_prefix(comma + 1);
    }
    const std::string_view topic = rest.substr(slash + 1);
    if (!valid_topic(topic)) {
        problem = fmt::format("{}: '{}' is not a topic name (1 to 249 of A-Z a-z 0-9 . _ -)", usage,
                              topic);
        return std::nullopt;
    }
    target.topic = topic;
    return target;
}

std::optional<std::pair<std::string, std::string>> parse_kafka_option(std::string_view text) {
    const std::size_t eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0) {
        return std::nullopt;
    }
    return std::pair<std::string, std::string>(text.substr(0, eq), text.substr(eq + 1));
}

std::string kafka_property_problem(const kafka_settings& settings) {
    kafka_target any{{"localhost"}, "t"};
    std::string problem;
    make_conf(any, settings, problem);
    return problem;
}

kafka_output::kafka_output(kafka_target target, std::string instance, std::string run,
                           kafka_settings settings)
    : target_(std::move(target)), key_prefix_(instance + "/" + run + "/"),
      settings_(std::move(settings)) {
    std::string problem;
    conf_ptr conf = make_conf(target_, settings_, problem);
    if (!conf) {
        throw runtime_failure(fmt::format("kafka: {}", problem));
    }
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &kafka_output::delivered_report);
    rd_kafka_conf_set_error_cb(conf.get(), &kafka_output::error_report);
    // librdkafka's own log lines (a refused connection, each retry) would flood stderr while a
    // broker is down; the errors that matter reach error_report, said once each.
    rd_kafka_conf_set_log_cb(conf.get(), nullptr);
    char why[512];
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), why, sizeof why);
    if (rk_ == nullptr) {
        throw runtime_failure(fmt::format("kafka: cannot create a producer: {}", why));
    }
    (void)conf.release(); // rd_kafka_new took it
    topic_ = rd_kafka_topic_new(rk_, target_.topic.c_str(), nullptr);
    if (topic_ == nullptr) {
        const std::string reason = rd_kafka_err2str(rd_kafka_last_error());
        rd_kafka_destroy(rk_);
        throw runtime_failure(fmt::format("kafka: topic {}: {}", target_.topic, reason));
    }

    // The brokers must answer now: a sidecar whose Kafka is unreachable should fail at start,
    // where it is seen, rather than queue records that go nowhere.
    const rd_kafka_metadata_t* metadata = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(
        rk_, 0, topic_, &metadata, static_cast<int>(settings_.connect_timeout.count()));
    std::string failure;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        failure = fmt::format("cannot reach Kafka at {} within {:g} s: {}", target_.bootstrap(),
                              static_cast<double>(settings_.connect_timeout.count()) / 1000,
                              rd_kafka_err2str(err));
    } else {
        err = metadata->topic_cnt == 1 ? metadata->topics[0].err
                                       : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        // A topic the broker is creating has no leader yet: records wait for it.
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
            failure = fmt::format("Kafka at {}: topic {}: {}", target_.bootstrap(), target_.topic,
                                  rd_kafka_err2str(err));
        }
        rd_kafka_metadata_destroy(metadata);
    }
    if (!failure.empty()) {
        rd_kafka_topic_destroy(topic_);
        rd_kafka_destroy(rk_);
        throw runtime_failure(failure);
    }
    server_ = std::thread([this] { serve(); });
}

kafka_output::~kafka_output() {
    if (rk_ == nullptr) {
        return;
    }
    serving_ = false;
    server_.join();
    counted_ = true;
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_topic_destroy(topic_);
    rd_kafka_destroy(rk_);
}

void kafka_output::serve() {
    while (serving_.load(std::memory_order_relaxed)) {
        rd_kafka_poll(rk_, 100);
    }
}

void kafka_output::write(record::record&& r) {
    line_.clear();
    record::append_ndjson(line_, r);
    if (!line_.empty() && line_.back() == '\n') {
        line_.pop_back(); // one record per message: the newline only separates lines in a file
    }
    key_ = key_prefix_;
    fmt::format_to(std::back_inserter(key_), "{}", r.conn);
    for (;;) {
        if (rd_kafka_produce(topic_, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, line_.data(),
                             line_.size(), key_.data(), key_.size(), nullptr) == 0) {
            produced_.fetch_add(1, std::memory_order_relaxed);
            bytes_.fetch_add(line_.size(), std::memory_order_relaxed);
            return;
        }
        const rd_kafka_resp_err_t err = rd_kafka_last_error();
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            // Refused outright (a record larger than message.max.bytes, a fatal producer
            // error): counted as produced and failed.
            produced_.fetch_add(1, std::memory_order_relaxed);
            failed_.fetch_add(1, std::memory_order_relaxed);
            say_error(err,
                      fmt::format("a record could not be produced to {}: {}", target_.topic,
                                  rd_kafka_err2str(err)),
                      true);
            return;
        }
        if (settings_.drop_when_full || stop_waiting_.load(std::memory_order_relaxed)) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        // Lossless: wait for deliveries to make room (the writer, and so the relay, waits).
        rd_kafka_poll(rk_, 10);
    }
}

bool kafka_output::flush() {
    rd_kafka_poll(rk_, 0);
    return ok();
}

std::error_code kafka_output::error() const noexcept {
    const std::lock_guard<std::mutex> hold(said_lock_);
    return first_error_ == 0 ? std::error_code() : std::error_code(first_error_, kafka_category());
}

void kafka_output::on_failure(std::function<void(std::error_code)> report) {
    const std::lock_guard<std::mutex> hold(said_lock_);
    on_failure_ = std::move(report);
}

void kafka_output::delivered_report(rd_kafka_s* /*rk*/, const rd_kafka_message_s* message,
                                    void* opaque) {
    auto* self = static_cast<kafka_output*>(opaque);
    if (self->counted_.load(std::memory_order_relaxed)) {
        return;
    }
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        self->delivered_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    self->failed_.fetch_add(1, std::memory_order_relaxed);
    self->say_error(message->err,
                    fmt::format("a record could not be delivered to {}: {}", self->target_.topic,
                                rd_kafka_err2str(message->err)),
                    true);
}

void kafka_output::error_report(rd_kafka_s* /*rk*/, int err, const char* reason, void* opaque) {
    auto* self = static_cast<kafka_output*>(opaque);
    if (self->counted_.load(std::memory_order_relaxed)) {
        return;
    }
    self->say_error(err, fmt::format("{}", reason), false);
}

void kafka_output::say_error(int err, const std::string& text, bool delivery) {
    std::function<void(std::error_code)> first;
    {
        const std::lock_guard<std::mutex> hold(said_lock_);
        const auto now = std::chrono::steady_clock::now();
        auto [it, fresh] = said_.try_emplace(err);
        if (!fresh && now - it->second.last < say_again_after) {
            ++it->second.since;
            return;
        }
        if (it->second.since > 0) {
            say(fmt::format(
                "kafka: {} (and {} more times in {} s)", text, it->second.since,
                std::chrono::duration_cast<std::chrono::seconds>(now - it->second.last).count()));
        } else {
            say(fmt::format("kafka: {}", text));
        }
        it->second.last = now;
        it->second.since = 0;
        if (delivery && first_error_ == 0) {
            first_error_ = err;
            first = on_failure_;
        }
    }
    if (first) {
        first(std::error_code(err, kafka_category()));
    }
}

void kafka_output::say(const std::string& line) const {
    if (settings_.say) {
        settings_.say(line);
        return;
    }
    fmt::print(stderr, "wssniff: {}\n", line);
    std::fflush(stderr);
}

bool kafka_output::close() {
    if (rk_ == nullptr) {
        return ok();
    }
    serving_ = false;
    server_.join();
    // Serves the delivery reports as they come, until none is outstanding or time is up.
    rd_kafka_flush(rk_, static_cast<int>(settings_.flush_timeout.count()));
    const std::uint64_t delivered = this->delivered();
    const std::uint64_t failed = this->failed();
    const std::uint64_t undelivered = in_flight();
    const std::uint64_t dropped = this->dropped();
    std::string line = fmt::format("kafka: {} records delivered to {}, {} failed, {} "
                                   "undelivered",
                                   delivered, target_.topic, failed, undelivered);
    if (undelivered > 0) {
        line += fmt::format(" after {:g} s",
                            static_cast<double>(settings_.flush_timeout.count()) / 1000);
    }
    if (dropped > 0) {
        line += fmt::format(", {} dropped (librdkafka's queue was full)", dropped);
    }
    say(line);
    counted_ = true;
    // What is still queued is given up: purged, so that destroying the producer does not wait.
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_topic_destroy(topic_);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
    topic_ = nullptr;
    closed_undelivered_ = undelivered;
    // Drops are a failure only when the run was to be lossless (then they were made after
    // SIGTERM, with the brokers not taking records).
    return failed == 0 && undelivered == 0 && (settings_.drop_when_full || dropped == 0);
}

std::string kafka_output::failure() const {
    return fmt::format("not every record reached Kafka: {} failed, {} undelivered, {} dropped",
                       failed(), closed_undelivered_, dropped());
}

} // namespace wssniff::app

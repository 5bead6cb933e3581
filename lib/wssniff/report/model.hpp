#pragma once
// What `wssniff report` shows, computed here rather than in the page: per connection its table
// row, its events (messages, control frames and errors in archive order, payloads cut to a
// preview), latencies (ping→pong round trips matched by payload, the close handshake), rates
// per time bucket and a size histogram. The page only draws these (report/page.hpp).

#include "wssniff/archive/connections.hpp"
#include "wssniff/record/record.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace wssniff::report {

// One row of a connection's message table and one arrow (or mark) of its diagram.
struct event {
    enum class kind : std::uint8_t { data, control, error };
    kind what = kind::data;
    direction dir = direction::c2s; // errors without a direction count as c2s, see `has_dir`
    bool has_dir = true;
    std::optional<double> t_ms; // since the connection's first time; none without times
    std::uint8_t opcode = 1;    // data and control
    std::uint64_t len = 0;      // the whole payload's length
    std::string preview;        // the first max_preview payload bytes (errors: the message)
    bool truncated = false;     // preview holds less than len bytes
    std::optional<std::uint16_t> close_code;
    std::optional<std::string> close_reason;
    std::string error_code; // errors
    bool fatal = false;
};

// Per direction, indexed by direction (c2s = 0).
template <typename T> using per_dir = std::array<T, 2>;

struct round_trip {
    direction pinger = direction::c2s; // who sent the ping
    double ping_ms = 0;                // when, since the connection's first time
    double rtt_ms = 0;
};

struct latencies {
    // From the request head to the response head (the handshake record's request_ts to its
    // ts); empty for archives without a clock.
    std::optional<double> upgrade_ms;
    std::vector<round_trip> round_trips;
    per_dir<std::uint64_t> unanswered_pings{}; // pings with no pong of the same payload
    // From the first close frame to the other side's close frame.
    std::optional<double> close_handshake_ms;
    std::optional<direction> close_initiator;
};

struct rates {
    double bucket_s = 1;                          // width of one bucket
    per_dir<std::vector<std::uint64_t>> messages; // data messages completed per bucket
    per_dir<std::vector<std::uint64_t>> bytes;    // their payload bytes per bucket
};

// Data message sizes: bucket 0 holds empty messages, bucket i (i ≥ 1) lengths in
// [2^(i-1), 2^i).
constexpr std::size_t histogram_buckets = 34;
struct histogram {
    per_dir<std::array<std::uint64_t, histogram_buckets>> counts{};
};
std::size_t histogram_bucket(std::uint64_t len) noexcept;

struct connection_summary {
    std::string source; // the archive it came from
    std::uint64_t conn = 0;
    std::optional<record::handshake> handshake;
    std::optional<record::timestamp> first_ts;
    std::optional<double> duration_ms; // first to last record time
    per_dir<std::uint64_t> frames{};
    per_dir<std::uint64_t> messages{};
    per_dir<std::uint64_t> bytes{}; // payload bytes of data messages
    per_dir<std::optional<std::uint16_t>> close_code{};
    per_dir<std::optional<std::string>> close_reason{};
    std::optional<record::close_reason> tcp_close;
    std::map<std::string, std::uint64_t> errors; // count by error code
    std::vector<event> events;
    latencies latency;
    rates rate;
    histogram sizes;
};

struct model_options {
    std::size_t max_preview = 4096; // payload bytes kept per event
    std::size_t max_buckets = 600;  // rates: buckets widen (1, 2, 5, 10 s, ...) to stay under
};

// One connection of an archive named `source`.
connection_summary summarize(const archive::connection& c, const std::string& source,
                             const model_options& options);

// Round trips per side: each pong answers the oldest unanswered ping of the other side with the
// same payload. Only events with times take part.
void match_round_trips(const std::vector<event>& events, latencies& out);

// The bucket width (seconds) that keeps `duration_s` within `max_buckets` buckets.
double bucket_width(double duration_s, std::size_t max_buckets) noexcept;

// The model as the page reads it (the JSON embedded in the report; report.js documents it).
nlohmann::json to_json(const std::vector<connection_summary>& connections,
                       const std::string& generator);

// `bytes` cut to at most `max` bytes without splitting a UTF-8 sequence.
std::string utf8_prefix(const std::string& bytes, std::size_t max);

} // namespace wssniff::report

#pragma once
// Where the two filters meet the records: `--filter` chooses which records are written,
// `--conn-filter` is decided once per connection, on its first record (its handshake, unless
// something went wrong before the upgrade was answered). A connection it rejects writes no
// record but its `close`. A live relay asks `rejected()` and stops decoding that connection.

#include "wssniff/filter/expression.hpp"
#include "wssniff/record/record.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace wssniff::filter {

struct filters {
    std::shared_ptr<const expression> records;     // --filter; null: every record
    std::shared_ptr<const expression> connections; // --conn-filter; null: every connection

    bool any() const noexcept { return records != nullptr || connections != nullptr; }
};

// Both compiled, as --filter and --conn-filter (an empty string: that filter is off), for
// proxy_options::filters in-process. Throws parse_error.
filters compile_filters(std::string_view records, std::string_view connections = {});

// One connection's side of the filters: its handshake (for hs.*) and the conn-filter's verdict.
class connection_filter {
  public:
    explicit connection_filter(filters f) : filters_(std::move(f)) {}

    // Whether `r`, the connection's next record, is written.
    bool keep(const record::record& r);

    // Whether a record with this head (record::sink::may_keep) could be kept.
    bool may_keep(const record::record& head) const;

    // The conn-filter said no: nothing of this connection but its close is written.
    bool rejected() const noexcept { return verdict_ == verdict::rejected; }

  private:
    enum class verdict : std::uint8_t { undecided, accepted, rejected };

    filters filters_;
    verdict verdict_ = verdict::undecided;
    // Kept only when --filter names hs.* fields; the conn-filter reads the handshake record
    // itself.
    std::optional<record::handshake> hs_;
};

// A sink in front of another that writes only what the filters keep, for a stream of records
// of any number of connections (decode, replay). The proxy keeps a connection_filter per
// connection instead, on the relay thread that owns it.
class filtering_sink final : public record::sink {
  public:
    filtering_sink(record::sink& out, filters f) : out_(out), filters_(std::move(f)) {}

    void write(record::record&& r) override;
    void end_of_batch() override { out_.end_of_batch(); }
    bool selective() const noexcept override { return true; }
    bool may_keep(const record::record& head) override;

  private:
    record::sink& out_;
    filters filters_;
    std::unordered_map<std::uint64_t, connection_filter> connections_;
};

} // namespace wssniff::filter

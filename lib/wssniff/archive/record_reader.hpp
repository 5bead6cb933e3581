#pragma once
// Archives read back: NDJSON lines as wssniff wrote them (record format version 1) turned into
// the record structs the writer started from, so replay, diff and later tools work on values
// rather than on JSON. Payload fields are decoded (hex and base64 to bytes); unknown fields are
// skipped, since adding a field is a compatible change.
//
// simdjson parses each line in place (bench/ compares it with nlohmann/json: reading must not
// be the slow part of diffing a large archive).

#include "wssniff/archive/line_source.hpp"
#include "wssniff/record/record.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace wssniff::archive {

// A line that is not a record: names the archive and the line, e.g.
// "capture.ndjson:12: field \"seq\" is not an unsigned integer".
class format_error : public std::runtime_error {
  public:
    format_error(const std::string& where, std::uint64_t line, const std::string& what);
    std::uint64_t line() const noexcept { return line_; }

  private:
    std::uint64_t line_;
};

struct entry {
    std::uint64_t line = 0; // where it was read, from 1
    record::record record;
};

class record_reader {
  public:
    // Reads `fd` (not closed here); `name` is what errors call it.
    record_reader(int fd, std::string name);
    // Opens `path` ("-" is standard input). Throws std::system_error naming the path.
    explicit record_reader(const std::string& path);
    ~record_reader();
    record_reader(const record_reader&) = delete;
    record_reader& operator=(const record_reader&) = delete;

    // The next record; nullopt at the end. Blank lines are skipped. Throws format_error on a
    // line that is not a record, std::system_error when reading fails.
    std::optional<entry> next();

    const std::string& name() const noexcept { return lines_.name(); }

  private:
    struct parser;
    int owned_fd_ = -1;
    line_source lines_;
    std::unique_ptr<parser> parser_;
};

// One line of JSON as a record (for tests and tools holding a line in memory). Throws
// format_error with line 0 and where "record".
record::record parse_record(std::string_view json);

// "2026-11-26T19:05:53.123456Z" (the `ts` field; fewer fraction digits are accepted).
std::optional<record::timestamp> parse_timestamp(std::string_view text) noexcept;

} // namespace wssniff::archive

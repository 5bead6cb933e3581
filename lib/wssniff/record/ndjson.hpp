#pragma once
// The NDJSON writer: one record, one line of JSON, always valid UTF-8.
//
// Hand-written on purpose: a frame record is mostly its payload, and building an nlohmann::json
// DOM for it costs a copy and a slow dump per frame (bench/ compares the two).

#include "wssniff/record/record.hpp"

#include <cstdio>
#include <string>

namespace wssniff::record {

// Appends `r` as one JSON object and a newline.
void append_ndjson(std::string& out, const record& r);

// JSON string contents for arbitrary bytes: escapes what JSON requires and replaces each byte
// that is not part of valid UTF-8 with U+FFFD, so the output is valid UTF-8 whatever came in.
void append_json_string_contents(std::string& out, std::string_view bytes);
// The same for bytes known to be valid UTF-8: only escaping, no checks.
void append_valid_json_string_contents(std::string& out, std::string_view utf8);

// RFC 3339 UTC with microseconds: 2026-11-26T19:05:53.123456Z.
void append_timestamp(std::string& out, timestamp ts);

// A sink that writes NDJSON to a stdio stream, buffered, flushing after each record when asked
// (a pipe into jq should see frames live).
class ndjson_sink final : public sink {
  public:
    ndjson_sink(std::FILE* out, bool flush_each_record);
    ~ndjson_sink() override;
    void write(record&& r) override;
    // False once a write to the stream has failed (disk full, closed pipe).
    bool flush();
    bool ok() const noexcept { return ok_; }

  private:
    std::FILE* out_;
    bool flush_each_record_;
    bool ok_ = true;
    std::string line_;
};

} // namespace wssniff::record

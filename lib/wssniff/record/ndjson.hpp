#pragma once
// The NDJSON writer: one record, one line of JSON, always valid UTF-8.
//
// Hand-written on purpose: a frame record is mostly its payload, and building an nlohmann::json
// DOM for it costs a copy and a slow dump per frame (bench/ compares the two).

#include "wssniff/record/record.hpp"

#include <cstddef>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace wssniff::record {

// A growable byte buffer that the writer fills through a pointer. Unlike std::string it does not
// zero-fill the room it reserves: with one small record at a time, that fill and the per-append
// bookkeeping were most of the writer's cost.
class line_buffer {
  public:
    const char* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::string_view view() const noexcept { return {data_.get(), size_}; }
    std::size_t capacity() const noexcept { return capacity_; }

    // Empties the buffer; gives its memory back when it grew beyond `keep` bytes (after an
    // exceptionally large record).
    void clear(std::size_t keep = 4 * 1024 * 1024) noexcept;

    // Room for at least `n` more bytes after size(): returns where to write them. Writing
    // stops at room_end(); commit() then makes the written bytes part of the buffer.
    char* reserve(std::size_t n);
    char* room_end() const noexcept { return data_.get() + capacity_; }
    void commit(const char* end) noexcept { size_ = static_cast<std::size_t>(end - data_.get()); }

  private:
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

// Appends `r` as one JSON object and a newline.
void append_ndjson(line_buffer& out, const record& r);
void append_ndjson(std::string& out, const record& r);

// JSON string contents for arbitrary bytes: escapes what JSON requires and replaces each byte
// that is not part of valid UTF-8 with U+FFFD, so the output is valid UTF-8 whatever came in.
void append_json_string_contents(std::string& out, std::string_view bytes);
// The same for bytes known to be valid UTF-8: only escaping, no checks.
void append_valid_json_string_contents(std::string& out, std::string_view utf8);

// RFC 3339 UTC with microseconds: 2026-11-26T19:05:53.123456Z.
void append_timestamp(std::string& out, timestamp ts);

// A sink that writes NDJSON to a stdio stream. Lines collect in a buffer that goes to the stream
// in blocks of about 64 KiB, and on flush(); with `flush_each_record` every record is flushed
// at once (a pipe into jq should see frames live).
class ndjson_sink final : public sink {
  public:
    ndjson_sink(std::FILE* out, bool flush_each_record);
    // Writes the lines still held, if any.
    ~ndjson_sink() override;
    void write(record&& r) override;
    // False once a write to the stream has failed (disk full, closed pipe).
    bool flush();
    bool ok() const noexcept { return ok_; }
    // Why the first failed write failed.
    std::error_code error() const noexcept { return error_; }
    // Called once, on the writing thread, when a write first fails: a long-running caller can
    // say so at once instead of at exit.
    void on_failure(std::function<void(std::error_code)> report) {
        on_failure_ = std::move(report);
    }

  private:
    void drain();
    void failed(int error_number);

    std::FILE* out_;
    bool flush_each_record_;
    bool ok_ = true;
    std::error_code error_;
    std::function<void(std::error_code)> on_failure_;
    line_buffer lines_;
};

} // namespace wssniff::record

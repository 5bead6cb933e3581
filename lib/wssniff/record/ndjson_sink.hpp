#pragma once
// The sink the command line writes records through: NDJSON lines on a stdio stream (stdout or
// the --output file), in blocks, with the first write failure kept and reported.

#include "wssniff/record/line_buffer.hpp"
#include "wssniff/record/record.hpp"

#include <cstdio>
#include <functional>
#include <string>
#include <system_error>

namespace wssniff::record {

// A sink that writes NDJSON to a stdio stream. Lines collect in a buffer that goes to the stream
// in blocks of about 64 KiB, and on flush(); with `flush_each_record` every record is flushed
// at once (a pipe into jq should see frames live).
class ndjson_sink final : public sink {
  public:
    // `fields`: pre-escaped JSON members written into every record after "conn" (the
    // identity's, identity.hpp); empty: none.
    ndjson_sink(std::FILE* out, bool flush_each_record, std::string fields = {});
    // Writes the lines still held, if any.
    ~ndjson_sink() override;
    void write(record&& r) override;
    // False once a write to the stream has failed (disk full, closed pipe).
    bool flush();
    bool ok() const noexcept { return ok_; }
    // Bytes of the lines written so far (held or already handed to the stream).
    std::uint64_t bytes() const noexcept { return bytes_; }
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
    std::uint64_t bytes_ = 0;
    std::error_code error_;
    std::function<void(std::error_code)> on_failure_;
    std::string fields_;
    line_buffer lines_;
};

} // namespace wssniff::record

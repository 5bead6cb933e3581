#pragma once
// Where the NDJSON goes: stdout, or a file that only its owner can read (it holds other
// people's traffic).

#include "record_output.hpp"

#include "wssniff/record/ndjson.hpp"

#include <cstdio>
#include <string>
#include <utility>

namespace wssniff::app {

class output_file {
  public:
    // Opens `path` for writing, mode 0600; empty path: stdout. With `append`, an existing file
    // is added to rather than emptied (reopened after a log rotation). Throws runtime_failure.
    explicit output_file(const std::string& path, bool append = false);
    ~output_file();
    output_file(const output_file&) = delete;
    output_file& operator=(const output_file&) = delete;

    std::FILE* get() const noexcept { return file_; }
    // A pipe or terminal wants each record as soon as it is written.
    bool interactive() const noexcept { return interactive_; }
    // Closes the file; false if anything failed to reach it.
    bool close();

  private:
    std::FILE* file_ = nullptr;
    bool owned_ = false;
    bool interactive_ = false;
};

// Stands for the output's sink until it exists: the proxy is built (TLS files loaded) and bound
// before the output file is opened, so that a start that fails leaves an earlier capture in
// that file untouched. The relay writes no record before it runs, which is after attach().
class late_sink final : public record::sink {
  public:
    void attach(record::sink& out) noexcept { out_ = &out; }
    void write(record::record&& r) override {
        if (out_ != nullptr) {
            out_->write(std::move(r));
        }
    }
    void end_of_batch() override {
        if (out_ != nullptr) {
            out_->end_of_batch();
        }
    }

  private:
    record::sink* out_ = nullptr;
};

// The line that says records did not all reach the output: the sink's first failed write, or
// else the failed close (errno).
std::string output_failure(const record::ndjson_sink& sink);
std::string output_failure(const output_sink& sink);

} // namespace wssniff::app

#pragma once
// Where the NDJSON goes: stdout, or a file that only its owner can read (it holds other
// people's traffic).

#include "wssniff/record/ndjson.hpp"

#include <cstdio>
#include <string>

namespace wssniff::app {

class output_file {
  public:
    // Opens `path` for writing, mode 0600; empty path: stdout. Throws runtime_failure.
    explicit output_file(const std::string& path);
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

// The line that says records did not all reach the output: the sink's first failed write, or
// else the failed close (errno).
std::string output_failure(const record::ndjson_sink& sink);

} // namespace wssniff::app

#pragma once
// The sink records are written through, in either format: NDJSON (for jq, files, archives) or
// the terminal view (pretty.hpp), one line per record. Both write in blocks, flush on flush()
// (or after each record on a pipe or terminal), keep the first write failure and report it.

#include "pretty.hpp"
#include "terminal.hpp"

#include "wssniff/record/ndjson_sink.hpp"
#include "wssniff/record/record.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

namespace wssniff::app {

struct output_options;

class output_sink : public record::sink {
  public:
    // False once a write to the stream has failed (disk full, closed pipe).
    virtual bool flush() = 0;
    virtual bool ok() const noexcept = 0;
    // Bytes written so far (held or already handed to the stream).
    virtual std::uint64_t bytes() const noexcept = 0;
    // Why the first failed write failed.
    virtual std::error_code error() const noexcept = 0;
    // Called once, on the writing thread, when a write first fails.
    virtual void on_failure(std::function<void(std::error_code)> report) = 0;
};

// How records are shown, decided once per run from --format, --color, --output and the
// standard output.
struct record_view {
    bool pretty = false;
    pretty_style style;
    // The terminal the pretty lines go to, for its width as it is resized; -1: none.
    int terminal_fd = -1;
    // Set when the records share a terminal with the status line.
    status_area* status = nullptr;
    // NDJSON: the identity's pre-escaped fields, written into every record after "conn"
    // (record/identity.hpp); empty: none. The terminal view leaves them out.
    std::string identity_fields;
};

// --format auto: pretty only when there is no --output and stdout is a terminal; a pipe stays
// NDJSON, so every `| jq` recipe works unchanged.
record_view choose_view(const output_options& options);

// NDJSON, or the terminal view, on `out`.
std::unique_ptr<output_sink> make_output_sink(std::FILE* out, bool flush_each_record,
                                              const record_view& view);

} // namespace wssniff::app

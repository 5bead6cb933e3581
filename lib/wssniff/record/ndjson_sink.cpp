// The stdio sink: records become lines in a buffer that is written to the stream in blocks of
// about 64 KiB (or after every record when asked), and the first failed write is kept, with its
// errno, for the caller to report.

#include "wssniff/record/ndjson_sink.hpp"

#include "wssniff/record/ndjson.hpp"

#include <cerrno>

namespace wssniff::record {

ndjson_sink::ndjson_sink(std::FILE* out, bool flush_each_record, std::string fields)
    : out_(out), flush_each_record_(flush_each_record), fields_(std::move(fields)) {}

ndjson_sink::~ndjson_sink() {
    // Only lines still held: after an explicit flush() the owner may have closed the stream,
    // which must not be touched again.
    if (!lines_.empty()) {
        flush();
    }
}

void ndjson_sink::write(record&& r) {
    const std::size_t held = lines_.size();
    append_ndjson(lines_, r, fields_);
    bytes_ += lines_.size() - held;
    if (flush_each_record_) {
        flush();
    } else if (lines_.size() >= 64 * 1024) {
        drain();
    }
}

void ndjson_sink::drain() {
    if (!lines_.empty() && std::fwrite(lines_.data(), 1, lines_.size(), out_) != lines_.size()) {
        failed(errno);
    }
    lines_.clear();
}

bool ndjson_sink::flush() {
    drain();
    if (std::fflush(out_) != 0) {
        failed(errno);
    }
    return ok_;
}

void ndjson_sink::failed(int error_number) {
    if (!ok_) {
        return;
    }
    ok_ = false;
    error_ = std::error_code(error_number != 0 ? error_number : EIO, std::generic_category());
    if (on_failure_) {
        on_failure_(error_);
    }
}

} // namespace wssniff::record

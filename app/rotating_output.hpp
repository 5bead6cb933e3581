#pragma once
// The proxy's record file for long runs: one file that SIGHUP reopens (after logrotate moved
// it), or with --rotate-size / --rotate-time a ring of segments beside it, as dumpcap's ring
// buffer: NAME_00001_20261201T120000Z.ndjson, each created 0600, split only between records,
// the oldest removed past --rotate-keep. Each segment starts with copies of the handshake
// records of the connections still open ("repeat": true), so it stands alone for replay, diff
// and HAR export.
//
// Called from one thread (the queued sink's writer), except request_reopen().

#include "output.hpp"
#include "proxy_output.hpp"
#include "record_output.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace wssniff::app {

struct rotation_policy {
    std::uint64_t size = 0;           // bytes per segment; 0: no limit
    std::chrono::milliseconds time{}; // age of a segment; 0: no limit
    std::uint64_t keep = 0;           // segments kept; 0: all
    bool enabled() const noexcept { return size != 0 || time.count() != 0; }
};

class rotating_output final : public proxy_output {
  public:
    // Opens the file (or the first segment). `path` empty: stdout, which is never reopened
    // or rotated. `view`: NDJSON or the terminal view. Throws runtime_failure.
    rotating_output(std::string path, rotation_policy policy, record_view view = {});

    void write(record::record&& r) override;
    // Writes what is held; false once anything failed to reach a file.
    bool flush() override;
    // Closes the current file; false if anything failed.
    bool close() override;

    // From any thread (SIGHUP): the file is closed and opened again (a new segment when
    // rotating) before the next record is written or the next flush.
    void request_reopen() noexcept override { reopen_requested_ = true; }

    void on_failure(std::function<void(std::error_code)> report) override;
    // The line that says records did not all reach the output.
    std::string failure() const override;

    // Segments opened so far (1 without rotation).
    std::uint64_t segments() const noexcept { return segment_; }

    // Records written so far (not counting the repeated handshakes); from any thread.
    std::uint64_t written() const noexcept override {
        return written_.load(std::memory_order_relaxed);
    }

  private:
    void open_next();
    // SIGHUP asked, or (`record_next`: a record is about to be written) the segment is due.
    void reopen_if_asked(bool record_next);
    bool due() const;
    std::string segment_path() const;

    std::string path_;
    rotation_policy policy_;
    std::optional<output_file> file_;
    record_view view_;
    std::unique_ptr<output_sink> sink_;
    std::atomic<std::uint64_t> written_{0};
    std::uint64_t segment_ = 0;
    std::chrono::steady_clock::time_point opened_;
    std::deque<std::string> kept_;                            // our segments, oldest first
    std::map<std::uint64_t, record::record> open_handshakes_; // by conn
    std::function<void(std::error_code)> on_failure_;
    std::error_code first_error_;
    bool ok_ = true;
    std::atomic<bool> reopen_requested_{false};
};

} // namespace wssniff::app

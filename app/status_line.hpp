#pragma once
// The proxy's live status line on standard error, when it is a terminal: connections open and
// accepted, frames and bytes per second each way, records written and dropped. A thread of its
// own reads counters the relay keeps with relaxed atomics, at most four times a second, so
// forwarding never waits for it; the line is erased when it stops.

#include "terminal.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace wssniff::app {

struct status_sample {
    std::uint64_t open = 0;
    std::uint64_t accepted = 0;
    std::uint64_t bytes_c2s = 0;
    std::uint64_t bytes_s2c = 0;
    std::uint64_t frames_c2s = 0;
    std::uint64_t frames_s2c = 0;
    std::uint64_t written = 0;
    std::uint64_t dropped = 0;
};

// The line for `now`, rates from `before` over `seconds`, at most `width` - 1 columns (the last
// column is left alone: writing it makes some terminals wrap). `columns` is what it takes.
std::string format_status(const status_sample& now, const status_sample& before, double seconds,
                          std::size_t width, std::size_t& columns);

class status_line {
  public:
    static constexpr std::chrono::milliseconds period{250};

    // Starts refreshing the line on stderr from `read` (called on the status thread).
    status_line(status_area& area, std::function<status_sample()> read);
    // Stops and erases the line.
    ~status_line();
    status_line(const status_line&) = delete;
    status_line& operator=(const status_line&) = delete;

    void stop();

  private:
    void run();

    status_area& area_;
    std::function<status_sample()> read_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace wssniff::app

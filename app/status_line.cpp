#include "status_line.hpp"

#include <fmt/format.h>

#include <unistd.h>

namespace wssniff::app {

namespace {

std::string per_second(double bytes) {
    if (bytes < 1024) {
        return fmt::format("{:.0f} B/s", bytes);
    }
    if (bytes < 1024 * 1024) {
        return fmt::format("{:.1f} KiB/s", bytes / 1024);
    }
    if (bytes < 1024.0 * 1024 * 1024) {
        return fmt::format("{:.1f} MiB/s", bytes / (1024 * 1024));
    }
    return fmt::format("{:.1f} GiB/s", bytes / (1024.0 * 1024 * 1024));
}

double rate(std::uint64_t now, std::uint64_t before, double seconds) {
    return now >= before && seconds > 0 ? static_cast<double>(now - before) / seconds : 0;
}

} // namespace

std::string format_status(const status_sample& now, const status_sample& before, double seconds,
                          std::size_t width, std::size_t& columns) {
    // → and ← are one column and three bytes each.
    std::string line = fmt::format(
        "conns {} open/{} total | \xe2\x86\x92 {:.0f} fr/s {} | \xe2\x86\x90 {:.0f} fr/s {} | "
        "records {} written, {} dropped",
        now.open, now.accepted, rate(now.frames_c2s, before.frames_c2s, seconds),
        per_second(rate(now.bytes_c2s, before.bytes_c2s, seconds)),
        rate(now.frames_s2c, before.frames_s2c, seconds),
        per_second(rate(now.bytes_s2c, before.bytes_s2c, seconds)), now.written, now.dropped);
    const std::size_t most = width > 1 ? width - 1 : 0;
    columns = 0;
    std::size_t i = 0;
    for (; i < line.size(); ++i) {
        if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) {
            continue; // inside a character
        }
        if (columns == most) {
            break;
        }
        ++columns;
    }
    line.resize(i);
    return line;
}

status_line::status_line(status_area& area, std::function<status_sample()> read)
    : area_(area), read_(std::move(read)) {
    thread_ = std::thread([this] { run(); });
}

status_line::~status_line() {
    stop();
}

void status_line::stop() {
    {
        const std::lock_guard<std::mutex> hold(mutex_);
        if (stopping_ && !thread_.joinable()) {
            return;
        }
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
    const std::lock_guard<std::mutex> hold(area_.lock());
    area_.erase_locked();
}

void status_line::run() {
    using clock = std::chrono::steady_clock;
    status_sample before = read_();
    clock::time_point then = clock::now();
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        if (wake_.wait_for(lock, period, [this] { return stopping_; })) {
            return;
        }
        lock.unlock();
        const status_sample now = read_();
        const clock::time_point at = clock::now();
        std::size_t columns = 0;
        const std::string line =
            format_status(now, before, std::chrono::duration<double>(at - then).count(),
                          terminal_width(STDERR_FILENO), columns);
        before = now;
        then = at;
        {
            const std::lock_guard<std::mutex> hold(area_.lock());
            area_.draw_locked(line, columns);
        }
        lock.lock();
    }
}

} // namespace wssniff::app

#include "record_output.hpp"

#include "options.hpp"

#include <cerrno>
#include <mutex>
#include <unistd.h>

namespace wssniff::app {

namespace {

// The NDJSON writer behind the common interface.
class ndjson_output final : public output_sink {
  public:
    ndjson_output(std::FILE* out, bool flush_each_record, status_area* status,
                  const std::string& fields)
        : sink_(out, flush_each_record, fields), status_(status) {}

    void write(record::record&& r) override {
        if (status_ == nullptr) {
            sink_.write(std::move(r));
            return;
        }
        // NDJSON forced onto the terminal the status line is on: each line written whole.
        {
            const std::lock_guard<std::mutex> hold(status_->lock());
            status_->erase_locked();
            sink_.write(std::move(r));
            sink_.flush();
        }
        report();
    }
    bool flush() override { return sink_.flush(); }
    bool ok() const noexcept override { return sink_.ok(); }
    std::uint64_t bytes() const noexcept override { return sink_.bytes(); }
    std::error_code error() const noexcept override { return sink_.error(); }
    void on_failure(std::function<void(std::error_code)> report) override {
        if (status_ == nullptr) {
            sink_.on_failure(std::move(report));
            return;
        }
        // Told once the terminal's lock is released: the report itself writes to stderr.
        report_ = std::move(report);
        sink_.on_failure([this](std::error_code ec) { failure_ = ec; });
    }

  private:
    void report() {
        if (failure_ && report_) {
            report_(failure_);
            report_ = nullptr;
        }
    }

    record::ndjson_sink sink_;
    status_area* status_;
    std::function<void(std::error_code)> report_;
    std::error_code failure_;
};

// The terminal view: lines collect in a buffer that goes to the stream in blocks (or after
// each record on a terminal or pipe); the width follows the terminal as it is resized.
class pretty_output final : public output_sink {
  public:
    pretty_output(std::FILE* out, bool flush_each_record, const record_view& view)
        : out_(out), flush_each_record_(flush_each_record), view_(view) {}
    ~pretty_output() override {
        if (!lines_.empty()) {
            flush();
        }
    }

    void write(record::record&& r) override {
        refresh_width();
        const std::size_t held = lines_.size();
        lines_ += format_pretty(r, view_.style);
        lines_ += '\n';
        bytes_ += lines_.size() - held;
        if (flush_each_record_ || lines_.size() >= 64 * 1024) {
            flush();
        }
    }
    bool flush() override {
        if (view_.status == nullptr) {
            write_out();
        } else {
            const std::lock_guard<std::mutex> hold(view_.status->lock());
            if (!lines_.empty()) {
                view_.status->erase_locked();
            }
            write_out();
        }
        // Told outside the terminal's lock: the report itself writes to stderr.
        if (!ok_ && !reported_) {
            reported_ = true;
            if (on_failure_) {
                on_failure_(error_);
            }
        }
        return ok_;
    }
    bool ok() const noexcept override { return ok_; }
    std::uint64_t bytes() const noexcept override { return bytes_; }
    std::error_code error() const noexcept override { return error_; }
    void on_failure(std::function<void(std::error_code)> report) override {
        on_failure_ = std::move(report);
    }

  private:
    // A resized terminal: asked again at most four times a second, not per record.
    void refresh_width() {
        if (view_.terminal_fd < 0) {
            return;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now - width_checked_ < std::chrono::milliseconds(250)) {
            return;
        }
        width_checked_ = now;
        view_.style.width = terminal_width(view_.terminal_fd);
    }
    void write_out() {
        drain();
        if (std::fflush(out_) != 0) {
            failed(errno);
        }
    }
    void drain() {
        if (!lines_.empty() &&
            std::fwrite(lines_.data(), 1, lines_.size(), out_) != lines_.size()) {
            failed(errno);
        }
        lines_.clear();
    }
    void failed(int error_number) {
        if (!ok_) {
            return;
        }
        ok_ = false;
        error_ = std::error_code(error_number != 0 ? error_number : EIO, std::generic_category());
    }

    std::FILE* out_;
    bool flush_each_record_;
    record_view view_;
    std::string lines_;
    std::uint64_t bytes_ = 0;
    bool ok_ = true;
    bool reported_ = false;
    std::error_code error_;
    std::function<void(std::error_code)> on_failure_;
    std::chrono::steady_clock::time_point width_checked_{};
};

} // namespace

record_view choose_view(const output_options& options) {
    record_view view;
    const bool to_stdout = options.output.empty() || options.output == "-";
    if (options.format == "pretty") {
        view.pretty = true;
    } else if (options.format == "auto") {
        view.pretty = to_stdout && is_terminal(STDOUT_FILENO);
    }
    if (!view.pretty) {
        return view;
    }
    if (to_stdout) {
        view.style.color = use_color(options.color, STDOUT_FILENO);
        view.style.width = terminal_width(STDOUT_FILENO);
        if (is_terminal(STDOUT_FILENO)) {
            view.terminal_fd = STDOUT_FILENO;
        }
    } else {
        // A file: colours only when asked for (--color always), the width of $COLUMNS or 80.
        view.style.color = options.color == "always";
        view.style.width = terminal_width(-1);
    }
    return view;
}

std::unique_ptr<output_sink> make_output_sink(std::FILE* out, bool flush_each_record,
                                              const record_view& view) {
    if (view.pretty) {
        return std::make_unique<pretty_output>(out, flush_each_record, view);
    }
    return std::make_unique<ndjson_output>(out, flush_each_record, view.status,
                                           view.identity_fields);
}

} // namespace wssniff::app

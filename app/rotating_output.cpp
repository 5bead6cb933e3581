#include "rotating_output.hpp"

#include "options.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <unistd.h>
#include <variant>

namespace wssniff::app {

rotating_output::rotating_output(std::string path, rotation_policy policy, record_view view)
    : path_(std::move(path)), policy_(policy), view_(view) {
    open_next();
}

void rotating_output::on_failure(std::function<void(std::error_code)> report) {
    on_failure_ = std::move(report);
    if (sink_) {
        sink_->on_failure(on_failure_);
    }
}

std::string rotating_output::failure() const {
    std::error_code ec = first_error_;
    if (!ec && sink_) {
        ec = sink_->error();
    }
    return "cannot write records: " + (ec ? ec.message() : std::string(std::strerror(errno)));
}

// NAME.ndjson -> NAME_00007_20261201T120000Z.ndjson (dumpcap's ring-buffer names: the number
// orders the segments, the time says when each began).
std::string rotating_output::segment_path() const {
    const auto slash = path_.rfind('/');
    const auto dot = path_.rfind('.');
    const bool has_extension =
        dot != std::string::npos && dot != 0 && (slash == std::string::npos || dot > slash + 1);
    const std::string stem = has_extension ? path_.substr(0, dot) : path_;
    const std::string extension = has_extension ? path_.substr(dot) : ".ndjson";
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char when[32];
    std::strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &utc);
    return fmt::format("{}_{:05}_{}{}", stem, segment_, when, extension);
}

void rotating_output::open_next() {
    if (sink_) {
        if (!sink_->flush() && !first_error_) {
            first_error_ = sink_->error();
        }
        sink_.reset();
    }
    if (file_) {
        if (!file_->close()) {
            ok_ = false;
        }
        file_.reset();
    }
    ++segment_;
    const bool rotating = policy_.enabled() && !path_.empty();
    const std::string path = rotating ? segment_path() : path_;
    // Reopened after a rotation by another program (logrotate): a file still at the path is
    // added to, never emptied.
    file_.emplace(path, segment_ > 1 && !rotating);
    sink_ = make_output_sink(file_->get(), file_->interactive(), view_);
    if (on_failure_) {
        sink_->on_failure(on_failure_);
    }
    opened_ = std::chrono::steady_clock::now();
    if (!rotating) {
        return;
    }
    kept_.push_back(path);
    while (policy_.keep != 0 && kept_.size() > policy_.keep) {
        ::unlink(kept_.front().c_str());
        kept_.pop_front();
    }
    for (const auto& [conn, original] : open_handshakes_) {
        record::record copy = original;
        auto& h = std::get<record::handshake>(copy.body);
        h.repeat = true;
        h.segment = segment_;
        sink_->write(std::move(copy));
    }
}

bool rotating_output::due() const {
    if (policy_.size != 0 && sink_->bytes() >= policy_.size) {
        return true;
    }
    return policy_.time.count() != 0 && std::chrono::steady_clock::now() - opened_ >= policy_.time;
}

void rotating_output::reopen_if_asked(bool record_next) {
    // A plain load first: the exchange (a locked instruction) only when SIGHUP asked.
    const bool asked =
        reopen_requested_.load(std::memory_order_relaxed) && reopen_requested_.exchange(false);
    // A segment that is due ends when the next record comes, not at a flush: rotating at a
    // flush after the last record made an empty segment, which has no first line to tell it by.
    if (asked || (record_next && policy_.enabled() && !path_.empty() && due())) {
        if (!path_.empty()) {
            open_next();
        }
    }
}

void rotating_output::write(record::record&& r) {
    reopen_if_asked(true);
    if (policy_.enabled()) {
        if (std::holds_alternative<record::handshake>(r.body)) {
            open_handshakes_[r.conn] = r;
        } else if (std::holds_alternative<record::close>(r.body)) {
            open_handshakes_.erase(r.conn);
        }
    }
    // One writing thread: a plain load and store.
    written_.store(written_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    sink_->write(std::move(r));
}

bool rotating_output::flush() {
    reopen_if_asked(false);
    return sink_->flush() && ok_ && !first_error_;
}

bool rotating_output::close() {
    bool ok = flush();
    // The first failure is kept for failure(), which is asked after the close.
    if (sink_ && !sink_->ok() && !first_error_) {
        first_error_ = sink_->error();
    }
    sink_.reset();
    if (file_) {
        ok = file_->close() && ok;
        file_.reset();
    }
    return ok && ok_;
}

} // namespace wssniff::app

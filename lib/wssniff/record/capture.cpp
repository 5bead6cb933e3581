#include "wssniff/record/capture.hpp"

namespace wssniff::record {

std::string_view type_of(const record& r) noexcept {
    constexpr std::string_view names[] = {"handshake", "frame", "message", "error", "close"};
    return names[r.body.index()];
}

void capture::write(record&& r) {
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        records_.push_back(std::move(r));
    }
    changed_.notify_all();
}

std::vector<record> capture::records() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return records_;
}

std::vector<frame> capture::frames() const {
    std::vector<frame> out;
    const std::lock_guard<std::mutex> lock(mutex_);
    for (const record& r : records_) {
        if (const auto* f = std::get_if<frame>(&r.body)) {
            out.push_back(*f);
        }
    }
    return out;
}

std::vector<frame> capture::frames(direction dir) const {
    std::vector<frame> out = frames();
    out.erase(
        std::remove_if(out.begin(), out.end(), [dir](const frame& f) { return f.dir != dir; }),
        out.end());
    return out;
}

std::vector<message> capture::messages() const {
    std::vector<message> out;
    const std::lock_guard<std::mutex> lock(mutex_);
    for (const record& r : records_) {
        if (const auto* m = std::get_if<message>(&r.body)) {
            out.push_back(*m);
        }
    }
    return out;
}

bool capture::wait_for(const predicate& done, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return done(records_); });
}

bool capture::wait_for_count(std::string_view type, std::size_t n,
                             std::chrono::milliseconds timeout) const {
    return wait_for(
        [type, n](const std::vector<record>& rs) {
            std::size_t seen = 0;
            for (const record& r : rs) {
                seen += type_of(r) == type ? 1U : 0U;
            }
            return seen >= n;
        },
        timeout);
}

void capture::clear() {
    const std::lock_guard<std::mutex> lock(mutex_);
    records_.clear();
}

} // namespace wssniff::record

#include "wssniff/session/held_payload.hpp"

#include <algorithm>

namespace wssniff::session {

bool held_payload::grow(std::size_t needed) {
    // Exactly what the first piece needs: small frames, the common case, ask the budget once and
    // stay in the string's own small buffer (no allocation at all for up to 15 bytes); a payload
    // that keeps coming grows geometrically.
    std::size_t wanted = std::max(needed, capacity_ * 2);
    wanted = static_cast<std::size_t>(std::min<std::uint64_t>(wanted, cap_));
    std::size_t granted = wanted > capacity_ ? wanted - capacity_ : 0;
    if (budget_ != nullptr) {
        granted = static_cast<std::size_t>(budget_->take(granted));
    }
    if (granted == 0) {
        return false;
    }
    capacity_ += granted;
    // A fresh string reserves exactly; reserve() on the old one would round up to twice its size.
    std::string bigger;
    bigger.reserve(capacity_);
    bigger.append(data_);
    data_.swap(bigger);
    return true;
}

void held_payload::append(bytes_view data) {
    if (full_ || data.empty() || data_.size() >= cap_) {
        return;
    }
    const auto wanted =
        static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), cap_ - data_.size()));
    if (data_.size() + wanted > capacity_ && !grow(data_.size() + wanted)) {
        full_ = true;
        return;
    }
    const std::size_t keep = std::min(wanted, capacity_ - data_.size());
    if (keep < wanted) {
        full_ = true; // the budget granted less than this piece: the rest is not kept
    }
    data_.append(data.chars().substr(0, keep));
}

std::string held_payload::take() {
    std::string out;
    out.swap(data_);
    release();
    return out;
}

void held_payload::release() noexcept {
    full_ = false;
    if (capacity_ == 0) {
        return; // nothing was granted, so nothing is held (the common case per frame)
    }
    std::string().swap(data_);
    if (budget_ != nullptr && capacity_ > 0) {
        budget_->give_back(capacity_);
    }
    capacity_ = 0;
}

} // namespace wssniff::session

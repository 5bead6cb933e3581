// Growth and release of the line buffer: doubling, never zero-filled, and memory given back
// after an exceptionally large record so one big payload does not pin its size for good.

#include "wssniff/record/line_buffer.hpp"

#include <algorithm>
#include <cstring>

namespace wssniff::record {

void line_buffer::clear(std::size_t keep) noexcept {
    size_ = 0;
    if (capacity_ > keep) {
        data_.reset();
        capacity_ = 0;
    }
}

char* line_buffer::reserve(std::size_t n) {
    if (capacity_ - size_ < n) {
        const std::size_t capacity = std::max({capacity_ * 2, size_ + n, std::size_t{4096}});
        std::unique_ptr<char[]> grown(new char[capacity]); // not zero-filled: written before read
        if (size_ > 0) {
            std::memcpy(grown.get(), data_.get(), size_);
        }
        data_ = std::move(grown);
        capacity_ = capacity;
    }
    return data_.get() + size_;
}

} // namespace wssniff::record

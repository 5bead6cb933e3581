#pragma once
// Read buffers lent to a relay's pumps while their socket has data, so that an idle connection
// holds none: memory follows the traffic, not the number of open connections. One relay thread
// uses a pool; it is not thread-safe.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace wssniff::proxy {

class buffer_pool {
  public:
    using buffer = std::unique_ptr<std::uint8_t[]>;

    explicit buffer_pool(std::size_t buffer_size) : size_(buffer_size) {}

    std::size_t buffer_size() const noexcept { return size_; }

    buffer take() {
        if (spare_.empty()) {
            // Not zero-filled: pages are committed only when a read fills them.
            return buffer(new std::uint8_t[size_]);
        }
        buffer b = std::move(spare_.back());
        spare_.pop_back();
        return b;
    }

    void give_back(buffer b) {
        if (b && spare_.size() < max_spare) {
            spare_.push_back(std::move(b));
        }
    }

  private:
    // Enough for a burst across many connections; beyond it buffers go back to the allocator.
    static constexpr std::size_t max_spare = 64;
    std::size_t size_;
    std::vector<buffer> spare_;
};

} // namespace wssniff::proxy

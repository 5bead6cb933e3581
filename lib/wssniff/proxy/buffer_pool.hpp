#pragma once
// Read buffers lent to a relay's pumps while their socket has data, so that an idle connection
// holds none: memory follows the traffic, not the number of open connections. One relay thread
// uses a pool; it is not thread-safe.
//
// Two sizes. A pump reads into a regular buffer; once a read fills one, more is waiting (a
// stream), and the pump reads into a streaming buffer, four times larger, until its socket
// runs dry. A stream thus costs a quarter of the system calls and wake-ups per byte (what a
// forwarder spends most of its time on), while the many quiet or chatty connections hold
// regular buffers only.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace wssniff::proxy {

class buffer_pool {
  public:
    // A lent buffer: its bytes and how many (a regular or a streaming buffer's size).
    struct buffer {
        std::unique_ptr<std::uint8_t[]> bytes;
        std::size_t size = 0;

        explicit operator bool() const noexcept { return bytes != nullptr; }
        std::uint8_t* get() const noexcept { return bytes.get(); }
    };

    buffer_pool(std::size_t regular_size, std::size_t streaming_size)
        : regular_{regular_size, 64, {}}, streaming_{streaming_size, 8, {}} {}

    std::size_t regular_size() const noexcept { return regular_.size; }

    buffer take(bool streaming) { return kind(streaming).take(); }

    void give_back(buffer b) {
        if (b) {
            kind(is_streaming(b)).give_back(std::move(b));
        }
    }

    // Whether `b` is a streaming buffer (larger than a regular one).
    bool is_streaming(const buffer& b) const noexcept { return b.size > regular_.size; }

  private:
    struct kind_of_buffer {
        std::size_t size;
        // Enough for a burst across many connections; beyond it buffers go back to the
        // allocator.
        std::size_t max_spare;
        std::vector<buffer> spare;

        buffer take() {
            if (spare.empty()) {
                // Not zero-filled: pages are committed only when a read fills them.
                return buffer{std::unique_ptr<std::uint8_t[]>(new std::uint8_t[size]), size};
            }
            buffer b = std::move(spare.back());
            spare.pop_back();
            return b;
        }
        void give_back(buffer b) {
            if (spare.size() < max_spare) {
                spare.push_back(std::move(b));
            }
        }
    };

    kind_of_buffer& kind(bool streaming) noexcept { return streaming ? streaming_ : regular_; }

    kind_of_buffer regular_;
    kind_of_buffer streaming_;
};

} // namespace wssniff::proxy

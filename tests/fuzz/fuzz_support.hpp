#pragma once
// What the fuzz targets share: reading their settings off the front of the input, handing a
// stream out in the chunk sizes the input names, and failing loudly.

#include "wssniff/base/bytes.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace wssniff::fuzz {

// Reports a violated property of `target`, with up to 4 KiB of detail, and aborts: libFuzzer
// and the replay program both take that as a failure.
[[noreturn]] inline void fail(const char* target, const char* property,
                              std::string_view detail = {}) {
    std::fprintf(stderr, "%s: property violated: %s\n", target, property);
    if (!detail.empty()) {
        // Enough to see what went wrong without flooding the fuzzer's log.
        const std::size_t shown = std::min<std::size_t>(detail.size(), 4096);
        std::fprintf(stderr, "%.*s%s\n", static_cast<int>(shown), detail.data(),
                     shown < detail.size() ? " [...]" : "");
    }
    std::abort();
}

// The input read from its front: a byte at a time (zeros once it is used up), then the rest.
// Every byte string is a valid input, so the fuzzer never wastes a run.
class input_reader {
  public:
    input_reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }

    // Two bytes, little-endian.
    std::size_t u16() {
        const std::size_t low = byte();
        return low | std::size_t{byte()} << 8;
    }

    // A count k (mod 17), then k chunk sizes, each byte b meaning b + 1 bytes; k = 0 means one
    // byte at a time.
    std::vector<std::size_t> chunk_sizes() {
        std::vector<std::size_t> sizes(byte() % 17u);
        for (std::size_t& n : sizes) {
            n = std::size_t{byte()} + 1;
        }
        if (sizes.empty()) {
            sizes.push_back(1);
        }
        return sizes;
    }

    // The next `n` bytes, or what is left.
    bytes_view take(std::size_t n) {
        n = std::min(n, size_ - pos_);
        const bytes_view taken{data_ + pos_, n};
        pos_ += n;
        return taken;
    }
    bytes_view rest() { return take(size_ - pos_); }
    bool done() const noexcept { return pos_ == size_; }

  private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

// Cuts pieces off the front of streams in the given sizes, cycled. Each piece is a copy in an
// allocation of exactly its size, freed at the next cut: a read past its end or a pointer kept
// into an earlier piece is an AddressSanitizer report, as it would be a bug for the proxy,
// whose read buffers are reused.
class chunk_cutter {
  public:
    chunk_cutter(const std::vector<std::size_t>& sizes, std::size_t first)
        : sizes_(sizes), next_size_(first % sizes.size()) {}

    // A copy of the next piece of `from` (as long as the next size, or all of `from`).
    bytes_view cut(bytes_view from) {
        const std::size_t n = std::min(sizes_[next_size_], from.size());
        next_size_ = (next_size_ + 1) % sizes_.size();
        piece_ = std::make_unique<std::uint8_t[]>(std::max<std::size_t>(n, 1));
        if (n != 0) {
            std::memcpy(piece_.get(), from.data(), n);
        }
        source_ = from.first(n);
        return bytes_view{piece_.get(), n};
    }

    // Whether the last piece is still the bytes it was copied from (its consumer reads only).
    bool unchanged() const {
        return source_.empty() || std::memcmp(piece_.get(), source_.data(), source_.size()) == 0;
    }

  private:
    const std::vector<std::size_t>& sizes_;
    std::size_t next_size_;
    std::unique_ptr<std::uint8_t[]> piece_;
    bytes_view source_;
};

} // namespace wssniff::fuzz

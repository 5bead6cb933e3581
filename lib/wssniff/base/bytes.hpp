#pragma once
// A read-only view of bytes. wssniff is C++17 (websocketpp 0.8.2 does not build as C++20 with
// GCC 12), so this stands in for std::span<const std::uint8_t>.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace wssniff {

class bytes_view {
  public:
    constexpr bytes_view() noexcept = default;
    constexpr bytes_view(const std::uint8_t* data, std::size_t size) noexcept
        : data_(data), size_(size) {}
    bytes_view(std::string_view s) noexcept
        : data_(reinterpret_cast<const std::uint8_t*>(s.data())), size_(s.size()) {}

    constexpr const std::uint8_t* data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr std::uint8_t operator[](std::size_t i) const noexcept { return data_[i]; }
    constexpr const std::uint8_t* begin() const noexcept { return data_; }
    constexpr const std::uint8_t* end() const noexcept { return data_ + size_; }

    constexpr bytes_view first(std::size_t n) const noexcept { return {data_, n}; }
    constexpr bytes_view subview(std::size_t pos) const noexcept {
        return {data_ + pos, size_ - pos};
    }
    constexpr bytes_view subview(std::size_t pos, std::size_t n) const noexcept {
        return {data_ + pos, n};
    }
    std::string_view chars() const noexcept {
        return {reinterpret_cast<const char*>(data_), size_};
    }

  private:
    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

// Which way the bytes travel. Frame rules depend on it: client-to-server frames must be masked.
enum class direction : std::uint8_t { c2s, s2c };

constexpr std::string_view to_string(direction d) noexcept {
    return d == direction::c2s ? "c2s" : "s2c";
}

} // namespace wssniff

#pragma once
// The buffer NDJSON lines are written into: the writer fills it through a raw pointer, the sink
// hands it to the stream in blocks.

#include <cstddef>
#include <memory>
#include <string_view>

namespace wssniff::record {

// A growable byte buffer that the writer fills through a pointer. Unlike std::string it does not
// zero-fill the room it reserves: with one small record at a time, that fill and the per-append
// bookkeeping were most of the writer's cost.
class line_buffer {
  public:
    const char* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::string_view view() const noexcept { return {data_.get(), size_}; }
    std::size_t capacity() const noexcept { return capacity_; }

    // Empties the buffer; gives its memory back when it grew beyond `keep` bytes (after an
    // exceptionally large record).
    void clear(std::size_t keep = 4 * 1024 * 1024) noexcept;

    // Room for at least `n` more bytes after size(): returns where to write them. Writing
    // stops at room_end(); commit() then makes the written bytes part of the buffer.
    char* reserve(std::size_t n);
    char* room_end() const noexcept { return data_.get() + capacity_; }
    void commit(const char* end) noexcept { size_ = static_cast<std::size_t>(end - data_.get()); }

  private:
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

} // namespace wssniff::record

#pragma once
// Lines of an NDJSON archive, read from a file descriptor in large blocks. Each line is handed
// out as a view into the block with at least `padding` readable bytes after it, so a JSON
// parser that reads past the end in wide loads (simdjson) parses it in place, without a copy.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wssniff::archive {

class line_source {
  public:
    // Reads `fd` (not closed here); `name` is what error messages call it.
    line_source(int fd, std::string name, std::size_t padding);

    // The next line without its '\n' (a final line without one counts too). Valid until the
    // next call. nullopt at the end. Throws std::system_error when reading fails.
    std::optional<std::string_view> next();

    // Number of the line last returned, from 1.
    std::uint64_t line_number() const noexcept { return line_; }
    const std::string& name() const noexcept { return name_; }

  private:
    bool fill(); // reads more after what is held; false at end of input

    int fd_;
    std::string name_;
    std::size_t padding_;
    std::vector<char> block_; // [begin_, end_) unread, then room, then padding
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
    bool eof_ = false;
    std::uint64_t line_ = 0;
};

} // namespace wssniff::archive

#include "wssniff/archive/line_source.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>
#include <unistd.h>

namespace wssniff::archive {

namespace {
constexpr std::size_t block_size = 1 << 20;
}

line_source::line_source(int fd, std::string name, std::size_t padding)
    : fd_(fd), name_(std::move(name)), padding_(padding), block_(block_size + padding) {}

bool line_source::fill() {
    if (eof_) {
        return false;
    }
    // Keep the unread part at the front; grow only when one line outgrows the block.
    if (begin_ > 0) {
        std::memmove(block_.data(), block_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    if (block_.size() - padding_ - end_ < block_size / 2) {
        block_.resize(block_.size() * 2);
    }
    for (;;) {
        const auto n = ::read(fd_, block_.data() + end_, block_.size() - padding_ - end_);
        if (n > 0) {
            end_ += static_cast<std::size_t>(n);
            return true;
        }
        if (n == 0) {
            eof_ = true;
            return false;
        }
        if (errno != EINTR) {
            throw std::system_error(errno, std::generic_category(), name_);
        }
    }
}

std::optional<std::string_view> line_source::next() {
    std::size_t scanned = 0;
    for (;;) {
        const char* start = block_.data() + begin_;
        const auto* nl =
            static_cast<const char*>(std::memchr(start + scanned, '\n', end_ - begin_ - scanned));
        if (nl != nullptr) {
            const auto len = static_cast<std::size_t>(nl - start);
            begin_ += len + 1;
            ++line_;
            return std::string_view{start, len};
        }
        scanned = end_ - begin_;
        if (!fill()) {
            if (begin_ == end_) {
                return std::nullopt;
            }
            // The last line has no newline: it is still a line.
            const std::string_view last{block_.data() + begin_, end_ - begin_};
            begin_ = end_;
            ++line_;
            return last;
        }
    }
}

} // namespace wssniff::archive

#include "terminal.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace wssniff::app {

bool is_terminal(int fd) noexcept {
    return ::isatty(fd) == 1;
}

std::size_t terminal_width(int fd) noexcept {
    struct winsize size {};
    if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
        return size.ws_col;
    }
    if (const char* columns = std::getenv("COLUMNS"); columns != nullptr) {
        char* end = nullptr;
        const unsigned long n = std::strtoul(columns, &end, 10);
        if (end != columns && *end == '\0' && n >= 1 && n <= 10000) {
            return n;
        }
    }
    return 80;
}

bool use_color(const std::string& choice, int fd) noexcept {
    if (choice == "always") {
        return true;
    }
    if (choice == "never") {
        return false;
    }
    const char* no_color = std::getenv("NO_COLOR");
    return is_terminal(fd) && (no_color == nullptr || *no_color == '\0');
}

bool same_terminal(int a, int b) noexcept {
    struct stat sa {};
    struct stat sb {};
    return is_terminal(a) && is_terminal(b) && ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 &&
           sa.st_rdev == sb.st_rdev;
}

void status_area::erase_locked() {
    if (shown_ == 0) {
        return;
    }
    // Spaces rather than an erase-line escape: nothing but \r and text reaches the terminal.
    std::string blank = "\r";
    blank.append(shown_, ' ');
    blank += '\r';
    std::fwrite(blank.data(), 1, blank.size(), stderr);
    std::fflush(stderr);
    shown_ = 0;
}

void status_area::draw_locked(const std::string& line, std::size_t columns) {
    std::string out = "\r" + line;
    if (columns < shown_) {
        out.append(shown_ - columns, ' '); // what is left of a longer line before
    }
    std::fwrite(out.data(), 1, out.size(), stderr);
    std::fflush(stderr);
    shown_ = std::max(columns, shown_);
}

} // namespace wssniff::app

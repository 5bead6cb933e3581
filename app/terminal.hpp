#pragma once
// What the command line knows of the terminal it may be writing to: whether a descriptor is
// one, its width, whether colours are wanted (NO_COLOR, --color), and the one lock that keeps
// the records on stdout and the status line on stderr from writing over each other when both
// go to the same terminal.

#include <cstddef>
#include <cstdio>
#include <mutex>
#include <string>

namespace wssniff::app {

bool is_terminal(int fd) noexcept;

// Columns of the terminal on `fd` (TIOCGWINSZ), else $COLUMNS, else 80.
std::size_t terminal_width(int fd) noexcept;

// --color auto|always|never for output on `fd`: auto means a terminal and no NO_COLOR (set and
// not empty, https://no-color.org); always overrides NO_COLOR, as a command-line choice should.
bool use_color(const std::string& choice, int fd) noexcept;

// stdout and stderr are the same terminal: records and the status line share its lines.
bool same_terminal(int a, int b) noexcept;

// The status line's place on stderr. Whoever writes whole lines to the same terminal first
// takes the lock and erases the status line (it is drawn again at its next refresh).
class status_area {
  public:
    std::mutex& lock() noexcept { return mutex_; }
    // With the lock held: the status line is erased (spaces over it, the cursor back at its
    // first column), if one is shown.
    void erase_locked();
    // With the lock held: `line` (at most the terminal's width less one) replaces the status.
    void draw_locked(const std::string& line, std::size_t columns);

  private:
    std::mutex mutex_;
    std::size_t shown_ = 0; // columns of the status line on the screen
};

} // namespace wssniff::app

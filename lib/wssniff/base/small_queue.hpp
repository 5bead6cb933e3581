#pragma once
// A first-in, first-out queue of a few elements that holds no memory while it is empty. The
// requests awaiting their responses on a connection are such a queue: nearly always none or
// one, at most 64. An empty std::deque holds over half a kilobyte, and every connection has
// two such queues (the session's and the Host rewriter's) for as long as it stays open.

#include <cstddef>
#include <utility>
#include <vector>

namespace wssniff {

template <class T> class small_queue {
  public:
    bool empty() const noexcept { return items_.empty(); }
    std::size_t size() const noexcept { return items_.size(); }
    T& front() noexcept { return items_.front(); }
    const T& front() const noexcept { return items_.front(); }
    T& back() noexcept { return items_.back(); }
    const T& back() const noexcept { return items_.back(); }

    void push_back(T item) { items_.push_back(std::move(item)); }

    // Takes the oldest off; a few elements move up. The last one gives the memory back.
    void pop_front() {
        items_.erase(items_.begin());
        if (items_.empty()) {
            std::vector<T>().swap(items_);
        }
    }

  private:
    std::vector<T> items_;
};

} // namespace wssniff

#pragma once
// The payload bytes one record keeps while its frame or message is unfinished: at most `cap`
// bytes (--max-payload), and only what the process-wide payload_budget grants. The buffer is
// reserved in the sizes granted (libstdc++ reserves exactly what is asked of a fresh string), so
// what is held is what was granted; growth is geometric.
// Once a grant falls short, nothing more is kept for this record: what is kept is always a
// prefix of the payload, and the record says truncated since it holds less than it counted.

#include "wssniff/base/bytes.hpp"
#include "wssniff/session/payload_budget.hpp"

#include <cstdint>
#include <string>

namespace wssniff::session {

class held_payload {
  public:
    held_payload(payload_budget* budget, std::uint64_t cap) noexcept : budget_(budget), cap_(cap) {}
    ~held_payload() { release(); }
    held_payload(const held_payload&) = delete;
    held_payload& operator=(const held_payload&) = delete;

    // Keeps what of `data` fits under the cap and the budget.
    void append(bytes_view data);

    // The bytes kept, as a string for the record; the buffer and its budget are given back.
    std::string take();

    // Forgets the bytes kept and gives the buffer and its budget back.
    void release() noexcept;

    std::size_t size() const noexcept { return data_.size(); }

  private:
    bool grow(std::size_t needed);

    payload_budget* budget_; // null: no process-wide limit (offline decoding, tests)
    std::uint64_t cap_;
    std::string data_;
    std::size_t capacity_ = 0; // what is taken from the budget
    bool full_ = false;        // a grant fell short: keep nothing more for this record
};

} // namespace wssniff::session

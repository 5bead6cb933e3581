#pragma once
// A process-wide budget for payload bytes held for unfinished frames and messages: the bytes
// a frame record keeps until the frame's last byte, a message record until the message's, and
// the inflated bytes among them. Shared by every session through session_options; each buffer
// asks before it grows and gives back when its record is written or its session ends. Past the
// budget, payloads are kept truncated (`truncated: true`): forwarding never waits for it, so a
// few hundred stalled connections cannot pin memory without bound.

#include <atomic>
#include <cstdint>

namespace wssniff::session {

class payload_budget {
  public:
    explicit payload_budget(std::uint64_t limit) noexcept : limit_(limit) {}
    payload_budget(const payload_budget&) = delete;
    payload_budget& operator=(const payload_budget&) = delete;

    // Takes up to `wanted` bytes from the budget and returns how many were granted (0 when it
    // is spent). Lock-free; any thread.
    std::uint64_t take(std::uint64_t wanted) noexcept {
        std::uint64_t held = held_.load(std::memory_order_relaxed);
        for (;;) {
            const std::uint64_t room = held < limit_ ? limit_ - held : 0;
            const std::uint64_t granted = wanted < room ? wanted : room;
            if (granted == 0) {
                return 0;
            }
            if (held_.compare_exchange_weak(held, held + granted, std::memory_order_relaxed)) {
                return granted;
            }
        }
    }

    void give_back(std::uint64_t n) noexcept { held_.fetch_sub(n, std::memory_order_relaxed); }

    std::uint64_t held() const noexcept { return held_.load(std::memory_order_relaxed); }
    std::uint64_t limit() const noexcept { return limit_; }

  private:
    const std::uint64_t limit_;
    std::atomic<std::uint64_t> held_{0};
};

// The proxy's default (--payload-budget): room for 128 records of 1 MiB (--max-payload) at once.
constexpr std::uint64_t default_payload_budget = 128ULL * 1024 * 1024;

} // namespace wssniff::session

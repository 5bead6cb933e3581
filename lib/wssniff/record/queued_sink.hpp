#pragma once
// Moves records off the relay threads: a bounded queue in front of another sink, drained by a
// thread of its own. Lossless by default: when the queue is full, write() waits, so the relay
// stops reading from its sockets (backpressure) instead of memory growing. In drop mode write()
// never waits; dropped records are counted per connection and reported in an `error` record of
// that connection once the output catches up.

#include "wssniff/record/record.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace wssniff::record {

class queued_sink final : public sink {
  public:
    enum class when_full : std::uint8_t { wait, drop };

    // `flush` runs on the writer thread once the queue has stayed empty for `flush_delay`, and
    // before close() returns: a reader sees records promptly, and a busy stream is not flushed
    // record by record. The queue is full at
    // `capacity` records or `max_bytes` of payload, whichever comes first: records with large
    // payloads must not multiply the memory a count alone would allow.
    queued_sink(sink& out, std::size_t capacity, when_full policy, std::function<void()> flush = {},
                std::size_t max_bytes = 32 * 1024 * 1024);
    ~queued_sink() override;
    queued_sink(const queued_sink&) = delete;
    queued_sink& operator=(const queued_sink&) = delete;

    // Records wait for end_of_batch() (or for the queue to fill) before the writer thread is
    // woken: a wake-up per record cost the relay a futex call each, and where both threads
    // share a core, a pair of context switches.
    void write(record&& r) override;
    void end_of_batch() override;

    // From now on write() never waits: records that do not fit are dropped and counted. For
    // shutting down while the output is stuck (nobody reads the pipe).
    void stop_waiting();

    // Waits until every queued record has been written, then stops the writer thread.
    void close();
    // The same, but gives up after `timeout` (the output is stuck): returns false, leaving
    // the writer thread detached with what it could not write.
    bool close(std::chrono::milliseconds timeout);

    std::uint64_t dropped() const;
    // Records waiting for the writer thread now (not those it is writing); from any thread,
    // without the lock.
    std::size_t depth() const;

    static constexpr std::chrono::milliseconds flush_delay{10};

  private:
    void run();

    sink& out_;
    std::size_t capacity_;
    std::size_t max_bytes_;
    std::size_t bytes_ = 0; // weight of what is queued
    when_full policy_;
    std::function<void()> flush_;

    mutable std::mutex mutex_;
    std::condition_variable not_empty_;
    std::condition_variable not_full_;
    // A vector, swapped whole with the writer's batch: both keep their capacity (at most the
    // queue's, sizeof(record) × --queue each), so a record costs no allocation on its way
    // through (a deque allocated a node per record, which is larger than its 512-byte
    // blocks).
    std::vector<record> queue_;
    std::vector<record> batch_; // the writer thread's, outside the lock
    // Written under the lock; read without it (a live status line must not take the relay's
    // lock).
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::size_t> depth_{0}; // queue_.size(), stored under the lock
    // Dropped and not yet reported, per connection: each connection's records say what they
    // are missing.
    std::map<std::uint64_t, std::uint64_t> unreported_;
    bool closing_ = false;
    bool drained_ = false;
    std::condition_variable drained_cv_;
    std::thread writer_;
};

} // namespace wssniff::record

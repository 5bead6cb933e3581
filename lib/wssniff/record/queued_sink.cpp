#include "wssniff/record/queued_sink.hpp"

#include "wssniff/record/error_record.hpp"

#include <string>

namespace wssniff::record {

queued_sink::queued_sink(sink& out, std::size_t capacity, when_full policy,
                         std::function<void()> flush, std::size_t max_bytes)
    : out_(out), capacity_(capacity == 0 ? 1 : capacity), max_bytes_(max_bytes), policy_(policy),
      flush_(std::move(flush)), writer_([this] { run(); }) {}

queued_sink::~queued_sink() {
    close();
}

namespace {

// Records a batch may queue before the writer is woken anyway (one read of small frames can
// carry thousands).
constexpr std::size_t wake_within_batch = 256;

// Roughly what a queued record holds in memory: its payload and headers, plus a fixed part.
std::size_t weight_of(const record& r) {
    std::size_t w = 256;
    if (const auto* f = std::get_if<frame>(&r.body)) {
        w += f->data.bytes.size();
    } else if (const auto* m = std::get_if<message>(&r.body)) {
        w += m->data.bytes.size();
    } else if (const auto* h = std::get_if<handshake>(&r.body)) {
        for (const auto& [name, value] : h->request_headers) {
            w += name.size() + value.size();
        }
        for (const auto& [name, value] : h->response_headers) {
            w += name.size() + value.size();
        }
    }
    return w;
}

} // namespace

void queued_sink::write(record&& r) {
    const std::size_t weight = weight_of(r);
    std::unique_lock<std::mutex> lock(mutex_);
    if (closing_) {
        return;
    }
    // Full by count or by bytes; one record always fits into an empty queue.
    const auto full = [this, weight] {
        return queue_.size() >= capacity_ || (!queue_.empty() && bytes_ + weight > max_bytes_);
    };
    if (full()) {
        if (policy_ == when_full::wait) {
            not_empty_.notify_one(); // the batch is not over, but the writer must make room
            not_full_.wait(lock, [&] { return !full() || closing_ || policy_ == when_full::drop; });
        }
        if (full()) {
            not_empty_.notify_one();
            // Under the lock: a plain load and store; read without it by dropped().
            dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            ++unreported_[r.conn];
            return;
        }
    }
    bytes_ += weight;
    queue_.push_back(std::move(r));
    depth_.store(queue_.size(), std::memory_order_relaxed);
    if (queue_.size() == wake_within_batch) {
        lock.unlock();
        not_empty_.notify_one(); // a long batch: get the writer going before it ends
    }
}

void queued_sink::end_of_batch() {
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (queue_.empty()) {
            return;
        }
    }
    not_empty_.notify_one();
}

std::uint64_t queued_sink::dropped() const {
    return dropped_.load(std::memory_order_relaxed);
}

std::size_t queued_sink::depth() const {
    return depth_.load(std::memory_order_relaxed);
}

void queued_sink::stop_waiting() {
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        policy_ = when_full::drop;
    }
    not_full_.notify_all();
}

void queued_sink::close() {
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (!writer_.joinable()) {
            return;
        }
        closing_ = true;
    }
    not_empty_.notify_one();
    not_full_.notify_all();
    writer_.join();
}

bool queued_sink::close(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!writer_.joinable()) {
        return true;
    }
    closing_ = true;
    not_empty_.notify_one();
    not_full_.notify_all();
    if (!drained_cv_.wait_for(lock, timeout, [this] { return drained_; })) {
        writer_.detach();
        return false;
    }
    lock.unlock();
    writer_.join();
    return true;
}

void queued_sink::run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        if (queue_.empty()) {
            if (!unreported_.empty()) {
                // Caught up after dropping: say what is missing, in the stream itself.
                std::map<std::uint64_t, std::uint64_t> missing;
                missing.swap(unreported_);
                lock.unlock();
                for (const auto& [conn, count] : missing) {
                    out_.write(record{
                        conn, std::chrono::system_clock::now(),
                        make_error(error_code::records_dropped,
                                   std::to_string(count) + " of this connection's records")});
                }
                lock.lock();
                continue;
            }
            const auto more = [this] { return !queue_.empty() || closing_; };
            if (closing_) {
                if (flush_) {
                    lock.unlock();
                    flush_();
                    lock.lock();
                }
                if (queue_.empty() && unreported_.empty()) {
                    drained_ = true;
                    drained_cv_.notify_all();
                    return;
                }
                continue;
            }
            // Idle: flush only once no record has come for a moment, so a steady stream is
            // written in large blocks, and a reader of the output (jq on a pipe, tail -f on a
            // file) still sees every record within `flush_delay`.
            if (!not_empty_.wait_for(lock, flush_delay, more)) {
                if (flush_) {
                    lock.unlock();
                    flush_();
                    lock.lock();
                }
                not_empty_.wait(lock, more);
            }
            continue;
        }
        // Take everything queued in one go; the relay waits on the lock only briefly.
        batch_.swap(queue_);
        bytes_ = 0;
        depth_.store(0, std::memory_order_relaxed);
        lock.unlock();
        not_full_.notify_all();
        for (record& r : batch_) {
            out_.write(std::move(r));
        }
        // Both vectors keep their room: the queue never holds more than capacity_ records, so
        // neither grows past that, and full batches (the writer behind in lossless mode) move
        // through without reallocating. Letting a large batch's room go made the next one
        // grow from nothing, moving every record again at each doubling: a fifth of the
        // relay's time with 1 KiB frames under --payload none.
        batch_.clear();
        lock.lock();
    }
}

} // namespace wssniff::record

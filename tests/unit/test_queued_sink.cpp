#include "wssniff/record/capture.hpp"
#include "wssniff/record/queued_sink.hpp"

#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>

using namespace wssniff;
using namespace std::chrono_literals;

namespace {

// A sink that holds its writer until opened: an output that has stopped being read.
class gated_sink final : public record::sink {
  public:
    void write(record::record&& r) override {
        std::unique_lock<std::mutex> lock(mutex_);
        opened_.wait(lock, [this] { return open_; });
        inner.write(std::move(r));
    }
    void open() {
        {
            const std::lock_guard<std::mutex> lock(mutex_);
            open_ = true;
        }
        opened_.notify_all();
    }
    record::capture inner;

  private:
    std::mutex mutex_;
    std::condition_variable opened_;
    bool open_ = false;
};

record::record big_frame(std::uint64_t conn, std::size_t payload) {
    record::frame f;
    f.data = {record::payload_encoding::hex, std::string(payload, 'x'), false};
    return record::record{conn, std::nullopt, std::move(f)};
}

} // namespace

TEST_CASE("queued sink: bounded by bytes, drops are counted per connection", "[sink]") {
    gated_sink out;
    record::queued_sink queue(out, 1000, record::queued_sink::when_full::drop, {}, 4 << 20);
    // The writer takes the first record and blocks on the gate; then 1 MiB records fill the
    // 4 MiB budget after four, whatever the count capacity says.
    queue.write(big_frame(1, 1 << 20));
    queue.end_of_batch();
    std::this_thread::sleep_for(50ms);
    for (int i = 0; i < 10; ++i) {
        queue.write(big_frame(i < 5 ? 1 : 2, 1 << 20));
    }
    CHECK(queue.dropped() == 7);
    out.open();
    queue.close();
    const auto records = out.inner.records();
    std::size_t frames = 0;
    std::vector<std::pair<std::uint64_t, std::string>> drops;
    for (const auto& r : records) {
        if (std::holds_alternative<record::frame>(r.body)) {
            ++frames;
        } else if (const auto* e = std::get_if<record::error>(&r.body)) {
            CHECK(e->code == error_code::records_dropped);
            drops.emplace_back(r.conn, e->message);
        }
    }
    CHECK(frames == 4);
    REQUIRE(drops.size() == 2);
    CHECK(drops[0].first == 1);
    CHECK(drops[0].second.find(": 2 of") != std::string::npos);
    CHECK(drops[1].first == 2);
    CHECK(drops[1].second.find(": 5 of") != std::string::npos);
}

TEST_CASE("queued sink: lossless waits, and stop_waiting releases the waiter", "[sink]") {
    gated_sink out;
    record::queued_sink queue(out, 2, record::queued_sink::when_full::wait);
    queue.write(big_frame(1, 10)); // taken by the writer, which blocks on the gate
    queue.end_of_batch();
    std::this_thread::sleep_for(50ms);
    queue.write(big_frame(1, 10));
    queue.write(big_frame(1, 10)); // the queue holds two now
    std::thread producer([&] { queue.write(big_frame(1, 10)); });
    std::this_thread::sleep_for(100ms);
    CHECK(queue.dropped() == 0); // still waiting, not dropping
    queue.stop_waiting();
    producer.join(); // returns: the record no longer fits and is counted instead
    CHECK(queue.dropped() == 1);
    out.open();
    CHECK(queue.close(5s));
}

TEST_CASE("queued sink: a batch longer than the queue is written without end_of_batch", "[sink]") {
    // The writer is woken when the queue fills, not only when the batch ends: a lossless queue
    // of four takes a thousand records in one batch without the producer waiting for ever.
    record::capture out;
    record::queued_sink queue(out, 4, record::queued_sink::when_full::wait);
    for (int i = 0; i < 1000; ++i) {
        queue.write(big_frame(1, 10));
    }
    REQUIRE(out.wait_for_count("frame", 996, 5s)); // at most four still queued
    queue.end_of_batch();
    REQUIRE(out.wait_for_count("frame", 1000, 5s));
    CHECK(queue.dropped() == 0);
}

TEST_CASE("queued sink: close gives up on an output that never drains", "[sink]") {
    auto out = std::make_unique<gated_sink>();
    auto queue =
        std::make_unique<record::queued_sink>(*out, 8, record::queued_sink::when_full::wait);
    queue->write(big_frame(1, 10));
    queue->write(big_frame(1, 10));
    CHECK_FALSE(queue->close(200ms));
    // The writer thread is detached, still blocked on the gate: open it and let it finish
    // (both records written, then its last steps) before anything it uses goes away.
    out->open();
    REQUIRE(out->inner.wait_for_count("frame", 2, 5s));
    std::this_thread::sleep_for(200ms);
}

#pragma once
// In-process capture for integration tests: collects records and lets a test wait until what
// it expects has arrived.
//
//     wssniff::record::capture capture;
//     wssniff::proxy::proxy proxy(options, capture);  // starts on an ephemeral port
//     ... point the client at proxy.port(), run it ...
//     REQUIRE(capture.wait_for([](auto& rs) { return count_frames(rs) >= 3; }, 5s));

#include "wssniff/record/record.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string_view>
#include <vector>

namespace wssniff::record {

class capture final : public sink {
  public:
    using predicate = std::function<bool(const std::vector<record>&)>;

    void write(record&& r) override;

    // A copy of everything captured so far, in arrival order.
    std::vector<record> records() const;
    // Frame (or message) records so far, optionally of one direction.
    std::vector<frame> frames() const;
    std::vector<frame> frames(direction dir) const;
    std::vector<message> messages() const;

    // Waits until `done` holds for the records captured so far, or the timeout passes;
    // returns whether it held.
    bool wait_for(const predicate& done, std::chrono::milliseconds timeout) const;
    // Waits until at least `n` records of the given type have arrived ("frame", "close", ...).
    bool wait_for_count(std::string_view type, std::size_t n,
                        std::chrono::milliseconds timeout) const;

    void clear();

  private:
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::vector<record> records_;
};

// The record type name, as in the NDJSON `type` field.
std::string_view type_of(const record& r) noexcept;

} // namespace wssniff::record

#pragma once
// What the proxy writes its records to, behind the queued sink (whose writer thread is the only
// caller, except where said): a file or its rotating segments (rotating_output), a stream
// socket (network_output), Kafka.

#include "wssniff/record/record.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>

namespace wssniff::app {

class proxy_output : public record::sink {
  public:
    // Writes what is held; false once anything failed to reach the output.
    virtual bool flush() = 0;
    // Writes what is held and closes; false if anything failed (failure() says what).
    virtual bool close() = 0;
    // Called once, on the writing thread, when records first fail to reach the output.
    virtual void on_failure(std::function<void(std::error_code)> report) = 0;
    // The line that says records did not all reach the output.
    virtual std::string failure() const = 0;
    // Records written so far; from any thread.
    virtual std::uint64_t written() const noexcept = 0;

    // From any thread (SIGHUP): reopen the output before the next record (files).
    virtual void request_reopen() noexcept {}
    // From any thread, when the proxy stops: records the output cannot take by `deadline` are
    // given up (counted, and said by failure()) instead of waited for.
    virtual void give_up_at(std::chrono::steady_clock::time_point deadline) noexcept {
        (void)deadline;
    }
};

} // namespace wssniff::app

#pragma once
// The proxy's records sent to a stream socket, TCP or unix: one NDJSON record per line, what
// Vector's `socket` source and Fluent Bit's `tcp` input read. Called from one thread (the
// queued sink's writer), except give_up_at() and written().
//
// Lossless like a file: while the peer is away, the writer reconnects (back-off from 50 ms,
// doubling, at most 1 s between attempts) and waits, so the queue fills and the relay waits
// (or, with --drop-when-behind, the queue drops and counts). Lines are sent whole: after a
// reconnect the next line starts fresh. When a send fails part-way through a line, that line
// is sent again, whole, on the next connection; the lines before it count as delivered.
// Before each batch the socket is checked for the peer's end-of-stream: a peer that shuts down
// cleanly (half-closes and reads on until ours) loses nothing. A peer that dies with lines
// unread in its socket loses them: a plain stream has no acknowledgement from the reader.

#include "output_target.hpp"
#include "proxy_output.hpp"

#include "wssniff/record/line_buffer.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>

namespace wssniff::app {

class network_output final : public proxy_output {
  public:
    struct settings {
        output_target target; // tcp or unix_socket
        // Pre-escaped fields written into every record after "conn" (record/identity.hpp).
        std::string identity_fields;
        // How long the first connection may take (--output-connect-timeout).
        std::chrono::milliseconds connect_timeout{5000};
        // One line for stderr: the connection was lost, or is back.
        std::function<void(const std::string&)> say;
    };

    // Connects, trying again until `connect_timeout`; then throws runtime_failure with the
    // reason.
    explicit network_output(settings s);
    ~network_output() override;
    network_output(const network_output&) = delete;
    network_output& operator=(const network_output&) = delete;

    void write(record::record&& r) override;
    bool flush() override;
    bool close() override;
    void on_failure(std::function<void(std::error_code)> report) override;
    std::string failure() const override;
    std::uint64_t written() const noexcept override {
        return written_.load(std::memory_order_relaxed);
    }
    void give_up_at(std::chrono::steady_clock::time_point deadline) noexcept override;

    // Records given up (the proxy stopped while the peer was away).
    std::uint64_t lost() const noexcept { return lost_; }
    // Connections made after the first.
    std::uint64_t reconnects() const noexcept { return reconnects_; }

  private:
    bool send_held();
    bool connect_until(std::chrono::steady_clock::time_point deadline, bool giving_up_counts);
    bool connect_once(std::chrono::milliseconds limit);
    bool peer_closed();
    void disconnect(bool clean);
    void keep_unsent_lines();
    void lose_held();
    bool given_up() const noexcept;
    void failed(std::error_code ec);

    settings settings_;
    int fd_ = -1;
    record::line_buffer lines_; // whole lines not yet known to be sent
    std::size_t sent_ = 0;      // bytes of lines_ sent on the current connection
    std::atomic<std::uint64_t> written_{0};
    std::atomic<std::int64_t> give_up_ns_{0}; // steady clock; 0: never
    std::uint64_t lost_ = 0;
    std::uint64_t reconnects_ = 0;
    bool gave_up_ = false;
    std::error_code last_error_;
    std::error_code first_failure_;
    std::function<void(std::error_code)> on_failure_;
};

} // namespace wssniff::app

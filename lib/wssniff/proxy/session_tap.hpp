#pragma once
// The tap that records: one session per connection turns what the relay forwarded into
// records (handshake, frames, messages, errors, close) for a sink. The relay's events map one
// to one onto the session's calls; the relay's failures become `error` records. With filters,
// the records pass this connection's selector first, on the relay thread that owns the
// connection; once the conn-filter rejects it, its bytes are only counted, not decoded.

#include "wssniff/filter/selector.hpp"
#include "wssniff/proxy/tap.hpp"
#include "wssniff/record/record.hpp"
#include "wssniff/session/session.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <variant>

namespace wssniff::proxy {

struct traffic_counters;

class session_tap final : public tap {
  public:
    // `options` carries this connection's number and addresses (and where its errors are
    // counted). `counters`: the loop's counters, to which the frames and messages decoded are
    // added after each chunk, or null.
    session_tap(record::sink& sink, session::session_options options,
                const filter::filters& filters = {}, traffic_counters* counters = nullptr);
    ~session_tap() override;

    void forwarding(const forward_hop& hop) override;
    void unrecorded() override { silent_ = true; }
    void relaying(const tls_info* tls) override;
    void forwarded(direction dir, bytes_view chunk, wall_clock::time_point read_at) override;
    void ended(direction dir, wall_clock::time_point at) override;
    void failed(failure what, const std::string& detail) override;
    void closed(end_reason why, wall_clock::time_point at) override;
    bool setup_over() const override;
    bool awaiting_first_response() const override;

  private:
    class filtered_sink;
    bool forward_only() const noexcept;
    record::sink& out() noexcept;
    // Adds to the loop's counters what the session decoded in `dir` since the last call.
    void tally(direction dir) noexcept;
    // The session, once the relay has started (or the connection closed before it did).
    session::session* live() noexcept { return std::get_if<session::session>(&state_); }
    const session::session* live() const noexcept { return std::get_if<session::session>(&state_); }
    // This connection's options: the tap's until the session starts, the session's after.
    const session::session_options& options() const noexcept;
    // Starts the session, handing it the options.
    session::session& start();

    record::sink& sink_;
    // Between the session and the sink when there are filters.
    std::unique_ptr<filtered_sink> filtered_;
    traffic_counters* counters_;
    std::array<std::uint64_t, 2> frames_tallied_{};   // c2s, s2c
    std::array<std::uint64_t, 2> messages_tallied_{}; // c2s, s2c
    // Forward mode. A CONNECT tunnel is decoded as a reverse-mode connection is when it starts
    // like an HTTP request; one that starts otherwise (TLS, another protocol, a server that
    // speaks first) is opaque: counted, and only its close record is written.
    bool tunnel_undecided_ = false;
    bool opaque_ = false;
    std::array<std::uint64_t, 2> opaque_bytes_{}; // c2s, s2c
    bool silent_ = false;                         // unrecorded(): nothing is written
    // The options until the relay starts, once the TLS details for its handshake record are
    // known; then the session, which keeps them (a connection that never got that far gets one
    // for its close record). One or the other: a connection holds its options once.
    std::variant<session::session_options, session::session> state_;
};

} // namespace wssniff::proxy

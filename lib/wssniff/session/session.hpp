#pragma once
// One connection's sniffing state: the two byte streams in, records out. Sans-I/O: the proxy,
// the offline decoder, the fuzzers and the tests all feed it the same way, and the same bytes
// per direction, split anywhere, give the same records.
//
// Each direction first carries HTTP/1.1 messages (request, then response; bodies delimited by
// handshake/body_framing, chunked ones included). When a WebSocket upgrade gets its 101, both
// directions switch to frames; after a 101 to another protocol or a 2xx to CONNECT, both are
// opaque. Client bytes that follow an upgrade request before the response is known are held
// (bounded) and decoded once the response says which extensions apply. Each direction's parse
// state (direction_stream) reports what happened; only the session moves it to a new phase.

#include "wssniff/base/bytes.hpp"
#include "wssniff/base/small_queue.hpp"
#include "wssniff/handshake/body_framing.hpp"
#include "wssniff/handshake/http_head.hpp"
#include "wssniff/record/record.hpp"
#include "wssniff/session/payload_budget.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace wssniff::session {

struct session_options {
    std::uint64_t conn = 1;
    record::payload_mode payload = record::payload_mode::automatic;
    // Payload bytes kept per frame or message record; the rest is counted, not kept.
    std::uint64_t max_payload = 1024 * 1024;
    bool emit_frames = true;
    bool emit_messages = false;
    // Streams start with HTTP heads; false: they start at the first frame.
    bool handshake = true;
    // Replace the values of credential headers in handshake records.
    bool redact = true;
    std::optional<std::string> client; // addresses for the handshake record (live only)
    std::optional<std::string> upstream;
    // What each TLS leg negotiated (live only), for the handshake record.
    std::optional<record::tls_info> tls;
    // `proxy --mode forward`: the request form and authority, for the handshake record.
    std::optional<forward_hop> proxy;
    std::size_t max_head = 64 * 1024;
    // Client bytes held while waiting for the server's response to an upgrade request.
    std::size_t max_pending = 256 * 1024;
    // Inflated bytes one permessage-deflate message may produce (--max-message).
    std::uint64_t max_message = 64ULL * 1024 * 1024;
    // Shared by all sessions of a process: payload bytes held for unfinished frames and
    // messages (--payload-budget). Null: no limit beyond max_payload per record.
    std::shared_ptr<payload_budget> budget;
    // Set: every error record the session writes is counted here before any filter sees it,
    // at the index of its code (error_code_count counters; the proxy's metrics). Written only
    // by the thread that feeds the session: a relaxed load and store, readable from any thread.
    std::atomic<std::uint64_t>* error_counts = nullptr;
};

// Counts one error of `code` where `options` says (nothing when error_counts is null).
inline void count_error(const session_options& options, error_code code) noexcept {
    if (options.error_counts != nullptr) {
        std::atomic<std::uint64_t>& n = options.error_counts[static_cast<std::size_t>(code)];
        n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
}

// How a direction's frame recorder hands records to its session.
class record_emitter {
  public:
    virtual void emit_record(record::record_body&& body) = 0;
    // Whether the sink may drop records (record::sink::selective), and then whether it could
    // keep a record with this head (record::sink::may_keep).
    virtual bool selective() const noexcept = 0;
    virtual bool may_keep(const record::record& head) = 0;

  protected:
    ~record_emitter() = default;
};

class direction_stream;

class session final : public record_emitter {
  public:
    session(record::sink& sink, session_options options);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    // Bytes that one side sent, as forwarded. `ts` stamps the records they complete.
    void feed(direction dir, bytes_view in, std::optional<record::timestamp> ts = {});

    // Like feed() while `dir` carries HTTP, but stops right after each complete head, and at
    // the end of the HTTP phase; returns how many bytes it took. Lets the offline decoder
    // interleave the two directions the same way whatever its chunk size.
    std::size_t feed_head(direction dir, bytes_view in);

    // Whether `dir` still carries HTTP heads or bodies (no upgrade yet).
    bool in_http(direction dir) const noexcept;

    // Whether a request head has been seen whose response has not.
    bool awaiting_response() const noexcept;

    // The exchange is past its setup: switched to another protocol (a 101 of any kind, a 2xx to
    // CONNECT), or no longer understood (a direction reported fatal, a body until close).
    // Nothing this session could still see would be an upgrade to wait for, so a setup timeout
    // no longer applies: it may cut a stalled setup, never a tunnel at work.
    bool setup_over() const noexcept;

    // That side finished sending (FIN): anything it left unfinished is reported.
    void end(direction dir, std::optional<record::timestamp> ts = {});

    // The connection pair is torn down: ends both directions and writes the close record.
    // Nothing is recorded after it.
    void close(record::close_reason reason, std::optional<record::timestamp> ts = {});

    bool upgraded() const noexcept;
    const session_options& options() const noexcept { return options_; }
    std::uint64_t bytes(direction dir) const noexcept;
    // Frames decoded so far in `dir` (the close record's frames_c2s / frames_s2c).
    std::uint64_t frames(direction dir) const noexcept;
    // Data messages ended so far in `dir` (complete, or cut by the end of the stream).
    std::uint64_t messages(direction dir) const noexcept;

    // record_emitter: how the frame recorders of both directions hand over their records.
    void emit_record(record::record_body&& body) override;
    bool selective() const noexcept override { return selective_; }
    bool may_keep(const record::record& head) override { return sink_.may_keep(head); }

  private:
    struct pending_request {
        handshake::http_head head;
        handshake::request_summary summary;
        bool websocket = false; // Upgrade: websocket, whose exchange gets a handshake record
        std::optional<record::timestamp> ts; // when its head was complete
    };

    direction_stream& of(direction dir) const noexcept;
    std::size_t consume(direction dir, bytes_view in, bool stop_after_head);
    void http_error(direction dir, error_code code, const std::string& detail);
    void on_request();
    void on_request_end();
    void on_response();

    record::sink& sink_;
    bool selective_; // sink_.selective(), asked once
    session_options options_;
    std::optional<record::timestamp> now_;
    std::unique_ptr<direction_stream> c2s_;
    std::unique_ptr<direction_stream> s2c_;
    small_queue<pending_request> requests_; // sent, their responses not yet seen
    bool closed_ = false;
};

} // namespace wssniff::session

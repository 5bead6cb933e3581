#pragma once
// TCP reassembly, sans-I/O: segments in (from a capture, in capture order), each connection's
// two byte streams out, in order, with what could not be recovered said as events.
//
// - Flows by 4-tuple. The client is the SYN sender (or the SYN-ACK's receiver); in a capture
//   that starts mid-stream, the side whose first bytes are an HTTP request (or whose peer's
//   first bytes are an HTTP response; failing both, the first side to send).
// - Sequence numbers are compared modulo 2^32: each is placed at the stream offset nearest the
//   next expected one, so a stream may cross 2^32 (and an ISN near it) any number of times.
// - Out-of-order segments are held, up to `max_reorder` bytes per direction. Bytes already
//   delivered (exact retransmissions, keep-alive probes) are dropped and overlaps trimmed; where
//   the overlapping bytes differ the first ones win and `on_conflict` says so (checked against
//   the held bytes and the last 64 KiB delivered).
// - A hole that is never filled is given up (`on_gap`) when the held bytes pass the limit, on
//   RST, and at the end (finish(), or a new SYN that replaces the connection). Bytes a capture
//   cut (snaplen) are holes too. Checksums are not looked at (offload makes them wrong).
// - A FIN ends its direction once every byte before it has been delivered; both FINs, or a
//   RST, end the connection and forget its 4-tuple, so a new SYN there is a new connection.
//
// Memory: per open flow at most `max_reorder` held bytes and 128 KiB of history per direction.

#include "wssniff/base/bytes.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace wssniff::tcp {

using clock_time = std::chrono::system_clock::time_point;

struct endpoint {
    std::array<std::uint8_t, 16> address{}; // IPv4: the first 4 bytes, the rest zero
    bool v6 = false;
    std::uint16_t port = 0;

    friend bool operator==(const endpoint& a, const endpoint& b) noexcept {
        return a.v6 == b.v6 && a.port == b.port && a.address == b.address;
    }
    friend bool operator!=(const endpoint& a, const endpoint& b) noexcept { return !(a == b); }
    friend bool operator<(const endpoint& a, const endpoint& b) noexcept {
        if (a.v6 != b.v6) {
            return a.v6 < b.v6;
        }
        if (a.address != b.address) {
            return a.address < b.address;
        }
        return a.port < b.port;
    }
};

// "192.0.2.1:80", "[2001:db8::1]:443".
std::string to_string(const endpoint& e);

struct segment {
    endpoint src;
    endpoint dst;
    std::uint32_t seq = 0;
    bool syn = false;
    bool ack = false;
    bool fin = false;
    bool rst = false;
    bytes_view payload;        // the payload bytes the capture holds
    std::uint32_t missing = 0; // payload bytes that were on the wire but cut by the capture
    clock_time ts{};
};

// How a connection ended: who ended it first, and how.
enum class close_cause : std::uint8_t {
    client_fin,
    server_fin,
    client_rst,
    server_rst,
    end_of_input, // still open when the input ended
    replaced,     // a new SYN on its 4-tuple started another connection
};

// What reassembly reports. `flow` numbers connections from 1 in the order they are first seen
// (opened); `offset` counts bytes of that direction's stream from its first byte.
class listener {
  public:
    // The connection's roles are known; nothing else about it is reported before this.
    virtual void on_open(std::uint64_t flow, const endpoint& client, const endpoint& server,
                         clock_time ts) = 0;
    // The next bytes of a direction, in order.
    virtual void on_data(std::uint64_t flow, direction dir, bytes_view data, clock_time ts) = 0;
    // `length` bytes at `offset` will never be delivered; later bytes follow at offset + length.
    virtual void on_gap(std::uint64_t flow, direction dir, std::uint64_t offset,
                        std::uint64_t length, clock_time ts) = 0;
    // A segment repeated bytes at `offset` with other values; the first ones were kept.
    virtual void on_conflict(std::uint64_t flow, direction dir, std::uint64_t offset,
                             clock_time ts) = 0;
    // A direction finished sending (FIN, every byte before it delivered).
    virtual void on_end(std::uint64_t flow, direction dir, clock_time ts) = 0;
    // The connection is over; nothing more is reported for `flow`.
    virtual void on_close(std::uint64_t flow, close_cause cause, clock_time ts) = 0;

  protected:
    ~listener() = default;
};

struct reassembler_options {
    // Out-of-order bytes held per direction before the first hole is given up (--max-reorder).
    std::size_t max_reorder = 4 * 1024 * 1024;
};

class reassembler {
  public:
    reassembler(listener& out, reassembler_options options = {});
    ~reassembler();
    reassembler(const reassembler&) = delete;
    reassembler& operator=(const reassembler&) = delete;

    void feed(const segment& s);

    // The input ended: every open flow gives up its holes and closes (end_of_input), in the
    // order the flows were opened.
    void finish(clock_time ts);

    // The caller has no use for `flow`'s bytes: they are no longer held or delivered (its end
    // is still reported), so a flow nobody decodes costs no memory.
    void ignore(std::uint64_t flow);

    std::size_t open_flows() const noexcept;
    // Bytes held out of order, over all flows (for tests and memory checks).
    std::size_t held_bytes() const noexcept;

  private:
    struct flow;
    struct stream;
    using key = std::pair<endpoint, endpoint>; // lower endpoint first

    void start(std::map<key, flow>::iterator it, std::size_t client, clock_time ts);
    void data(flow& f, std::size_t side, std::uint64_t at, bytes_view bytes, clock_time ts);
    void hold(flow& f, std::size_t side, std::uint64_t at, bytes_view bytes, clock_time ts);
    void deliver(flow& f, std::size_t side, bytes_view bytes, clock_time ts);
    void drain(flow& f, std::size_t side, clock_time ts);
    void give_up_first_hole(flow& f, std::size_t side, clock_time ts);
    void flush(flow& f, clock_time ts);
    void check_end(std::map<key, flow>::iterator it, std::size_t side, clock_time ts);
    void close(std::map<key, flow>::iterator it, close_cause cause, clock_time ts);
    direction dir_of(const flow& f, std::size_t side) const noexcept;

    listener& out_;
    reassembler_options options_;
    std::map<key, flow> flows_;
    std::map<std::uint64_t, key> ids_; // open flows by number
    std::uint64_t next_flow_ = 1;
};

// Whether `bytes` begin like an HTTP/1.x request (a method token, a space): the mid-stream
// client test.
bool looks_like_http_request(bytes_view bytes) noexcept;

} // namespace wssniff::tcp

#pragma once
// One client and its upstream: the relay's state for a connection pair, around one `stage`.
//
// The work is split by operation, one file each, all members of this class:
//   dialing.hpp          client TLS, resolve, connect, upstream TLS, then the pumps start
//   pump.hpp             read, forward (the tee to the tap once a write is done), next read
//   teardown.hpp         half-close, resets (and their linger), finish, settle
//   deadlines.hpp        the setup, handshake and idle timers
//   gateway_answers.hpp  the proxy's own HTTP answers (400, 502, 504) and what follows them
//   forward_requests.hpp forward mode: the client's CONNECT or absolute-form request, --allow
// connection.cpp includes them all and instantiates the four stream combinations.
//
// Templated on the two stream types (plain_stream or tls_stream) rather than hiding them behind
// a virtual stream: the relay's reads and writes stay direct calls, and the plain path compiles
// to what it would be if TLS did not exist.
//
// Every completion handler starts with one check, `stopped()`: once the connection finished,
// nothing but the write completions (which report what was forwarded) does anything.

#include "wssniff/handshake/proxy_request.hpp"
#include "wssniff/proxy/host_rewriter.hpp"
#include "wssniff/proxy/proxy_state.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace wssniff::proxy {

using steady = std::chrono::steady_clock;

// How long a reset waits for the other side to take what was already written to it.
constexpr auto reset_linger = std::chrono::seconds(1);

inline direction other(direction d) {
    return d == direction::c2s ? direction::s2c : direction::c2s;
}

template <class Client, class Upstream>
class connection final : public connection_base,
                         public std::enable_shared_from_this<connection<Client, Upstream>> {
  public:
    connection(proxy::impl& owner, relay_loop& loop, tcp::socket client, std::uint64_t id,
               std::unique_ptr<tap> watcher);
    // --mitm-ca: goes on with a CONNECT tunnel a plain connection saw start with a ClientHello
    // (its upstream connected, the 200 written): the upstream's TLS, then the client's, then
    // relaying as any connection does.
    connection(proxy::impl& owner, relay_loop& loop, interception handed);

    void start() override;
    void shut_down() override { finish(end_reason::shutdown); }
    void upstream_is_self() override;

  private:
    enum class stage : std::uint8_t {
        proxy_request, // forward mode: reading the client's CONNECT or absolute-form request
        tls_accept,    // the client's TLS handshake
        connecting,    // resolving and connecting to the upstream
        tls_connect,   // the upstream's TLS handshake
        peeking,       // forward mode, --mitm-ca: what does the CONNECT tunnel start with?
        relaying,      // both pumps read and forward
        winding_down,  // nothing more is read: a reset is passed on, or our own answer written
        finished,      // sockets closed; writes still under way report what they forwarded
        settled,       // the tap heard `closed`; the proxy has forgotten the connection
    };

    // One direction of the relay: reads into a buffer and reads again only once the write of
    // the last chunk is done, so a slow reader throttles its producer.
    struct pump {
        buffer_pool::buffer buffer; // lent by the pool while data flows
        bool streaming = false;     // the last read would have filled a regular buffer
        std::string rewritten;      // c2s bytes released by the Host rewriter
        bytes_view writing;         // the chunk whose write is under way
        bool write_pending = false;
        wall_clock::time_point read_at; // when `writing` was read
        bool eof = false;
        // Set for the one write of an absolute-form head: the tap sees these bytes (the head
        // as the client sent it) for it, not the rewritten ones.
        std::string shown_as;
    };

    bool stopped() const noexcept { return stage_ >= stage::finished; }
    bool reading() const noexcept { return stage_ == stage::relaying; }
    pump& pump_of(direction d) noexcept { return pumps_[d == direction::c2s ? 0 : 1]; }

    // Calls f with the stream `d`'s bytes come from (or go to): a branch, not a virtual call.
    template <class F> void with_source(direction d, F&& f) {
        if (d == direction::c2s) {
            f(client_);
        } else {
            f(upstream_);
        }
    }
    template <class F> void with_destination(direction d, F&& f) {
        if (d == direction::c2s) {
            f(upstream_);
        } else {
            f(client_);
        }
    }

    // forward_requests.hpp
    void read_proxy_request();
    void on_proxy_request(std::error_code ec, std::size_t n);
    void serve_proxy_request(bytes_view rest);
    void refuse(std::string_view status, failure why, const std::string& detail);
    bool tunnel_pending() const;
    void establish_tunnel();
    void look_into_tunnel();
    void peek_tunnel();
    void on_tunnel_peek(std::error_code ec, std::size_t n);
    void tunnel_decided(std::optional<std::string> intercept_as);

    // dialing.hpp, --mitm-ca (the connection an interception made)
    void intercept_upstream();
    void accept_intercepted_client();

    // dialing.hpp
    void on_client_tls(std::error_code ec);
    void connect();
    void dial(tcp::resolver::results_type results, tcp::resolver::results_type::iterator at);
    void on_connected(std::error_code ec);
    void on_upstream_tls(std::error_code ec);
    void relay();
    std::string setup_failure(std::error_code ec);

    // pump.hpp
    void read(direction d);
    void on_read(direction d, std::error_code ec, std::size_t n);
    template <class F>
    void forward(direction d, bytes_view chunk, wall_clock::time_point read_at, F&& then);
    void written(direction d, std::size_t n);
    void on_written(direction d, std::error_code ec);

    // teardown.hpp
    void source_gone(direction d);
    void end_of_stream(direction from, wall_clock::time_point now);
    void pass_end_on(direction from, wall_clock::time_point now);
    template <class F> void half_close(plain_stream& s, F&& then);
    template <class F> void half_close(tls_stream& s, F&& then);
    void reset(direction side);
    void pass_reset_on(direction side, steady::time_point give_up);
    void finish(end_reason why);
    void settle();

    // deadlines.hpp
    void arm_setup_timer();
    bool handshake_timed() const;
    void arm_timer();
    bool sending(); // bytes still leave our send queues (a slow reader is being served)
    // Bytes moved: the idle deadline starts again (no clock read per chunk when it is off).
    void touch() {
        if (owner_.options.idle_timeout.count() > 0) {
            last_activity_ = steady::now();
        }
    }

    // gateway_answers.hpp
    void answer(std::string_view status, const std::string& body, end_reason then);
    void client_tls_failed(std::error_code ec);
    void fail_upstream(const std::string& why);
    void handshake_timed_out();

    proxy::impl& owner_;
    relay_loop& loop_; // where this connection's handlers run
    std::uint64_t id_;
    // Where this connection goes: --upstream, or in forward mode what the client named.
    upstream_url target_;
    // Forward mode: the client's request while it is read, then what it asked for.
    std::optional<handshake::proxy_request_parser> request_;
    bool tunnel_established_ = false; // CONNECT: the 200 has been written
    // --mitm-ca, a connection an interception made: the name its leaf and upstream SNI carry.
    std::optional<std::string> intercepted_as_;
    // Client bytes to send upstream before relaying: what followed the request head in its
    // read (and, for the absolute form, the rewritten head before them).
    std::string preface_;
    std::string preface_shown_as_;
    // The upstream socket's local address while the proxy knows it as one of its own dials.
    std::optional<tcp::endpoint> dialed_from_;
    Client client_;
    Upstream upstream_;
    tcp::resolver resolver_;
    asio::steady_timer timer_;
    std::unique_ptr<tap> tap_;
    // Until it steps aside for good (an upgrade, or bytes it cannot delimit): then it is let
    // go, and with it 900 bytes that an upgraded connection would carry for its life.
    std::unique_ptr<host_rewriter> rewriter_;
    pump pumps_[2];
    stage stage_ = stage::connecting;
    tls_info tls_;
    // Set when the setup deadline closed the socket: the step in progress then fails with
    // this instead of "operation aborted".
    std::error_code setup_error_;
    std::string answer_;                    // the proxy's own HTTP answer while it is written
    std::optional<direction> first_to_end_; // the side whose FIN came first
    // The side whose socket failed a write, while what it sent before is read (source_gone).
    std::optional<direction> gone_;
    // Why and when the connection ended, until the tap hears it in settle().
    std::optional<std::pair<end_reason, wall_clock::time_point>> end_;
    steady::time_point accepted_at_;
    steady::time_point last_activity_;
    // Bytes in each socket's send queue at the last idle check (sending()).
    int unsent_[2] = {0, 0};
};

} // namespace wssniff::proxy

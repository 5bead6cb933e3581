#pragma once
// The sniffing reverse proxy: accepts WebSocket clients, connects each to the upstream, relays
// both directions byte for byte, and tees every chunk, read-only, into the connection's
// session once its write is done (what the destination took of it: the records describe the
// bytes forwarded), whose records go to a sink.
//
// One thread runs the relay (run() or start()), or `threads` threads, each with its own event
// loop; records leave through the sink, which may hand them to a thread of its own
// (record::queued_sink).

#include "wssniff/filter/selector.hpp"
#include "wssniff/proxy/tap.hpp"
#include "wssniff/proxy/upstream_url.hpp"
#include "wssniff/record/record.hpp"
#include "wssniff/session/session.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace wssniff::proxy {

// One --allow HOST[:PORT] of a forward proxy: the host as the client names it (compared without
// case, never resolved), and the port, or any port.
struct allow_rule {
    std::string host; // an IPv6 address without its brackets
    std::optional<std::uint16_t> port;
};

struct proxy_options {
    std::string listen_host = "127.0.0.1";
    std::uint16_t listen_port = 8080; // 0: pick a free port
    // Reverse mode (the default): every client goes to this upstream.
    upstream_url upstream;
    // Forward mode (--mode forward): each client names its server, with CONNECT HOST:PORT or an
    // absolute-form request (GET http://HOST/PATH); `upstream` is not used. `allow`: the hosts
    // it may name; empty, any (the app requires a list when listening beyond loopback).
    bool forward = false;
    std::vector<allow_rule> allow;
    // Forward mode: intercept TLS inside CONNECT tunnels with the CA in this directory (ca.key,
    // ca.pem: `wssniff ca create`). A tunnel whose first bytes are a ClientHello is relayed as
    // TLS to the client (a leaf certificate for the name it asked for, signed by the CA) and
    // TLS to the server (verified as a wss:// upstream is: ca_file, insecure), and decoded.
    std::optional<std::string> mitm_ca;
    // A wss:// upstream's (or, with mitm_ca, an intercepted server's) certificate is verified
    // against this CA file (PEM), or against the
    // system's CA store without one; `insecure`: not verified at all.
    std::optional<std::string> ca_file;
    bool insecure = false;
    // Both set: the listener speaks TLS (clients connect with wss://).
    std::optional<std::string> tls_cert;
    std::optional<std::string> tls_key;
    bool rewrite_host = true; // --host-header upstream (default) | keep
    // false: forward only (--emit none): nothing is decoded, no record is written.
    bool sniff = true;
    // Set: each connection reports to the tap this makes (given the connection's number)
    // instead of recording to the sink; for tests and embedders that watch the relay itself.
    std::function<std::unique_ptr<tap>(std::uint64_t conn)> make_tap;
    // --filter (which records are written) and --conn-filter (decided at each connection's
    // handshake; a connection it rejects is forwarded without decoding and writes only its
    // close record). Evaluated on the relay threads, before records reach the sink.
    filter::filters filters;
    // Per-connection session settings; `conn`, `client` and `upstream` are filled in per
    // connection.
    session::session_options session;
    // Also bounds each TLS handshake.
    std::chrono::milliseconds connect_timeout{5000};
    // From accept until the 101 arrives; 0 disables. Connections that never upgrade end then.
    std::chrono::milliseconds handshake_timeout{30000};
    // No byte either way for this long ends the connection; 0 disables.
    std::chrono::milliseconds idle_timeout{0};
    // Bytes read per direction before the read waits for the write (one buffer each way, as
    // nginx does: a slow reader throttles its producer and memory stays flat). A direction
    // whose reads fill the buffer is a stream, and reads stream_buffer_size at a time until its
    // socket runs dry (buffer_pool.hpp says why).
    std::size_t buffer_size = 64 * 1024;
    std::size_t stream_buffer_size = 256 * 1024;
    // Relay event loops, each on a thread of its own; connections are spread over them as they
    // are accepted (--threads). With more than one, records reach the sink one at a time
    // behind a lock (a connection's own records stay in order).
    std::size_t threads = 1;
};

// A certificate, key or CA file that cannot be used; what() is one line that names the option.
struct tls_setup_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class proxy {
  public:
    // Loads and checks the TLS files the options name. Throws tls_setup_error.
    proxy(proxy_options options, record::sink& sink);
    ~proxy();
    proxy(const proxy&) = delete;
    proxy& operator=(const proxy&) = delete;

    // Binds and listens. Throws std::system_error (cannot bind).
    void listen();
    // The bound address, once listening.
    std::uint16_t port() const;
    std::string address() const; // "HOST:PORT"
    bool loopback() const;

    // SIGINT, SIGTERM and SIGHUP (a closed terminal) stop the proxy as stop() does.
    void stop_on_signals();

    // Runs the relay on this thread until stop().
    void run();
    // Listens (if not yet) and runs the relay on a background thread.
    void start();
    // Stops accepting, ends every open connection (close records with reason `shutdown`) and
    // returns when the relay has finished. Safe from any thread, and more than once.
    void stop();

    // Connections accepted so far, and open now.
    std::uint64_t accepted() const;
    std::size_t open_connections() const;

    // Bytes forwarded, frames and messages decoded, errors met so far, over all connections;
    // from any thread (a live status line, metrics), without a lock on the relay's path.
    // Frames, messages and errors are counted only for the connections the proxy decodes (not
    // with --emit none or a rejecting --conn-filter, nor with options.make_tap); errors before
    // --filter chooses which to write. Upstream failures are counted for every connection.
    struct traffic_totals {
        std::uint64_t bytes_c2s = 0;
        std::uint64_t bytes_s2c = 0;
        std::uint64_t frames_c2s = 0;
        std::uint64_t frames_s2c = 0;
        std::uint64_t messages_c2s = 0;
        std::uint64_t messages_s2c = 0;
        std::uint64_t upstream_failures = 0; // resolve, connect or the upstream's TLS failed
        std::array<std::uint64_t, error_code_count> errors{}; // by code
    };
    traffic_totals traffic() const;

    struct impl; // the relay's state; opaque outside proxy.cpp

  private:
    std::unique_ptr<impl> impl_;
};

} // namespace wssniff::proxy

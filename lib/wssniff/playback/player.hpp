#pragma once
// The replay client: plays one planned connection against a live server on an Asio
// io_context, and records its own connection through a session exactly as the proxy records a
// relayed one (bytes it sends as c2s, bytes it reads as s2c), so its output is an ordinary
// archive.
//
// It connects (TLS for wss://), sends the upgrade request, and once the 101 arrives sends each
// step of the plan: at its recorded time when paced, after as many server data messages as
// the archive shows when synced. It answers the live server's pings, compresses messages again
// when the server accepts permessage-deflate, waits (bounded) for the server's close after its
// own, and ends with a FIN or, as recorded, a reset.

#include "wssniff/playback/plan.hpp"
#include "wssniff/proxy/upstream_url.hpp"
#include "wssniff/record/record.hpp"
#include "wssniff/session/session.hpp"

#include <asio/io_context.hpp>
#include <asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace wssniff::playback {

struct player_settings {
    proxy::upstream_url upstream;
    std::optional<std::string> target; // replaces the recorded request-target
    bool paced = false;                // keep the recorded gaps
    double speed = 1.0;                // ...divided by this
    bool sync = true;                  // wait for the server's messages
    std::chrono::milliseconds sync_timeout{5000};
    session::session_options session;  // how records are made; conn is set per connection
    asio::ssl::context* tls = nullptr; // wss://
    bool insecure = false;
};

struct connection_outcome {
    std::uint64_t conn = 0;
    bool failed = false;           // could not connect, or the upgrade was refused where it was not
    bool unreachable = false;      // of those: could not connect (or its TLS failed)
    std::string problem;           // one line, when failed
    bool deflate_declined = false; // compressed messages went uncompressed
    std::uint64_t sync_timeouts = 0;
    std::uint64_t steps_sent = 0;
    std::uint64_t steps_unsent = 0; // the server had gone
};

// Starts playing `p` as connection `conn` of the output; `done` runs on the io_context when
// it has ended and its close record is written.
void play(asio::io_context& io, const plan& p, std::uint64_t conn, const player_settings& settings,
          record::sink& sink, std::function<void(connection_outcome)> done);

} // namespace wssniff::playback

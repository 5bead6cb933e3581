#pragma once
// What replaying one archived connection means, worked out before anything is sent (sans-I/O):
// the upgrade request to send, then the client's messages or frames in order, each with when
// it was sent (after the 101) and how many server messages had arrived before it, and how the
// client ended. An archive that cannot be replayed faithfully (a payload truncated or not
// recorded, text that does not round-trip) is refused here, naming the record.

#include "wssniff/archive/connections.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace wssniff::playback {

enum class unit : std::uint8_t { messages, frames };

struct plan_options {
    playback::unit unit = unit::messages;
    // --header 'Name: value': replaces the recorded field of that name, or is added.
    std::vector<std::pair<std::string, std::string>> headers;
};

// One frame the client sent.
struct client_frame {
    bool fin = true;
    bool rsv1 = false; // as recorded; in messages unit set by compression instead
    bool rsv2 = false;
    bool rsv3 = false;
    std::uint8_t opcode = 1;
    std::string payload;     // what the frame carried, inflated (compressed frames)
    bool compressed = false; // recorded as a permessage-deflate frame
};

// One thing the client sent: a data message (messages unit: one frame; frames unit: its
// frames), or a single control frame.
struct step {
    std::vector<client_frame> frames;
    bool compressed = false; // the message was sent compressed: compress it again if we can
    // When it was sent, counted from the handshake record (the 101); none without `ts`.
    std::optional<std::chrono::microseconds> at;
    // Server data messages that had arrived when it was sent (the sync point).
    std::uint64_t server_messages_before = 0;
    std::uint64_t line = 0; // of its (last) record in the archive
};

struct plan {
    std::uint64_t conn = 0;
    std::string method = "GET";
    std::string target = "/";
    // The request's fields in wire order, without Host and Sec-WebSocket-Key (the player
    // sets those) and without redacted values (unless --header supplied them).
    std::vector<std::pair<std::string, std::string>> headers;
    int recorded_status = 101;
    std::vector<step> steps;
    // The server's data messages in the archive: with --sync messages a connection whose
    // client sent no close frame (an archive of messages only, say one imported from a HAR)
    // waits for as many before it ends, as a close frame's step would have.
    std::uint64_t server_messages = 0;
    bool client_reset = false;        // the client ended with a reset, not a FIN
    bool server_closed_first = false; // the server's FIN came first: wait for it again
    // When the connection started, from its first record; none without `ts`.
    std::optional<std::chrono::system_clock::time_point> started;
    std::vector<std::string> warnings; // one line each: a redacted header left out, ...
};

// A connection that cannot be replayed; what() is one line naming conn, direction and seq.
class unreplayable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Throws unreplayable.
plan make_plan(const archive::connection& conn, const plan_options& options);

} // namespace wssniff::playback

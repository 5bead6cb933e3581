#pragma once
// The demo's client: a websocketpp client that plays a short scripted session and checks that
// every message comes back as it was sent.

#include <chrono>
#include <cstdint>
#include <string>

namespace wssniff::app::demo {

// The text of the close frame that ends the script (code 1000).
inline constexpr const char* closing_reason = "demo over";

// Connects to ws://127.0.0.1:PORT/demo and plays, one step after the other's echo: a text
// message, a UTF-8 text message, a binary message, a text message in three frames with a ping
// between the first two, a 70000-byte text message (64-bit length), then the closing handshake.
// Returns an empty string when all of it came back as sent, else one line saying what failed;
// gives up at `deadline`.
std::string play_script(std::uint16_t port, std::chrono::steady_clock::time_point deadline);

} // namespace wssniff::app::demo

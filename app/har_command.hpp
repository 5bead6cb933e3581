#pragma once
// `wssniff har export` and `wssniff har import`: archives to and from HTTP Archives in the
// shape Chrome's DevTools and Playwright write for WebSocket connections.

#include <functional>

namespace CLI {
class App;
} // namespace CLI

namespace wssniff::app {

// Registers `wssniff har`; the returned function runs it after parsing and gives the exit
// status (-1 when another command was chosen).
std::function<int()> add_har_command(CLI::App& app);

} // namespace wssniff::app

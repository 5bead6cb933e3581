#pragma once

#include <functional>

namespace CLI {
class App;
} // namespace CLI

namespace wssniff::app {

// Registers `wssniff replay`; the returned function runs it after parsing and gives the exit
// status (-1: not this command).
std::function<int()> add_replay_command(CLI::App& app);

} // namespace wssniff::app

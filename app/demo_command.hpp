#pragma once

#include <functional>

namespace CLI {
class App;
} // namespace CLI

namespace wssniff::app {

// Registers `wssniff demo`; the returned function runs it after parsing and gives the exit
// status (-1 when the command was not chosen).
std::function<int()> add_demo_command(CLI::App& app);

} // namespace wssniff::app

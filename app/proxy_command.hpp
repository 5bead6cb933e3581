#pragma once

#include <functional>

namespace CLI {
class App;
} // namespace CLI

namespace wssniff::app {

// Registers `wssniff proxy`; the returned function runs it after parsing and gives the exit
// status (-1 when the command was not chosen).
std::function<int()> add_proxy_command(CLI::App& app);

} // namespace wssniff::app

#pragma once

#include <functional>

namespace CLI {
class App;
} // namespace CLI

namespace wssniff::app {

// Registers `wssniff decode`; the returned function runs it after parsing and gives the exit
// status.
std::function<int()> add_decode_command(CLI::App& app);

} // namespace wssniff::app

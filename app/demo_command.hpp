#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace wssniff::app {

// Registers `wssniff demo`; the returned function runs it after parsing and gives the exit
// status (-1 when the command was not chosen).
std::function<int()> add_demo_command(CLI::App& app);

} // namespace wssniff::app

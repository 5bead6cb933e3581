#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace wssniff::app {

// Registers `wssniff decode`; the returned function runs it after parsing and gives the exit
// status.
std::function<int()> add_decode_command(CLI::App& app);

} // namespace wssniff::app

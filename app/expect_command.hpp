#pragma once
// `wssniff expect ARCHIVE --spec FILE`: an archive's connections matched against an
// expectation (lib/wssniff/expect). Exit 0 matched, 1 not matched, 2 trouble.

#include <functional>

namespace CLI {
class App;
} // namespace CLI

namespace wssniff::app {

// Registers `wssniff expect`; the returned function runs it after parsing and gives the exit
// status (-1 when another command was chosen).
std::function<int()> add_expect_command(CLI::App& app);

} // namespace wssniff::app

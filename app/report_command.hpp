#pragma once
// `wssniff report`: archives as one self-contained, offline HTML page (connections table,
// sequence diagrams, message tables, latencies, rates and sizes), or one connection as a
// Mermaid sequence diagram.

#include <functional>

namespace CLI {
class App;
} // namespace CLI

namespace wssniff::app {

// Registers `wssniff report`; the returned function runs it after parsing and gives the exit
// status (-1 when another command was chosen).
std::function<int()> add_report_command(CLI::App& app);

} // namespace wssniff::app

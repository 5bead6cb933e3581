#pragma once
// `wssniff ca create DIR`: the CA a forward proxy intercepts TLS with (--mitm-ca, to come).

#include <functional>

namespace CLI {
class App;
} // namespace CLI

namespace wssniff::app {

// Registers `wssniff ca`; the returned function runs it after parsing and gives the exit status
// (-1 when another command was chosen).
std::function<int()> add_ca_command(CLI::App& app);

} // namespace wssniff::app

#pragma once
// Command-line options shared by the commands that write records (decode, later proxy).

#include "wssniff/filter/selector.hpp"
#include "wssniff/record/record.hpp"
#include "wssniff/session/session.hpp"

#include <cstdint>
#include <string>

// Declared, not included: CLI11 is header-only and costs every file that includes it seconds
// of compile time; only the files that define options include it.
namespace CLI {
class App;
} // namespace CLI

namespace wssniff::app {

struct output_options {
    std::string output; // empty: stdout
    std::string emit = "frames";
    std::string payload = "auto";
    std::uint64_t max_payload = 1024 * 1024;
    std::uint64_t max_message = 64ULL * 1024 * 1024;
    bool no_redact = false;
    // --payload-budget (proxy): shared by all connections; no_payload_budget: none (decode).
    static constexpr std::uint64_t no_payload_budget = ~std::uint64_t{0};
    std::uint64_t payload_budget = no_payload_budget;
    std::string filter;          // --filter; empty: none
    std::string conn_filter;     // --conn-filter; empty: none
    std::string format = "auto"; // --format ndjson|pretty; auto: pretty on a terminal
    std::string color = "auto";  // --color auto|always|never (the terminal view)
};

// `forward_only`: the command can run without decoding (--emit none). `with_format`: --format
// is added here (replay has its own, shared with the diff options).
void add_output_options(CLI::App& command, output_options& options, bool forward_only = false,
                        bool with_format = true);

// --instance NAME (the proxy, the demo): written on every record with the run's random id
// (record/identity.hpp); empty: the host name.
void add_instance_option(CLI::App& command, std::string& instance);

// The --help lines about the terminal view, for the footers of the commands that write records.
std::string view_help();

// Applies the output options to a session's options.
void apply(const output_options& options, session::session_options& session);

// The grammar and examples, for the --help footers of the commands that take filters.
std::string filters_help();

// --filter and --conn-filter compiled. Throws expression_error.
filter::filters compile_filters(const output_options& options);

// An expression that does not parse (exit 2): what() is the line naming the option and the
// problem, then the expression with a caret under the problem.
struct expression_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Raised for failures at run time (exit 1), with one human line.
struct runtime_failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

} // namespace wssniff::app

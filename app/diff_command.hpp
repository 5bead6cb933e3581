#pragma once
// `wssniff diff A B`: two archives compared, differences as text, NDJSON or JUnit, exit status
// like diff(1) (0 same, 1 different, 2 trouble). `replay --expect` reuses the options and the
// report.

#include "wssniff/archive/connections.hpp"

#include <cstddef>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace CLI {
class App;
} // namespace CLI

namespace wssniff::app {

// Every option of a comparison, as given on the command line.
struct diff_settings {
    std::string unit = "messages";        // messages | frames
    std::vector<std::string> ignore;      // field names (compare::field_named)
    std::vector<std::string> ignore_json; // JSON pointers, "*" wildcards
    std::vector<std::string> normalize;   // REGEX=>REPLACEMENT
    std::string order = "strict";         // strict | epoch
    std::string mask;                     // mask file; empty: none
    std::string format = "text";          // text | ndjson | junit
    std::size_t max_diffs = 0;            // 0: all
    // What the JUnit report calls the two archives.
    std::string expected_name = "expected";
    std::string actual_name = "actual";
};

// Trouble, not a difference (exit 2): an option that cannot be used, a mask file or an archive
// that cannot be read. One line, naming the file (and line) where there is one.
struct diff_trouble : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Registers the comparison options (all but the two archives and --learn) on `command`;
// `with_unit` false leaves out --unit for a command that has its own (replay: the unit it sends
// is the unit it compares).
void add_diff_options(CLI::App& command, diff_settings& s, bool with_unit = true);

// Compares and writes the differences to `out` in s.format. Returns 0 when the archives are
// the same, 1 when they differ. Throws diff_trouble.
int report_differences(const std::vector<archive::connection>& expected,
                       const std::vector<archive::connection>& actual, const diff_settings& s,
                       std::FILE* out);

// An archive read whole ("-": standard input). Throws diff_trouble ("FILE:LINE: problem").
std::vector<archive::connection> read_archive(const std::string& path);

// Registers `wssniff diff`; the returned function runs it after parsing and gives the exit
// status (-1 when another command was chosen).
std::function<int()> add_diff_command(CLI::App& app);

} // namespace wssniff::app

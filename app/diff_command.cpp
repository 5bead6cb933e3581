#include "diff_command.hpp"

#include "diff_report.hpp"

#include "wssniff/archive/record_reader.hpp"
#include "wssniff/compare/compare.hpp"
#include "wssniff/compare/mask.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

namespace wssniff::app {

namespace {

// A CLI11 check built from a parser that throws std::invalid_argument.
template <typename Parse> CLI::Validator checked(Parse parse, std::string name) {
    return CLI::Validator(
        [parse](std::string& value) -> std::string {
            try {
                parse(value);
                return {};
            } catch (const std::invalid_argument& e) {
                return e.what();
            }
        },
        "", std::move(name));
}

compare::options options_of(const diff_settings& s) {
    compare::options o;
    o.unit = s.unit == "frames" ? compare::unit::frames : compare::unit::messages;
    o.order = s.order == "epoch" ? compare::order::epoch : compare::order::strict;
    o.max_diffs = s.max_diffs;
    try {
        for (const auto& name : s.ignore) {
            const auto f = compare::field_named(name);
            if (!f) {
                throw std::invalid_argument("--ignore " + name + ": not a field (" +
                                            compare::field_names() + ")");
            }
            o.ignore |= static_cast<compare::field_set>(*f);
        }
        for (const auto& pointer : s.ignore_json) {
            o.ignore_json.push_back(compare::parse_json_ignore(pointer));
        }
        for (const auto& rule : s.normalize) {
            o.normalize.push_back(compare::parse_normalize(rule));
        }
    } catch (const std::invalid_argument& e) {
        throw diff_trouble(e.what());
    }
    if (!s.mask.empty()) {
        std::ifstream file(s.mask, std::ios::binary);
        std::ostringstream text;
        if (!file || !(text << file.rdbuf())) {
            throw diff_trouble(fmt::format("cannot read mask file '{}': {}", s.mask,
                                           std::strerror(errno != 0 ? errno : EIO)));
        }
        try {
            const auto entries = compare::parse_mask(text.str());
            o.ignore_json.insert(o.ignore_json.end(), entries.begin(), entries.end());
        } catch (const std::invalid_argument& e) {
            throw diff_trouble(s.mask + ": " + e.what());
        }
    }
    return o;
}

struct diff_command_settings {
    std::vector<std::string> archives;
    bool learn = false;
    std::string output; // --learn: the mask file; empty: stdout
    diff_settings diff;
};

void finish(std::FILE* out, const std::string& what) {
    if (std::fflush(out) != 0 || std::ferror(out) != 0) {
        throw diff_trouble(fmt::format("cannot write {}: {}", what, std::strerror(errno)));
    }
}

int run_learn(const diff_command_settings& s) {
    if (s.archives.size() < 2) {
        throw diff_trouble("--learn needs at least two archives of the same baseline");
    }
    const auto o = options_of(s.diff);
    std::vector<std::vector<archive::connection>> runs;
    for (const auto& path : s.archives) {
        runs.push_back(read_archive(path));
    }
    compare::learned_mask learned;
    try {
        learned = compare::learn_mask(runs, o);
    } catch (const std::invalid_argument& e) {
        throw diff_trouble(e.what());
    }
    for (const auto& note : learned.notes) {
        fmt::print(stderr, "wssniff: diff --learn: {}\n", note);
    }
    if (s.output.empty() || s.output == "-") {
        fmt::print(stdout, "{}", learned.text);
        finish(stdout, "the mask");
    } else {
        std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(s.output.c_str(), "w"),
                                                             &std::fclose);
        if (!file) {
            throw diff_trouble(fmt::format("cannot open '{}': {}", s.output, std::strerror(errno)));
        }
        fmt::print(file.get(), "{}", learned.text);
        finish(file.get(), "'" + s.output + "'");
    }
    fmt::print(stderr, "wssniff: diff --learn: {} pointer{} masked\n", learned.entries.size(),
               learned.entries.size() == 1 ? "" : "s");
    return 0;
}

int run_diff(const diff_command_settings& s) {
    if (s.learn) {
        return run_learn(s);
    }
    if (s.archives.size() != 2) {
        throw diff_trouble(fmt::format("diff compares two archives, {} given (--learn takes more)",
                                       s.archives.size()));
    }
    if (!s.output.empty()) {
        throw diff_trouble("-o/--output is for --learn; differences go to stdout");
    }
    auto settings = s.diff;
    settings.expected_name = s.archives[0];
    settings.actual_name = s.archives[1];
    options_of(settings); // option trouble before reading two large archives
    const auto expected = read_archive(s.archives[0]);
    const auto actual = read_archive(s.archives[1]);
    return report_differences(expected, actual, settings, stdout);
}

} // namespace

std::vector<archive::connection> read_archive(const std::string& path) {
    try {
        archive::record_reader reader(path);
        return archive::read_connections(reader);
    } catch (const archive::format_error& e) {
        throw diff_trouble(e.what()); // "FILE:LINE: problem"
    } catch (const std::system_error& e) {
        throw diff_trouble(e.what());
    }
}

void add_diff_options(CLI::App& command, diff_settings& s, bool with_unit) {
    if (with_unit) {
        command
            .add_option("--unit", s.unit, "Compare data messages and close frames, or every frame")
            ->check(CLI::IsMember({"messages", "frames"}))
            ->default_str("messages")
            ->option_text("messages|frames");
    }
    command
        .add_option("--ignore", s.ignore,
                    "Leave a field out: " + compare::field_names() + " (repeatable)")
        ->check(checked(
            [](const std::string& name) {
                if (!compare::field_named(name)) {
                    throw std::invalid_argument("not a field (" + compare::field_names() + ")");
                }
            },
            "FIELD"))
        ->option_text("FIELD");
    command
        .add_option("--ignore-json", s.ignore_json,
                    "Leave out this JSON pointer in JSON payloads; '*' matches any member or "
                    "element (repeatable)")
        ->check(checked([](const std::string& p) { compare::parse_json_ignore(p); }, "POINTER"))
        ->option_text("POINTER");
    command
        .add_option("--normalize", s.normalize,
                    "Rewrite text payloads before comparing: RE2 regular expression, '=>', "
                    "replacement (\\1 for groups; repeatable, applied in order)")
        ->check(checked([](const std::string& r) { compare::parse_normalize(r); }, "RULE"))
        ->option_text("'REGEX=>REPLACEMENT'");
    command
        .add_option("--order", s.order,
                    "epoch: server messages between two client messages compare as a multiset")
        ->check(CLI::IsMember({"strict", "epoch"}))
        ->default_str("strict")
        ->option_text("strict|epoch");
    command.add_option("--mask", s.mask, "JSON pointers to leave out, from a mask file")
        ->option_text("FILE");
    if (with_unit) {
        command.add_option("--format", s.format, "How differences are written")
            ->check(CLI::IsMember({"text", "ndjson", "junit"}))
            ->default_str("text")
            ->option_text("text|ndjson|junit");
    } else {
        // replay: one --format for the differences (with --expect) and for the records
        // (without it, as proxy, decode and demo have).
        s.format.clear();
        command
            .add_option("--format", s.format,
                        "With --expect: how differences are written (text, the default; ndjson; "
                        "junit). Without it: the records' format, ndjson or pretty (the "
                        "terminal view; default: pretty when stdout is a terminal and there is "
                        "no --output)")
            ->check(CLI::IsMember({"text", "ndjson", "junit", "pretty"}))
            ->option_text("text|ndjson|junit|pretty");
    }
    command.add_option("--max-diffs", s.max_diffs, "Stop after N differences (0: all)")
        ->option_text("N");
}

int report_differences(const std::vector<archive::connection>& expected,
                       const std::vector<archive::connection>& actual, const diff_settings& s,
                       std::FILE* out) {
    const auto o = options_of(s);
    compare::result r;
    try {
        r = compare::compare_archives(expected, actual, o);
    } catch (const std::invalid_argument& e) {
        throw diff_trouble(e.what());
    }
    if (s.format == "ndjson") {
        write_ndjson(r, out);
    } else if (s.format == "junit") {
        write_junit(r, expected, actual, {s.expected_name, s.actual_name}, out);
    } else {
        write_text(r, out);
    }
    finish(out, "the differences");
    if (r.stopped) {
        fmt::print(stderr, "wssniff: diff: stopped after {} differences (--max-diffs)\n",
                   r.differences.size());
    }
    return r.differences.empty() ? 0 : 1;
}

std::function<int()> add_diff_command(CLI::App& app) {
    auto s = std::make_shared<diff_command_settings>();
    CLI::App* diff = app.add_subcommand(
        "diff", "Compare two archives (exit 0 same, 1 different, 2 trouble, like diff(1)), or "
                "learn a mask of what differs between runs of the same baseline");
    diff->footer(
        "Connections pair in order (conn numbers may differ). Compared: handshake status,\n"
        "subprotocol and deflate; per direction the messages (op, payload, close code and\n"
        "reason; with --unit frames every frame's fin, opcode, rsv, len, masked, payload); error\n"
        "codes; how the connection ended. Never compared: ts, conn, seq, offset, mask,\n"
        "addresses, tls, bytes_*, header values. JSON payloads compare by structure.\n"
        "Examples:\n"
        "  wssniff diff golden.ndjson run.ndjson\n"
        "  wssniff diff golden.ndjson run.ndjson --ignore-json /ts --ignore-json '/items/*/id'\n"
        "  wssniff diff a.ndjson b.ndjson --normalize "
        "'[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}=>UUID'\n"
        "  wssniff diff a.ndjson b.ndjson --order epoch --format ndjson | jq -c "
        "'select(.dir==\"s2c\")'\n"
        "  wssniff diff golden.ndjson run.ndjson --format junit > diff-report.xml\n"
        "  wssniff diff --learn run1.ndjson run2.ndjson run3.ndjson -o mask.json\n"
        "  wssniff diff golden.ndjson run.ndjson --mask mask.json\n"
        "Text lines read 'conn 1 s2c #3 /price: 101.5 → 102.0' (changed), 'conn 1 s2c #7 + {...}'\n"
        "(only in B), '- ...' (only in A). README \"wssniff diff\" documents the NDJSON fields\n"
        "and the mask file.");
    diff->add_option("ARCHIVES", s->archives,
                     "A (expected) and B (actual); with --learn, two or more runs")
        ->option_text("A B");
    diff->add_flag("--learn", s->learn,
                   "Write a mask of the JSON paths whose values differ between the archives "
                   "(runs of the same baseline); a type change is never masked");
    diff->add_option("-o,--output", s->output, "--learn: where the mask goes (default stdout)")
        ->option_text("FILE");
    add_diff_options(*diff, s->diff);
    return [diff, s]() -> int {
        if (!diff->parsed()) {
            return -1;
        }
        try {
            return run_diff(*s);
        } catch (const diff_trouble& e) {
            fmt::print(stderr, "wssniff: diff: {}\n", e.what());
            return 2;
        } catch (const std::exception& e) {
            fmt::print(stderr, "wssniff: diff: {}\n", e.what());
            return 2;
        }
    };
}

} // namespace wssniff::app

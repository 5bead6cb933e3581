#include "report_command.hpp"

#include "archive_input.hpp"
#include "options.hpp"
#include "output.hpp"
#include "ranges.hpp"

#include "wssniff/archive/connections.hpp"
#include "wssniff/archive/record_reader.hpp"
#include "wssniff/report/mermaid.hpp"
#include "wssniff/report/model.hpp"
#include "wssniff/report/page.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <system_error>
#include <unistd.h>

#ifndef WSSNIFF_VERSION
#define WSSNIFF_VERSION "unknown"
#endif

namespace wssniff::app {

namespace {

struct report_settings {
    std::vector<std::string> archives;
    std::string output;
    std::string conns;
    std::uint64_t max_preview = 4096;
    std::string format = "html";
};

int run_report(const report_settings& s) {
    const bool html = s.format == "html";
    if (html && (s.output.empty() || s.output == "-") && ::isatty(STDOUT_FILENO) == 1) {
        throw CLI::ValidationError("report", "the HTML goes to a file: give -o report.html (or "
                                             "pipe standard output)");
    }
    const auto wanted = s.conns.empty() ? std::set<std::uint64_t>{} : conn_list(s.conns);
    std::set<std::uint64_t> found;

    report::model_options options;
    options.max_preview = static_cast<std::size_t>(s.max_preview);
    std::vector<report::connection_summary> summaries;
    for (const std::string& path : s.archives) {
        const std::string name = path == "-" ? "standard input" : path;
        for (const archive::connection& c : read_archive_as<runtime_failure>(path)) {
            if (!wanted.empty() && wanted.count(c.conn) == 0) {
                continue;
            }
            found.insert(c.conn);
            summaries.push_back(report::summarize(c, name, options));
        }
    }
    for (const std::uint64_t n : wanted) {
        if (found.count(n) == 0) {
            throw CLI::ValidationError("--conn", fmt::format("no archive has connection {}", n));
        }
    }
    if (summaries.empty()) {
        throw runtime_failure("the archive(s) have no connections: nothing to report");
    }

    std::string text;
    if (html) {
        std::string title = "wssniff report:";
        for (const std::string& path : s.archives) {
            title += " " + path;
        }
        const std::string model =
            report::to_json(summaries, "wssniff " WSSNIFF_VERSION)
                .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        text = report::render_page(title, model);
    } else {
        if (summaries.size() > 1) {
            throw CLI::ValidationError(
                "--format mermaid",
                fmt::format("draws one connection, and {} are selected: choose one with --conn "
                            "(of one archive)",
                            summaries.size()));
        }
        text = report::render_mermaid(summaries.front());
    }

    output_file out(s.output);
    const bool written = std::fwrite(text.data(), 1, text.size(), out.get()) == text.size();
    if (!out.close() || !written) {
        throw runtime_failure(fmt::format("cannot write the report{}: {}",
                                          s.output.empty() ? "" : " to '" + s.output + "'",
                                          std::strerror(errno)));
    }
    return 0;
}

} // namespace

std::function<int()> add_report_command(CLI::App& app) {
    auto s = std::make_shared<report_settings>();
    CLI::App* cmd = app.add_subcommand(
        "report", "Turn archives into one offline HTML page to read or attach to a bug report "
                  "(or one connection into a Mermaid diagram)");
    cmd->footer(
        "The page: a table of connections (target, status, subprotocol, deflate, TLS, duration,\n"
        "frames, messages and bytes per direction, close codes and reasons, TCP close, errors);\n"
        "per connection a sequence diagram (the first 300 events; pauses over 1 s collapsed),\n"
        "a message table (all/sent/received, regex search, JSON pretty view, hex view; only the\n"
        "visible rows are drawn, so 100k messages scroll), ping->pong round trips matched by\n"
        "payload, the close handshake time, messages/s and bytes/s, and a size histogram.\n"
        "It opens offline: CSS and JS are inside, and its Content-Security-Policy allows no\n"
        "request and no other script. Payloads are kept up to --max-preview bytes each.\n"
        "--format mermaid writes a sequenceDiagram of one connection (its first 50 events;\n"
        "a note counts the rest) to paste into a Markdown issue.\n"
        "Examples:\n"
        "  wssniff report session.ndjson -o session.html\n"
        "  wssniff report day1.ndjson day2.ndjson --conn 3-5 --max-preview 1KiB -o slice.html\n"
        "  wssniff report session.ndjson --conn 2 --format mermaid >> issue.md\n"
        "Exit status: 0 written; 1 unreadable archive or unwritable output; 2 usage error "
        "(also: HTML to a terminal).");
    cmd->add_option("ARCHIVE", s->archives, "Archives to report on ('-': standard input)")
        ->required()
        ->expected(1, -1)
        ->option_text("FILE ... REQUIRED");
    cmd->add_option("-o,--output", s->output,
                    "Write here (mode 0600); without it, standard output, which for HTML must not "
                    "be a terminal")
        ->option_text("FILE");
    cmd->add_option("--conn", s->conns, "Only these connections (1,3-5), of every archive")
        ->option_text("LIST");
    cmd->add_option("--max-preview", s->max_preview,
                    "Payload bytes kept per message in the page (longer ones are marked "
                    "truncated)")
        ->option_text("BYTES")
        ->transform(bytes_in(0, 64ULL * 1024 * 1024))
        ->default_str("4KiB");
    cmd->add_option("--format", s->format, "html (default) or mermaid")
        ->option_text("FORMAT")
        ->check(CLI::IsMember({"html", "mermaid"}));

    return [s, cmd]() -> int {
        if (!cmd->parsed()) {
            return -1;
        }
        return run_report(*s);
    };
}

} // namespace wssniff::app

#include "har_command.hpp"

#include "archive_input.hpp"
#include "options.hpp"
#include "output.hpp"
#include "ranges.hpp"

#include "wssniff/archive/connections.hpp"
#include "wssniff/archive/record_reader.hpp"
#include "wssniff/har/entry_import.hpp"
#include "wssniff/har/entry_reader.hpp"
#include "wssniff/har/har_writer.hpp"
#include "wssniff/record/ndjson_sink.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <re2/re2.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <system_error>

#ifndef WSSNIFF_VERSION
#define WSSNIFF_VERSION "unknown"
#endif

namespace wssniff::app {

namespace {

struct export_settings {
    std::string archive;
    std::string output;
    std::string conns;
    bool control = false;
    std::string base_time;
};

struct import_settings {
    std::string har;
    std::string output;
    std::string entry_url;
};

int run_export(const export_settings& s) {
    har::export_options options;
    options.control = s.control;
    options.creator_version = WSSNIFF_VERSION;
    if (!s.base_time.empty()) {
        options.base_time = archive::parse_timestamp(s.base_time);
        if (!options.base_time) {
            throw CLI::ValidationError("--base-time", "expects an RFC 3339 UTC time such as "
                                                      "2026-11-30T12:00:00Z, got '" +
                                                          s.base_time + "'");
        }
    }
    const auto wanted = s.conns.empty() ? std::set<std::uint64_t>{} : conn_list(s.conns);

    const auto connections = read_archive_as<runtime_failure>(s.archive);
    for (const std::uint64_t n : wanted) {
        const bool found = std::any_of(connections.begin(), connections.end(),
                                       [n](const archive::connection& c) { return c.conn == n; });
        if (!found) {
            throw CLI::ValidationError("--conn",
                                       fmt::format("{} has no connection {}", s.archive, n));
        }
    }

    output_file out(s.output);
    har::har_writer writer(out.get(), options);
    std::uint64_t without_handshake = 0;
    for (const archive::connection& c : connections) {
        if (!wanted.empty() && wanted.count(c.conn) == 0) {
            continue;
        }
        if (!writer.add(c)) {
            ++without_handshake;
        }
    }
    const bool written = writer.finish();
    if (!out.close() || !written) {
        throw runtime_failure(fmt::format("cannot write the HAR{}: {}",
                                          s.output.empty() ? "" : " to '" + s.output + "'",
                                          std::strerror(errno)));
    }
    if (without_handshake > 0) {
        fmt::print(stderr,
                   "wssniff: {} connection(s) of {} have no handshake record and are not in the "
                   "HAR (HAR entries are requests)\n",
                   without_handshake, s.archive);
    }
    return 0;
}

// The HAR input: a file or standard input, closed at the end.
class har_input {
  public:
    explicit har_input(const std::string& path) {
        if (path == "-") {
            file_ = stdin;
            return;
        }
        file_ = std::fopen(path.c_str(), "rb");
        if (file_ == nullptr) {
            throw runtime_failure(
                fmt::format("cannot open HAR '{}': {}", path, std::strerror(errno)));
        }
        owned_ = true;
    }
    ~har_input() {
        if (owned_) {
            std::fclose(file_);
        }
    }
    har_input(const har_input&) = delete;
    har_input& operator=(const har_input&) = delete;
    std::FILE* get() const noexcept { return file_; }

  private:
    std::FILE* file_ = nullptr;
    bool owned_ = false;
};

int run_import(const import_settings& s) {
    std::unique_ptr<re2::RE2> url_filter;
    if (!s.entry_url.empty()) {
        url_filter = std::make_unique<re2::RE2>(s.entry_url, re2::RE2::Quiet);
        if (!url_filter->ok()) {
            throw CLI::ValidationError("--entry-url",
                                       "'" + s.entry_url +
                                           "' is not a regular expression: " + url_filter->error());
        }
    }
    har_input in(s.har);
    const std::string name = s.har == "-" ? "standard input" : s.har;

    // Nothing is written before the first WebSocket entry, so a HAR that turns out to be
    // unreadable leaves an earlier archive at --output untouched.
    std::unique_ptr<output_file> out;
    std::unique_ptr<record::ndjson_sink> sink;
    std::uint64_t conn = 0;
    std::uint64_t messages = 0;
    std::uint64_t skipped = 0;
    std::uint64_t control = 0;
    try {
        har::read_entries(in.get(), name, [&](nlohmann::json&& entry) {
            if (!har::is_websocket_entry(entry) ||
                (url_filter && !re2::RE2::PartialMatch(har::entry_url(entry), *url_filter))) {
                return;
            }
            auto imported = har::import_entry(entry, ++conn);
            if (!sink) {
                out = std::make_unique<output_file>(s.output);
                sink = std::make_unique<record::ndjson_sink>(out->get(), out->interactive());
            }
            messages += imported.records.size() - 1;
            skipped += imported.skipped_messages;
            control += imported.control_messages;
            for (auto& r : imported.records) {
                sink->write(std::move(r));
            }
        });
    } catch (const har::har_error& e) {
        throw runtime_failure(e.what());
    }
    if (!sink) {
        throw runtime_failure(fmt::format("{} has no WebSocket entries{}", name,
                                          url_filter ? " whose URL matches --entry-url" : ""));
    }
    if (!sink->flush() || !out->close()) {
        throw runtime_failure(output_failure(*sink));
    }
    if (skipped > 0 || control > 0) {
        fmt::print(stderr,
                   "wssniff: imported {} connection(s), {} message(s); left out {} control "
                   "frame(s) (an archive of messages has none) and {} message(s) without a "
                   "well-typed type, time, opcode and data\n",
                   conn, messages, control, skipped);
    }
    return 0;
}

} // namespace

std::function<int()> add_har_command(CLI::App& app) {
    auto ex = std::make_shared<export_settings>();
    auto im = std::make_shared<import_settings>();
    CLI::App* har = app.add_subcommand(
        "har", "Convert archives to and from HTTP Archives (HAR 1.2, Chrome's WebSocket entries)");
    har->require_subcommand(0, 1);
    har->footer("Examples:\n"
                "  wssniff har export session.ndjson -o session.har   # open in DevTools' Network "
                "panel\n"
                "  wssniff har import recorded.har -o session.ndjson\n"
                "  wssniff replay session.ndjson --upstream ws://127.0.0.1:9000 --expect "
                "session.ndjson");

    CLI::App* exp = har->add_subcommand(
        "export", "Write an archive's connections as a HAR: one entry per handshake, its messages "
                  "in _webSocketMessages");
    exp->footer(
        "Messages come from message records, or are reassembled from frame records (archives\n"
        "written with --emit frames export too); payloads are the inflated ones. Text messages\n"
        "are written as UTF-8, binary ones as base64, as Chrome writes them. An entry with a\n"
        "truncated or unrecorded payload has \"_wssniffTruncated\": true. Rejected upgrades are\n"
        "entries with their status and no messages. Archives from `decode` have no times: they\n"
        "take --base-time, and the log's comment says so.\n"
        "Exit status: 0 written; 1 unreadable archive or unwritable output; 2 usage error.");
    exp->add_option("ARCHIVE", ex->archive, "The archive ('-': standard input)")
        ->required()
        ->option_text("FILE REQUIRED");
    exp->add_option("-o,--output", ex->output, "Write the HAR here (mode 0600) instead of stdout")
        ->option_text("FILE");
    exp->add_option("--conn", ex->conns, "Export only these connections (1,3-5)")
        ->option_text("LIST");
    exp->add_flag("--control", ex->control,
                  "Include ping, pong and close frames as messages (opcodes 9, 10, 8; data "
                  "base64)");
    exp->add_option("--base-time", ex->base_time,
                    "The time of records without one (archives from `decode`), RFC 3339 UTC")
        ->option_text("RFC3339");

    CLI::App* imp = har->add_subcommand(
        "import", "Turn a HAR's WebSocket entries into an archive: a handshake record and "
                  "message records for each");
    imp->footer(
        "Entries with _webSocketMessages, _resourceType \"websocket\" or a ws:// or wss:// URL\n"
        "are imported, in order, as connections 1, 2, ...; the HAR is read as a stream (memory\n"
        "bounded by one entry). HAR has no frames: replay the archive with --unit messages\n"
        "(the default). Control frames and messages that DevTools would skip are left out,\n"
        "and a line on stderr counts them.\n"
        "Exit status: 0 written; 1 unreadable HAR, no WebSocket entry or unwritable output; 2 "
        "usage error.");
    imp->add_option("HAR", im->har, "The HAR file ('-': standard input)")->required();
    imp->add_option("-o,--output", im->output,
                    "Write the archive here (mode 0600) instead of stdout")
        ->option_text("FILE");
    imp->add_option("--entry-url", im->entry_url,
                    "Import only entries whose request URL matches this RE2 regular expression "
                    "(anywhere in the URL)")
        ->option_text("REGEX");

    return [ex, im, har, exp, imp]() -> int {
        if (!har->parsed()) {
            return -1;
        }
        if (exp->parsed()) {
            return run_export(*ex);
        }
        if (imp->parsed()) {
            return run_import(*im);
        }
        throw CLI::ValidationError("har", "needs a command: export or import");
    };
}

} // namespace wssniff::app

// wssniff: a WebSocket sniffing proxy that writes one JSON record per frame.

#include "ca_command.hpp"
#include "decode_command.hpp"
#include "demo_command.hpp"
#include "diff_command.hpp"
#include "expect_command.hpp"
#include "har_command.hpp"
#include "options.hpp"
#include "proxy_command.hpp"
#include "replay_command.hpp"
#include "report_command.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#ifndef WSSNIFF_VERSION
#define WSSNIFF_VERSION "unknown"
#endif

namespace {

// The command the user was giving, as far as it was read ("wssniff har export"): a mistake's
// hint names that command's --help, whose options are the ones the mistake is about.
std::string command_path(const CLI::App& app) {
    std::string path = "wssniff";
    const CLI::App* at = &app;
    for (auto subcommands = at->get_subcommands(); !subcommands.empty();
         subcommands = at->get_subcommands()) {
        at = subcommands.front();
        path += " " + at->get_name();
    }
    return path;
}

void usage_error(const CLI::App& app, const char* what) {
    fmt::print(stderr, "wssniff: {}; run '{} --help'\n", what, command_path(app));
}

} // namespace

int main(int argc, char** argv) {
    // Writing to a closed pipe (`wssniff ... | head`) must end in a clear error, not a signal.
    std::signal(SIGPIPE, SIG_IGN);
#if defined(__GLIBC__)
    // A sniffed frame's payload is kept in a buffer made on a relay thread and freed on the
    // writer's once its record is out, thousands of times a second. glibc hands the top of a
    // heap back to the kernel whenever 128 KiB of it lies free, so under a stream of large frames
    // every new buffer faulted its pages in afresh: hex records of 64 KiB frames cost twice the
    // CPU per byte. Up to 8 MiB of freed memory per heap now waits for the next buffer.
    mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
#endif

    CLI::App app{"wssniff: a WebSocket sniffing proxy. It forwards every byte unchanged and writes "
                 "one JSON record per frame (NDJSON).",
                 "wssniff"};
    app.set_version_flag("--version", "wssniff " WSSNIFF_VERSION);
    app.require_subcommand(0, 1);
    app.footer("Records: see schemas/record.schema.json. Examples:\n"
               "  wssniff demo\n"
               "  wssniff proxy --upstream ws://127.0.0.1:9000 --listen 127.0.0.1:8080\n"
               "  wssniff decode --c2s client.bin --s2c server.bin\n"
               "  wssniff diff golden.ndjson run.ndjson --format junit\n"
               "  wssniff expect run.ndjson --spec expected.json\n"
               "  wssniff har export session.ndjson -o session.har\n"
               "  wssniff report session.ndjson -o session.html\n"
               "  wssniff proxy --mode forward --listen 127.0.0.1:3128\n"
               "  wssniff decode --c2s client.bin --s2c server.bin --emit messages | jq -c "
               "'select(.op==\"text\") | .text'\n"
               "Run 'wssniff COMMAND --help' for a command's options.");
    const auto proxy = wssniff::app::add_proxy_command(app);
    const auto decode = wssniff::app::add_decode_command(app);
    const auto demo = wssniff::app::add_demo_command(app);
    const auto replay = wssniff::app::add_replay_command(app);
    const auto diff = wssniff::app::add_diff_command(app);
    const auto har = wssniff::app::add_har_command(app);
    const auto expect = wssniff::app::add_expect_command(app);
    const auto report = wssniff::app::add_report_command(app);
    const auto ca = wssniff::app::add_ca_command(app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) {
            return app.exit(e); // --help, --version
        }
        usage_error(app, e.what());
        return 2;
    }

    try {
        for (const auto& command : {proxy, decode, demo, replay, diff, har, expect, report, ca}) {
            const int status = command();
            if (status >= 0) {
                return status;
            }
        }
        fmt::print(stderr, "wssniff: no command given; run 'wssniff --help'\n");
        return 2;
    } catch (const CLI::Error& e) {
        usage_error(app, e.what());
        return 2;
    } catch (const wssniff::app::expression_error& e) {
        fmt::print(stderr, "wssniff: {}\n", e.what());
        return 2;
    } catch (const wssniff::app::runtime_failure& e) {
        fmt::print(stderr, "wssniff: {}\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "wssniff: {}\n", e.what());
        return 1;
    }
}

#include "replay_command.hpp"

#include "diff_command.hpp"

#include "archive_input.hpp"
#include "options.hpp"
#include "output.hpp"
#include "ranges.hpp"

#include "wssniff/archive/connections.hpp"
#include "wssniff/filter/selector.hpp"
#include "wssniff/playback/playback.hpp"
#include "wssniff/proxy/tls.hpp"
#include "wssniff/record/ndjson.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>
#include <system_error>

namespace wssniff::app {

namespace {

struct replay_options {
    std::string archive;
    std::string upstream;
    std::string conns;
    std::string unit = "messages";
    std::string pace = "none";
    std::string sync = "messages";
    double sync_timeout = 5;
    std::vector<std::string> headers;
    std::uint64_t concurrency = 0;
    std::string ca_file;
    bool insecure = false;
    output_options output;
    std::string expect; // --expect GOLDEN: compare the replayed session with it
    diff_settings diff;
};

// Where the replayed session's records go besides the output: kept whole for --expect.
class collecting_sink final : public record::sink {
  public:
    explicit collecting_sink(record::sink* next) : next_(next) {}
    void write(record::record&& r) override {
        if (keep_) {
            kept_.push_back(r);
        }
        if (next_ != nullptr) {
            next_->write(std::move(r));
        }
    }
    void end_of_batch() override {
        if (next_ != nullptr) {
            next_->end_of_batch();
        }
    }
    void keep() { keep_ = true; }

    // The kept records as an archive read back: grouped by connection, in order.
    std::vector<archive::connection> connections() {
        std::vector<archive::entry> entries;
        entries.reserve(kept_.size());
        for (auto& r : kept_) {
            entries.push_back(archive::entry{entries.size() + 1, std::move(r)});
        }
        kept_.clear();
        return archive::group_connections(std::move(entries));
    }

  private:
    record::sink* next_;
    bool keep_ = false;
    std::vector<record::record> kept_;
};

// Exit 2 with one line: the command cannot run as given (a usage error, an archive that
// cannot be read).
struct usage_trouble : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// --pace: none, original, or xF (F times faster than recorded).
void apply_pace(const std::string& pace, playback::player_settings& s) {
    if (pace == "none") {
        return;
    }
    s.paced = true;
    if (pace == "original") {
        return;
    }
    std::size_t used = 0;
    double factor = 0;
    try {
        factor = pace.size() > 1 && pace[0] == 'x' ? std::stod(pace.substr(1), &used) : 0;
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used + 1 != pace.size() || !(factor >= 0.001 && factor <= 1e6)) {
        throw CLI::ValidationError("--pace", "expects none, original or xF with F from 0.001 to "
                                             "1000000 (x10: ten times faster), got '" +
                                                 pace + "'");
    }
    s.speed = factor;
}

std::pair<std::string, std::string> parse_header(const std::string& text) {
    const auto colon = text.find(':');
    if (colon == std::string::npos || colon == 0 || text.find_first_of(" \t\r\n") < colon ||
        text.find_first_of("\r\n") != std::string::npos) {
        throw CLI::ValidationError("--header",
                                   "expects 'Name: value' on one line, got '" + text + "'");
    }
    auto value = text.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    return {text.substr(0, colon), value};
}

// ws(s)://HOST:PORT[/path]: the path, if any, replaces each recorded request-target.
proxy::upstream_url parse_upstream(const std::string& url, std::optional<std::string>& target) {
    const auto scheme_end = url.find("://");
    const auto slash =
        scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
    if (slash != std::string::npos && slash + 1 < url.size()) {
        target = url.substr(slash);
    }
    std::string problem;
    const auto parsed = proxy::upstream_url::parse(url.substr(0, slash), problem);
    if (!parsed) {
        throw CLI::ValidationError("--upstream", problem);
    }
    return *parsed;
}

int run_replay(const replay_options& given) {
    replay_options o = given;
    // --format names the differences' format with --expect, the records' without it.
    if (o.expect.empty()) {
        if (o.diff.format == "text" || o.diff.format == "junit") {
            throw CLI::ValidationError("--format", o.diff.format +
                                                       " is a format of differences, for "
                                                       "--expect; records are ndjson or pretty");
        }
        o.output.format = o.diff.format.empty() ? "auto" : o.diff.format;
    } else {
        if (o.diff.format == "pretty") {
            throw CLI::ValidationError("--format", "with --expect the differences go to stdout "
                                                   "(text, ndjson or junit), the records only to "
                                                   "--output, as NDJSON");
        }
        if (o.diff.format.empty()) {
            o.diff.format = "text";
        }
        o.output.format = "ndjson";
    }
    const filter::filters filters = compile_filters(o.output);
    playback::run_settings run;
    auto& player = run.player;
    player.upstream = parse_upstream(o.upstream, player.target);
    if (!player.upstream.tls && (!o.ca_file.empty() || o.insecure)) {
        throw CLI::ValidationError(o.insecure ? "--insecure" : "--ca-file",
                                   "applies to a wss:// upstream only");
    }
    apply_pace(o.pace, player);
    player.sync = o.sync == "messages";
    player.sync_timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(o.sync_timeout * 1000.0 + 0.5));
    run.concurrency = o.concurrency;
    apply(o.output, player.session);

    playback::plan_options plan_options;
    plan_options.unit = o.unit == "frames" ? playback::unit::frames : playback::unit::messages;
    for (const auto& h : o.headers) {
        plan_options.headers.push_back(parse_header(h));
    }
    const auto wanted = o.conns.empty() ? std::set<std::uint64_t>{} : conn_list(o.conns);

    const auto connections = read_archive_as<usage_trouble>(o.archive);
    std::vector<archive::connection> expected;
    if (!o.expect.empty()) {
        try {
            expected = read_archive(o.expect);
        } catch (const diff_trouble& e) {
            throw usage_trouble(e.what());
        }
    }
    std::vector<playback::plan> plans;
    std::vector<std::string> warnings;
    for (const auto& c : connections) {
        if (!wanted.empty() && wanted.count(c.conn) == 0) {
            continue;
        }
        if (c.handshake() == nullptr && wanted.empty()) {
            warnings.push_back(
                fmt::format("conn {} has no handshake record and is not replayed", c.conn));
            continue;
        }
        try {
            plans.push_back(playback::make_plan(c, plan_options));
        } catch (const playback::unreplayable& e) {
            throw runtime_failure(fmt::format("cannot replay {}: {}", o.archive, e.what()));
        }
        warnings.insert(warnings.end(), plans.back().warnings.begin(), plans.back().warnings.end());
    }
    for (const auto n : wanted) {
        const bool found = std::any_of(connections.begin(), connections.end(),
                                       [n](const archive::connection& c) { return c.conn == n; });
        if (!found) {
            throw usage_trouble(
                fmt::format("--conn {}: {} has no connection {}", o.conns, o.archive, n));
        }
    }
    if (plans.empty()) {
        throw usage_trouble(fmt::format("{} has no connection to replay", o.archive));
    }
    if (player.paced) {
        for (const auto& p : plans) {
            const bool timed = p.started && std::all_of(p.steps.begin(), p.steps.end(),
                                                        [](const auto& s) { return s.at; });
            if (!timed) {
                throw usage_trouble(fmt::format(
                    "--pace {} needs the archive's ts fields, and conn {} of {} has none (an "
                    "archive from 'wssniff decode'); use --pace none",
                    o.pace, p.conn, o.archive));
            }
        }
    }

    std::optional<asio::ssl::context> tls;
    if (player.upstream.tls) {
        try {
            tls.emplace(proxy::tls::client_context(
                o.ca_file.empty() ? std::nullopt : std::optional<std::string>(o.ca_file),
                o.insecure));
        } catch (const std::exception& e) {
            throw runtime_failure(e.what());
        }
        player.tls = &*tls;
        player.insecure = o.insecure;
        if (o.insecure) {
            fmt::print(stderr, "wssniff: warning: --insecure: the upstream's certificate is not "
                               "verified\n");
        }
    }
    for (const auto& w : warnings) {
        fmt::print(stderr, "wssniff: warning: {}\n", w);
    }

    // With --expect the differences go to stdout, so records go only to an --output file.
    const bool write_records = o.expect.empty() || !o.output.output.empty();
    std::optional<output_file> out;
    std::unique_ptr<output_sink> ndjson;
    // The filters choose what is written; --expect compares the whole replayed session.
    std::optional<filter::filtering_sink> filtered;
    record::sink* written = nullptr;
    if (write_records) {
        out.emplace(o.output.output);
        ndjson = make_output_sink(out->get(), out->interactive(), choose_view(o.output));
        written = &*ndjson;
        if (filters.any()) {
            written = &filtered.emplace(*ndjson, filters);
        }
    }
    collecting_sink sink(written);
    if (!o.expect.empty()) {
        sink.keep();
    }
    const auto outcomes = playback::run(plans, run, sink);
    if (ndjson && (!ndjson->flush() || !out->close())) {
        throw runtime_failure(output_failure(*ndjson));
    }

    int status = 0;
    std::uint64_t sent = 0, unsent = 0, timeouts = 0;
    std::vector<std::string> declined;
    for (const auto& r : outcomes) {
        sent += r.steps_sent;
        unsent += r.steps_unsent;
        timeouts += r.sync_timeouts;
        if (r.deflate_declined) {
            declined.push_back(std::to_string(r.conn));
        }
        if (r.failed) {
            fmt::print(stderr, "wssniff: {}\n", r.problem);
            status = 1;
        }
    }
    std::string summary =
        fmt::format("replayed {} connection{} to {}: {} sent", outcomes.size(),
                    outcomes.size() == 1 ? "" : "s", player.upstream.host_port(), sent);
    if (unsent > 0) {
        summary += fmt::format(", {} not sent (the server had closed)", unsent);
    }
    if (timeouts > 0) {
        summary += fmt::format(", {} sync timeout{}", timeouts, timeouts == 1 ? "" : "s");
    }
    if (!declined.empty()) {
        summary += fmt::format("; the server declined permessage-deflate on conn {}, so "
                               "compressed messages went uncompressed",
                               fmt::join(declined, ","));
    }
    fmt::print(stderr, "wssniff: {}\n", summary);
    if (o.expect.empty()) {
        return status;
    }
    // diff(1)'s codes: a server that could not be reached is trouble (2), not a difference.
    if (std::any_of(outcomes.begin(), outcomes.end(),
                    [](const playback::connection_outcome& r) { return r.unreachable; })) {
        throw usage_trouble("--expect: the server could not be reached, so nothing was compared");
    }
    auto settings = o.diff;
    settings.unit = o.unit;
    settings.expected_name = o.expect;
    settings.actual_name = "replay of " + o.archive;
    try {
        return report_differences(expected, sink.connections(), settings, stdout);
    } catch (const diff_trouble& e) {
        throw usage_trouble(e.what());
    }
}

} // namespace

std::function<int()> add_replay_command(CLI::App& app) {
    auto o = std::make_shared<replay_options>();
    CLI::App* cmd = app.add_subcommand(
        "replay", "Play the client side of archived connections against a live server, "
                  "recording the new session as an ordinary archive");
    cmd->footer(
        "The archive is NDJSON that wssniff wrote. For archives meant for replay, record with\n"
        "--payload base64 and a --max-payload above the largest message: a truncated or\n"
        "unrecorded client payload is refused before anything is sent.\n"
        "Examples:\n"
        "  wssniff proxy --upstream ws://127.0.0.1:9000 --payload base64 -o session.ndjson\n"
        "  wssniff replay session.ndjson --upstream ws://127.0.0.1:9000 -o again.ndjson\n"
        "  wssniff replay session.ndjson --upstream ws://127.0.0.1:9000 --pace x10 --conn 2-4\n"
        "  wssniff replay session.ndjson --upstream wss://staging:443/v2/chat --unit frames \\\n"
        "      --header 'Authorization: Bearer $TOKEN'\n"
        "  wssniff replay golden.ndjson --upstream ws://127.0.0.1:9000 --expect golden.ndjson \\\n"
        "      --ignore-json /ts --format junit > replay-junit.xml\n"
        "  wssniff replay session.ndjson --upstream ws://127.0.0.1:9000 --filter 'type == "
        "\"error\"'\n"
        "Exit status: 0 replayed; 1 a connection failed (unreachable, upgrade refused, archive "
        "not replayable); 2 usage error or unreadable archive. With --expect, like diff(1): 0 "
        "same, 1 different, 2 trouble.\n" +
        view_help() + filters_help());
    cmd->add_option("ARCHIVE", o->archive, "The archive to replay ('-': standard input)")
        ->required()
        ->option_text("FILE REQUIRED");
    cmd->add_option("--upstream", o->upstream,
                    "The live server, ws://HOST:PORT or wss://HOST:PORT; a /path replaces every "
                    "recorded request-target")
        ->required()
        ->option_text("URL");
    cmd->add_option("--conn", o->conns, "Replay only these connections of the archive (1,3-5)")
        ->option_text("LIST");
    cmd->add_option("--unit", o->unit,
                    "messages: one frame per recorded message; frames: every frame as recorded "
                    "(fin, opcode, RSV bits, fragments, even protocol violations), fresh masks")
        ->check(CLI::IsMember({"messages", "frames"}))
        ->default_str("messages");
    cmd->add_option("--pace", o->pace,
                    "none: send as soon as allowed; original: keep the recorded gaps after the "
                    "101; xF: F times faster (x10)")
        ->default_str("none")
        ->option_text("none|original|xF");
    cmd->add_option("--sync", o->sync,
                    "messages: before each client send, wait until the server has sent as many "
                    "data messages as the archive shows before it; off: do not wait")
        ->check(CLI::IsMember({"messages", "off"}))
        ->default_str("messages");
    cmd->add_option("--sync-timeout", o->sync_timeout,
                    "Longest wait for the server (its upgrade answer, messages before a send, "
                    "its close); past it a sync wait writes a replay_sync_timeout error and goes "
                    "on")
        ->check(seconds_in(0.001, 3600, false))
        ->default_str("5")
        ->option_text("SECONDS=5");
    cmd->add_option("--header", o->headers,
                    "'Name: value' replaces the recorded field of that name or is added; "
                    "repeatable. Supplies credentials the archive holds redacted")
        ->option_text("'NAME: VALUE'");
    cmd->add_option("--concurrency", o->concurrency,
                    "Run N connections at a time instead of starting each at its recorded "
                    "offset")
        ->check(count_in(1, 100000))
        ->option_text("N");
    cmd->add_option("--ca-file", o->ca_file,
                    "Verify a wss:// server against the CA certificates in FILE (PEM)")
        ->check(CLI::ExistingFile)
        ->option_text("FILE");
    cmd->add_flag("--insecure", o->insecure,
                  "Do not verify a wss:// server's certificate (prints a warning)");
    cmd->add_option("--expect", o->expect,
                    "Snapshot test: compare the replayed session with this golden archive, as "
                    "'wssniff diff' would (differences on stdout, exit 0 same, 1 different, 2 "
                    "trouble; records then go only to --output). The diff options apply")
        ->option_text("GOLDEN");
    add_diff_options(*cmd->add_option_group("Diff options (with --expect)"), o->diff, false);
    add_output_options(*cmd, o->output, false, false);
    return [cmd, o]() -> int {
        if (!cmd->parsed()) {
            return -1;
        }
        try {
            return run_replay(*o);
        } catch (const usage_trouble& e) {
            fmt::print(stderr, "wssniff: {}\n", e.what());
            return 2;
        }
    };
}

} // namespace wssniff::app

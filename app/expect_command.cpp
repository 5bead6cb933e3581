#include "expect_command.hpp"

#include "diff_command.hpp"
#include "diff_report.hpp"

#include "wssniff/expect/match.hpp"
#include "wssniff/expect/spec.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace wssniff::app {

namespace {

struct expect_settings {
    std::string archive;
    std::string spec_path;
    std::optional<std::uint64_t> conn;
    std::string format = "text";
};

struct trouble : std::runtime_error {
    using std::runtime_error::runtime_error;
};

expect::spec read_spec(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::ostringstream text;
    if (!file || !(text << file.rdbuf())) {
        throw trouble(fmt::format("cannot read spec '{}': {}", path,
                                  std::strerror(errno != 0 ? errno : EIO)));
    }
    try {
        return expect::parse_spec(text.str());
    } catch (const expect::spec_error& e) {
        throw trouble(fmt::format("{}: {}", path, e.what()));
    }
}

struct checked {
    std::uint64_t conn = 0;
    std::string target;
    expect::result r;
};

// The first line of a report (what JUnit's failure message says).
std::string headline(const std::string& report) {
    const auto end = report.find('\n');
    return end == std::string::npos ? report : report.substr(0, end);
}

void write_junit(const expect_settings& s, const expect::spec& spec,
                 const std::vector<checked>& results, std::FILE* out) {
    std::size_t failures = 0;
    for (const auto& c : results) {
        failures += c.r.matched ? 0 : 1;
    }
    const std::string suite = spec.name.empty() ? "wssniff expect " + s.spec_path : spec.name;
    fmt::print(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fmt::print(out, "<testsuites>\n");
    fmt::print(out, "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\">\n",
               xml_escape(suite), results.size(), failures);
    fmt::print(out, "    <properties>\n");
    fmt::print(out, "      <property name=\"archive\" value=\"{}\"/>\n", xml_escape(s.archive));
    fmt::print(out, "      <property name=\"spec\" value=\"{}\"/>\n", xml_escape(s.spec_path));
    fmt::print(out, "    </properties>\n");
    for (const auto& c : results) {
        std::string name = fmt::format("conn {}", c.conn);
        if (!c.target.empty()) {
            name += ' ' + c.target;
        }
        fmt::print(out, "    <testcase classname=\"wssniff.expect\" name=\"{}\"", xml_escape(name));
        if (c.r.matched) {
            fmt::print(out, "/>\n");
            continue;
        }
        fmt::print(out, ">\n      <failure message=\"{}\" type=\"expectation\">{}</failure>\n",
                   xml_escape(headline(c.r.report)), xml_escape(c.r.report, false));
        fmt::print(out, "    </testcase>\n");
    }
    fmt::print(out, "  </testsuite>\n</testsuites>\n");
}

int run_expect(const expect_settings& s) {
    const auto spec = read_spec(s.spec_path);
    std::vector<archive::connection> connections;
    try {
        connections = read_archive(s.archive);
    } catch (const diff_trouble& e) {
        throw trouble(e.what());
    }
    std::vector<const archive::connection*> chosen;
    archive::connection empty; // an archive with no records: one connection with none
    if (s.conn) {
        for (const auto& c : connections) {
            if (c.conn == *s.conn) {
                chosen.push_back(&c);
            }
        }
        if (chosen.empty()) {
            throw trouble(fmt::format("{}: no connection {} (--conn)", s.archive, *s.conn));
        }
    } else if (connections.empty()) {
        chosen.push_back(&empty);
    } else {
        for (const auto& c : connections) {
            chosen.push_back(&c);
        }
    }
    std::vector<checked> results;
    for (const auto* c : chosen) {
        checked one;
        one.conn = c->conn;
        if (const auto* h = c->handshake()) {
            one.target = h->target;
        }
        one.r = expect::match(spec, *c);
        if (one.r.gave_up) {
            throw trouble(
                fmt::format("{}: conn {}: {}", s.spec_path, c->conn, headline(one.r.report)));
        }
        results.push_back(std::move(one));
    }
    bool all = true;
    for (const auto& c : results) {
        all = all && c.r.matched;
    }
    if (s.format == "junit") {
        write_junit(s, spec, results, stdout);
    } else {
        for (const auto& c : results) {
            if (c.r.matched) {
                fmt::print(stdout, "conn {}: matched\n", c.conn);
            } else {
                fmt::print(stderr, "wssniff: expect: conn {}: {}", c.conn, c.r.report);
            }
        }
    }
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
        throw trouble(fmt::format("cannot write the report: {}", std::strerror(errno)));
    }
    return all ? 0 : 1;
}

} // namespace

std::function<int()> add_expect_command(CLI::App& app) {
    auto s = std::make_shared<expect_settings>();
    CLI::App* cmd = app.add_subcommand(
        "expect", "Check an archive's connections against an expectation: the conversation a "
                  "test expects (exit 0 matched, 1 not matched, 2 trouble)");
    cmd->footer(
        "The spec is JSON (schemas/expectation.schema.json); each step matches one record, in\n"
        "order. Records between steps are allowed unless \"extra\": \"forbid\"; pings are ignored\n"
        "unless \"ignore_pings\": false; steps match messages unless \"unit\": \"frames\".\n"
        "Example spec (expected.json):\n"
        "  {\"steps\": [\n"
        "    {\"dir\": \"c2s\", \"op\": \"text\", \"json\": {\"op\": \"subscribe\"}, \"bind\": "
        "{\"id\": "
        "\"/id\"}},\n"
        "    {\"dir\": \"s2c\", \"json\": {\"op\": \"ack\"}, \"equal\": {\"/id\": \"id\"}},\n"
        "    {\"dir\": \"s2c\", \"json\": {\"type\": \"trade\"}, \"min\": 1},\n"
        "    {\"any_order\": [{\"dir\": \"s2c\", \"contains\": \"bye\"}, {\"dir\": \"s2c\", "
        "\"regex\": \"^stat\"}]},\n"
        "    {\"dir\": \"c2s\", \"op\": \"close\", \"close_code\": 1000}]}\n"
        "Step matchers: type (message frame handshake error close), dir, op, text, hex, base64,\n"
        "contains, regex (RE2), json (a subset), pointers ({\"/a/b\": value}), close_code,\n"
        "close_reason, code (error), reason (close record), status (handshake), bind, equal,\n"
        "min, max (null: no limit).\n"
        "Examples:\n"
        "  wssniff expect run.ndjson --spec expected.json\n"
        "  wssniff expect run.ndjson --spec expected.json --conn 2 --format junit > report.xml\n"
        "Without --conn every connection of the archive must match. A failure shows the steps\n"
        "beside the records they matched, the first step not matched, the closest record and\n"
        "which matcher failed on it (on stderr, or in the JUnit <failure>).");
    cmd->add_option("ARCHIVE", s->archive, "The archive (NDJSON records; '-': standard input)")
        ->required()
        ->option_text("FILE REQUIRED");
    cmd->add_option("--spec", s->spec_path, "The expectation (JSON)")
        ->required()
        ->option_text("FILE");
    cmd->add_option("--conn", s->conn, "Only this connection (its conn number)")->option_text("N");
    cmd->add_option("--format", s->format, "How the outcome is written")
        ->check(CLI::IsMember({"text", "junit"}))
        ->default_str("text")
        ->option_text("text|junit");
    return [cmd, s]() -> int {
        if (!cmd->parsed()) {
            return -1;
        }
        try {
            return run_expect(*s);
        } catch (const std::exception& e) {
            fmt::print(stderr, "wssniff: expect: {}\n", e.what());
            return 2;
        }
    };
}

} // namespace wssniff::app

#include "options.hpp"

#include "output_target.hpp"
#include "ranges.hpp"

#include <CLI/CLI.hpp>
#include <map>

namespace wssniff::app {

namespace {

// The largest --max-payload and --max-message. Both stay limits: "no limit" would let one
// frame or one inflating message take all the memory there is.
constexpr std::uint64_t max_size_option = 1ULL << 30;

} // namespace

void add_output_options(CLI::App& command, output_options& options, bool forward_only,
                        bool with_format) {
    if (forward_only) {
        // The proxy: a file, or a stream socket or Kafka (output_target.hpp, checked when it
        // runs).
        command
            .add_option("-o,--output", options.output,
                        "Write the records to FILE (created mode 0600) instead of stdout, or "
                        "send them to tcp://HOST:PORT or unix:///PATH (one record per line, "
                        "reconnecting), or kafka://BROKER/TOPIC")
            ->option_text("FILE|URL");
    } else {
        command
            .add_option("-o,--output", options.output,
                        "Write the records to FILE (created mode 0600) instead of stdout")
            ->check(CLI::Validator(file_output_problem, "FILE"))
            ->option_text("FILE");
    }
    if (with_format) {
        command
            .add_option("--format", options.format,
                        "ndjson: one JSON record per line; pretty: one readable line per record "
                        "(the terminal view). Default: pretty when stdout is a terminal and "
                        "there is no --output, else ndjson (so pipes into jq get NDJSON)")
            ->check(CLI::IsMember({"ndjson", "pretty"}))
            ->option_text("ndjson|pretty");
    }
    command
        .add_option("--color", options.color,
                    "Colours in the terminal view: auto (on a terminal, unless NO_COLOR is set), "
                    "always, never")
        ->check(CLI::IsMember({"auto", "always", "never"}))
        ->default_str("auto")
        ->option_text("auto|always|never");
    if (forward_only) {
        command
            .add_option("--emit", options.emit,
                        "Records per WebSocket unit: one per frame, one per reassembled message, "
                        "both, or none (forward only: nothing is decoded or written)")
            ->check(CLI::IsMember({"frames", "messages", "both", "none"}))
            ->default_str("frames");
    } else {
        command
            .add_option("--emit", options.emit,
                        "Records per WebSocket unit: one per frame, one per reassembled message, "
                        "or both")
            ->check(CLI::IsMember({"frames", "messages", "both"}))
            ->default_str("frames");
    }
    command
        .add_option("--payload", options.payload,
                    "Payload field: auto (text for valid UTF-8 text data, else hex), text "
                    "(invalid UTF-8 becomes U+FFFD), hex, base64, or none")
        ->check(CLI::IsMember({"auto", "text", "hex", "base64", "none"}))
        ->default_str("auto");
    command
        .add_option("--max-payload", options.max_payload,
                    "Keep at most this many payload bytes per record (suffixes KiB, MiB, GiB; "
                    "0 to 1GiB); the record says truncated:true when it holds less than the "
                    "frame")
        ->transform(bytes_in(0, max_size_option))
        ->default_str("1MiB")
        ->option_text("BYTES=1MiB");
    command
        .add_option("--max-message", options.max_message,
                    "Stop inflating a permessage-deflate direction when one message inflates "
                    "past this many bytes (a decompression bomb); an error record says so. "
                    "1 to 1GiB: the cap cannot be switched off")
        ->transform(bytes_in(1, max_size_option))
        ->default_str("64MiB")
        ->option_text("BYTES=64MiB");
    if (forward_only) {
        options.payload_budget = session::default_payload_budget;
        command
            .add_option("--payload-budget", options.payload_budget,
                        "Payload bytes all connections together keep for frames and messages "
                        "not yet complete (suffixes KiB, MiB, GiB; 0 to 64GiB); past it their "
                        "records keep less and say truncated:true. Forwarding never waits for it")
            ->transform(bytes_in(0, 64ULL << 30))
            ->default_str("128MiB")
            ->option_text("BYTES=128MiB");
    }
    // An empty expression is refused rather than read as "no filter".
    const auto not_empty = [](const std::string& text) {
        return text.find_first_not_of(" \t") == std::string::npos ? "an empty expression"
                                                                  : std::string();
    };
    command
        .add_option("--filter", options.filter,
                    "Write only the records EXPR selects (forwarding is never affected); fields "
                    "by their record names, see 'Filters' below")
        ->check(not_empty)
        ->option_text("EXPR");
    command
        .add_option("--conn-filter", options.conn_filter,
                    forward_only
                        ? "Decide each connection at its handshake: one EXPR rejects is "
                          "forwarded without decoding and writes only its close record"
                        : "Decide each connection at its handshake: one EXPR rejects writes "
                          "only its close record")
        ->check(not_empty)
        ->option_text("EXPR");
    command.add_flag("--no-redact", options.no_redact,
                     "Keep Authorization, Proxy-Authorization, Cookie and Set-Cookie values in "
                     "handshake records (redacted by default)");
}

void add_instance_option(CLI::App& command, std::string& instance) {
    // What a host name may hold, and nothing that would need escaping or split a Kafka key
    // (instance/run/conn).
    const CLI::Validator name(
        [](const std::string& text) -> std::string {
            if (text.empty() || text.size() > 253 ||
                text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789.-_") != std::string::npos) {
                return "'" + text + "': 1 to 253 letters, digits, '.', '-' or '_'";
            }
            return {};
        },
        "NAME");
    command
        .add_option("--instance", instance,
                    "Name written on every record (\"instance\"), with a random id of this run "
                    "(\"run\"), so records of many sidecars and restarts stay apart; letters, "
                    "digits, '.', '-', '_' (default: the host name)")
        ->check(name)
        ->option_text("NAME");
}

std::string view_help() {
    return "Terminal view: on a terminal, without --output, records are shown one line each:\n"
           "  time, #conn, \xe2\x86\x92 (client to server) or \xe2\x86\x90 (server to "
           "client), op, length, the flags\n"
           "  that are set (fin=0 rsv1 rsv2 rsv3 compressed truncated), a preview of the "
           "payload cut to\n"
           "  the width (text as text with control characters shown as \\e \\n \\x07, "
           "binary as hex),\n"
           "  close code and reason; handshakes, errors and closes on lines of their own. "
           "--format ndjson\n"
           "  forces NDJSON, --format pretty the view (into a pipe or file too); --color "
           "never or NO_COLOR=1\n"
           "  turns colours off.\n";
}

std::string filters_help() {
    return "Filters (--filter EXPR, --conn-filter EXPR):\n"
           "  expr  := expr or expr | expr and expr | not expr | ( expr ) | true | false\n"
           "         | field [ == != < <= > >= value | contains \"s\" | matches /re/[i]\n"
           "                 | in {v, v, lo..hi} ]\n"
           "  field := a record field by its NDJSON name (type dir op opcode fin masked len seq\n"
           "           close_code code fatal reason ...), text, payload, json.a.b[0] (a text\n"
           "           payload as JSON), hs.target hs.status hs.subprotocol hs.header[\"name\"]\n"
           "           hs.client hs.upstream hs.method (the connection's handshake)\n"
           "  A bare field is true when the record has it and it is not false; a field the\n"
           "  record lacks fails every comparison. Regular expressions are RE2's.\n"
           "  --filter 'type in {\"error\",\"close\"}'\n"
           "  --filter 'dir == \"s2c\" and json.type == \"trade\" and json.price > 100'\n"
           "  --filter 'op == \"close\" and close_code != 1000'\n"
           "  --conn-filter 'hs.target matches /^\\/ws\\/chat/'\n"
           "  --conn-filter 'hs.header[\"x-trace-id\"] == \"abc123\"'";
}

namespace {

std::shared_ptr<const filter::expression> compile_one(const char* option, const std::string& text) {
    if (text.empty()) {
        return nullptr;
    }
    try {
        return filter::expression::compile(text);
    } catch (const filter::parse_error& e) {
        throw expression_error(std::string(option) + ": " + e.what() + " (column " +
                               std::to_string(e.column) + ")\n" +
                               filter::caret_lines(text, e.column));
    }
}

} // namespace

filter::filters compile_filters(const output_options& options) {
    filter::filters f;
    f.records = compile_one("--filter", options.filter);
    f.connections = compile_one("--conn-filter", options.conn_filter);
    return f;
}

void apply(const output_options& options, session::session_options& session) {
    const std::map<std::string, record::payload_mode> modes{
        {"auto", record::payload_mode::automatic},
        {"text", record::payload_mode::text},
        {"hex", record::payload_mode::hex},
        {"base64", record::payload_mode::base64},
        {"none", record::payload_mode::none}};
    session.payload = modes.at(options.payload);
    session.max_payload = options.max_payload;
    session.max_message = options.max_message;
    session.emit_frames = options.emit != "messages";
    session.emit_messages = options.emit != "frames";
    session.redact = !options.no_redact;
    if (options.payload_budget != output_options::no_payload_budget) {
        session.budget = std::make_shared<session::payload_budget>(options.payload_budget);
    }
}

} // namespace wssniff::app

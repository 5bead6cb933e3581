#include "proxy_command.hpp"

#include "kafka_output.hpp"
#include "metrics.hpp"
#include "network_output.hpp"
#include "options.hpp"
#include "output.hpp"
#include "output_target.hpp"
#include "proxy_plan.hpp"
#include "ranges.hpp"
#include "rotating_output.hpp"
#include "status_line.hpp"
#include "terminal.hpp"

#include "wssniff/proxy/proxy.hpp"
#include "wssniff/record/identity.hpp"
#include "wssniff/record/ndjson.hpp"
#include "wssniff/record/queued_sink.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <optional>
#include <pthread.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace wssniff::app {

namespace {

// The signals the proxy's signal thread takes: SIGINT and SIGTERM stop it as stop() does.
// SIGHUP reopens the --output file (logrotate's postrotate); writing to stdout, it stops the
// proxy instead (the terminal or ssh session that started it has gone). An ignored SIGHUP
// (nohup) stays ignored.
sigset_t handled_signal_set() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    struct sigaction hangup {};
    if (sigaction(SIGHUP, nullptr, &hangup) == 0 && hangup.sa_handler != SIG_IGN) {
        sigaddset(&signals, SIGHUP);
    }
    return signals;
}

// The records' destination, opened (an existing file truncated, the brokers or the collector
// reached): a Kafka topic, a network collector, or a file or standard output (rotating when
// asked). A failed start throws runtime_failure (exit 1).
struct opened_output {
    std::unique_ptr<proxy_output> out;
    const kafka_output* kafka = nullptr; // its failed deliveries are output failures too
};

opened_output open_output(proxy_plan& plan, const record_view& view,
                          const std::function<void(const std::string&)>& say_line) {
    opened_output opened;
    if (plan.to_kafka()) {
        // Says its own failures (one line per distinct error) and counts at exit.
        plan.kafka_config.say = say_line;
        // Waits (bounded) for the brokers: unreachable is a failed start, exit 1.
        auto kafka = std::make_unique<kafka_output>(
            *plan.kafka, plan.identity.instance, plan.identity.run, std::move(plan.kafka_config));
        opened.kafka = kafka.get();
        opened.out = std::move(kafka);
    } else if (plan.target.network()) {
        network_output::settings net;
        net.target = plan.target;
        net.identity_fields = plan.identity.fields;
        net.connect_timeout = plan.output_connect_timeout;
        net.say = say_line;
        opened.out = std::make_unique<network_output>(std::move(net));
    } else {
        opened.out = std::make_unique<rotating_output>(
            plan.to_file() ? plan.target.path : std::string(), plan.rotation, view);
    }
    return opened;
}

// What the proxy says on stderr once it listens: where, and the warnings its options deserve.
void announce(const proxy::proxy& relay, const proxy::proxy_options& options,
              const metrics_server* metrics, const std::optional<metrics_address>& metrics_at) {
    if (options.insecure) {
        fmt::print(stderr, "wssniff: warning: --insecure: the upstream's certificate is not "
                           "verified; anyone on the path can impersonate it\n");
    }
    fmt::print(stderr, "listening on {}\n", relay.address());
    if (!relay.loopback()) {
        fmt::print(stderr,
                   "wssniff: warning: listening on a non-loopback address; anyone who can reach "
                   "it can route traffic through this sniffer\n");
    }
    if (metrics != nullptr) {
        fmt::print(stderr, "metrics on http://{}/metrics\n", metrics->address());
        if (!is_loopback_ipv4(metrics_at->host)) {
            fmt::print(stderr, "wssniff: warning: serving metrics on a non-loopback address; "
                               "anyone who can reach it can read them\n");
        }
    }
}

// After the relay has stopped: the output is closed, and the exit status says whether the
// records all got out.
int finish_output(const proxy_command_options& o, const proxy_plan& plan,
                  record::queued_sink& queue, proxy_output& out) {
    // Whatever is queued gets written, unless nobody reads the output. A network output that
    // is away gets --output-connect-timeout to come back, then what is left is counted lost.
    std::chrono::milliseconds grace{0};
    if (plan.target.network() && !plan.to_kafka()) {
        grace = plan.output_connect_timeout;
        out.give_up_at(std::chrono::steady_clock::now() + grace);
    }
    if (!queue.close(std::chrono::seconds(5) + grace)) {
        fmt::print(stderr, "wssniff: the output is not being read; exiting without the last "
                           "records\n");
        std::fflush(stderr);
        std::_Exit(1);
    }
    const std::uint64_t dropped = queue.dropped();
    if (dropped != 0) {
        fmt::print(stderr,
                   "wssniff: {} records dropped ({}); the error records records_dropped say how "
                   "many per connection\n",
                   dropped, o.drop_when_behind ? "--drop-when-behind" : "while stopping");
    }
    if (!out.close()) {
        throw runtime_failure(out.failure());
    }
    return 0;
}

int run_proxy(const proxy_command_options& o) {
    proxy_plan plan = plan_proxy(o);
    const proxy::proxy_options& options = plan.options;
    const output_target& target = plan.target;
    const bool to_kafka = plan.to_kafka();

    // SIGINT, SIGTERM and SIGHUP are taken by a thread of their own (below), not by the relay
    // thread: in lossless mode the relay may be waiting for the output, and must still hear
    // them. Blocked here, before any thread exists, so every thread inherits the mask.
    sigset_t handled_signals = handled_signal_set();
    pthread_sigmask(SIG_BLOCK, &handled_signals, nullptr);

    // The output is opened (and an existing file truncated) only once nothing else can stop
    // the start: the TLS files are loaded and the port is bound. Until then the relay's sink is
    // a stand-in; declared before the relay, the real sinks outlive it. The status area is
    // declared first: the sinks' failure reports (on their own threads) write through it.
    status_area terminal;
    late_sink records;
    opened_output opened;
    std::optional<record::queued_sink> queue;
    std::optional<proxy::proxy> made;
    try {
        made.emplace(options, records);
    } catch (const proxy::tls_setup_error& e) {
        throw runtime_failure(e.what());
    }
    proxy::proxy& relay = *made;
    try {
        relay.listen();
    } catch (const std::system_error& e) {
        throw runtime_failure(fmt::format("cannot listen on {}: {}", o.listen, e.code().message()));
    }
    if (options.forward && options.allow.empty() && !relay.loopback()) {
        throw CLI::ValidationError(
            "--listen", fmt::format("{} is not a loopback address: a forward proxy there without "
                                    "--allow HOST[:PORT] is an open relay for anyone who can "
                                    "reach it",
                                    o.listen));
    }
    // Bound before the output is opened, like the listener; it serves the counters once the
    // queue and the output they are read from exist.
    std::atomic<std::uint64_t> output_failures{0}; // read by the metrics, so declared before
    std::optional<metrics_server> metrics;
    if (plan.metrics_at) {
        metrics.emplace(*plan.metrics_at);
    }

    // The live status line: on a terminal's stderr only, unless --quiet. When the records go
    // to the same terminal, the two take turns with its lines.
    const bool show_status = !o.quiet && is_terminal(STDERR_FILENO);
    record_view view = choose_view(o.output);
    if (show_status && target.type == output_target::kind::standard_output &&
        same_terminal(STDOUT_FILENO, STDERR_FILENO)) {
        view.status = &terminal;
    }
    view.identity_fields = plan.identity.fields;
    const std::function<void(const std::string&)> say_line = [&terminal](const std::string& line) {
        const std::lock_guard<std::mutex> hold(terminal.lock());
        terminal.erase_locked();
        fmt::print(stderr, "wssniff: {}\n", line);
        std::fflush(stderr);
    };
    opened = open_output(plan, view, say_line);
    proxy_output& out = *opened.out;
    // The traffic goes on whatever happens to the records; the user hears at once that they
    // are being lost, and the exit status says so again.
    if (!to_kafka) {
        out.on_failure([&say_line, &output_failures](std::error_code ec) {
            output_failures.fetch_add(1, std::memory_order_relaxed);
            say_line(fmt::format("cannot write records: {}; still forwarding, records are lost",
                                 ec.message()));
        });
    }
    // Flushed whenever the records pause: jq on a pipe and tail -f on a file see them live.
    const std::function<void()> flush = [&out] { out.flush(); };
    queue.emplace(out, o.queue,
                  o.drop_when_behind ? record::queued_sink::when_full::drop
                                     : record::queued_sink::when_full::wait,
                  flush);
    records.attach(*queue);
    if (metrics) {
        metrics->serve([&relay, &out, &queue, &output_failures, kafka_sink = opened.kafka] {
            const proxy::proxy::traffic_totals t = relay.traffic();
            metrics_sample s;
            s.connections_open = relay.open_connections();
            s.connections_total = relay.accepted();
            s.frames = {t.frames_c2s, t.frames_s2c};
            s.messages = {t.messages_c2s, t.messages_s2c};
            s.bytes = {t.bytes_c2s, t.bytes_s2c};
            s.records_written = out.written();
            s.records_dropped = queue->dropped();
            s.errors = t.errors;
            s.upstream_connect_failures = t.upstream_failures;
            s.output_failures = output_failures.load(std::memory_order_relaxed) +
                                (kafka_sink != nullptr ? kafka_sink->failed() : 0);
            s.queue_depth = queue->depth();
            return s;
        });
    }

    announce(relay, options, metrics ? &*metrics : nullptr, plan.metrics_at);
    std::optional<status_line> status;
    if (show_status) {
        status.emplace(terminal, [&relay, &out, &queue] {
            const proxy::proxy::traffic_totals t = relay.traffic();
            status_sample s;
            s.open = relay.open_connections();
            s.accepted = relay.accepted();
            s.bytes_c2s = t.bytes_c2s;
            s.bytes_s2c = t.bytes_s2c;
            s.frames_c2s = t.frames_c2s;
            s.frames_s2c = t.frames_s2c;
            s.written = out.written();
            s.dropped = queue->dropped();
            return s;
        });
    }
    std::atomic<bool> relay_done{false};
    std::thread signal_waiter([&] {
        int signal = 0;
        for (;;) {
            sigwait(&handled_signals, &signal);
            if (relay_done) {
                return; // woken only to end
            }
            if (signal == SIGHUP && target.type != output_target::kind::standard_output) {
                out.request_reopen(); // files; nothing for the others
                continue;
            }
            if (to_kafka) {
                // A full librdkafka queue drops from now on; close() then waits --kafka-timeout.
                out.give_up_at(std::chrono::steady_clock::now());
            }
            queue->stop_waiting(); // records that no longer fit are counted, not waited for
            relay.stop();
            return;
        }
    });
    relay.run();
    if (status) {
        status->stop(); // erased before anything else is said on stderr
    }
    relay_done = true;
    pthread_kill(signal_waiter.native_handle(), SIGTERM);
    signal_waiter.join();

    return finish_output(o, plan, *queue, out);
}

} // namespace

std::function<int()> add_proxy_command(CLI::App& app) {
    auto o = std::make_shared<proxy_command_options>();
    CLI::App* cmd = app.add_subcommand(
        "proxy", "Run the sniffing proxy: forward WebSocket traffic to an upstream unchanged and "
                 "write one record per frame");
    cmd->footer(
        "Reverse mode (the default): point the WebSocket client at the listening address\n"
        "instead of the server. Forward mode: give the client the listening address as its\n"
        "HTTP proxy; it sends CONNECT HOST:PORT (browsers, for ws:// too) or GET\n"
        "http://HOST/PATH, and wssniff records the WebSocket upgrades in either (a TLS tunnel\n"
        "is relayed unread, its close record counting the bytes, unless --mitm-ca DIR: then\n"
        "wssniff answers the client's TLS with a certificate its CA signs for the name asked\n"
        "for, speaks TLS to the server, and records wss:// as it records ws://).\n"
        "Examples:\n"
        "  wssniff proxy --upstream ws://127.0.0.1:9000 --listen 127.0.0.1:8080\n"
        "  wssniff proxy --upstream ws://127.0.0.1:9000 | jq -c 'select(.op==\"text\")'\n"
        "  wssniff proxy --upstream wss://example.com --tls-cert c.pem --tls-key k.pem\n"
        "  wssniff proxy --upstream ws://127.0.0.1:9000 --filter 'type in {\"error\",\"close\"}'\n"
        "  wssniff proxy --upstream ws://127.0.0.1:9000 --conn-filter 'hs.target matches "
        "/^\\/ws\\/chat/'\n"
        "  wssniff proxy --upstream ws://127.0.0.1:9000 -o /var/log/wssniff/ws.ndjson \\\n"
        "      --rotate-size 100MiB --rotate-keep 20     # ws_00001_<UTC time>.ndjson, ...\n"
        "  wssniff proxy --upstream ws://127.0.0.1:9000 --instance web-1 \\\n"
        "      --output tcp://127.0.0.1:5170          # to Vector's socket source, Fluent Bit's "
        "tcp\n"
        "  wssniff proxy --upstream ws://127.0.0.1:9000 --output unix:///run/vector/ws.sock\n"
        "  wssniff proxy --mode forward --listen 127.0.0.1:3128\n"
        "      # then: chromium --proxy-server=http://127.0.0.1:3128, or\n"
        "      #       HTTPS_PROXY=http://127.0.0.1:3128 for clients that read it\n"
        "  wssniff proxy --mode forward --listen 0.0.0.0:3128 --allow api.example.com:80 \\\n"
        "      --allow 10.0.0.7       # beyond loopback: only these hosts (any port for the 2nd)\n"
        "  wssniff ca create ~/.wssniff-ca     # once: ca.key and ca.pem, mode 0600\n"
        "  wssniff proxy --mode forward --listen 127.0.0.1:3128 --mitm-ca ~/.wssniff-ca\n"
        "      # then: NODE_EXTRA_CA_CERTS=~/.wssniff-ca/ca.pem node client.js (through the\n"
        "      # proxy), or Chromium trusting ca.pem in its NSS db (wssniff ca create --help)\n"
        "Network outputs: one record per line; lost connections are retried (back-off up to\n"
        "1 s) while records wait (or are dropped and counted with --drop-when-behind).\n"
        "  wssniff proxy --upstream ws://127.0.0.1:9000 -o ws.ndjson --metrics 9100\n"
        "      # then: curl -s http://127.0.0.1:9100/metrics | grep ^wssniff_frames_total\n"
        "SIGINT/SIGTERM: stop accepting, write close records (reason shutdown), flush, exit 0.\n"
        "SIGHUP: with --output, close the file and open it again (logrotate's postrotate; a\n"
        "new segment when rotating); writing to stdout, stop as SIGTERM does; to Kafka, none.\n"
        "Kafka: each record is one message, its NDJSON line (no newline) under the key\n"
        "instance/run/conn (a connection's records stay in order in one partition);\n"
        "idempotent producer, 5 ms batches. Brokers that do not answer within --kafka-timeout\n"
        "at start: exit 1. SIGTERM waits up to --kafka-timeout for the last deliveries and\n"
        "says how many records were delivered, failed and undelivered (exit 1 if any was\n"
        "not delivered). Lossless by default: a full librdkafka queue makes the relay wait.\n" +
        view_help() +
        "Status line: when stderr is a terminal, one line there shows connections open/total,\n"
        "frames/s and bytes/s each way, records written and dropped (4 refreshes a second at\n"
        "most; erased on exit). --quiet turns it off.\n" +
        metrics_help() + filters_help());
    cmd->add_option("--mode", o->mode,
                    "reverse: every client goes to --upstream. forward: an HTTP proxy; each client "
                    "names its server with CONNECT HOST:PORT or GET http://HOST/PATH (no "
                    "--upstream)")
        ->check(CLI::IsMember({"reverse", "forward"}))
        ->default_str("reverse");
    cmd->add_option("--allow", o->allow,
                    "With --mode forward: a host clients may name, HOST or HOST:PORT (compared as "
                    "written, not resolved); repeatable; others get a 403. Required when --listen "
                    "is not a loopback address (an open relay otherwise)")
        ->option_text("HOST[:PORT]");
    cmd->add_option(
           "-u,--upstream", o->upstream,
           "The WebSocket server: ws://HOST:PORT, or wss://HOST:PORT for one that speaks "
           "TLS ([::1] for an IPv6 address). No path: each request goes upstream with "
           "its own target (the client's URL path) unchanged. Required unless --mode forward")
        ->option_text("URL");
    cmd->add_option("-l,--listen", o->listen,
                    "Address to accept clients on; port 0 to 65535, 0 picks a free one (printed "
                    "on stderr). Not the --upstream address")
        ->default_str("127.0.0.1:8080")
        ->option_text("HOST:PORT=127.0.0.1:8080");
    cmd->add_option("--host-header", o->host_header,
                    "Host header of requests: rewritten to the upstream's (upstream) or left as "
                    "the client sent it (keep)")
        ->check(CLI::IsMember({"upstream", "keep"}))
        ->each([o](const std::string&) { o->host_header_given = true; })
        ->default_str("upstream");
    cmd->add_flag("--drop-when-behind", o->drop_when_behind,
                  "Never slow the traffic for the output: drop records when the writer falls "
                  "behind and report how many (default: pause reading until it catches up)");
    cmd->add_option("--connect-timeout", o->connect_timeout,
                    "Seconds to connect to the upstream (0.001 to 3600)")
        ->check(seconds_in(0.001, 3600, false))
        ->default_str("5")
        ->option_text("SECONDS=5");
    cmd->add_option("--handshake-timeout", o->handshake_timeout,
                    "Seconds from accept until the upgrade completes, then the connection is "
                    "closed (with a 504 if the upstream answered nothing); 0.001 to 86400, or 0: "
                    "no limit. Not with --emit none, which does not look at the bytes")
        ->check(seconds_in(0.001, 86400, true))
        ->default_str("30")
        ->option_text("SECONDS=30");
    cmd->add_option("--idle-timeout", o->idle_timeout,
                    "Seconds without a byte either way before a connection is closed; 0.001 to "
                    "604800 (a week), or 0: never")
        ->check(seconds_in(0.001, 604800, true))
        ->default_str("0")
        ->option_text("SECONDS=0");
    cmd->add_option("--threads", o->threads,
                    "Relay event loops, each on a thread of its own; connections are spread over "
                    "them as they are accepted (1 to 256; default: one per core)")
        ->check(count_in(1, 256))
        ->default_str(std::to_string(default_threads()))
        ->option_text("N");
    cmd->add_option("--queue", o->queue,
                    "Records held for the writer before backpressure or drops (1 to 16777216)")
        ->check(count_in(1, std::uint64_t{1} << 24))
        ->default_str("8192")
        ->option_text("RECORDS=8192");
    cmd->add_option("--mitm-ca", o->mitm_ca,
                    "With --mode forward: intercept TLS inside CONNECT tunnels with the CA in DIR "
                    "(ca.key, ca.pem: wssniff ca create DIR), so wss:// is recorded too. Clients "
                    "must trust DIR/ca.pem; servers are verified as a wss:// --upstream is "
                    "(--ca-file, --insecure)")
        ->option_text("DIR");
    cmd->add_option("--ca-file", o->ca_file,
                    "Verify a wss:// upstream (or with --mitm-ca, an intercepted server) against "
                    "the CA certificates in FILE (PEM) instead of the system's")
        ->check(CLI::ExistingFile)
        ->option_text("FILE");
    cmd->add_flag("--insecure", o->insecure,
                  "Do not verify a wss:// upstream's certificate (prints a warning)");
    cmd->add_option("--tls-cert", o->tls_cert,
                    "Accept TLS (wss://) clients with this certificate chain (PEM); needs "
                    "--tls-key")
        ->check(CLI::ExistingFile)
        ->option_text("FILE");
    cmd->add_option("--tls-key", o->tls_key, "The private key of --tls-cert (PEM)")
        ->check(CLI::ExistingFile)
        ->option_text("FILE");
    cmd->add_option("--metrics", o->metrics,
                    "Serve counters in Prometheus' text format on http://HOST:PORT/metrics. "
                    "PORT alone (or :PORT) is 127.0.0.1:PORT; another address (IPv4) only when "
                    "given, with a warning. Port 0 picks a free one; the address is printed on "
                    "stderr as 'metrics on http://HOST:PORT/metrics'")
        ->each([o](const std::string&) { o->metrics_given = true; })
        ->option_text("[IPV4:]PORT");
    add_output_options(*cmd, o->output, true);
    cmd->get_option("--output")
        ->description("Write the records to FILE (created mode 0600) instead of stdout; send "
                      "them as lines to tcp://HOST:PORT or unix:///PATH; or produce them to a "
                      "Kafka topic: kafka://BROKER[,BROKER...]/TOPIC (a broker is HOST[:PORT], "
                      "9092 by default)")
        ->option_text("FILE|tcp://HOST:PORT|unix:///PATH|kafka://BROKERS/TOPIC");
    cmd->add_option("--kafka-option", o->kafka_options,
                    "With --output kafka://: a librdkafka property KEY=VALUE, repeatable "
                    "(security.protocol=SASL_SSL, sasl.mechanisms, ssl.ca.location, "
                    "compression.type=zstd...); applied after wssniff's own")
        ->option_text("KEY=VALUE");
    cmd->add_option("--kafka-timeout", o->kafka_timeout,
                    "With --output kafka://: seconds the brokers may take to answer at start "
                    "(else exit 1), and the last records to be delivered at exit (0.1 to 3600)")
        ->check(seconds_in(0.1, 3600, false))
        ->default_str("5")
        ->option_text("SECONDS=5");
    cmd->add_flag("-q,--quiet", o->quiet,
                  "No live status line on stderr (shown only when stderr is a terminal)");
    add_instance_option(*cmd, o->instance);
    cmd->add_option("--output-connect-timeout", o->output_connect_timeout,
                    "Seconds to wait for a tcp:// or unix:// --output at start before giving up "
                    "(exit 1); also how long records wait for it when the proxy stops "
                    "(0.001 to 3600)")
        ->check(seconds_in(0.001, 3600, false))
        ->default_str("5")
        ->option_text("SECONDS=5");
    cmd->add_option("--rotate-size", o->rotate_size,
                    "Write --output as segments NAME_00001_<UTC time>.ndjson, ..., a new one when "
                    "this size is reached (between records; 1KiB to 1TiB). Each starts with "
                    "copies of the open connections' handshake records (\"repeat\": true)")
        ->transform(bytes_in(1024, std::uint64_t{1} << 40))
        ->option_text("BYTES");
    cmd->add_option("--rotate-time", o->rotate_time,
                    "Start a new segment when the current one is this many seconds old (checked "
                    "as records are written; 1 to 31622400)")
        ->check(seconds_in(1, 31622400, false))
        ->option_text("SECONDS");
    cmd->add_option("--rotate-keep", o->rotate_keep,
                    "Keep only the newest N segments this run wrote, removing older ones (1 to "
                    "1000000; default: keep all)")
        ->check(count_in(1, 1000000))
        ->option_text("N");
    return [cmd, o]() -> int {
        if (!cmd->parsed()) {
            return -1;
        }
        return run_proxy(*o);
    };
}

} // namespace wssniff::app

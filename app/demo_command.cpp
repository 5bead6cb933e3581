#include "demo_command.hpp"

#include "demo/echo_server.hpp"
#include "demo/scripted_client.hpp"
#include "options.hpp"
#include "output.hpp"

#include "wssniff/proxy/proxy.hpp"
#include "wssniff/record/identity.hpp"
#include "wssniff/record/ndjson.hpp"
#include "wssniff/record/queued_sink.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace wssniff::app {

namespace {

// The whole demo runs in well under a second; past this something is wrong, and the demo says
// what instead of hanging.
constexpr std::chrono::seconds demo_deadline{10};

// The proxy writes a connection's close record once both sides have gone; the demo ends after
// it so that the output shows the whole connection.
bool wait_for_connection_end(const proxy::proxy& relay,
                             std::chrono::steady_clock::time_point deadline) {
    while (relay.accepted() == 0 || relay.open_connections() != 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

struct demo_options {
    output_options output;
    std::string instance; // empty: the host name
};

int run_demo(const demo_options& d) {
    const output_options& o = d.output;
    const auto deadline = std::chrono::steady_clock::now() + demo_deadline;
    const filter::filters filters = compile_filters(o);

    // As for the proxy: the output is opened once the echo server and the proxy are up, so
    // that a demo that cannot start leaves an earlier file untouched.
    late_sink records;
    std::optional<output_file> out;
    std::unique_ptr<output_sink> ndjson;
    record_view view = choose_view(o);
    // Live records, as the proxy's: each says which instance and run wrote it.
    view.identity_fields =
        record::identity::for_this_run(d.instance.empty() ? record::host_name() : d.instance)
            .fields;
    std::optional<record::queued_sink> queue;

    demo::echo_server echo;
    std::uint16_t echo_port = 0;
    try {
        echo_port = echo.start();
    } catch (const std::runtime_error& e) {
        throw runtime_failure(e.what());
    }

    proxy::proxy_options options;
    options.listen_host = "127.0.0.1";
    options.listen_port = 0;
    std::string problem;
    const auto upstream =
        proxy::upstream_url::parse(fmt::format("ws://127.0.0.1:{}", echo_port), problem);
    if (!upstream) {
        throw runtime_failure("cannot point the proxy at the echo server: " + problem);
    }
    options.upstream = *upstream;
    apply(o, options.session);
    options.filters = filters;
    proxy::proxy relay(options, records);
    try {
        relay.listen();
    } catch (const std::system_error& e) {
        throw runtime_failure(
            fmt::format("cannot start the proxy on 127.0.0.1: {}", e.code().message()));
    }
    out.emplace(o.output);
    ndjson = make_output_sink(out->get(), false, view);
    const std::function<void()> flush = [&ndjson] { ndjson->flush(); };
    queue.emplace(*ndjson, 8192, record::queued_sink::when_full::wait, flush);
    records.attach(*queue);
    relay.start();
    fmt::print(stderr, "wssniff demo: client -> proxy {} -> echo server 127.0.0.1:{}\n",
               relay.address(), echo_port);

    std::string failure = demo::play_script(relay.port(), deadline);
    if (failure.empty() && !wait_for_connection_end(relay, deadline)) {
        failure = "timed out waiting for the proxy to see the connection end";
    }
    relay.stop();
    echo.stop();
    queue->close();
    const bool written = ndjson->flush() && out->close();
    if (!failure.empty()) {
        throw runtime_failure("demo failed: " + failure);
    }
    if (!written) {
        throw runtime_failure(output_failure(*ndjson));
    }
    return 0;
}

} // namespace

std::function<int()> add_demo_command(CLI::App& app) {
    auto o = std::make_shared<demo_options>();
    CLI::App* cmd = app.add_subcommand(
        "demo", "See wssniff at work in one command: an echo server, the proxy in front of it and "
                "a client playing a short session, all on 127.0.0.1; prints the records and exits");
    cmd->footer("The client sends a text, a UTF-8 text and a binary message, a message in three "
                "frames with a ping between them, a 70000-byte message, then closes (1000, \"" +
                std::string(demo::closing_reason) +
                "\").\n"
                "Examples:\n"
                "  wssniff demo                      # on a terminal: one line per record\n"
                "  wssniff demo --format ndjson      # the NDJSON records instead\n"
                "  wssniff demo --emit both | jq -c 'select(.type==\"message\") | .len'\n" +
                view_help());
    add_output_options(*cmd, o->output);
    add_instance_option(*cmd, o->instance);
    return [cmd, o]() -> int {
        if (!cmd->parsed()) {
            return -1;
        }
        return run_demo(*o);
    };
}

} // namespace wssniff::app

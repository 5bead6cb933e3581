// wssniff_load: a WebSocket load generator (client) and sink/echo server (server), for
// measuring forwarders side by side. See bench/README.md, "Load: wssniff beside real forwarders".
#include "client.hpp"
#include "server.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

namespace {

constexpr const char* usage =
    "usage:\n"
    "  wssniff_load server [--listen HOST:PORT]\n"
    "      sink (path /sink) and echo (path /echo) server; prints \"listening on HOST:PORT\"\n"
    "  wssniff_load client --connect HOST:PORT [--mode blast|pingpong|idle|chat] [--size BYTES]\n"
    "      [--opcode text|binary] [--deflate] [--seconds S] [--connections N] [--batch BYTES]\n"
    "      [--max-frames N] [--rate MB_PER_S] [--per-second R]\n"
    "      prints one JSON object; exit status 1 when a connection failed or a checksum differed\n"
    "  chat: N connections (64 handshakes in flight), each sends a masked message to /echo R "
    "times\n"
    "      a second, first messages spread over one period; every echo is checked byte for byte.\n"
    "      stderr: \"ready N\" once all are up, \"mark steady ...\" one period later and\n"
    "      \"mark end ...\" when sending stops (the steady phase lies between the marks), e.g.\n"
    "      wssniff_load client --connect 127.0.0.1:8080 --mode chat --connections 9000 \\\n"
    "          --size 200 --opcode text --per-second 1 --seconds 12\n";

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr, "wssniff_load: %s\n%s", message.c_str(), usage);
    std::exit(2);
}

void split_host_port(const std::string& value, std::string& host, std::uint16_t& port) {
    const auto colon = value.rfind(':');
    if (colon == std::string::npos)
        usage_error("expected HOST:PORT, got " + value);
    host = value.substr(0, colon);
    port = static_cast<std::uint16_t>(std::stoul(value.substr(colon + 1)));
}

} // namespace

int main(int argc, char** argv) try {
    if (argc < 2)
        usage_error("missing command");
    const std::string_view command = argv[1];
    auto value = [&](int& i) -> std::string {
        if (i + 1 >= argc)
            usage_error(std::string("missing value for ") + argv[i]);
        return argv[++i];
    };
    if (command == "server") {
        wssniff::load::server_options options;
        for (int i = 2; i < argc; ++i) {
            const std::string_view arg = argv[i];
            if (arg == "--listen") {
                split_host_port(value(i), options.host, options.port);
            } else {
                usage_error("unknown option " + std::string(arg));
            }
        }
        return wssniff::load::run_server(options);
    }
    if (command == "client") {
        wssniff::load::client_options options;
        bool have_connect = false;
        for (int i = 2; i < argc; ++i) {
            const std::string_view arg = argv[i];
            if (arg == "--connect") {
                split_host_port(value(i), options.host, options.port);
                have_connect = true;
            } else if (arg == "--mode") {
                const auto mode = value(i);
                if (mode == "blast")
                    options.mode = wssniff::load::client_mode::blast;
                else if (mode == "pingpong")
                    options.mode = wssniff::load::client_mode::pingpong;
                else if (mode == "idle")
                    options.mode = wssniff::load::client_mode::idle;
                else if (mode == "chat")
                    options.mode = wssniff::load::client_mode::chat;
                else
                    usage_error("unknown mode " + mode);
            } else if (arg == "--size") {
                options.size = std::stoul(value(i));
            } else if (arg == "--opcode") {
                const auto op = value(i);
                if (op != "text" && op != "binary")
                    usage_error("unknown opcode " + op);
                options.text = op == "text";
            } else if (arg == "--deflate") {
                options.deflate = true;
            } else if (arg == "--seconds") {
                options.seconds = std::stod(value(i));
            } else if (arg == "--connections") {
                options.connections = std::stoul(value(i));
            } else if (arg == "--rate") {
                options.rate_mb_per_s = std::stod(value(i));
            } else if (arg == "--max-frames") {
                options.max_frames = std::stoull(value(i));
            } else if (arg == "--per-second") {
                options.per_second = std::stod(value(i));
            } else if (arg == "--batch") {
                options.batch_bytes = std::stoul(value(i));
            } else {
                usage_error("unknown option " + std::string(arg));
            }
        }
        if (!have_connect)
            usage_error("client needs --connect HOST:PORT");
        if (options.connections == 0)
            usage_error("--connections must be at least 1");
        if (options.mode == wssniff::load::client_mode::chat) {
            if (!(options.per_second > 0))
                usage_error("--per-second must be above 0");
            if (options.seconds <= 1.0 / options.per_second)
                usage_error("chat needs --seconds above one period (1 / --per-second): the "
                            "first period is the ramp, the steady phase comes after it");
        }
        return wssniff::load::run_client(options);
    }
    if (command == "--help" || command == "-h") {
        std::fputs(usage, stdout);
        return 0;
    }
    usage_error("unknown command " + std::string(command));
} catch (const std::exception& e) {
    std::fprintf(stderr, "wssniff_load: %s\n", e.what());
    return 2;
}

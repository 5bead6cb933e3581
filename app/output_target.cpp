#include "output_target.hpp"

#include <CLI/CLI.hpp>

namespace wssniff::app {

namespace {

[[noreturn]] void bad(const std::string& problem) {
    throw CLI::ValidationError("--output", problem);
}

std::uint16_t parse_port(const std::string& text, const std::string& whole) {
    if (text.empty() || text.size() > 5 ||
        text.find_first_not_of("0123456789") != std::string::npos || std::stoul(text) == 0 ||
        std::stoul(text) > 65535) {
        bad("'" + whole + "': the port must be a number from 1 to 65535");
    }
    return static_cast<std::uint16_t>(std::stoul(text));
}

} // namespace

output_target parse_output_target(const std::string& text) {
    output_target t;
    t.text = text;
    if (text.empty() || text == "-") {
        return t;
    }
    const std::size_t scheme_end = text.find("://");
    if (scheme_end == std::string::npos) {
        t.type = output_target::kind::file;
        t.path = text;
        return t;
    }
    const std::string scheme = text.substr(0, scheme_end);
    const std::string rest = text.substr(scheme_end + 3);
    if (scheme == "tcp") {
        t.type = output_target::kind::tcp;
        std::string host;
        std::string port;
        if (!rest.empty() && rest.front() == '[') {
            const std::size_t close = rest.find(']');
            if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
                bad("'" + text + "': expected tcp://HOST:PORT or tcp://[IPV6]:PORT");
            }
            host = rest.substr(1, close - 1);
            port = rest.substr(close + 2);
        } else {
            const std::size_t colon = rest.rfind(':');
            if (colon == std::string::npos || rest.find(':') != colon) {
                bad("'" + text + "': expected tcp://HOST:PORT or tcp://[IPV6]:PORT");
            }
            host = rest.substr(0, colon);
            port = rest.substr(colon + 1);
        }
        if (host.empty() || host.find_first_of("/?#@ ") != std::string::npos) {
            bad("'" + text + "': expected tcp://HOST:PORT, with no path");
        }
        t.host = host;
        t.port = parse_port(port, text);
        return t;
    }
    if (scheme == "unix") {
        t.type = output_target::kind::unix_socket;
        if (rest.empty() || rest.front() != '/') {
            bad("'" + text + "': expected unix:///ABSOLUTE/PATH (three slashes)");
        }
        // sockaddr_un's sun_path holds 107 bytes and the terminating NUL.
        if (rest.size() > 107) {
            bad("'" + text + "': a unix socket path has at most 107 bytes");
        }
        t.path = rest;
        return t;
    }
    if (scheme == "kafka") {
        t.type = output_target::kind::kafka;
        t.rest = rest;
        return t;
    }
    bad("'" + text + "': unknown scheme '" + scheme +
        "://'; expected a file, tcp://HOST:PORT, unix:///PATH or kafka://BROKER/TOPIC");
}

std::string file_output_problem(const std::string& text) {
    if (text.find("://") == std::string::npos) {
        return {};
    }
    return "'" + text +
           "': only the proxy writes to tcp://, unix:// and kafka:// outputs; this "
           "command writes a file or standard output";
}

} // namespace wssniff::app

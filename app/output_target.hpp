#pragma once
// Where --output sends the records: standard output, a file, a TCP or unix stream socket
// (newline-delimited records, what Vector's `socket` source and Fluent Bit's `tcp` input read)
// or Kafka.

#include <cstdint>
#include <string>

namespace wssniff::app {

struct output_target {
    enum class kind : std::uint8_t { standard_output, file, tcp, unix_socket, kafka };
    kind type = kind::standard_output;
    std::string path;       // file, unix_socket
    std::string host;       // tcp (without the brackets of an IPv6 address)
    std::uint16_t port = 0; // tcp
    std::string rest;       // kafka: everything after "kafka://", unparsed
    std::string text;       // as given

    bool network() const noexcept {
        return type == kind::tcp || type == kind::unix_socket || type == kind::kafka;
    }
};

// "" or "-": standard output; tcp://HOST:PORT ([V6]:PORT); unix:///ABSOLUTE/PATH;
// kafka://...; anything else without "://" is a file. Throws CLI::ValidationError naming
// --output (a usage error) for any other scheme or a malformed address.
output_target parse_output_target(const std::string& text);

// The --output checks of the commands that write files only: "" when `text` is no URL, else
// the one-line problem.
std::string file_output_problem(const std::string& text);

} // namespace wssniff::app

#include "decode_command.hpp"

#include "options.hpp"
#include "output.hpp"
#include "pcap_decode.hpp"
#include "ranges.hpp"

#include "wssniff/filter/selector.hpp"
#include "wssniff/record/ndjson.hpp"
#include "wssniff/session/replay.hpp"

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <sys/stat.h>

namespace wssniff::app {

namespace {

struct decode_options {
    std::string pcap;
    std::string ports;
    std::string conns;
    std::uint64_t max_reorder = 4 * 1024 * 1024;
    std::string c2s;
    std::string s2c;
    bool no_handshake = false;
    output_options output;
};

// Streams a capture file in fixed chunks, so a capture of any size decodes in bounded memory.
class capture_file {
  public:
    capture_file(const std::string& path, const char* side) : path_(path) {
        if (path.empty()) {
            return; // this direction sent nothing
        }
        file_ = std::fopen(path.c_str(), "rb");
        if (file_ == nullptr) {
            throw runtime_failure(std::string("cannot open ") + side + " capture '" + path +
                                  "': " + std::strerror(errno));
        }
        // A directory opens but fails at the first read, which comes after the output has been
        // opened (and an earlier file there truncated): refused here instead.
        struct stat st {};
        if (::fstat(::fileno(file_), &st) == 0 && S_ISDIR(st.st_mode)) {
            std::fclose(file_);
            file_ = nullptr;
            throw runtime_failure(std::string("cannot open ") + side + " capture '" + path +
                                  "': " + std::strerror(EISDIR));
        }
    }
    ~capture_file() {
        if (file_ != nullptr) {
            std::fclose(file_);
        }
    }
    capture_file(const capture_file&) = delete;
    capture_file& operator=(const capture_file&) = delete;

    bytes_view next() {
        if (file_ == nullptr) {
            return {};
        }
        const std::size_t n = std::fread(buffer_.data(), 1, buffer_.size(), file_);
        if (n == 0 && std::ferror(file_)) {
            throw runtime_failure("cannot read '" + path_ + "': " + std::strerror(errno));
        }
        return {buffer_.data(), n};
    }

  private:
    std::string path_;
    std::FILE* file_ = nullptr;
    std::array<std::uint8_t, 64 * 1024> buffer_{};
};

int run_decode(const decode_options& options) {
    if (!options.pcap.empty()) {
        if (!options.c2s.empty() || !options.s2c.empty() || options.no_handshake) {
            throw CLI::ValidationError(
                "--pcap reads a whole capture: --c2s, --s2c and --no-handshake do not go with it");
        }
        pcap_decode_options p;
        p.path = options.pcap;
        if (!options.ports.empty()) {
            p.ports =
                number_list(options.ports, "--ports", "TCP ports such as 80,8080-8090", 65535);
        }
        if (!options.conns.empty()) {
            p.conns = conn_list(options.conns);
        }
        p.max_reorder = options.max_reorder;
        p.output = options.output;
        return run_pcap_decode(p);
    }
    if (!options.no_handshake && (options.c2s.empty() || options.s2c.empty())) {
        // The handshake needs both heads; without --no-handshake one side alone decodes nothing.
        throw CLI::ValidationError(
            "decode needs --pcap FILE, or both --c2s and --s2c (or --no-handshake)");
    }
    const filter::filters filters = compile_filters(options.output);
    auto c2s = std::make_unique<capture_file>(options.c2s, "c2s");
    auto s2c = std::make_unique<capture_file>(options.s2c, "s2c");
    // Opened after the captures: a capture that cannot be read leaves an earlier output file
    // untouched.
    output_file out(options.output.output);
    const std::unique_ptr<output_sink> written =
        make_output_sink(out.get(), out.interactive(), choose_view(options.output));
    output_sink& sink = *written;

    session::session_options session_options;
    apply(options.output, session_options);
    session_options.handshake = !options.no_handshake;
    std::optional<filter::filtering_sink> filtered;
    if (filters.any()) {
        filtered.emplace(sink, filters);
    }
    session::session s(filtered ? static_cast<record::sink&>(*filtered) : sink, session_options);
    session::replay(
        s, [&c2s] { return c2s->next(); }, [&s2c] { return s2c->next(); });

    if (!sink.flush() || !out.close()) {
        throw runtime_failure(output_failure(sink));
    }
    return 0;
}

} // namespace

std::function<int()> add_decode_command(CLI::App& app) {
    auto options = std::make_shared<decode_options>();
    CLI::App* decode = app.add_subcommand(
        "decode", "Decode recorded traffic offline into the same NDJSON records the proxy writes: "
                  "a packet capture (--pcap), or the two byte streams of one connection");
    decode->footer(
        "--pcap reads a pcap or pcapng capture (a file, or - for stdin) through libpcap, "
        "reassembles\n"
        "TCP itself and decodes every connection whose client opens with a WebSocket upgrade, on "
        "any port;\n"
        "records carry the packets' times (ts) and the client and server addresses. --c2s/--s2c "
        "take the raw\n"
        "bytes one side sent, starting with its HTTP head, and write no ts or addresses.\n"
        "Examples:\n"
        "  wssniff decode --pcap capture.pcapng | jq -c 'select(.type==\"message\")'\n"
        "  tcpdump -i lo -U -w - 'tcp port 8080' | wssniff decode --pcap -       # live, "
        "passive\n"
        "  wssniff decode --pcap any.pcap --ports 8080,9000-9010 --conn 2 --emit both\n"
        "  wssniff decode --c2s client.bin --s2c server.bin | jq 'select(.type==\"frame\")'\n"
        "  wssniff decode --c2s client.bin --s2c server.bin --filter 'type == \"error\"'\n"
        "  wssniff decode --pcap capture.pcapng --format pretty | less -R\n" +
        view_help() + filters_help());
    // Files are opened at run time, not checked while parsing: a missing capture is a runtime
    // failure (exit 1), not a usage error.
    auto* pcap = decode
                     ->add_option("--pcap", options->pcap,
                                  "A packet capture (pcap or pcapng; - reads stdin)")
                     ->option_text("FILE|-");
    decode
        ->add_option("--ports", options->ports,
                     "With --pcap: only connections with one of these TCP ports (80,8080-8090)")
        ->option_text("LIST")
        ->needs(pcap);
    decode
        ->add_option("--conn", options->conns,
                     "With --pcap: only these WebSocket connections, numbered from 1 in the "
                     "order their upgrade requests (or TLS ClientHellos) appear (1,3-5)")
        ->option_text("LIST")
        ->needs(pcap);
    decode
        ->add_option("--max-reorder", options->max_reorder,
                     "With --pcap: out-of-order bytes held per direction before a hole is given "
                     "up as missing (default 4MiB; 1 byte to 1GiB)")
        ->option_text("BYTES")
        ->transform(bytes_in(1, 1024ULL * 1024 * 1024))
        ->needs(pcap);
    decode->add_option("--c2s", options->c2s, "Bytes the client sent")->option_text("FILE");
    decode->add_option("--s2c", options->s2c, "Bytes the server sent")->option_text("FILE");
    decode->add_flag(
        "--no-handshake", options->no_handshake,
        "With --c2s/--s2c: the captures start at the first frame, not at an HTTP head");
    add_output_options(*decode, options->output);
    return [decode, options]() -> int {
        if (!decode->parsed()) {
            return -1;
        }
        return run_decode(*options);
    };
}

} // namespace wssniff::app

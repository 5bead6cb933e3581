// What parsing an opening handshake's heads costs beside the rest of a connection's setup. The
// relay's Host rewriter parses each request head (and each response head) to find its end, and
// the session parses the same bytes again for the handshake record; these benchmarks show
// whether that second parse is worth sharing (bench/README.md "Opening handshake: the second
// parse"). Baselines in the same run: the session's whole setup for one connection, and a
// loopback TCP connection, the least the relay's sockets cost per connection.

#include "wssniff/handshake/http_head.hpp"
#include "wssniff/record/ndjson.hpp"
#include "wssniff/session/session.hpp"

#include <benchmark/benchmark.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <string>
#include <string_view>
#include <variant>

namespace {

using namespace wssniff;

// A desktop Chrome upgrade request as it reaches the proxy (Host names the proxy): 13 header
// fields, 658 bytes, cookies included as a web app's would be.
constexpr std::string_view browser_request =
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://localhost:8080\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-GB,en-US;q=0.9,en;q=0.8\r\n"
    "Cookie: sessionid=k3v9q0x7c2m4n8b1z6l5j0h3g7f2d9s4; csrftoken=Xb4Rt9LmQ2wZ8vN1cK7yP3sJ6hD0fG5a"
    "; _ga=GA1.1.1803459203.1700000000\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

// The server's answer: the key's accept value (RFC 6455 §1.3) and permessage-deflate agreed.
constexpr std::string_view switching_response =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    "\r\n";

// What the second parse is: one head, start to end, in a parser made for the connection.
void parse_head(benchmark::State& state, handshake::head_parser::kind kind, std::string_view head) {
    for (auto _ : state) {
        handshake::head_parser parser(kind);
        const std::size_t used = parser.feed(bytes_view(head));
        if (used != head.size() || parser.state() != handshake::head_parser::status::done) {
            state.SkipWithError("the head did not parse whole");
            return;
        }
        benchmark::DoNotOptimize(parser.head().fields.data());
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(head.size()));
    state.counters["fields"] = static_cast<double>([&] {
        handshake::head_parser parser(kind);
        parser.feed(bytes_view(head));
        return parser.head().fields.size();
    }());
}

// Keeps the handshake record, and with `serialize` writes every record as the NDJSON line the
// proxy would write.
class handshake_sink final : public record::sink {
  public:
    explicit handshake_sink(bool serialize) : serialize_(serialize) {}
    void write(record::record&& r) override {
        if (const auto* h = std::get_if<record::handshake>(&r.body)) {
            ok = h->status == 101 && h->deflate.has_value();
        } else {
            ++other;
        }
        if (serialize_) {
            line_.clear();
            record::append_ndjson(line_, r);
            benchmark::DoNotOptimize(line_.data());
        }
    }

    bool ok = false;
    std::uint64_t other = 0;

  private:
    bool serialize_;
    record::line_buffer line_;
};

// One connection's session from its construction to its upgrade, as the proxy drives it: the
// request and the response each in one read, stamped, the handshake record written.
void session_setup(benchmark::State& state, bool serialize) {
    handshake_sink sink(serialize);
    const auto ts = std::chrono::system_clock::now();
    std::uint64_t conn = 0;
    for (auto _ : state) {
        session::session_options options;
        options.conn = ++conn;
        options.client = "127.0.0.1:51234";
        options.upstream = "127.0.0.1:9001";
        sink.ok = false;
        session::session session(sink, std::move(options));
        session.feed(direction::c2s, bytes_view(browser_request), ts);
        session.feed(direction::s2c, bytes_view(switching_response), ts);
        if (!sink.ok || sink.other != 0 || !session.upgraded()) {
            state.SkipWithError("the session did not record one deflate upgrade");
            return;
        }
    }
    state.SetItemsProcessed(state.iterations());
}

// Both legs of a relayed connection pay at least this: socket, connect, accept, the request
// written and read, both ends closed (with a reset, so no port is left in TIME_WAIT).
class loopback_listener {
  public:
    loopback_listener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
            ::listen(fd_, 16) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            return;
        }
        address_ = address;
        ready_ = true;
    }
    ~loopback_listener() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    loopback_listener(const loopback_listener&) = delete;
    loopback_listener& operator=(const loopback_listener&) = delete;

    bool ready() const noexcept { return ready_; }

    // One connection: false when any step failed.
    bool connect_and_send(std::string_view request) const {
        const int client = ::socket(AF_INET, SOCK_STREAM, 0);
        if (client < 0) {
            return false;
        }
        bool done =
            ::connect(client, reinterpret_cast<const sockaddr*>(&address_), sizeof address_) == 0;
        const int server = done ? ::accept(fd_, nullptr, nullptr) : -1;
        done =
            done && server >= 0 &&
            ::write(client, request.data(), request.size()) == static_cast<ssize_t>(request.size());
        std::array<char, 2048> in{};
        std::size_t got = 0;
        while (done && got < request.size()) {
            const ssize_t n = ::read(server, in.data(), in.size());
            done = n > 0;
            got += done ? static_cast<std::size_t>(n) : 0;
        }
        const linger reset{1, 0};
        ::setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        ::close(client);
        if (server >= 0) {
            ::close(server);
        }
        return done;
    }

  private:
    int fd_ = -1;
    bool ready_ = false;
    sockaddr_in address_{};
};

void tcp_loopback_connection(benchmark::State& state) {
    const loopback_listener listener;
    if (!listener.ready()) {
        state.SkipWithError("cannot listen on 127.0.0.1");
        return;
    }
    for (auto _ : state) {
        if (!listener.connect_and_send(browser_request)) {
            state.SkipWithError("a loopback connection failed");
            return;
        }
    }
    state.SetItemsProcessed(state.iterations());
}

} // namespace

BENCHMARK_CAPTURE(parse_head, browser_request, handshake::head_parser::kind::request,
                  browser_request);
BENCHMARK_CAPTURE(parse_head, switching_response, handshake::head_parser::kind::response,
                  switching_response);
BENCHMARK_CAPTURE(session_setup, records_dropped, false);
BENCHMARK_CAPTURE(session_setup, ndjson, true);
BENCHMARK(tcp_loopback_connection);

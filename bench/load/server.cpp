// The far end of every run: a sink that keeps a checksum of each connection's payload, and a
// second one of its frame headers as they arrived, and reports both in its Close frame, or an
// echo server for ping-pong. Path /sink or /echo in the upgrade request chooses;
// permessage-deflate is accepted whenever offered, without context takeover, and payloads are
// checked as they travel (compressed), never inflated.
#include "server.hpp"

#include "wire.hpp"

#include <asio.hpp>

#include <cstdio>
#include <memory>
#include <string>

namespace wssniff::load {
namespace {

using asio::ip::tcp;

// A connection's read buffer starts small and doubles whenever a read fills it: a blast's sink
// reaches the full size within a few reads, while ten thousand chat connections that each get
// a 200-byte message a second hold 4 KiB each instead of 256.
constexpr std::size_t first_read_buffer_size = 4 * 1024;
constexpr std::size_t read_buffer_size = 256 * 1024;

class connection : public std::enable_shared_from_this<connection> {
  public:
    explicit connection(tcp::socket socket) : socket_(std::move(socket)) {
        socket_.set_option(tcp::no_delay(true));
    }

    void start() { read_head(); }

    // frame_reader handler
    void on_frame_header(const frame_header& header) {
        data_frame_ = header.op == opcode::text || header.op == opcode::binary ||
                      header.op == opcode::continuation;
        echo_payload_.clear();
        if (data_frame_ && !echo_)
            header_checksum_.update(header.raw.data(), header.raw_size);
    }

    void on_payload(const std::uint8_t* data, std::size_t size) {
        if (!data_frame_)
            return;
        if (echo_) {
            echo_payload_.insert(echo_payload_.end(), data, data + size);
        } else {
            checksum_.update(data, size);
        }
    }

    void on_frame_end(const frame_header& header) {
        switch (header.op) {
        case opcode::text:
        case opcode::binary:
        case opcode::continuation:
            ++frames_;
            if (echo_) {
                append_frame(out_, header.op, header.rsv1, echo_payload_.data(),
                             echo_payload_.size(), false, 0);
            }
            break;
        case opcode::ping:
            // A blast client pings once, after its last frame, and waits for the report as a
            // text frame: a forwarder that answers the client's Close itself and drops ours
            // (mitmproxy) still passes that on.
            if (!echo_) {
                const auto& text = report();
                append_frame(out_, opcode::text, false,
                             reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), false,
                             0);
            }
            break;
        case opcode::close: {
            std::vector<std::uint8_t> payload{0x03, 0xE8}; // 1000, normal closure
            if (!echo_)
                payload.insert(payload.end(), report().begin(), report().end());
            append_frame(out_, opcode::close, false, payload.data(), payload.size(), false, 0);
            closing_ = true;
            break;
        }
        default: break;
        }
    }

  private:
    // Frame count and both sums, fixed once asked for; at most 116 bytes, for a Close reason
    // may carry 123.
    const std::string& report() {
        if (report_.empty()) {
            checksum_.finish();
            header_checksum_.finish();
            char text[124];
            const int n = std::snprintf(text, sizeof text,
                                        "frames=%llu words=%llu a=%016llx b=%016llx h=%016llx",
                                        static_cast<unsigned long long>(frames_),
                                        static_cast<unsigned long long>(checksum_.words()),
                                        static_cast<unsigned long long>(checksum_.a()),
                                        static_cast<unsigned long long>(checksum_.b()),
                                        static_cast<unsigned long long>(header_checksum_.b()));
            report_.assign(text, static_cast<std::size_t>(n));
        }
        return report_;
    }

    void read_head() {
        asio::async_read_until(socket_, asio::dynamic_buffer(head_), "\r\n\r\n",
                               [self = shared_from_this()](std::error_code ec, std::size_t size) {
                                   if (!ec)
                                       self->answer_upgrade(size);
                               });
    }

    void answer_upgrade(std::size_t head_size) {
        const std::string_view head(head_.data(), head_size);
        echo_ = head.find("GET /echo") == 0;
        std::string response =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: " +
            websocket_accept(header_value(head, "Sec-WebSocket-Key")) + "\r\n";
        if (header_value(head, "Sec-WebSocket-Extensions").find("permessage-deflate") !=
            std::string::npos) {
            response += "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                        "client_no_context_takeover\r\n";
        }
        response += "\r\n";
        // Frames that arrived with the head are the first frames.
        const std::string early = head_.substr(head_size);
        out_.assign(response.begin(), response.end());
        buffer_.resize(first_read_buffer_size);
        reader_.feed(reinterpret_cast<const std::uint8_t*>(early.data()), early.size(), *this);
        flush_then_read();
    }

    void flush_then_read() {
        if (out_.empty()) {
            read_frames();
            return;
        }
        asio::async_write(socket_, asio::buffer(out_),
                          [self = shared_from_this()](std::error_code ec, std::size_t) {
                              if (ec)
                                  return;
                              self->out_.clear();
                              if (self->closing_) {
                                  std::error_code ignored;
                                  self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                              }
                              self->read_frames();
                          });
    }

    void read_frames() {
        socket_.async_read_some(asio::buffer(buffer_),
                                [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                    if (ec)
                                        return; // the peer closed: nothing more to account for
                                    self->reader_.feed(self->buffer_.data(), n, *self);
                                    if (n == self->buffer_.size() && n < read_buffer_size)
                                        self->buffer_.resize(n * 2);
                                    self->flush_then_read();
                                });
    }

    tcp::socket socket_;
    std::string head_;
    std::vector<std::uint8_t> buffer_;
    std::vector<std::uint8_t> out_;
    frame_reader reader_;
    stream_checksum checksum_;
    // Over the data frames' raw headers (mask keys included); its b goes out as h.
    stream_checksum header_checksum_;
    std::uint64_t frames_ = 0;
    bool echo_ = false;
    bool data_frame_ = false;
    bool closing_ = false;
    std::vector<std::uint8_t> echo_payload_;
    std::string report_;
};

void accept_next(tcp::acceptor& acceptor) {
    acceptor.async_accept([&acceptor](std::error_code ec, tcp::socket socket) {
        if (!ec)
            std::make_shared<connection>(std::move(socket))->start();
        accept_next(acceptor);
    });
}

} // namespace

int run_server(const server_options& options) {
    asio::io_context io{1};
    tcp::acceptor acceptor(io);
    const tcp::endpoint endpoint(asio::ip::make_address(options.host), options.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(4096);
    const auto bound = acceptor.local_endpoint();
    std::printf("listening on %s:%u\n", bound.address().to_string().c_str(), bound.port());
    std::fflush(stdout);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&io](std::error_code, int) { io.stop(); });
    accept_next(acceptor);
    io.run();
    return 0;
}

} // namespace wssniff::load

// The near end of every run. Frames are encoded once, before the clock starts: blast writes
// the same batch of masked frames again and again, ping-pong writes one frame and waits for its
// echo. The handshake is a fixed request; the answer must be 101 with the right
// Sec-WebSocket-Accept, so a proxy that never reached the server cannot score.
#include "client.hpp"

#include "wire.hpp"

#include <asio.hpp>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace wssniff::load {
namespace {

using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

constexpr std::string_view sec_websocket_key = "dGhlIHNhbXBsZSBub25jZQ==";

// chat: echoes still on their way when sending stops get this long before their connections
// count as failed. Generous: a forwarder starved of CPU on a shared machine is late by seconds,
// and the round trips say how late; a failure should mean an echo that never comes.
constexpr std::chrono::seconds drain_seconds{30};

// Chat-like JSON text: ASCII only (valid UTF-8 for a sniffer that checks text frames) and as
// compressible as what text frames usually carry.
std::vector<std::uint8_t> make_text(std::size_t size, std::mt19937_64& random) {
    static constexpr std::string_view words[] = {"hello",  "world",  "price", "update",
                                                 "order",  "filled", "the",   "quick",
                                                 "market", "depth",  "42.17", "ok"};
    std::string text;
    while (text.size() < size) {
        text += "{\"user\":\"u" + std::to_string(random() % 1000) + "\",\"msg\":\"";
        for (int i = 0; i < 8; ++i) {
            text += words[random() % std::size(words)];
            text += ' ';
        }
        text += "\"}\n";
    }
    text.resize(size);
    return {text.begin(), text.end()};
}

std::vector<std::uint8_t> make_binary(std::size_t size, std::mt19937_64& random) {
    std::vector<std::uint8_t> bytes(size);
    for (auto& b : bytes)
        b = static_cast<std::uint8_t>(random());
    return bytes;
}

struct workload {
    client_options options;
    // What one message carries: the application payload, and the frame payload on the wire
    // (the same unless permessage-deflate compressed it).
    std::vector<std::uint8_t> message;
    std::vector<std::uint8_t> wire_payload;
    std::vector<std::uint8_t> batch;
    std::uint64_t frames_per_batch = 0;
    stream_checksum batch_checksum;
    // Over the raw headers of the batch's frames, mask keys included, as the sink sums them.
    stream_checksum batch_header_checksum;
    std::vector<std::uint8_t> single_frame;
    std::string request;
    // chat: the time between one connection's messages.
    std::chrono::duration<double> period{1.0};
};

// chat: the sends and echoes counted so far, taken when the steady phase begins and ends.
struct chat_mark {
    clock_type::time_point at;
    std::uint64_t sent = 0;
    std::uint64_t echoed = 0;
};

struct results {
    std::size_t upgraded = 0;
    std::size_t finished = 0;
    std::uint64_t frames = 0;
    std::uint64_t payload_bytes = 0;
    std::uint64_t wire_bytes = 0;
    std::vector<std::uint64_t> rtt_ns;
    std::vector<std::string> errors;
    // Frames that arrived with other headers, counts or payload bytes than were sent: a
    // forwarder that re-encodes (mitmproxy re-masks) still gets its figures, but is not exact.
    std::vector<std::string> differences;
    bool payload_exact = true;
    // chat: messages sent and echoes received so far, over every connection.
    std::uint64_t sent = 0;
    std::uint64_t echoed = 0;
    std::size_t failed = 0;
    chat_mark steady;
    chat_mark steady_end;
    // Every message sent has come back (or belongs to a failed connection): only then do the
    // connections close, so the forwarder's CPU time up to this mark is all forwarding.
    chat_mark drained;
    bool sending_done = false;
    bool drained_marked = false;
    // Messages a failed connection sent whose echoes will never be counted.
    std::uint64_t abandoned = 0;
    clock_type::time_point steady_from;
    clock_type::time_point start;
    clock_type::time_point deadline;
    clock_type::time_point end;
};

class client_connection;

struct run_state {
    asio::io_context& io;
    tcp::endpoint endpoint;
    workload work;
    results result;
    std::vector<std::shared_ptr<client_connection>> connections;
    std::size_t next_to_connect = 0;
    std::unique_ptr<asio::steady_timer> mark_timer;
    // chat: one timer for every connection's sends. Message k of connection i is due at
    // start + (k + i / N) periods, so the sends form one round robin; the pacer sends all that
    // are due, then sleeps until the next one, at least 1 ms, so a wake-up sends a handful of
    // messages rather than one: ten thousand timers of their own would cost the load side a
    // timer wake-up per message.
    std::unique_ptr<asio::steady_timer> pacer;
    std::uint64_t pacer_round = 0;
    std::size_t pacer_next = 0;
};

void connect_next(run_state& state);
void start_workload(run_state& state);
void settle(run_state& state);
void check_drained(run_state& state);

class client_connection : public std::enable_shared_from_this<client_connection> {
  public:
    client_connection(run_state& state, std::size_t index)
        : state_(state), socket_(state.io), index_(index) {}

    void connect() {
        socket_.async_connect(state_.endpoint, [self = shared_from_this()](std::error_code ec) {
            if (ec)
                return self->fail("connect: " + ec.message());
            self->socket_.set_option(tcp::no_delay(true));
            asio::async_write(self->socket_, asio::buffer(self->state_.work.request),
                              [self](std::error_code wec, std::size_t) {
                                  if (wec)
                                      return self->fail("write upgrade request: " + wec.message());
                                  self->read_response();
                              });
        });
    }

    void start() {
        switch (state_.work.options.mode) {
        case client_mode::blast: write_batch(); break;
        case client_mode::pingpong: write_ping(); break;
        case client_mode::idle: wait_idle(); break;
        case client_mode::chat: start_chat(); break;
        }
    }

    void close_now() {
        std::error_code ignored;
        socket_.close(ignored);
    }

    // frame_reader handler: frames from the server, unmasked.
    void on_frame_header(const frame_header& header) {
        received_offset_ = 0;
        received_op_ = header.op;
        echo_intact_ = true;
        if (header.op == opcode::close || reading_report())
            close_payload_.clear();
    }

    void on_payload(const std::uint8_t* data, std::size_t size) {
        if (received_op_ == opcode::close || reading_report()) {
            close_payload_.insert(close_payload_.end(), data, data + size);
            return;
        }
        const auto& expected = state_.work.wire_payload;
        if (received_offset_ + size > expected.size() ||
            std::memcmp(expected.data() + received_offset_, data, size) != 0) {
            echo_intact_ = false;
        }
        received_offset_ += size;
    }

    void on_frame_end(const frame_header& header) {
        if (reading_report()) {
            report_.assign(close_payload_.begin(), close_payload_.end());
            if (header.rsv1)
                report_ = inflate_message(report_, 1024);
        } else if (header.op == opcode::close) {
            close_received_ = true;
        } else if (header.op == opcode::text || header.op == opcode::binary) {
            if (received_offset_ != state_.work.wire_payload.size())
                echo_intact_ = false;
            ++echoes_;
            if (state_.work.options.mode == client_mode::chat)
                on_chat_echo();
        }
    }

    // chat: the run's pacer (pace_chat) says when a message is due; reading runs all along,
    // so an echo is timed when it arrives whatever the sends are doing.
    void start_chat() { read_chat(); }

    void send_due() {
        if (failed_)
            return;
        ++queued_;
        if (!writing_)
            write_message();
    }

    void stop_sending() {
        sending_done_ = true;
        maybe_close_chat();
    }

    // Echoes still on their way when the pacer's drain time ran out.
    void drain_expired() {
        if (!closing_ && !failed_) {
            fail(std::to_string(sent_at_queue_.size()) + " echoes missing " +
                 std::to_string(drain_seconds.count()) + " s after the last message");
        }
    }

  private:
    // The sink's only data frame to a blast client: its report, the same text as its Close reason.
    [[nodiscard]] bool reading_report() const {
        return state_.work.options.mode == client_mode::blast && received_op_ == opcode::text;
    }

    void read_response() {
        asio::async_read_until(socket_, asio::dynamic_buffer(head_), "\r\n\r\n",
                               [self = shared_from_this()](std::error_code ec, std::size_t size) {
                                   if (ec)
                                       return self->fail("read upgrade response: " + ec.message());
                                   self->check_response(size);
                               });
    }

    void check_response(std::size_t head_size) {
        const std::string_view head(head_.data(), head_size);
        if (head.rfind("HTTP/1.1 101", 0) != 0) {
            return fail("upgrade refused: " + std::string(head.substr(0, head.find('\r'))));
        }
        if (header_value(head, "Sec-WebSocket-Accept") != websocket_accept(sec_websocket_key)) {
            return fail("wrong Sec-WebSocket-Accept");
        }
        const bool deflate =
            header_value(head, "Sec-WebSocket-Extensions").find("permessage-deflate") !=
            std::string::npos;
        if (deflate != state_.work.options.deflate)
            return fail("permessage-deflate not negotiated as asked");
        // A chat connection reads one 200-byte echo at a time, and there are thousands of them.
        buffer_.resize(state_.work.options.mode == client_mode::chat ? 4 * 1024 : 64 * 1024);
        const std::string early = head_.substr(head_size);
        reader_.feed(reinterpret_cast<const std::uint8_t*>(early.data()), early.size(), *this);
        ++state_.result.upgraded;
        connect_next(state_);
        if (state_.result.upgraded == state_.connections.size())
            start_workload(state_);
    }

    void write_batch() {
        asio::async_write(socket_, asio::buffer(state_.work.batch),
                          [self = shared_from_this()](std::error_code ec, std::size_t) {
                              if (ec)
                                  return self->fail("write: " + ec.message());
                              auto& work = self->state_.work;
                              self->frames_ += work.frames_per_batch;
                              self->checksum_.append(work.batch_checksum);
                              self->header_checksum_.append(work.batch_header_checksum);
                              if (clock_type::now() >= self->state_.result.deadline ||
                                  self->frames_ >= work.options.max_frames)
                                  return self->ask_report();
                              self->pace_then_write_batch();
                          });
    }

    // With --rate, the next batch waits until the bytes written so far are due.
    void pace_then_write_batch() {
        const double rate = state_.work.options.rate_mb_per_s;
        if (rate <= 0)
            return write_batch();
        const auto bytes = static_cast<double>(frames_ * state_.work.single_frame.size());
        const auto due =
            state_.result.start + std::chrono::duration_cast<clock_type::duration>(
                                      std::chrono::duration<double>(bytes / (rate * 1e6)));
        if (!timer_)
            timer_ = std::make_unique<asio::steady_timer>(state_.io);
        timer_->expires_at(due);
        timer_->async_wait([self = shared_from_this()](std::error_code) { self->write_batch(); });
    }

    // A Ping after the last frame asks the sink for its report, which comes back as a text
    // frame; only then the Close.
    void ask_report() {
        close_frame_.clear();
        static constexpr std::string_view ask = "report";
        append_frame(close_frame_, opcode::ping, false,
                     reinterpret_cast<const std::uint8_t*>(ask.data()), ask.size(), true,
                     0x5A17C0DEU);
        asio::async_write(socket_, asio::buffer(close_frame_),
                          [self = shared_from_this()](std::error_code ec, std::size_t) {
                              if (ec)
                                  return self->fail("write ping: " + ec.message());
                              self->read_report();
                          });
    }

    void read_report() {
        if (!report_.empty())
            return write_close();
        socket_.async_read_some(asio::buffer(buffer_),
                                [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                    if (ec)
                                        return self->fail("read report: " + ec.message());
                                    self->reader_.feed(self->buffer_.data(), n, *self);
                                    self->read_report();
                                });
    }

    void write_ping() {
        echo_intact_ = true;
        const auto before = echoes_;
        sent_at_ = clock_type::now();
        asio::async_write(socket_, asio::buffer(state_.work.single_frame),
                          [self = shared_from_this(), before](std::error_code ec, std::size_t) {
                              if (ec)
                                  return self->fail("write: " + ec.message());
                              self->read_echo(before);
                          });
    }

    void read_echo(std::uint64_t before) {
        if (echoes_ > before) {
            const auto rtt = clock_type::now() - sent_at_;
            if (!echo_intact_)
                return fail("echo differs from the message sent");
            ++frames_;
            state_.result.rtt_ns.push_back(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(rtt).count()));
            if (clock_type::now() < state_.result.deadline)
                return write_ping();
            return write_close();
        }
        socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this(),
                                                        before](std::error_code ec, std::size_t n) {
            if (ec)
                return self->fail("read echo: " + ec.message());
            self->reader_.feed(self->buffer_.data(), n, *self);
            self->read_echo(before);
        });
    }

    void wait_idle() {
        timer_ = std::make_unique<asio::steady_timer>(state_.io, state_.result.deadline);
        timer_->async_wait([self = shared_from_this()](std::error_code) { self->write_close(); });
    }

    void write_close() {
        std::vector<std::uint8_t> payload{0x03, 0xE8};
        close_frame_.clear();
        append_frame(close_frame_, opcode::close, false, payload.data(), payload.size(), true,
                     0x5A17C0DEU);
        asio::async_write(socket_, asio::buffer(close_frame_),
                          [self = shared_from_this()](std::error_code ec, std::size_t) {
                              if (ec)
                                  return self->fail("write close: " + ec.message());
                              // A chat connection's read loop is still running: it sees the Close.
                              if (self->state_.work.options.mode != client_mode::chat)
                                  self->read_close();
                          });
    }

    void read_close() {
        if (close_received_)
            return check_close();
        socket_.async_read_some(asio::buffer(buffer_),
                                [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                    if (ec)
                                        return self->fail("read close: " + ec.message());
                                    self->reader_.feed(self->buffer_.data(), n, *self);
                                    self->read_close();
                                });
    }

    // One message at a time on the socket; one that fell due meanwhile goes right after.
    void write_message() {
        writing_ = true;
        --queued_;
        sent_at_queue_.push_back(clock_type::now());
        ++state_.result.sent;
        asio::async_write(socket_, asio::buffer(state_.work.single_frame),
                          [self = shared_from_this()](std::error_code ec, std::size_t) {
                              self->writing_ = false;
                              if (ec)
                                  return self->fail("write: " + ec.message());
                              if (self->queued_ > 0)
                                  return self->write_message();
                              if (self->close_due_)
                                  self->write_close();
                          });
    }

    void read_chat() {
        socket_.async_read_some(asio::buffer(buffer_),
                                [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                    if (ec)
                                        return self->fail("read echo: " + ec.message());
                                    self->reader_.feed(self->buffer_.data(), n, *self);
                                    if (self->failed_)
                                        return;
                                    if (self->close_received_)
                                        return self->check_close();
                                    self->read_chat();
                                });
    }

    // Echoes come back in the order the messages went: the oldest send is this echo's.
    void on_chat_echo() {
        if (failed_)
            return;
        if (sent_at_queue_.empty())
            return fail("an echo of a message never sent");
        const auto sent_at = sent_at_queue_.front();
        const auto rtt = clock_type::now() - sent_at;
        sent_at_queue_.pop_front();
        if (!echo_intact_) {
            ++state_.result.abandoned; // came back, but not as sent: not an echo
            return fail("echo differs from the message sent");
        }
        ++frames_;
        ++state_.result.echoed;
        check_drained(state_);
        // Round trips of the steady phase only: in the first period every connection's reads
        // start at once and the first messages queue behind them.
        if (sent_at >= state_.result.steady_from) {
            state_.result.rtt_ns.push_back(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(rtt).count()));
        }
    }

    void maybe_close_chat() {
        if (!sending_done_ || !state_.result.drained_marked || !sent_at_queue_.empty() ||
            queued_ > 0 || closing_ || failed_)
            return;
        closing_ = true;
        if (writing_)
            close_due_ = true;
        else
            write_close();
    }

    void check_close() {
        const auto& work = state_.work;
        if (work.options.mode == client_mode::blast) {
            const std::string& reason = report_;
            unsigned long long frames = 0, words = 0, a = 0, b = 0, h = 0;
            if (std::sscanf(reason.c_str(), "frames=%llu words=%llu a=%llx b=%llx h=%llx", &frames,
                            &words, &a, &b, &h) != 5) {
                return fail("report without a checksum: " + reason);
            }
            const bool payload_exact =
                words == checksum_.words() && a == checksum_.a() && b == checksum_.b();
            if (!payload_exact || frames != frames_ || h != header_checksum_.b()) {
                char message[200];
                std::snprintf(message, sizeof message,
                              "checksum mismatch: sent %" PRIu64 " frames, sink counted %llu; "
                              "payload bytes %s, frame headers %s",
                              frames_, frames, payload_exact ? "equal" : "differ",
                              h == header_checksum_.b() ? "equal" : "differ");
                state_.result.differences.emplace_back(message);
                state_.result.payload_exact = state_.result.payload_exact && payload_exact;
            }
        }
        finish();
    }

    void finish() {
        auto& result = state_.result;
        result.frames += frames_;
        result.payload_bytes += frames_ * state_.work.message.size();
        result.wire_bytes += frames_ * (state_.work.single_frame.size());
        result.end = std::max(result.end, clock_type::now());
        ++result.finished;
        close_now();
        settle(state_);
    }

    void fail(const std::string& message) {
        if (failed_)
            return;
        failed_ = true;
        state_.result.errors.push_back(message);
        ++state_.result.failed;
        state_.result.abandoned += sent_at_queue_.size();
        close_now();
        settle(state_);
        check_drained(state_);
        // A connection that never upgraded must not hold up the others.
        if (state_.result.start == clock_type::time_point{})
            state_.io.stop();
    }

    run_state& state_;
    tcp::socket socket_;
    // Place among the connections: a chat connection's first message waits index_ / N periods.
    std::size_t index_;
    std::string head_;
    std::vector<std::uint8_t> buffer_;
    frame_reader reader_;
    stream_checksum checksum_;
    stream_checksum header_checksum_;
    std::uint64_t frames_ = 0;
    std::uint64_t echoes_ = 0;
    bool echo_intact_ = true;
    std::size_t received_offset_ = 0;
    opcode received_op_ = opcode::binary;
    std::vector<std::uint8_t> close_payload_;
    std::string report_;
    bool close_received_ = false;
    bool failed_ = false;
    clock_type::time_point sent_at_;
    std::vector<std::uint8_t> close_frame_;
    std::unique_ptr<asio::steady_timer> timer_;
    // chat
    std::deque<clock_type::time_point> sent_at_queue_;
    std::size_t queued_ = 0;
    bool writing_ = false;
    bool sending_done_ = false;
    bool closing_ = false;
    bool close_due_ = false;
};

void connect_next(run_state& state) {
    if (state.next_to_connect < state.connections.size())
        state.connections[state.next_to_connect++]->connect();
}

// chat: the steady phase starts once every connection has sent its first message (one period
// after the start) and ends when sending stops. bench/many reads the forwarder's CPU time and
// memory at each mark, and counts the messages between them.
void mark(run_state& state, chat_mark& at, const char* name) {
    at = {clock_type::now(), state.result.sent, state.result.echoed};
    std::fprintf(stderr, "mark %s sent=%" PRIu64 " echoed=%" PRIu64 "\n", name, at.sent, at.echoed);
    std::fflush(stderr);
}

void check_drained(run_state& state) {
    auto& r = state.result;
    if (!r.sending_done || r.drained_marked || r.echoed + r.abandoned < r.sent)
        return;
    mark(state, r.drained, "drained");
    r.drained_marked = true;
    for (auto& c : state.connections)
        c->stop_sending();
}

void start_marks(run_state& state) {
    state.mark_timer = std::make_unique<asio::steady_timer>(
        state.io,
        state.result.start + std::chrono::duration_cast<clock_type::duration>(state.work.period));
    state.mark_timer->async_wait([&state](std::error_code ec) {
        if (ec)
            return;
        mark(state, state.result.steady, "steady");
        state.mark_timer->expires_at(state.result.deadline);
        state.mark_timer->async_wait([&state](std::error_code ec2) {
            if (!ec2)
                mark(state, state.result.steady_end, "end");
        });
    });
}

clock_type::time_point chat_due(const run_state& state) {
    const double place =
        static_cast<double>(state.pacer_round) +
        static_cast<double>(state.pacer_next) / static_cast<double>(state.connections.size());
    return state.result.start +
           std::chrono::duration_cast<clock_type::duration>(state.work.period * place);
}

void pace_chat(run_state& state) {
    const auto now = clock_type::now();
    auto due = chat_due(state);
    while (due <= now && due < state.result.deadline) {
        state.connections[state.pacer_next]->send_due();
        if (++state.pacer_next == state.connections.size()) {
            state.pacer_next = 0;
            ++state.pacer_round;
        }
        due = chat_due(state);
    }
    if (due >= state.result.deadline) {
        state.result.sending_done = true;
        for (auto& c : state.connections)
            c->stop_sending();
        check_drained(state);
        state.pacer->expires_at(state.result.deadline + drain_seconds);
        state.pacer->async_wait([&state](std::error_code ec) {
            if (ec)
                return;
            for (auto& c : state.connections)
                c->drain_expired();
        });
        return;
    }
    state.pacer->expires_at(std::max(due, now + std::chrono::milliseconds(1)));
    state.pacer->async_wait([&state](std::error_code ec) {
        if (!ec)
            pace_chat(state);
    });
}

// Every connection finished or failed: the drain timer has nothing left to wait for.
void settle(run_state& state) {
    if (state.pacer && state.result.finished + state.result.failed == state.connections.size())
        state.pacer->cancel();
}

void start_workload(run_state& state) {
    if (state.work.options.mode == client_mode::idle ||
        state.work.options.mode == client_mode::chat) {
        // bench/compare reads the proxy's memory while every connection is open and idle.
        std::fprintf(stderr, "ready %zu\n", state.result.upgraded);
        std::fflush(stderr);
    }
    state.result.start = clock_type::now();
    state.result.end = state.result.start;
    state.result.deadline =
        state.result.start + std::chrono::duration_cast<clock_type::duration>(
                                 std::chrono::duration<double>(state.work.options.seconds));
    for (auto& c : state.connections)
        c->start();
    if (state.work.options.mode == client_mode::chat) {
        state.result.steady_from =
            state.result.start +
            std::chrono::duration_cast<clock_type::duration>(state.work.period);
        start_marks(state);
        state.pacer = std::make_unique<asio::steady_timer>(state.io);
        pace_chat(state);
    }
}

workload prepare(const client_options& options) {
    workload work;
    work.options = options;
    work.period = std::chrono::duration<double>(1.0 / options.per_second);
    std::mt19937_64 random(6455);
    work.message =
        options.text ? make_text(options.size, random) : make_binary(options.size, random);
    work.wire_payload = options.deflate ? deflate_message(work.message) : work.message;
    const auto op = options.text ? opcode::text : opcode::binary;
    append_frame(work.single_frame, op, options.deflate, work.wire_payload.data(),
                 work.wire_payload.size(), true, static_cast<std::uint32_t>(random()));
    // A multiple of 8 frames keeps every batch's payload on a checksum word boundary.
    std::uint64_t frames =
        std::max<std::uint64_t>(1, options.batch_bytes / work.single_frame.size());
    frames = (frames + 7) / 8 * 8;
    work.frames_per_batch = frames;
    for (std::uint64_t i = 0; i < frames; ++i) {
        const auto frame_start = work.batch.size();
        append_frame(work.batch, op, options.deflate, work.wire_payload.data(),
                     work.wire_payload.size(), true, static_cast<std::uint32_t>(random()));
        work.batch_checksum.update(work.wire_payload.data(), work.wire_payload.size());
        // Headers are 6, 8 or 14 bytes, so 8 of them end on a checksum word boundary too.
        work.batch_header_checksum.update(work.batch.data() + frame_start,
                                          work.batch.size() - frame_start -
                                              work.wire_payload.size());
    }
    const char* path = options.mode == client_mode::pingpong || options.mode == client_mode::chat
                           ? "/echo"
                           : "/sink";
    work.request = std::string("GET ") + path + " HTTP/1.1\r\nHost: " + options.host + ":" +
                   std::to_string(options.port) +
                   "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
                   std::string(sec_websocket_key) + "\r\nSec-WebSocket-Version: 13\r\n";
    if (options.deflate) {
        work.request += "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                        "client_no_context_takeover\r\n";
    }
    work.request += "\r\n";
    return work;
}

std::uint64_t percentile(const std::vector<std::uint64_t>& sorted, double p) {
    if (sorted.empty())
        return 0;
    const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(index, sorted.size() - 1)];
}

const char* mode_name(client_mode mode) {
    switch (mode) {
    case client_mode::blast: return "blast";
    case client_mode::pingpong: return "pingpong";
    case client_mode::idle: return "idle";
    case client_mode::chat: return "chat";
    }
    return "?";
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\')
            out += '\\';
        if (static_cast<unsigned char>(c) < 0x20)
            continue;
        out += c;
    }
    return out + "\"";
}

} // namespace

int run_client(const client_options& options) {
    asio::io_context io{1};
    run_state state{io,
                    tcp::endpoint(asio::ip::make_address(options.host), options.port),
                    prepare(options),
                    {},
                    {},
                    0,
                    {},
                    {},
                    0,
                    0};
    for (std::size_t i = 0; i < options.connections; ++i)
        state.connections.push_back(std::make_shared<client_connection>(state, i));
    // Connecting in waves keeps a thousand handshakes from overflowing a proxy's listen backlog.
    for (std::size_t i = 0; i < std::min<std::size_t>(64, options.connections); ++i)
        connect_next(state);
    io.run();

    auto& r = state.result;
    std::sort(r.rtt_ns.begin(), r.rtt_ns.end());
    const double seconds = std::chrono::duration<double>(r.end - r.start).count();
    const bool ok = r.errors.empty() && r.finished == options.connections;
    const bool byte_exact = r.differences.empty();
    std::printf("{\"mode\":\"%s\",\"ok\":%s,\"byte_exact\":%s,\"payload_exact\":%s,\"connections\":"
                "%zu,\"upgraded\":%zu,\"finished\":%zu,"
                "\"size\":%zu,"
                "\"opcode\":\"%s\",\"deflate\":%s,\"frames\":%" PRIu64 ",\"payload_bytes\":%" PRIu64
                ",\"wire_bytes\":%" PRIu64
                ",\"seconds\":%.6f,\"wire_mb_per_s\":%.3f,\"frames_per_s\":%.1f,"
                "\"rtt_us\":{\"count\":%zu,\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f},\"errors\":[",
                mode_name(options.mode), ok ? "true" : "false", byte_exact ? "true" : "false",
                r.payload_exact ? "true" : "false", options.connections, r.upgraded, r.finished,
                options.size, options.text ? "text" : "binary", options.deflate ? "true" : "false",
                r.frames, r.payload_bytes, r.wire_bytes, seconds,
                seconds > 0 ? static_cast<double>(r.wire_bytes) / seconds / 1e6 : 0.0,
                seconds > 0 ? static_cast<double>(r.frames) / seconds : 0.0, r.rtt_ns.size(),
                static_cast<double>(percentile(r.rtt_ns, 0.50)) / 1e3,
                static_cast<double>(percentile(r.rtt_ns, 0.99)) / 1e3,
                static_cast<double>(percentile(r.rtt_ns, 0.999)) / 1e3);
    for (std::size_t i = 0; i < r.errors.size(); ++i)
        std::printf("%s%s", i ? "," : "", json_string(r.errors[i]).c_str());
    std::printf("],\"differences\":[");
    for (std::size_t i = 0; i < r.differences.size(); ++i)
        std::printf("%s%s", i ? "," : "", json_string(r.differences[i]).c_str());
    std::printf("]");
    if (options.mode == client_mode::chat) {
        // failures: connections that did not end with every echo and a clean close. The steady
        // phase lies between the marks, once every connection is sending.
        const double steady = std::chrono::duration<double>(r.steady_end.at - r.steady.at).count();
        const auto echoed = r.steady_end.echoed - r.steady.echoed;
        std::printf(",\"per_second\":%g,\"messages_sent\":%" PRIu64 ",\"messages_echoed\":%" PRIu64
                    ",\"failures\":%zu,\"steady\":{\"seconds\":%.6f,\"sent\":%" PRIu64
                    ",\"echoed\":%" PRIu64 ",\"messages_per_s\":%.1f}",
                    options.per_second, r.sent, r.echoed, options.connections - r.finished, steady,
                    r.steady_end.sent - r.steady.sent, echoed,
                    steady > 0 ? static_cast<double>(echoed) / steady : 0.0);
    }
    std::printf("}\n");
    return ok && byte_exact ? 0 : 1;
}

} // namespace wssniff::load

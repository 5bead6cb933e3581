#include "wssniff/playback/player.hpp"

#include "wssniff/base/opcode.hpp"
#include "wssniff/decoder/frame_decoder.hpp"
#include "wssniff/handshake/extensions.hpp"
#include "wssniff/handshake/http_head.hpp"
#include "wssniff/playback/frame_writer.hpp"
#include "wssniff/playback/message_deflater.hpp"
#include "wssniff/proxy/streams.hpp"
#include "wssniff/proxy/tls.hpp"
#include "wssniff/record/error_record.hpp"
#include "wssniff/record/hex_base64.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <fmt/format.h>

#include <array>
#include <deque>
#include <memory>
#include <strings.h>

namespace wssniff::playback {

namespace {

using proxy::tcp;
using steady = std::chrono::steady_clock;

record::timestamp wall_now() {
    return std::chrono::system_clock::now();
}

// A fresh Sec-WebSocket-Key: 16 random bytes in base64 (RFC 6455 §4.1).
std::string fresh_key(mask_source& random) {
    std::array<std::uint8_t, 16> nonce{};
    for (std::size_t i = 0; i < nonce.size(); i += 4) {
        const auto four = random.next();
        std::copy(four.begin(), four.end(), nonce.begin() + static_cast<std::ptrdiff_t>(i));
    }
    std::string key(24, '\0');
    char* o = record::detail::put_base64_groups(key.data(), nonce.data(), 5);
    record::detail::put_base64_tail(o, nonce.data() + 15, 1);
    return key;
}

// Until the writes queued so far drain below this, the next step waits: replaying a large
// archive without pacing must not queue all of it in memory.
constexpr std::size_t max_queued_bytes = 1024 * 1024;

template <class Stream> Stream make(asio::io_context& io, asio::ssl::context* tls) {
    if constexpr (proxy::is_tls<Stream>) {
        return Stream(io, *tls);
    } else {
        (void)tls;
        return Stream(io);
    }
}

template <class Stream>
class player final : public std::enable_shared_from_this<player<Stream>>,
                     private decoder::frame_handler {
  public:
    player(asio::io_context& io, const plan& p, std::uint64_t conn, const player_settings& s,
           record::sink& sink, std::function<void(connection_outcome)> done)
        : io_(io), plan_(p), settings_(s), sink_(sink), done_(std::move(done)),
          stream_(make<Stream>(io, s.tls)), resolver_(io), timer_(io) {
        outcome_.conn = conn;
    }

    void start() {
        auto self = this->shared_from_this();
        const auto& up = settings_.upstream;
        resolver_.async_resolve(up.host, std::to_string(up.port),
                                [self](std::error_code ec, tcp::resolver::results_type found) {
                                    self->on_resolved(ec, std::move(found));
                                });
    }

  private:
    // --- setup -------------------------------------------------------------------------

    void on_resolved(std::error_code ec, tcp::resolver::results_type found) {
        if (ec) {
            return unreachable("cannot resolve the host: " + ec.message());
        }
        auto self = this->shared_from_this();
        asio::async_connect(
            proxy::tcp_of(stream_), found,
            [self](std::error_code e, const tcp::endpoint&) { self->on_connected(e); });
    }

    void on_connected(std::error_code ec) {
        if (ec) {
            return unreachable(ec.message());
        }
        if constexpr (proxy::is_tls<Stream>) {
            proxy::tls::prepare_upstream(stream_.native_handle(), settings_.upstream.host,
                                         settings_.insecure);
            auto self = this->shared_from_this();
            stream_.async_handshake(asio::ssl::stream_base::client, [self](std::error_code e) {
                if (e) {
                    return self->unreachable(
                        proxy::tls::describe_upstream_failure(self->stream_.native_handle(), e));
                }
                self->begin_session();
            });
        } else {
            begin_session();
        }
    }

    void unreachable(const std::string& why) {
        const auto conn = outcome_.conn;
        const auto detail = settings_.upstream.host_port() + ": " + why;
        sink_.write({conn, wall_now(),
                     record::make_error(error_code::upstream_unreachable, detail, {}, {}, true)});
        sink_.write({conn, wall_now(), record::close{record::close_reason::upstream_unreachable}});
        outcome_.failed = true;
        outcome_.unreachable = true;
        outcome_.problem = fmt::format("conn {}: cannot connect to {}", conn, detail);
        finish();
    }

    void begin_session() {
        auto options = settings_.session;
        options.conn = outcome_.conn;
        std::error_code ec;
        const auto local = proxy::tcp_of(stream_).local_endpoint(ec);
        if (!ec) {
            options.client = proxy::to_string(local);
        }
        options.upstream = settings_.upstream.host_port();
        if constexpr (proxy::is_tls<Stream>) {
            record::tls_info info;
            info.upstream = proxy::tls::upstream_leg_of(
                stream_.native_handle(), settings_.upstream.host, settings_.insecure);
            options.tls = info;
        }
        session_.emplace(sink_, options);
        send(request());
        read();
        // A server that never answers the upgrade does not hold the replay forever.
        wait_until(wait::response, steady::now() + settings_.sync_timeout);
    }

    std::string request() {
        std::string out = fmt::format("{} {} HTTP/1.1\r\n", plan_.method,
                                      settings_.target ? *settings_.target : plan_.target);
        bool host = false;
        for (const auto& [name, value] : plan_.headers) {
            host = host || (name.size() == 4 && strncasecmp(name.c_str(), "host", 4) == 0);
        }
        if (!host) {
            out += "Host: " + settings_.upstream.authority() + "\r\n";
        }
        for (const auto& [name, value] : plan_.headers) {
            out += name + ": " + value + "\r\n";
        }
        out += "Sec-WebSocket-Key: " + fresh_key(masks_) + "\r\n\r\n";
        return out;
    }

    // --- reading -------------------------------------------------------------------------

    void read() {
        auto self = this->shared_from_this();
        stream_.async_read_some(asio::buffer(buffer_), [self](std::error_code ec, std::size_t n) {
            self->on_read(ec, n);
        });
    }

    void on_read(std::error_code ec, std::size_t n) {
        if (finished_) {
            return;
        }
        if (n > 0) {
            const bytes_view data{reinterpret_cast<const std::uint8_t*>(buffer_.data()), n};
            session_->feed(direction::s2c, data, wall_now());
            take(data);
            sink_.end_of_batch();
        }
        if (finished_) {
            return;
        }
        if (ec) {
            // EOF, a TLS close_notify, or a reset: the server is done sending.
            server_gone_ = true;
            server_reset_ = ec == asio::error::connection_reset;
            server_ended_first_ = server_ended_first_ || !fin_sent_;
            session_->end(direction::s2c, wall_now());
            return progress();
        }
        read();
    }

    void take(bytes_view data) {
        if (!decoder_) {
            const auto used = response_.feed(data);
            if (response_.state() == handshake::head_parser::status::failed) {
                outcome_.failed = true;
                outcome_.problem =
                    fmt::format("conn {}: the server's response is not HTTP", outcome_.conn);
                return end_connection();
            }
            if (response_.state() != handshake::head_parser::status::done) {
                return;
            }
            if (!on_response()) {
                return;
            }
            data = data.subview(used);
        }
        decoder_->feed(data);
    }

    bool on_response() {
        stop_waiting();
        const auto& head = response_.head();
        if (head.status != 101) {
            if (plan_.recorded_status == 101) {
                const auto detail =
                    fmt::format("the server answered {} {} where the archive has 101", head.status,
                                head.reason);
                sink_.write({outcome_.conn, wall_now(),
                             record::make_error(error_code::replay_rejected, detail)});
                outcome_.failed = true;
                outcome_.problem = fmt::format("conn {}: {}", outcome_.conn, detail);
            }
            end_connection();
            return false;
        }
        decoder::decoder_options options;
        options.dir = direction::s2c;
        if (const auto extensions = head.joined("Sec-WebSocket-Extensions")) {
            const auto agreed = handshake::parse_response_extensions(*extensions);
            options.rsv1_allowed = agreed.deflate_accepted;
            options.rsv_defined_by_extension = agreed.unknown_extension;
            if (agreed.deflate_accepted && agreed.deflate) {
                deflater_.emplace(agreed.deflate->client_max_window_bits,
                                  agreed.deflate->client_no_context_takeover);
            }
        }
        decoder_.emplace(static_cast<decoder::frame_handler&>(*this), options);
        upgraded_at_ = steady::now();
        auto self = this->shared_from_this();
        asio::post(io_, [self] { self->next_step(); });
        return true;
    }

    // decoder::frame_handler: the server's frames, for the sync count, pings and its close.
    decoder::payload_delivery on_frame_header(const decoder::frame_header& h) override {
        control_.clear();
        return h.opcode >= 8 ? decoder::payload_delivery::bytes
                             : decoder::payload_delivery::length_only;
    }
    void on_frame_payload(const decoder::frame_header&, bytes_view unmasked) override {
        control_.append(unmasked.chars());
    }
    void on_frame_end(const decoder::frame_header& h, const decoder::frame_end& end) override {
        if (end.stream_ended) {
            return;
        }
        if (h.message_ends) {
            ++server_messages_;
        }
        if (h.opcode == opcode::ping && !close_sent_) {
            std::string pong;
            append_client_frame(pong, {true, false, false, false, to_raw(opcode::pong)}, control_,
                                masks_.next());
            send(std::move(pong));
        } else if (h.opcode == opcode::close) {
            server_close_ = true;
        }
        progress();
    }
    void on_error(const decoder::decode_error&) override {} // the session records it

    // --- the steps -------------------------------------------------------------------------

    enum class wait : std::uint8_t {
        none,
        response,
        pace,
        sync,
        last_answers,
        writes,
        close,
        server_fin,
        eof
    };

    // Something the current wait may have been waiting for has happened.
    void progress() {
        switch (waiting_) {
        case wait::sync:
            if (server_messages_ >= plan_.steps[next_].server_messages_before || server_gone_) {
                stop_waiting();
                next_step();
            }
            break;
        case wait::last_answers:
            if (server_messages_ >= plan_.server_messages || server_gone_) {
                stop_waiting();
                end_connection();
            }
            break;
        case wait::close:
            if (server_close_ || server_gone_) {
                stop_waiting();
                end_connection();
            }
            break;
        case wait::server_fin:
            if (server_gone_) {
                stop_waiting();
                end_connection();
            }
            break;
        case wait::eof:
            if (server_gone_) {
                stop_waiting();
                finish_close();
            }
            break;
        case wait::none:
            if (server_gone_ && decoder_ && !ending_ && next_ < plan_.steps.size() &&
                !step_posted_) {
                // The server is gone: the remaining steps have no one to go to.
                next_step();
            }
            break;
        default: break;
        }
    }

    void wait_until(wait why, steady::time_point when) {
        waiting_ = why;
        const auto generation = ++wait_generation_;
        timer_.expires_at(when);
        auto self = this->shared_from_this();
        timer_.async_wait([self, generation](std::error_code ec) {
            if (ec || generation != self->wait_generation_ || self->finished_) {
                return; // cancelled, or a newer wait replaced it
            }
            self->on_timer();
        });
    }

    void stop_waiting() {
        waiting_ = wait::none;
        ++wait_generation_;
        timer_.cancel();
    }

    void on_timer() {
        const auto why = waiting_;
        waiting_ = wait::none;
        switch (why) {
        case wait::response:
            outcome_.failed = true;
            outcome_.problem = fmt::format("conn {}: no answer to the upgrade request within {} ms",
                                           outcome_.conn, settings_.sync_timeout.count());
            sink_.write({outcome_.conn, wall_now(),
                         record::make_error(error_code::replay_rejected,
                                            "no answer to the upgrade request within the sync "
                                            "timeout")});
            end_connection();
            break;
        case wait::pace: next_step(); break;
        case wait::sync: {
            const auto& s = plan_.steps[next_];
            const auto detail = fmt::format(
                "waited {} ms for server message {} before the client's next send (archive line "
                "{}); going on",
                settings_.sync_timeout.count(), s.server_messages_before, s.line);
            sink_.write({outcome_.conn, wall_now(),
                         record::make_error(error_code::replay_sync_timeout, detail)});
            ++outcome_.sync_timeouts;
            synced_ = true;
            next_step();
            break;
        }
        case wait::last_answers: {
            const auto detail = fmt::format(
                "waited {} ms for server message {} after the client's last send; ending the "
                "connection",
                settings_.sync_timeout.count(), plan_.server_messages);
            sink_.write({outcome_.conn, wall_now(),
                         record::make_error(error_code::replay_sync_timeout, detail)});
            ++outcome_.sync_timeouts;
            end_connection();
            break;
        }
        case wait::close:
        case wait::server_fin: end_connection(); break;
        case wait::eof:
            timed_out_ = true;
            finish_close();
            break;
        default: break;
        }
    }

    void next_step() {
        step_posted_ = false;
        if (ending_ || finished_) {
            return;
        }
        if (next_ == plan_.steps.size()) {
            return after_steps();
        }
        if (server_gone_) {
            outcome_.steps_unsent = plan_.steps.size() - next_;
            next_ = plan_.steps.size();
            return after_steps();
        }
        const auto& s = plan_.steps[next_];
        if (settings_.paced && s.at) {
            const auto due =
                upgraded_at_ + std::chrono::duration_cast<steady::duration>(
                                   std::chrono::duration<double, std::micro>(
                                       static_cast<double>(s.at->count()) / settings_.speed));
            if (steady::now() < due) {
                return wait_until(wait::pace, due);
            }
        }
        if (settings_.sync && !synced_ && server_messages_ < s.server_messages_before) {
            synced_ = true; // one timeout per step
            return wait_until(wait::sync, steady::now() + settings_.sync_timeout);
        }
        if (queued_ > max_queued_bytes) {
            waiting_ = wait::writes;
            return;
        }
        send_step(s);
        ++next_;
        ++outcome_.steps_sent;
        synced_ = false;
        step_posted_ = true;
        auto self = this->shared_from_this();
        asio::post(io_, [self] { self->next_step(); });
    }

    void send_step(const step& s) {
        std::string wire;
        bool first = true;
        for (const auto& f : s.frames) {
            frame_bits bits{f.fin, f.rsv1, f.rsv2, f.rsv3, f.opcode};
            const std::string* payload = &f.payload;
            std::string compressed;
            if (f.compressed) {
                if (deflater_) {
                    compressed = deflater_->compress(f.payload, f.fin);
                    payload = &compressed;
                    // RSV1 marks a compressed message on its first frame (RFC 7692 §6).
                    bits.rsv1 = f.opcode != opcode::continuation && (first || f.rsv1);
                } else {
                    outcome_.deflate_declined = true;
                    bits.rsv1 = false;
                }
            }
            close_sent_ = close_sent_ || f.opcode == opcode::close;
            append_client_frame(wire, bits, *payload, masks_.next());
            first = false;
        }
        send(std::move(wire));
    }

    void after_steps() {
        if (close_sent_ && !server_close_ && !server_gone_) {
            return wait_until(wait::close, steady::now() + settings_.sync_timeout);
        }
        if (!close_sent_ && settings_.sync && !server_gone_ &&
            server_messages_ < plan_.server_messages) {
            // No close frame to sync at: the server's recorded answers to the last sends are
            // still awaited before the connection ends.
            return wait_until(wait::last_answers, steady::now() + settings_.sync_timeout);
        }
        end_connection();
    }

    // --- writing -------------------------------------------------------------------------

    void send(std::string bytes) {
        if (bytes.empty() || fin_sent_) {
            return;
        }
        session_->feed(direction::c2s, bytes_view{std::string_view{bytes}}, wall_now());
        queued_ += bytes.size();
        writes_.push_back(std::move(bytes));
        if (!writing_) {
            write_next();
        }
    }

    void write_next() {
        writing_ = true;
        auto self = this->shared_from_this();
        asio::async_write(stream_, asio::buffer(writes_.front()),
                          [self](std::error_code ec, std::size_t) { self->on_written(ec); });
    }

    void on_written(std::error_code ec) {
        writing_ = false;
        if (finished_) {
            return;
        }
        queued_ -= writes_.front().size();
        writes_.pop_front();
        if (ec) {
            // The server is gone; what is left can not be delivered.
            writes_.clear();
            queued_ = 0;
            server_gone_ = true;
            server_ended_first_ = server_ended_first_ || !fin_sent_;
        }
        if (!writes_.empty()) {
            return write_next();
        }
        if (waiting_ == wait::writes) {
            waiting_ = wait::none;
            next_step();
        } else if (end_when_written_) {
            end_connection();
        } else {
            progress();
        }
    }

    // --- the end ---------------------------------------------------------------------------

    void end_connection() {
        if (finished_) {
            return;
        }
        ending_ = true;
        stop_waiting();
        if (writing_) {
            end_when_written_ = true;
            return;
        }
        end_when_written_ = false;
        auto& socket = proxy::tcp_of(stream_);
        if (plan_.client_reset && !server_gone_) {
            std::error_code ignored;
            socket.set_option(asio::socket_base::linger(true, 0), ignored);
            socket.close(ignored);
            session_->close(record::close_reason::client_reset, wall_now());
            return finish();
        }
        if (!fin_sent_ && !server_gone_ && plan_.server_closed_first && !awaited_server_fin_) {
            // As recorded (and as RFC 6455 §7.1.1 asks of clients): the server closes the TCP
            // connection first.
            awaited_server_fin_ = true;
            return wait_until(wait::server_fin, steady::now() + settings_.sync_timeout);
        }
        if (!fin_sent_) {
            fin_sent_ = true;
            session_->end(direction::c2s, wall_now());
            if constexpr (proxy::is_tls<Stream>) {
                auto self = this->shared_from_this();
                proxy::tls::async_half_close(stream_, [self] {
                    std::error_code ignored;
                    proxy::tcp_of(self->stream_).shutdown(tcp::socket::shutdown_send, ignored);
                });
            } else {
                std::error_code ignored;
                socket.shutdown(tcp::socket::shutdown_send, ignored);
            }
        }
        if (server_gone_) {
            return finish_close();
        }
        wait_until(wait::eof, steady::now() + settings_.sync_timeout);
    }

    void finish_close() {
        std::error_code ignored;
        proxy::tcp_of(stream_).close(ignored);
        using record::close_reason;
        const auto reason = timed_out_            ? close_reason::timeout
                            : server_reset_       ? close_reason::server_reset
                            : server_ended_first_ ? close_reason::server_closed
                                                  : close_reason::client_closed;
        session_->close(reason, wall_now());
        finish();
    }

    void finish() {
        if (finished_) {
            return;
        }
        finished_ = true;
        stop_waiting();
        resolver_.cancel();
        sink_.end_of_batch();
        auto done = std::move(done_);
        done(outcome_);
    }

    asio::io_context& io_;
    const plan& plan_;
    const player_settings& settings_;
    record::sink& sink_;
    std::function<void(connection_outcome)> done_;
    Stream stream_;
    tcp::resolver resolver_;
    asio::steady_timer timer_;
    std::optional<session::session> session_;
    handshake::head_parser response_{handshake::head_parser::kind::response};
    std::optional<decoder::frame_decoder> decoder_;
    std::optional<message_deflater> deflater_;
    mask_source masks_;
    std::array<char, 64 * 1024> buffer_{};
    std::string control_; // the current control frame's payload
    std::deque<std::string> writes_;
    std::size_t queued_ = 0;
    bool writing_ = false;
    connection_outcome outcome_;

    steady::time_point upgraded_at_{};
    std::size_t next_ = 0;     // the next step to send
    bool synced_ = false;      // the next step's sync wait is over
    bool step_posted_ = false; // next_step() is queued
    wait waiting_ = wait::none;
    std::uint64_t wait_generation_ = 0;
    std::uint64_t server_messages_ = 0;
    bool server_close_ = false;
    bool close_sent_ = false;
    bool server_gone_ = false;
    bool server_reset_ = false;
    bool server_ended_first_ = false;
    bool fin_sent_ = false;
    bool ending_ = false;
    bool end_when_written_ = false;
    bool awaited_server_fin_ = false;
    bool timed_out_ = false;
    bool finished_ = false;
};

} // namespace

void play(asio::io_context& io, const plan& p, std::uint64_t conn, const player_settings& settings,
          record::sink& sink, std::function<void(connection_outcome)> done) {
    if (settings.upstream.tls) {
        std::make_shared<player<proxy::tls_stream>>(io, p, conn, settings, sink, std::move(done))
            ->start();
    } else {
        std::make_shared<player<proxy::plain_stream>>(io, p, conn, settings, sink, std::move(done))
            ->start();
    }
}

} // namespace wssniff::playback

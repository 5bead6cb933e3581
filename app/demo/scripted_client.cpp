#include "scripted_client.hpp"

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

namespace wssniff::app::demo {

namespace {

using client = websocketpp::client<websocketpp::config::asio_client>;
using opcode = websocketpp::frame::opcode::value;

// One frame the client sends. A data frame with fin false leaves its message open: websocketpp
// sends continuation frames, and control frames between them, when the caller builds them.
struct outgoing_frame {
    opcode op = opcode::text;
    bool fin = true;
    std::string payload;
};

struct step {
    std::string what; // names the step in a failure line
    std::vector<outgoing_frame> frames;
    opcode echo_op = opcode::text;
    std::string echo;                // the reassembled message the server must send back
    std::optional<std::string> pong; // the pong that must answer the step's ping
};

std::vector<step> make_script() {
    std::vector<step> script;
    script.push_back({"the text message",
                      {{opcode::text, true, "Hello, WebSocket!"}},
                      opcode::text,
                      "Hello, WebSocket!",
                      std::nullopt});
    const std::string utf8 =
        "h\u00e9llo w\u00f6rld \u2014 \u3053\u3093\u306b\u3061\u306f \U0001F30D";
    script.push_back(
        {"the UTF-8 text message", {{opcode::text, true, utf8}}, opcode::text, utf8, std::nullopt});
    const std::string binary{'\x00', '\x01', '\x02', '\x7f', '\x80', '\xfe', '\xff'};
    script.push_back({"the binary message",
                      {{opcode::binary, true, binary}},
                      opcode::binary,
                      binary,
                      std::nullopt});
    // RFC 6455 5.4: control frames may be injected in the middle of a fragmented message.
    script.push_back({"the message in three frames",
                      {{opcode::text, false, "a message in "},
                       {opcode::ping, true, "between fragments"},
                       {opcode::continuation, false, "three "},
                       {opcode::continuation, true, "frames"}},
                      opcode::text,
                      "a message in three frames",
                      "between fragments"});
    // Over 65535 bytes, so the header carries the 64-bit payload length.
    std::string large;
    const std::string line = "The quick brown fox jumps over the lazy dog. ";
    while (large.size() < 70000) {
        large += line;
    }
    large.resize(70000);
    script.push_back({"the 70000-byte text message",
                      {{opcode::text, true, large}},
                      opcode::text,
                      large,
                      std::nullopt});
    return script;
}

class player {
  public:
    explicit player(std::vector<step> script) : script_(std::move(script)) {}

    std::string play(std::uint16_t port, std::chrono::steady_clock::time_point deadline) {
        // The demo's stdout is the NDJSON; websocketpp's own logging would be mixed into it.
        endpoint_.clear_access_channels(websocketpp::log::alevel::all);
        endpoint_.clear_error_channels(websocketpp::log::elevel::all);
        websocketpp::lib::error_code ec;
        endpoint_.init_asio(ec);
        if (ec) {
            return "cannot start the client: " + ec.message();
        }
        endpoint_.set_open_handler([this](websocketpp::connection_hdl) { send_step(); });
        endpoint_.set_message_handler(
            [this](websocketpp::connection_hdl, client::message_ptr msg) { on_message(*msg); });
        endpoint_.set_pong_handler(
            [this](websocketpp::connection_hdl, std::string payload) { on_pong(payload); });
        endpoint_.set_fail_handler([this](websocketpp::connection_hdl) {
            // The proxy answers an upgrade it cannot pass on with an HTTP status of its own.
            const auto status = connection_->get_response_code();
            if (status != websocketpp::http::status_code::uninitialized) {
                fail(fmt::format("the upgrade through the proxy got HTTP {} {}",
                                 static_cast<int>(status), connection_->get_response_msg()));
                return;
            }
            fail(fmt::format("the client could not connect through the proxy: {}",
                             connection_->get_ec().message()));
        });
        endpoint_.set_close_handler([this](websocketpp::connection_hdl) { on_close(); });

        const std::string uri = fmt::format("ws://127.0.0.1:{}/demo", port);
        connection_ = endpoint_.get_connection(uri, ec);
        if (ec) {
            return "cannot start the client: " + ec.message();
        }
        waiting_for_ = "the opening handshake through the proxy";
        endpoint_.connect(connection_);
        endpoint_.get_io_service().run_until(deadline);
        if (!done_ && failure_.empty()) {
            failure_ = "timed out waiting for " + waiting_for_;
        }
        return failure_;
    }

  private:
    void send_step() {
        if (next_ == script_.size()) {
            waiting_for_ = "the closing handshake";
            closing_ = true;
            websocketpp::lib::error_code ec;
            connection_->close(websocketpp::close::status::normal, closing_reason, ec);
            if (ec) {
                fail("cannot send the close frame: " + ec.message());
            }
            return;
        }
        const step& s = script_[next_];
        echo_seen_ = false;
        pong_seen_ = !s.pong.has_value();
        waiting_for_ = "the echo of " + s.what;
        for (const outgoing_frame& f : s.frames) {
            websocketpp::lib::error_code ec;
            if (f.op == opcode::ping) {
                connection_->ping(f.payload, ec);
            } else {
                // Built by hand rather than with send(payload, op): only a message object
                // carries fin.
                client::message_ptr msg = connection_->get_message(f.op, f.payload.size());
                msg->set_fin(f.fin);
                msg->append_payload(f.payload);
                ec = connection_->send(msg);
            }
            if (ec) {
                fail(fmt::format("cannot send {}: {}", s.what, ec.message()));
                return;
            }
        }
    }

    void on_message(const client::message_ptr::element_type& msg) {
        if (next_ == script_.size()) {
            fail("the server sent a message after the last step");
            return;
        }
        const step& s = script_[next_];
        if (echo_seen_ || msg.get_opcode() != s.echo_op || msg.get_payload() != s.echo) {
            fail(fmt::format("the echo of {} differs from what was sent ({} bytes back, {} sent)",
                             s.what, msg.get_payload().size(), s.echo.size()));
            return;
        }
        echo_seen_ = true;
        advance();
    }

    void on_pong(const std::string& payload) {
        const step* s = next_ < script_.size() ? &script_[next_] : nullptr;
        if (s == nullptr || !s->pong || pong_seen_ || payload != *s->pong) {
            fail("the server sent a pong that answers no ping");
            return;
        }
        pong_seen_ = true;
        advance();
    }

    void advance() {
        if (echo_seen_ && pong_seen_) {
            ++next_;
            send_step();
        }
    }

    void on_close() {
        const auto code = connection_->get_remote_close_code();
        const std::string reason = connection_->get_remote_close_reason();
        if (!closing_) {
            fail(fmt::format("the connection closed while waiting for {} (code {}, '{}')",
                             waiting_for_, code, reason));
            return;
        }
        if (code != websocketpp::close::status::normal || reason != closing_reason) {
            fail(fmt::format("the server answered the close frame with code {} and reason '{}'",
                             code, reason));
            return;
        }
        done_ = true;
        endpoint_.stop();
    }

    void fail(std::string line) {
        if (failure_.empty()) {
            failure_ = std::move(line);
        }
        endpoint_.stop();
    }

    std::vector<step> script_;
    client endpoint_;
    client::connection_ptr connection_;
    std::size_t next_ = 0;
    bool echo_seen_ = false;
    bool pong_seen_ = true;
    bool closing_ = false;
    bool done_ = false;
    std::string waiting_for_;
    std::string failure_;
};

} // namespace

std::string play_script(std::uint16_t port, std::chrono::steady_clock::time_point deadline) {
    player p(make_script());
    return p.play(port, deadline);
}

} // namespace wssniff::app::demo

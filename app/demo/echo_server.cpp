#include "echo_server.hpp"

#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <mutex>
#include <stdexcept>
#include <thread>

namespace wssniff::app::demo {

namespace {

using server = websocketpp::server<websocketpp::config::asio>;
using websocketpp::connection_hdl;

std::runtime_error start_failure(const std::string& why) {
    return std::runtime_error("cannot start the echo server: " + why);
}

} // namespace

struct echo_server::state {
    server endpoint;
    std::thread serving;
    std::uint16_t port = 0;
    // What the handlers record, on the serving thread, for readers on others.
    mutable std::mutex mutex;
    std::vector<ws_message> received;
    std::optional<std::string> host;
    std::optional<std::pair<std::uint16_t, std::string>> close;
};

echo_server::echo_server() : state_(std::make_unique<state>()) {}

echo_server::~echo_server() {
    stop();
}

std::uint16_t echo_server::start() {
    state& s = *state_;
    if (s.port != 0) {
        throw start_failure("it has been started already");
    }
    // The demo's stdout is the NDJSON; websocketpp's own logging would be mixed into it.
    s.endpoint.clear_access_channels(websocketpp::log::alevel::all);
    s.endpoint.clear_error_channels(websocketpp::log::elevel::all);

    // Set before accepting: websocketpp copies the handlers into each connection it prepares.
    s.endpoint.set_open_handler([&s](connection_hdl hdl) {
        const auto con = s.endpoint.get_con_from_hdl(hdl);
        const std::lock_guard<std::mutex> lock(s.mutex);
        s.host = con->get_request_header("Host");
    });
    s.endpoint.set_message_handler([&s](connection_hdl hdl, server::message_ptr msg) {
        {
            const std::lock_guard<std::mutex> lock(s.mutex);
            s.received.push_back(
                {msg->get_opcode() == websocketpp::frame::opcode::text, msg->get_payload()});
        }
        websocketpp::lib::error_code send_ec;
        // A failed echo shows up at the client as a missing reply, which it reports.
        s.endpoint.send(hdl, msg->get_payload(), msg->get_opcode(), send_ec);
    });
    s.endpoint.set_close_handler([&s](connection_hdl hdl) {
        const auto con = s.endpoint.get_con_from_hdl(hdl);
        const std::lock_guard<std::mutex> lock(s.mutex);
        s.close.emplace(con->get_remote_close_code(), con->get_remote_close_reason());
    });

    websocketpp::lib::error_code ec;
    s.endpoint.init_asio(ec);
    if (!ec) {
        s.endpoint.set_reuse_addr(true);
        s.endpoint.listen(asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0), ec);
    }
    if (!ec) {
        s.endpoint.start_accept(ec);
    }
    if (ec) {
        throw start_failure(ec.message());
    }
    asio::error_code bound_ec;
    const auto bound = s.endpoint.get_local_endpoint(bound_ec);
    if (bound_ec) {
        throw start_failure(bound_ec.message());
    }

    s.serving = std::thread([&s] { s.endpoint.run(); });
    s.port = bound.port();
    return s.port;
}

void echo_server::stop() {
    state& s = *state_;
    if (!s.serving.joinable()) {
        return;
    }
    // The acceptor belongs to the serving thread; closing it there, then stopping the loop in the
    // same handler, ends run() even when a connection is still open.
    asio::post(s.endpoint.get_io_service(), [&s] {
        websocketpp::lib::error_code ec;
        s.endpoint.stop_listening(ec);
        s.endpoint.stop();
    });
    s.serving.join();
}

std::uint16_t echo_server::port() const {
    return state_->port;
}

std::vector<ws_message> echo_server::received() const {
    const std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->received;
}

std::optional<std::string> echo_server::host() const {
    const std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->host;
}

std::optional<std::pair<std::uint16_t, std::string>> echo_server::close_received() const {
    const std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->close;
}

} // namespace wssniff::app::demo

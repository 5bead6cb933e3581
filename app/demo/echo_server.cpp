#include "echo_server.hpp"

#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <stdexcept>
#include <string>
#include <thread>

namespace wssniff::app::demo {

using server = websocketpp::server<websocketpp::config::asio>;

struct echo_server::impl {
    server endpoint;
    std::thread serving;
};

echo_server::echo_server() : impl_(std::make_unique<impl>()) {}

echo_server::~echo_server() {
    stop();
}

std::uint16_t echo_server::start() {
    server& endpoint = impl_->endpoint;
    // The demo's stdout is the NDJSON; websocketpp's own logging would be mixed into it.
    endpoint.clear_access_channels(websocketpp::log::alevel::all);
    endpoint.clear_error_channels(websocketpp::log::elevel::all);

    // Set before accepting: websocketpp copies the handlers into each connection it prepares.
    endpoint.set_message_handler(
        [&endpoint](websocketpp::connection_hdl hdl, server::message_ptr msg) {
            websocketpp::lib::error_code send_ec;
            // A failed echo shows up at the client as a missing reply, which it reports.
            endpoint.send(hdl, msg->get_payload(), msg->get_opcode(), send_ec);
        });

    websocketpp::lib::error_code ec;
    endpoint.init_asio(ec);
    if (!ec) {
        endpoint.listen(asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0), ec);
    }
    if (!ec) {
        endpoint.start_accept(ec);
    }
    if (ec) {
        throw std::runtime_error("cannot start the echo server: " + ec.message());
    }
    asio::error_code bound_ec;
    const auto bound = endpoint.get_local_endpoint(bound_ec);
    if (bound_ec) {
        throw std::runtime_error("cannot start the echo server: " + bound_ec.message());
    }

    impl_->serving = std::thread([&endpoint] { endpoint.run(); });
    return bound.port();
}

void echo_server::stop() {
    if (!impl_->serving.joinable()) {
        return;
    }
    server& endpoint = impl_->endpoint;
    // The acceptor belongs to the serving thread; closing it there, then stopping the loop in the
    // same handler, ends run() even when a connection is still open.
    asio::post(endpoint.get_io_service(), [&endpoint] {
        websocketpp::lib::error_code ec;
        endpoint.stop_listening(ec);
        endpoint.stop();
    });
    impl_->serving.join();
}

} // namespace wssniff::app::demo

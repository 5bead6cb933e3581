#include "peers.hpp"

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>
#include <websocketpp/server.hpp>

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace consumer {

namespace {

using server_endpoint = websocketpp::server<websocketpp::config::asio>;
using client_endpoint = websocketpp::client<websocketpp::config::asio_client>;
using websocketpp::connection_hdl;

template <class Endpoint> void quiet(Endpoint& endpoint) {
    endpoint.clear_access_channels(websocketpp::log::alevel::all);
    endpoint.clear_error_channels(websocketpp::log::elevel::all);
}

} // namespace

struct echo_server::state {
    server_endpoint endpoint;
    std::thread thread;
    std::uint16_t port = 0;
};

echo_server::echo_server() : state_(std::make_unique<state>()) {
    state& s = *state_;
    quiet(s.endpoint);
    s.endpoint.init_asio();
    s.endpoint.set_reuse_addr(true);
    s.endpoint.set_message_handler([&s](connection_hdl hdl, server_endpoint::message_ptr m) {
        websocketpp::lib::error_code ignored;
        s.endpoint.send(hdl, m->get_payload(), m->get_opcode(), ignored);
    });
    s.endpoint.listen(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    s.endpoint.start_accept();
    websocketpp::lib::error_code ec;
    s.port = s.endpoint.get_local_endpoint(ec).port();
    if (ec) {
        throw std::runtime_error("echo server: no local endpoint: " + ec.message());
    }
    s.thread = std::thread([&s] { s.endpoint.run(); });
}

echo_server::~echo_server() {
    state_->endpoint.stop();
    state_->thread.join();
}

std::uint16_t echo_server::port() const {
    return state_->port;
}

struct client::state {
    client_endpoint endpoint;
    std::thread thread;
    connection_hdl hdl;
    mutable std::mutex mutex;
    mutable std::condition_variable changed;
    bool open = false;
    bool closed = false;

    template <class Predicate> bool wait(std::chrono::milliseconds timeout, Predicate done) const {
        std::unique_lock<std::mutex> lock(mutex);
        return changed.wait_for(lock, timeout, done);
    }
    void set(bool state::*flag) {
        {
            const std::lock_guard<std::mutex> lock(mutex);
            this->*flag = true;
        }
        changed.notify_all();
    }
    void stop() {
        endpoint.stop();
        if (thread.joinable()) {
            thread.join();
        }
    }
};

client::client(std::uint16_t port, std::chrono::milliseconds timeout)
    : state_(std::make_unique<state>()) {
    state& s = *state_;
    quiet(s.endpoint);
    s.endpoint.init_asio();
    s.endpoint.set_open_handler([&s](connection_hdl) { s.set(&state::open); });
    s.endpoint.set_fail_handler([&s](connection_hdl) { s.set(&state::closed); });
    s.endpoint.set_close_handler([&s](connection_hdl) { s.set(&state::closed); });

    const std::string uri = "ws://127.0.0.1:" + std::to_string(port) + "/";
    websocketpp::lib::error_code ec;
    const auto con = s.endpoint.get_connection(uri, ec);
    if (ec) {
        throw std::runtime_error("client: bad uri " + uri + ": " + ec.message());
    }
    s.hdl = con->get_handle();
    s.endpoint.connect(con);
    s.thread = std::thread([&s] { s.endpoint.run(); });
    if (!s.wait(timeout, [&s] { return s.open || s.closed; }) || !s.open) {
        s.stop();
        throw std::runtime_error("client: cannot open " + uri);
    }
}

client::~client() {
    state& s = *state_;
    if (!s.wait(std::chrono::milliseconds(0), [&s] { return s.closed; })) {
        websocketpp::lib::error_code ignored;
        s.endpoint.close(s.hdl, websocketpp::close::status::going_away, "", ignored);
        s.wait(std::chrono::seconds(5), [&s] { return s.closed; });
    }
    s.stop();
}

void client::send_text(const std::string& payload) {
    websocketpp::lib::error_code ec;
    state_->endpoint.send(state_->hdl, payload, websocketpp::frame::opcode::text, ec);
    if (ec) {
        throw std::runtime_error("client: send: " + ec.message());
    }
}

void client::close(std::uint16_t code, const std::string& reason) {
    websocketpp::lib::error_code ec;
    state_->endpoint.close(state_->hdl, code, reason, ec);
    if (ec) {
        throw std::runtime_error("client: close: " + ec.message());
    }
}

bool client::wait_closed(std::chrono::milliseconds timeout) const {
    const state& s = *state_;
    return s.wait(timeout, [&s] { return s.closed; });
}

} // namespace consumer

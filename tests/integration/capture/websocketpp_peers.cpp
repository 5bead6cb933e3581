#include "websocketpp_peers.hpp"

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>
#include <websocketpp/server.hpp>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace wssniff::test {

namespace {

using server_endpoint = websocketpp::server<websocketpp::config::asio>;
using client_endpoint = websocketpp::client<websocketpp::config::asio_client>;
using websocketpp::connection_hdl;

template <class Endpoint> void quiet(Endpoint& endpoint) {
    endpoint.clear_access_channels(websocketpp::log::alevel::all);
    endpoint.clear_error_channels(websocketpp::log::elevel::all);
}

std::string to_string(const asio::ip::tcp::endpoint& ep) {
    return ep.address().to_string() + ":" + std::to_string(ep.port());
}

ws_message message_of(const websocketpp::config::asio::message_type::ptr& m) {
    return {m->get_opcode() == websocketpp::frame::opcode::text, m->get_payload()};
}

} // namespace

struct echo_server::state {
    server_endpoint endpoint;
    std::thread thread;
    std::uint16_t port = 0;
    mutable std::mutex mutex;
    std::vector<ws_message> received;
    std::optional<std::string> host;
    std::optional<std::pair<std::uint16_t, std::string>> close;
};

echo_server::echo_server() : state_(std::make_unique<state>()) {
    state& s = *state_;
    quiet(s.endpoint);
    s.endpoint.init_asio();
    s.endpoint.set_reuse_addr(true);
    s.endpoint.set_open_handler([&s](connection_hdl hdl) {
        const auto con = s.endpoint.get_con_from_hdl(hdl);
        const std::lock_guard<std::mutex> lock(s.mutex);
        s.host = con->get_request_header("Host");
    });
    s.endpoint.set_message_handler([&s](connection_hdl hdl, server_endpoint::message_ptr m) {
        {
            const std::lock_guard<std::mutex> lock(s.mutex);
            s.received.push_back(message_of(m));
        }
        websocketpp::lib::error_code ec;
        s.endpoint.send(hdl, m->get_payload(), m->get_opcode(), ec);
    });
    s.endpoint.set_close_handler([&s](connection_hdl hdl) {
        const auto con = s.endpoint.get_con_from_hdl(hdl);
        const std::lock_guard<std::mutex> lock(s.mutex);
        s.close.emplace(con->get_remote_close_code(), con->get_remote_close_reason());
    });
    s.endpoint.listen(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    s.endpoint.start_accept();
    websocketpp::lib::error_code ec;
    s.port = s.endpoint.get_local_endpoint(ec).port();
    if (ec) {
        throw std::runtime_error("echo_server: no local endpoint: " + ec.message());
    }
    s.thread = std::thread([&s] { s.endpoint.run(); });
}

echo_server::~echo_server() {
    // Open connections are dropped with the endpoint; by now the test has what it needs.
    state_->endpoint.stop();
    state_->thread.join();
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

struct client::state {
    client_endpoint endpoint;
    std::thread thread;
    connection_hdl hdl;
    mutable std::mutex mutex;
    mutable std::condition_variable changed;
    bool open = false;
    bool closed = false;
    std::string failure;
    std::string local_address;
    std::vector<ws_message> received;
    std::optional<std::pair<std::uint16_t, std::string>> close;

    template <class Predicate> bool wait(std::chrono::milliseconds timeout, Predicate done) const {
        std::unique_lock<std::mutex> lock(mutex);
        return changed.wait_for(lock, timeout, done);
    }

    void update(const std::function<void()>& change) {
        {
            const std::lock_guard<std::mutex> lock(mutex);
            change();
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

client::client(std::uint16_t port, const std::string& path, std::chrono::milliseconds timeout)
    : state_(std::make_unique<state>()) {
    state& s = *state_;
    quiet(s.endpoint);
    s.endpoint.init_asio();
    s.endpoint.set_open_handler([&s](connection_hdl hdl) {
        const auto con = s.endpoint.get_con_from_hdl(hdl);
        websocketpp::lib::error_code ec;
        const auto local = con->get_raw_socket().local_endpoint(ec);
        s.update([&] {
            s.open = true;
            s.local_address = ec ? "" : to_string(local);
        });
    });
    s.endpoint.set_fail_handler([&s](connection_hdl hdl) {
        const auto con = s.endpoint.get_con_from_hdl(hdl);
        const std::string why = con->get_ec().message();
        s.update([&] {
            s.failure = why.empty() ? "opening handshake failed" : why;
            s.closed = true;
        });
    });
    s.endpoint.set_message_handler([&s](connection_hdl, client_endpoint::message_ptr m) {
        s.update([&] { s.received.push_back(message_of(m)); });
    });
    s.endpoint.set_close_handler([&s](connection_hdl hdl) {
        const auto con = s.endpoint.get_con_from_hdl(hdl);
        s.update([&] {
            s.close.emplace(con->get_remote_close_code(), con->get_remote_close_reason());
            s.closed = true;
        });
    });

    const std::string uri = "ws://127.0.0.1:" + std::to_string(port) + path;
    websocketpp::lib::error_code ec;
    const auto con = s.endpoint.get_connection(uri, ec);
    if (ec) {
        throw std::runtime_error("client: bad uri " + uri + ": " + ec.message());
    }
    s.hdl = con->get_handle();
    s.endpoint.connect(con);
    s.thread = std::thread([&s] { s.endpoint.run(); });

    const bool settled = s.wait(timeout, [&s] { return s.open || s.closed; });
    if (!settled || !s.open) {
        const std::string why = settled ? s.failure : "timed out";
        s.stop();
        throw std::runtime_error("client: cannot open " + uri + ": " + why);
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

void client::send_binary(const std::string& payload) {
    websocketpp::lib::error_code ec;
    state_->endpoint.send(state_->hdl, payload, websocketpp::frame::opcode::binary, ec);
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

bool client::wait_for_messages(std::size_t n, std::chrono::milliseconds timeout) const {
    const state& s = *state_;
    return s.wait(timeout, [&s, n] { return s.received.size() >= n; });
}

bool client::wait_closed(std::chrono::milliseconds timeout) const {
    const state& s = *state_;
    return s.wait(timeout, [&s] { return s.closed; });
}

std::vector<ws_message> client::received() const {
    const std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->received;
}

std::string client::local_address() const {
    const std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->local_address;
}

std::optional<std::pair<std::uint16_t, std::string>> client::close_received() const {
    const std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->close;
}

} // namespace wssniff::test

#include "websocketpp_peers.hpp"

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace wssniff::test {

namespace {

using client_endpoint = websocketpp::client<websocketpp::config::asio_client>;
using websocketpp::connection_hdl;

void quiet(client_endpoint& endpoint) {
    endpoint.clear_access_channels(websocketpp::log::alevel::all);
    endpoint.clear_error_channels(websocketpp::log::elevel::all);
}

std::string to_string(const asio::ip::tcp::endpoint& ep) {
    return ep.address().to_string() + ":" + std::to_string(ep.port());
}

ws_message message_of(const client_endpoint::message_ptr& m) {
    return {m->get_opcode() == websocketpp::frame::opcode::text, m->get_payload()};
}

} // namespace

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

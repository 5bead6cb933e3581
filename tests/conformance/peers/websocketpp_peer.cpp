// websocketpp 0.8.2 as a conformance peer.
//
//   websocketpp_peer server    echo server on 127.0.0.1, prints "listening PORT", runs until
//                              stdin reaches EOF
//   websocketpp_peer client    reads JSON lines {"url", "deflate", "timeout", "proxy", "ca"}
//                              from stdin; for each it connects (through the HTTP proxy "proxy"
//                              names, with CONNECT, when there is one; a wss:// URL over TLS,
//                              trusting only the CA file "ca" and checking the URL's host),
//                              echoes every message with its type, answers a close as websocketpp
//                              does, and prints one JSON line when the connection has ended (the
//                              client peer protocol of driver.py)
//
// permessage-deflate is not offered: see the report's notes on websocketpp.

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_client.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>
#include <websocketpp/server.hpp>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

namespace {

using server = websocketpp::server<websocketpp::config::asio>;
using client = websocketpp::client<websocketpp::config::asio_client>;
using tls_client = websocketpp::client<websocketpp::config::asio_tls_client>;
using opcode = websocketpp::frame::opcode::value;

std::string sha256_hex(const std::string& data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
    static const char* digits = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < size; ++i) {
        hex += digits[digest[i] >> 4];
        hex += digits[digest[i] & 15];
    }
    return hex;
}

int run_server() {
    server endpoint;
    endpoint.clear_access_channels(websocketpp::log::alevel::all);
    endpoint.clear_error_channels(websocketpp::log::elevel::all);
    endpoint.set_message_handler(
        [&endpoint](websocketpp::connection_hdl hdl, server::message_ptr msg) {
            websocketpp::lib::error_code ec;
            // A failed echo shows up at the driver as a missing message.
            endpoint.send(hdl, msg->get_payload(), msg->get_opcode(), ec);
        });
    websocketpp::lib::error_code ec;
    endpoint.init_asio(ec);
    endpoint.set_reuse_addr(true);
    if (!ec) {
        endpoint.listen(asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0), ec);
    }
    if (!ec) {
        endpoint.start_accept(ec);
    }
    asio::error_code bound_ec;
    const auto bound = endpoint.get_local_endpoint(bound_ec);
    if (ec || bound_ec) {
        std::fprintf(stderr, "websocketpp_peer: cannot listen: %s\n",
                     (ec ? ec.message() : bound_ec.message()).c_str());
        return 1;
    }
    std::printf("listening %u\n", static_cast<unsigned>(bound.port()));
    std::fflush(stdout);
    std::thread serving([&endpoint] { endpoint.run(); });
    // The driver ends the server by closing its stdin.
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    asio::post(endpoint.get_io_service(), [&endpoint] {
        websocketpp::lib::error_code stop_ec;
        endpoint.stop_listening(stop_ec);
        endpoint.stop();
    });
    serving.join();
    return 0;
}

// What a client needs beyond the URL.
struct client_setup {
    std::string proxy;   // an http:// proxy to CONNECT through; empty: none
    std::string ca_file; // wss://: the only CA trusted
    std::string host;    // wss://: the name the server's certificate must carry
};

void prepare(client&, const client_setup&) {}

void prepare(tls_client& endpoint, const client_setup& setup) {
    endpoint.set_tls_init_handler([setup](websocketpp::connection_hdl) {
        auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
        context->set_verify_mode(asio::ssl::verify_peer);
        context->load_verify_file(setup.ca_file);
        context->set_verify_callback(asio::ssl::host_name_verification(setup.host));
        return context;
    });
}

template <class Client>
nlohmann::json run_one_connection(const std::string& url, const client_setup& setup,
                                  double timeout_s) {
    using message_ptr = typename Client::message_ptr;
    using connection_ptr = typename Client::connection_ptr;
    nlohmann::json report = {{"opened", false},       {"messages", nlohmann::json::array()},
                             {"close_code", nullptr}, {"close_reason", nullptr},
                             {"clean", false},        {"error", nullptr}};
    Client endpoint;
    endpoint.clear_access_channels(websocketpp::log::alevel::all);
    endpoint.clear_error_channels(websocketpp::log::elevel::all);
    websocketpp::lib::error_code ec;
    endpoint.init_asio(ec);
    if (ec) {
        report["error"] = "init: " + ec.message();
        return report;
    }
    prepare(endpoint, setup);
    endpoint.set_open_handler([&report](websocketpp::connection_hdl) { report["opened"] = true; });
    endpoint.set_message_handler([&](websocketpp::connection_hdl hdl, message_ptr msg) {
        const std::string& payload = msg->get_payload();
        report["messages"].push_back(
            {{"type", msg->get_opcode() == opcode::text ? "text" : "binary"},
             {"sha256", sha256_hex(payload)},
             {"len", payload.size()}});
        websocketpp::lib::error_code send_ec;
        endpoint.send(hdl, payload, msg->get_opcode(), send_ec);
    });
    std::function<void()> ended;
    auto record_end = [&](websocketpp::connection_hdl hdl) {
        if (ended) {
            ended();
        }
        connection_ptr con = endpoint.get_con_from_hdl(hdl);
        // 1005: a close frame without a code; 1006: no close frame at all (RFC 6455 §7.1.5).
        const auto code = con->get_remote_close_code();
        if (code != websocketpp::close::status::no_status &&
            code != websocketpp::close::status::abnormal_close) {
            report["close_code"] = code;
            report["close_reason"] = con->get_remote_close_reason();
        }
        report["clean"] = code != websocketpp::close::status::abnormal_close && !con->get_ec();
        if (con->get_ec()) {
            report["error"] = con->get_ec().message();
        }
    };
    endpoint.set_close_handler(record_end);
    endpoint.set_fail_handler([&](websocketpp::connection_hdl hdl) {
        record_end(hdl);
        if (report["error"].is_null()) {
            report["error"] = "connection failed";
        }
    });
    connection_ptr con = endpoint.get_connection(url, ec);
    if (ec) {
        report["error"] = "connect: " + ec.message();
        return report;
    }
    if (!setup.proxy.empty()) {
        con->set_proxy(setup.proxy, ec);
        if (ec) {
            report["error"] = "proxy: " + ec.message();
            return report;
        }
    }
    asio::steady_timer deadline(endpoint.get_io_service());
    deadline.expires_after(std::chrono::milliseconds(static_cast<long>(timeout_s * 1000)));
    bool timed_out = false;
    deadline.async_wait([&](const asio::error_code& wait_ec) {
        if (!wait_ec) {
            timed_out = true;
            endpoint.stop();
        }
    });
    // run() returns once the connection has ended and the deadline is cancelled.
    ended = [&deadline] { deadline.cancel(); };
    endpoint.connect(con);
    endpoint.run();
    if (timed_out) {
        report["error"] = "timeout";
    }
    return report;
}

int run_client() {
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line.empty()) {
            continue;
        }
        nlohmann::json request;
        try {
            request = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            std::fprintf(stderr, "websocketpp_peer: bad request line: %s\n", e.what());
            return 1;
        }
        const double timeout = request.value("timeout", 10.0);
        const std::string url = request.at("url");
        client_setup setup{request.value("proxy", ""), request.value("ca", ""), ""};
        nlohmann::json report;
        if (url.rfind("wss://", 0) == 0) {
            const websocketpp::uri target(url);
            setup.host = target.get_host();
            report = run_one_connection<tls_client>(url, setup, timeout);
        } else {
            report = run_one_connection<client>(url, setup, timeout);
        }
        std::cout << report.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                  << std::endl;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "server") {
        return run_server();
    }
    if (mode == "client") {
        return run_client();
    }
    std::fprintf(stderr, "usage: websocketpp_peer server|client\n");
    return 2;
}

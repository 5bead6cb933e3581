#include "proxy_plan.hpp"

#include "self_upstream.hpp"

#include "wssniff/handshake/proxy_request.hpp"
#include "wssniff/proxy/mitm_ca.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <unistd.h>

namespace wssniff::app {

std::size_t default_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : std::min<std::size_t>(n, 256);
}

namespace {

std::chrono::milliseconds seconds(double s) {
    return std::chrono::milliseconds(static_cast<long long>(std::llround(s * 1000)));
}

// HOST:PORT, [V6]:PORT, or :PORT (loopback).
void parse_listen(const std::string& text, proxy::proxy_options& options) {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
        throw CLI::ValidationError("--listen", "expected HOST:PORT, got '" + text + "'");
    }
    std::string host = text.substr(0, colon);
    const std::string port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535) {
        throw CLI::ValidationError("--listen", "the port must be a number from 0 to 65535");
    }
    options.listen_host = host.empty() ? "127.0.0.1" : host;
    options.listen_port = static_cast<std::uint16_t>(std::stoul(port));
}

// --allow HOST[:PORT]: an IPv6 address in brackets; no port, any port.
proxy::allow_rule parse_allow(const std::string& text) {
    proxy::allow_rule rule;
    std::uint16_t port = 0;
    if (handshake::split_authority(text, 0, rule.host, port)) {
        rule.port = port;
        return rule;
    }
    if (!text.empty() && text.back() != ':' &&
        handshake::split_authority(text, 1, rule.host, port)) {
        return rule;
    }
    throw CLI::ValidationError("--allow", "expected HOST or HOST:PORT (a port from 1 to 65535, an "
                                          "IPv6 address in brackets), got '" +
                                              text + "'");
}

// Forward mode's options: the clients name their servers, so nothing names an upstream.
void apply_forward_mode(const proxy_command_options& o, proxy::proxy_options& options) {
    if (!o.upstream.empty()) {
        throw CLI::ValidationError("--upstream",
                                   "not with --mode forward: each client names its server "
                                   "(CONNECT or an absolute-form request)");
    }
    for (const auto& [given, name] :
         {std::pair{!o.tls_cert.empty(), "--tls-cert"}, std::pair{!o.tls_key.empty(), "--tls-key"},
          std::pair{o.host_header_given, "--host-header"}}) {
        if (given) {
            throw CLI::ValidationError(name, "applies to --mode reverse only");
        }
    }
    if (o.mitm_ca.empty() && (!o.ca_file.empty() || o.insecure)) {
        throw CLI::ValidationError(o.insecure ? "--insecure" : "--ca-file",
                                   "verifies a wss:// upstream: --mode reverse, or forward with "
                                   "--mitm-ca");
    }
    if (!o.mitm_ca.empty()) {
        // Missing files are a usage mistake (the CA is made by another command); what they
        // hold is checked when the proxy loads them (exit 1).
        for (const std::string& path :
             {proxy::ca_key_path(o.mitm_ca), proxy::ca_cert_path(o.mitm_ca)}) {
            if (::access(path.c_str(), F_OK) != 0) {
                throw CLI::ValidationError("--mitm-ca", path +
                                                            " does not exist; make the CA with "
                                                            "wssniff ca create " +
                                                            o.mitm_ca);
            }
        }
        options.mitm_ca = o.mitm_ca;
    }
    options.forward = true;
    options.rewrite_host = false;
    for (const std::string& text : o.allow) {
        options.allow.push_back(parse_allow(text));
    }
}

// --output kafka://...: the brokers and topic, and librdkafka's settings from --kafka-option.
void plan_kafka(const proxy_command_options& o, proxy_plan& plan) {
    if (!plan.to_kafka()) {
        if (!o.kafka_options.empty()) {
            throw CLI::ValidationError("--kafka-option", "applies to --output kafka://... only");
        }
        return;
    }
    std::string problem;
    plan.kafka = parse_kafka_url(plan.target.text, problem);
    if (!plan.kafka) {
        throw CLI::ValidationError("--output", problem);
    }
    kafka_settings& config = plan.kafka_config;
    for (const std::string& option : o.kafka_options) {
        auto property = parse_kafka_option(option);
        if (!property) {
            throw CLI::ValidationError("--kafka-option",
                                       "expected KEY=VALUE (a librdkafka property), got '" +
                                           option + "'");
        }
        config.properties.push_back(std::move(*property));
    }
    if (const std::string refused = kafka_property_problem(config); !refused.empty()) {
        throw CLI::ValidationError("--kafka-option", refused);
    }
    config.connect_timeout = seconds(o.kafka_timeout);
    config.flush_timeout = seconds(o.kafka_timeout);
    config.drop_when_full = o.drop_when_behind;
}

// --rotate-size, --rotate-time, --rotate-keep: only an --output file rotates.
void plan_rotation(const proxy_command_options& o, proxy_plan& plan) {
    rotation_policy& rotation = plan.rotation;
    rotation.size = o.rotate_size;
    rotation.time = seconds(o.rotate_time);
    rotation.keep = o.rotate_keep;
    if ((rotation.enabled() || rotation.keep != 0) && !plan.to_file()) {
        throw CLI::ValidationError(
            o.rotate_size != 0   ? "--rotate-size"
            : o.rotate_time != 0 ? "--rotate-time"
                                 : "--rotate-keep",
            plan.target.network()
                ? "rotates an --output file; " + plan.target.text + " is a network output"
                : std::string("rotates an --output file; standard output cannot rotate"));
    }
    if (rotation.keep != 0 && !rotation.enabled()) {
        throw CLI::ValidationError("--rotate-keep", "needs --rotate-size or --rotate-time");
    }
}

// Reverse mode's options: one upstream for every client, maybe wss:// with its own checks.
void apply_reverse_mode(const proxy_command_options& o, proxy::proxy_options& options) {
    if (!o.allow.empty()) {
        throw CLI::ValidationError("--allow", "applies to --mode forward only");
    }
    if (!o.mitm_ca.empty()) {
        throw CLI::ValidationError("--mitm-ca", "applies to --mode forward only");
    }
    if (o.upstream.empty()) {
        throw CLI::RequiredError("--upstream (or --mode forward)");
    }
    std::string problem;
    const auto upstream = proxy::upstream_url::parse(o.upstream, problem);
    if (!upstream) {
        throw CLI::ValidationError("--upstream", problem);
    }
    options.upstream = *upstream;
    if (!upstream->tls && (!o.ca_file.empty() || o.insecure)) {
        throw CLI::ValidationError(o.insecure ? "--insecure" : "--ca-file",
                                   "applies to a wss:// upstream only");
    }
    options.rewrite_host = o.host_header == "upstream";
}

} // namespace

proxy_plan plan_proxy(const proxy_command_options& o) {
    proxy_plan plan;
    plan.target = parse_output_target(o.output.output);
    if (plan.target.network() && o.output.format == "pretty") {
        throw CLI::ValidationError("--format", "pretty is for files and terminals; " +
                                                   plan.target.text + " gets NDJSON");
    }
    plan_kafka(o, plan);
    plan_rotation(o, plan);
    plan.identity =
        record::identity::for_this_run(o.instance.empty() ? record::host_name() : o.instance);

    proxy::proxy_options& options = plan.options;
    options.filters = compile_filters(o.output);
    if (options.filters.any() && o.output.emit == "none") {
        throw CLI::ValidationError(o.output.filter.empty() ? "--conn-filter" : "--filter",
                                   "chooses records, and --emit none writes none");
    }
    if (o.mode == "forward") {
        apply_forward_mode(o, options);
    } else {
        apply_reverse_mode(o, options);
    }
    if (!o.ca_file.empty()) {
        options.ca_file = o.ca_file;
    }
    options.insecure = o.insecure;
    if (o.tls_cert.empty() != o.tls_key.empty()) {
        throw CLI::ValidationError(o.tls_cert.empty() ? "--tls-key" : "--tls-cert",
                                   "--tls-cert and --tls-key go together");
    }
    if (!o.tls_cert.empty()) {
        options.tls_cert = o.tls_cert;
        options.tls_key = o.tls_key;
    }
    parse_listen(o.listen, options);
    if (o.metrics_given) {
        plan.metrics_at = parse_metrics_address(o.metrics);
    }
    if (!options.forward &&
        upstream_is_listener(options.upstream, options.listen_host, options.listen_port)) {
        throw CLI::ValidationError(
            "--upstream", fmt::format("{} is where the proxy itself listens (--listen {}): every "
                                      "connection would connect to the proxy again",
                                      options.upstream.host_port(), o.listen));
    }
    options.sniff = o.output.emit != "none";
    options.connect_timeout = seconds(o.connect_timeout);
    options.handshake_timeout = seconds(o.handshake_timeout);
    options.idle_timeout = seconds(o.idle_timeout);
    plan.output_connect_timeout = seconds(o.output_connect_timeout);
    options.threads = o.threads;
    apply(o.output, options.session);
    return plan;
}

} // namespace wssniff::app

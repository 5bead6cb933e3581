#pragma once
// TLS for the relay, on OpenSSL through Asio: one context per side, built once at start, and
// what a connection needs around its handshakes (SNI and the host check upstream, a sentence
// for a failure, the details the handshake record shows).

#include "wssniff/proxy/proxy.hpp"
#include "wssniff/record/record.hpp"

#include <asio/ssl.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

namespace wssniff::proxy::tls {

using setup_error = tls_setup_error;

// The listening side: the proxy's certificate chain and its private key, which must match.
asio::ssl::context server_context(const std::string& cert_file, const std::string& key_file);

// The upstream side: peers verified against `ca_file`, or the system's CA store without one;
// nothing verified when `insecure`.
asio::ssl::context client_context(const std::optional<std::string>& ca_file, bool insecure);

// Before the upstream handshake: SNI (host names only, RFC 6066 §3) and, unless `insecure`,
// the check that the certificate is for `host`. OpenSSL's own check (not a verify callback) so
// that a mismatch has its own verify result, and so its own sentence.
void prepare_upstream(SSL* ssl, const std::string& host, bool insecure);

// One sentence for a failed handshake, e.g. "the upstream's certificate was rejected:
// certificate has expired".
std::string describe_upstream_failure(const SSL* ssl, const std::error_code& ec);
std::string describe_client_failure(const std::error_code& ec);

// The client spoke plain HTTP to the TLS listener (OpenSSL recognises the request line).
bool plain_http_to_tls(const std::error_code& ec);

record::tls_leg leg_of(const SSL* ssl);
record::tls_upstream_leg upstream_leg_of(const SSL* ssl, const std::string& host, bool insecure);

bool is_ip_address(const std::string& host);

} // namespace wssniff::proxy::tls

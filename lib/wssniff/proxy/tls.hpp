#pragma once
// TLS for the relay, on OpenSSL through Asio: one context per side, built once at start, and
// what a connection needs around its handshakes (SNI and the host check upstream, a sentence
// for a failure, the details the handshake record shows).

#include "wssniff/base/tls_info.hpp"
#include "wssniff/proxy/proxy.hpp"

#include <asio/ssl.hpp>

#include <cstddef>
#include <cstdint>
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

tls_leg leg_of(const SSL* ssl);
tls_upstream_leg upstream_leg_of(const SSL* ssl, const std::string& host, bool insecure);

bool is_ip_address(const std::string& host);

// --mitm-ca: the client leg of an intercepted CONNECT tunnel. The certificate is set per
// connection (use_leaf); ALPN selects http/1.1 when the client offers it, nothing else (no
// browser then speaks HTTP/2 to wssniff).
asio::ssl::context interception_context();
// Presents `cert` (and the key of every leaf) on a server-side SSL not yet handshaken.
void use_leaf(SSL* ssl, X509* cert, EVP_PKEY* key);
// The upstream leg of an intercepted tunnel offers http/1.1 only.
void offer_http1(SSL* ssl);

// What a tunnel's first bytes are: a whole TLS ClientHello (and its server name, when it sends
// one that is a host name), the start of one, or something else. OpenSSL reads them (a server
// SSL over a memory BIO that stops at the ClientHello callback), from a copy: `probe` is a
// context made by hello_probe_context() for this alone.
struct client_hello {
    enum class kind : std::uint8_t { hello, incomplete, other };
    kind what = kind::other;
    std::optional<std::string> server_name;
};
asio::ssl::context hello_probe_context();
client_hello read_client_hello(asio::ssl::context& probe, const unsigned char* data,
                               std::size_t size);

// Ends our sending on a TLS stream with a close_notify while its reading goes on, then runs
// `then`. SSL_shutdown would wait for the peer's close_notify, that is, read from a stream whose
// other pump is still reading (and drop the data it finds). Marked as received for the one
// synchronous step that writes ours, it does not wait; the mark is taken back at once, so the
// other pump still reads everything the peer sends until it closes.
template <class Stream, class F> void async_half_close(Stream& s, F&& then) {
    SSL* ssl = s.native_handle();
    const int shutdown_state = SSL_get_shutdown(ssl);
    SSL_set_shutdown(ssl, shutdown_state | SSL_RECEIVED_SHUTDOWN);
    s.async_shutdown([then = std::forward<F>(then)](std::error_code) mutable { then(); });
    SSL_set_shutdown(ssl, shutdown_state | SSL_SENT_SHUTDOWN);
}

} // namespace wssniff::proxy::tls

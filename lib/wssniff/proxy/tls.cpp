#include "wssniff/proxy/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdio>
#include <memory>

namespace wssniff::proxy::tls {

namespace {

// OpenSSL's reason alone ("key values mismatch"), without Asio's "(SSL routines)" suffix.
std::string reason_of(const std::error_code& ec) {
    if (ec.category() == asio::error::get_ssl_category()) {
        if (const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) {
            return reason;
        }
    }
    return ec.message();
}

bool parses_as_private_key(const std::string& file) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(file.c_str(), "r"), &std::fclose);
    if (!f) {
        return false;
    }
    EVP_PKEY* key = PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr);
    ERR_clear_error();
    if (key == nullptr) {
        return false;
    }
    EVP_PKEY_free(key);
    return true;
}

std::string name_of(X509_NAME* name) {
    std::unique_ptr<BIO, int (*)(BIO*)> out(BIO_new(BIO_s_mem()), &BIO_free);
    if (!out || X509_NAME_print_ex(out.get(), name, 0, XN_FLAG_RFC2253) < 0) {
        return {};
    }
    char* data = nullptr;
    const long size = BIO_get_mem_data(out.get(), &data);
    return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

void no_legacy_protocols(asio::ssl::context& ctx) {
    // TLS 1.0 and 1.1 are deprecated (RFC 8996).
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
}

} // namespace

bool is_ip_address(const std::string& host) {
    std::error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

asio::ssl::context server_context(const std::string& cert_file, const std::string& key_file) {
    asio::ssl::context ctx(asio::ssl::context::tls_server);
    no_legacy_protocols(ctx);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::single_dh_use);
    std::error_code ec;
    ctx.use_certificate_chain_file(cert_file, ec);
    if (ec) {
        throw setup_error("cannot use --tls-cert " + cert_file + ": " + reason_of(ec));
    }
    ctx.use_private_key_file(key_file, asio::ssl::context::pem, ec);
    if (ec) {
        // OpenSSL checks the pair while loading: tell a mismatch from an unreadable file.
        if (parses_as_private_key(key_file)) {
            throw setup_error("--tls-key " + key_file +
                              " does not match the certificate in "
                              "--tls-cert " +
                              cert_file);
        }
        throw setup_error("cannot use --tls-key " + key_file + ": " + reason_of(ec));
    }
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
        ERR_clear_error();
        throw setup_error("--tls-key " + key_file +
                          " does not match the certificate in "
                          "--tls-cert " +
                          cert_file);
    }
    return ctx;
}

asio::ssl::context client_context(const std::optional<std::string>& ca_file, bool insecure) {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    no_legacy_protocols(ctx);
    ctx.set_options(asio::ssl::context::default_workarounds);
    std::error_code ec;
    if (ca_file) {
        ctx.load_verify_file(*ca_file, ec);
        if (ec) {
            throw setup_error("cannot use --ca-file " + *ca_file + ": " + reason_of(ec));
        }
    } else {
        ctx.set_default_verify_paths(ec);
        if (ec) {
            throw setup_error("cannot load the system's CA certificates: " + reason_of(ec));
        }
    }
    ctx.set_verify_mode(insecure ? asio::ssl::verify_none : asio::ssl::verify_peer);
    return ctx;
}

void prepare_upstream(SSL* ssl, const std::string& host, bool insecure) {
    const bool ip = is_ip_address(host);
    if (!ip) {
        SSL_set_tlsext_host_name(ssl, host.c_str());
    }
    if (insecure) {
        return;
    }
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (ip) {
        X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    }
}

std::string describe_upstream_failure(const SSL* ssl, const std::error_code& ec) {
    const long verdict = SSL_get_verify_result(ssl);
    if (verdict != X509_V_OK) {
        return std::string("the upstream's TLS certificate was rejected: ") +
               X509_verify_cert_error_string(verdict);
    }
    return describe_client_failure(ec);
}

std::string describe_client_failure(const std::error_code& ec) {
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
        return "the peer closed the connection during the TLS handshake";
    }
    return "TLS handshake failed: " + reason_of(ec);
}

bool plain_http_to_tls(const std::error_code& ec) {
    return ec.category() == asio::error::get_ssl_category() &&
           ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST;
}

tls_leg leg_of(const SSL* ssl) {
    tls_leg leg;
    leg.version = SSL_get_version(ssl);
    if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) {
        leg.cipher = SSL_CIPHER_get_name(cipher);
    }
    return leg;
}

tls_upstream_leg upstream_leg_of(const SSL* ssl, const std::string& host, bool insecure) {
    tls_upstream_leg leg;
    static_cast<tls_leg&>(leg) = leg_of(ssl);
    if (!is_ip_address(host)) {
        leg.server_name = host;
    }
    if (X509* cert = SSL_get0_peer_certificate(ssl)) {
        leg.subject = name_of(X509_get_subject_name(cert));
        leg.issuer = name_of(X509_get_issuer_name(cert));
    }
    leg.verified = !insecure && SSL_get_verify_result(ssl) == X509_V_OK;
    return leg;
}

namespace {

// The ALPN protocol list wssniff offers and selects when it intercepts (RFC 7301 wire form).
constexpr unsigned char http1_alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

int select_http1(SSL*, const unsigned char** out, unsigned char* out_size, const unsigned char* in,
                 unsigned int in_size, void*) {
    unsigned char* selected = nullptr;
    unsigned char selected_size = 0;
    if (SSL_select_next_proto(&selected, &selected_size, http1_alpn, sizeof http1_alpn, in,
                              in_size) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK; // no http/1.1 offered: no ALPN at all
    }
    *out = selected;
    *out_size = selected_size;
    return SSL_TLSEXT_ERR_OK;
}

// A host name as a certificate may carry it: letters, digits, '-', '_', '.', at most 253.
bool host_name_like(const std::string& name) {
    if (name.empty() || name.size() > 253 || name.front() == '.') {
        return false;
    }
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

// What the probe's ClientHello callback found; it then stops the handshake.
struct hello_seen {
    bool seen = false;
    std::optional<std::string> server_name;
};

int on_client_hello(SSL* ssl, int* alert, void*) {
    auto* found = static_cast<hello_seen*>(SSL_get_app_data(ssl));
    found->seen = true;
    const unsigned char* ext = nullptr;
    std::size_t size = 0;
    // server_name extension: list length (2), then entries of type (1), length (2), name.
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &size) == 1 && size >= 2) {
        const std::size_t list = (std::size_t{ext[0]} << 8) | ext[1];
        std::size_t at = 2;
        while (at + 3 <= size && at + 3 <= list + 2) {
            const unsigned type = ext[at];
            const std::size_t length = (std::size_t{ext[at + 1]} << 8) | ext[at + 2];
            at += 3;
            if (at + length > size) {
                break;
            }
            if (type == TLSEXT_NAMETYPE_host_name) {
                std::string name(reinterpret_cast<const char*>(ext + at), length);
                if (host_name_like(name)) {
                    found->server_name = std::move(name);
                }
                break;
            }
            at += length;
        }
    }
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR; // seen: the probe has done its work
}

} // namespace

asio::ssl::context interception_context() {
    asio::ssl::context ctx(asio::ssl::context::tls_server);
    no_legacy_protocols(ctx);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::single_dh_use);
    SSL_CTX_set_alpn_select_cb(ctx.native_handle(), &select_http1, nullptr);
    return ctx;
}

void use_leaf(SSL* ssl, X509* cert, EVP_PKEY* key) {
    SSL_use_certificate(ssl, cert);
    SSL_use_PrivateKey(ssl, key);
}

void offer_http1(SSL* ssl) {
    SSL_set_alpn_protos(ssl, http1_alpn, sizeof http1_alpn);
}

asio::ssl::context hello_probe_context() {
    asio::ssl::context ctx(asio::ssl::context::tls_server);
    SSL_CTX_set_client_hello_cb(ctx.native_handle(), &on_client_hello, nullptr);
    return ctx;
}

client_hello read_client_hello(asio::ssl::context& probe, const unsigned char* data,
                               std::size_t size) {
    client_hello result;
    // A handshake record (22) of TLS 1.x (3, x) that starts a ClientHello (1).
    if (size == 0 || data[0] != 0x16) {
        return result;
    }
    if (size < 6) {
        result.what =
            size < 2 || data[1] == 3 ? client_hello::kind::incomplete : client_hello::kind::other;
        return result;
    }
    if (data[1] != 3 || data[5] != 1) {
        return result;
    }
    std::unique_ptr<SSL, void (*)(SSL*)> ssl(SSL_new(probe.native_handle()), &SSL_free);
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    if (!ssl || in == nullptr || out == nullptr) {
        BIO_free(in);
        BIO_free(out);
        ERR_clear_error();
        return result;
    }
    BIO_write(in, data, static_cast<int>(std::min<std::size_t>(size, 1 << 20)));
    SSL_set_bio(ssl.get(), in, out); // owned by the SSL from here
    hello_seen found;
    SSL_set_app_data(ssl.get(), &found);
    SSL_set_accept_state(ssl.get());
    const int done = SSL_do_handshake(ssl.get());
    const int error = SSL_get_error(ssl.get(), done);
    ERR_clear_error();
    if (found.seen) {
        result.what = client_hello::kind::hello;
        result.server_name = std::move(found.server_name);
    } else if (error == SSL_ERROR_WANT_READ) {
        result.what = client_hello::kind::incomplete;
    }
    return result;
}

} // namespace wssniff::proxy::tls

#include "wssniff/proxy/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

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

} // namespace wssniff::proxy::tls

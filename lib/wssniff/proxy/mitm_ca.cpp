#include "wssniff/proxy/mitm_ca.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace wssniff::proxy {

namespace {

template <class T, void (*Free)(T*)> struct deleter {
    void operator()(T* p) const noexcept { Free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using extension_ptr = std::unique_ptr<X509_EXTENSION, deleter<X509_EXTENSION, X509_EXTENSION_free>>;

std::string openssl_reason() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
    return reason != nullptr ? reason : "unknown OpenSSL error";
}

void add_extension(X509* cert, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    extension_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
        throw ca_error("cannot build the CA certificate: " + openssl_reason());
    }
}

std::string subject_of(X509* cert) {
    std::unique_ptr<BIO, int (*)(BIO*)> out(BIO_new(BIO_s_mem()), &BIO_free);
    X509_NAME_print_ex(out.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long size = BIO_get_mem_data(out.get(), &data);
    return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

// Opens `path` for writing, created 0600, never an existing file.
std::unique_ptr<std::FILE, int (*)(std::FILE*)> create_private(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        throw ca_error(errno == EEXIST ? path + " exists; wssniff never replaces a CA"
                                       : "cannot create " + path + ": " + std::strerror(errno));
    }
    return {::fdopen(fd, "w"), &std::fclose};
}

} // namespace

created_ca create_ca(const std::string& dir, const std::string& common_name) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        throw ca_error("cannot create " + dir + ": " + std::strerror(errno));
    }
    created_ca made{dir + "/ca.key", dir + "/ca.pem", {}};
    struct stat existing {};
    for (const std::string& path : {made.key_path, made.cert_path}) {
        if (::stat(path.c_str(), &existing) == 0) {
            throw ca_error(path + " exists; wssniff never replaces a CA");
        }
    }

    pkey_ptr key(EVP_EC_gen("P-256"));
    x509_ptr cert(X509_new());
    if (!key || !cert) {
        throw ca_error("cannot generate the CA key: " + openssl_reason());
    }
    X509_set_version(cert.get(), 2); // v3
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f; // a positive INTEGER (RFC 5280 §4.1.2.2)
    std::unique_ptr<BIGNUM, void (*)(BIGNUM*)> number(BN_bin2bn(serial, sizeof serial, nullptr),
                                                      &BN_free);
    BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert.get()));
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * 3650);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>("wssniff"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                               0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key.get());
    add_extension(cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_extension(cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(cert.get(), NID_subject_key_identifier, "hash");
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
        throw ca_error("cannot sign the CA certificate: " + openssl_reason());
    }
    made.subject = subject_of(cert.get());

    auto key_file = create_private(made.key_path);
    auto cert_file = create_private(made.cert_path);
    if (PEM_write_PrivateKey(key_file.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
            1 ||
        PEM_write_X509(cert_file.get(), cert.get()) != 1 || std::fflush(key_file.get()) != 0 ||
        std::fflush(cert_file.get()) != 0) {
        ::unlink(made.key_path.c_str());
        ::unlink(made.cert_path.c_str());
        throw ca_error("cannot write the CA to " + dir + ": " + std::strerror(errno));
    }
    return made;
}

} // namespace wssniff::proxy

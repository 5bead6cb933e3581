#include "wssniff/proxy/mitm_ca.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
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
using general_names_ptr =
    std::unique_ptr<GENERAL_NAMES, deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;
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

// A random positive 128-bit serial number (RFC 5280 §4.1.2.2).
void set_random_serial(X509* cert) {
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    std::unique_ptr<BIGNUM, void (*)(BIGNUM*)> number(BN_bin2bn(serial, sizeof serial, nullptr),
                                                      &BN_free);
    BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert));
}

// The subjectAltName of a leaf: one name, built as a structure (never parsed from text: a
// name a client sent cannot add entries of its own).
void add_subject_alt_name(X509* cert, const std::string& name) {
    general_names_ptr names(GENERAL_NAMES_new());
    GENERAL_NAME* entry = GENERAL_NAME_new();
    if (!names || entry == nullptr) {
        GENERAL_NAME_free(entry);
        throw ca_error("cannot build a leaf certificate: " + openssl_reason());
    }
    if (ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str())) {
        GENERAL_NAME_set0_value(entry, GEN_IPADD, ip);
    } else {
        ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
        ASN1_STRING_set(dns, name.data(), static_cast<int>(name.size()));
        GENERAL_NAME_set0_value(entry, GEN_DNS, dns);
    }
    ERR_clear_error(); // a2i_IPADDRESS's complaint about a DNS name
    sk_GENERAL_NAME_push(names.get(), entry);
    if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
        throw ca_error("cannot build a leaf certificate: " + openssl_reason());
    }
}

void add_leaf_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    extension_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
        throw ca_error("cannot build a leaf certificate: " + openssl_reason());
    }
}

// Reads a PEM file into `read`'s result; null when it does not parse.
template <class T, class Read> T* read_pem(const std::string& path, Read read) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "re"), &std::fclose);
    if (!f) {
        throw ca_error("cannot read " + path + ": " + std::strerror(errno));
    }
    T* value = read(f.get(), nullptr, nullptr, nullptr);
    ERR_clear_error();
    return value;
}

} // namespace

std::string ca_key_path(const std::string& dir) {
    return dir + "/ca.key";
}

std::string ca_cert_path(const std::string& dir) {
    return dir + "/ca.pem";
}

created_ca create_ca(const std::string& dir, const std::string& common_name) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        throw ca_error("cannot create " + dir + ": " + std::strerror(errno));
    }
    created_ca made{ca_key_path(dir), ca_cert_path(dir), {}};
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
    set_random_serial(cert.get());
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

void mitm_authority::x509_free::operator()(X509* cert) const noexcept {
    X509_free(cert);
}

mitm_authority::mitm_authority(const std::string& dir, std::size_t cache_size)
    : cache_size_(std::max<std::size_t>(1, cache_size)) {
    const std::string key_path = ca_key_path(dir);
    const std::string cert_path = ca_cert_path(dir);
    struct stat key_stat {};
    if (::stat(key_path.c_str(), &key_stat) != 0) {
        throw ca_error("cannot read " + key_path + ": " + std::strerror(errno));
    }
    if ((key_stat.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(key_stat.st_mode & 0777));
        throw ca_error(key_path + " is mode " + mode +
                       ": others than its owner may read the key that impersonates any site; "
                       "chmod 600 it");
    }
    pkey_ptr key(read_pem<EVP_PKEY>(key_path, &PEM_read_PrivateKey));
    if (!key) {
        throw ca_error(key_path + " holds no private key (PEM)");
    }
    x509_ptr cert(read_pem<X509>(cert_path, &PEM_read_X509));
    if (!cert) {
        throw ca_error(cert_path + " holds no certificate (PEM)");
    }
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
        ERR_clear_error();
        throw ca_error(key_path + " is not the key of " + cert_path);
    }
    if (X509_check_ca(cert.get()) == 0) {
        throw ca_error(cert_path + " is not a CA certificate (make one with wssniff ca create)");
    }
    pkey_ptr leaf_key(EVP_EC_gen("P-256"));
    if (!leaf_key) {
        throw ca_error("cannot generate the leaf key: " + openssl_reason());
    }
    ca_key_ = key.release();
    ca_cert_ = cert.release();
    leaf_key_ = leaf_key.release();
}

mitm_authority::~mitm_authority() {
    X509_free(ca_cert_);
    EVP_PKEY_free(ca_key_);
    EVP_PKEY_free(leaf_key_);
}

mitm_authority::certificate mitm_authority::make_leaf(const std::string& name) const {
    x509_ptr cert(X509_new());
    if (!cert) {
        throw ca_error("cannot build a leaf certificate: " + openssl_reason());
    }
    X509_set_version(cert.get(), 2); // v3
    set_random_serial(cert.get());
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24);
    X509_NAME* subject = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>("wssniff"), -1, -1, 0);
    if (name.size() <= 64) { // the longest commonName (RFC 5280 ub-common-name)
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
    }
    X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert_));
    X509_set_pubkey(cert.get(), leaf_key_);
    add_subject_alt_name(cert.get(), name);
    add_leaf_extension(cert.get(), ca_cert_, NID_basic_constraints, "critical,CA:FALSE");
    add_leaf_extension(cert.get(), ca_cert_, NID_key_usage, "critical,digitalSignature");
    add_leaf_extension(cert.get(), ca_cert_, NID_ext_key_usage, "serverAuth");
    add_leaf_extension(cert.get(), ca_cert_, NID_authority_key_identifier, "keyid");
    if (X509_sign(cert.get(), ca_key_, EVP_sha256()) == 0) {
        throw ca_error("cannot sign a leaf certificate: " + openssl_reason());
    }
    return certificate(cert.release());
}

mitm_authority::certificate mitm_authority::leaf(const std::string& name) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> hold(mutex_);
    auto it = leaves_.find(name);
    if (it != leaves_.end() && now - it->second.made > std::chrono::hours(12)) {
        recent_.erase(it->second.position);
        leaves_.erase(it);
        it = leaves_.end();
    }
    if (it == leaves_.end()) {
        if (leaves_.size() >= cache_size_) {
            leaves_.erase(recent_.back());
            recent_.pop_back();
        }
        certificate made = make_leaf(name);
        recent_.push_front(name);
        it = leaves_.emplace(name, entry{std::move(made), now, recent_.begin()}).first;
    } else {
        recent_.splice(recent_.begin(), recent_, it->second.position);
    }
    X509_up_ref(it->second.cert.get());
    return certificate(it->second.cert.get());
}

std::size_t mitm_authority::cached() const {
    std::lock_guard<std::mutex> hold(mutex_);
    return leaves_.size();
}

} // namespace wssniff::proxy

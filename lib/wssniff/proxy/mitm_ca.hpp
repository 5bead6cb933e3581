#pragma once
// The certificate authority a forward proxy intercepts TLS with (`wssniff ca create DIR`, then
// `--mitm-ca DIR`): an EC P-256 key and a self-signed CA certificate, both created 0600 in DIR
// as ca.key and ca.pem. Whoever holds ca.key can impersonate any site to a client that trusts
// ca.pem: it is created once, never overwritten, and readable by its owner only.
//
// Loaded once at start (mitm_authority), it signs a leaf certificate per server name a client
// asks for, in memory only (never written anywhere), cached per name for every relay loop.

#include <openssl/types.h>

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace wssniff::proxy {

// A CA that cannot be created or loaded; what() is one line.
struct ca_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct created_ca {
    std::string key_path;  // DIR/ca.key
    std::string cert_path; // DIR/ca.pem
    std::string subject;   // RFC 2253
};

// Creates DIR (0700) when it does not exist, then DIR/ca.key and DIR/ca.pem; refuses to replace
// either. Throws ca_error.
created_ca create_ca(const std::string& dir, const std::string& common_name);

// DIR/ca.key and DIR/ca.pem.
std::string ca_key_path(const std::string& dir);
std::string ca_cert_path(const std::string& dir);

// The loaded CA and the leaf certificates it has signed. Thread safe.
class mitm_authority {
  public:
    // Loads DIR/ca.key and DIR/ca.pem. Refuses a key file that anyone but its owner may read or
    // write, a key that is not the certificate's, a certificate that is no CA. Throws ca_error.
    // `cache_size`: the most leaves kept (names).
    explicit mitm_authority(const std::string& dir, std::size_t cache_size = 1024);
    ~mitm_authority();
    mitm_authority(const mitm_authority&) = delete;
    mitm_authority& operator=(const mitm_authority&) = delete;

    struct x509_free {
        void operator()(X509* cert) const noexcept;
    };
    using certificate = std::unique_ptr<X509, x509_free>; // a reference of the caller's own

    // A leaf certificate for `name` (a DNS name, or an IP address: an IP SAN), signed by the CA:
    // EC P-256 (one key for every leaf of this run, made at load, kept in memory), valid for a
    // day (from an hour ago), SAN = name. Made at the first request, then served from a cache
    // of at most cache_size names (the least recently used goes first); one made over 12
    // hours ago is made again. Throws ca_error (OpenSSL failed).
    certificate leaf(const std::string& name);
    EVP_PKEY* leaf_key() const noexcept { return leaf_key_; }

    std::size_t cached() const;

  private:
    certificate make_leaf(const std::string& name) const;

    std::size_t cache_size_;
    X509* ca_cert_ = nullptr;
    EVP_PKEY* ca_key_ = nullptr;
    EVP_PKEY* leaf_key_ = nullptr;

    struct entry {
        certificate cert;
        std::chrono::steady_clock::time_point made;
        std::list<std::string>::iterator position; // in recent_
    };
    mutable std::mutex mutex_;
    std::unordered_map<std::string, entry> leaves_;
    std::list<std::string> recent_; // most recently used first
};

} // namespace wssniff::proxy

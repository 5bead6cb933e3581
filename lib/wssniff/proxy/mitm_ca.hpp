#pragma once
// The certificate authority a forward proxy intercepts TLS with (`wssniff ca create DIR`, then
// `--mitm-ca DIR`): an EC P-256 key and a self-signed CA certificate, both created 0600 in DIR
// as ca.key and ca.pem. Whoever holds ca.key can impersonate any site to a client that trusts
// ca.pem: it is created once, never overwritten, and readable by its owner only.

#include <stdexcept>
#include <string>

namespace wssniff::proxy {

// A CA that cannot be created; what() is one line.
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

} // namespace wssniff::proxy

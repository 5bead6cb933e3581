#pragma once
// What the TLS legs of a live connection negotiated (OpenSSL's names): facts the relay learns
// during setup and the handshake record shows. Plain values, here so that the relay can hand
// them over without knowing record types.

#include <optional>
#include <string>

namespace wssniff {

// What one TLS leg negotiated.
struct tls_leg {
    std::string version; // "TLSv1.3"
    std::string cipher;  // "TLS_AES_256_GCM_SHA384"
};

// The proxy's TLS to a wss:// upstream, and what the upstream presented.
struct tls_upstream_leg : tls_leg {
    std::optional<std::string> server_name; // the SNI sent; none for an IP address
    std::string subject;                    // the certificate's, RFC 2253
    std::string issuer;
    bool verified = true; // false under --insecure
};

struct tls_info {
    std::optional<tls_leg> client;            // the client's TLS to the proxy
    std::optional<tls_upstream_leg> upstream; // the proxy's TLS to the upstream
};

} // namespace wssniff

#include "wssniff/proxy/mitm_ca.hpp"
#include "wssniff/proxy/tls.hpp"

#include <catch2/catch.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <vector>

using wssniff::proxy::ca_error;
using wssniff::proxy::create_ca;
using wssniff::proxy::mitm_authority;
namespace tls = wssniff::proxy::tls;

namespace {

// A fresh CA in a directory of its own under /tmp, removed at the end.
struct temp_ca {
    temp_ca() {
        char pattern[] = "/tmp/wssniff-unit-mitm-XXXXXX";
        REQUIRE(::mkdtemp(pattern) != nullptr);
        dir = pattern;
        create_ca(dir + "/ca", "wssniff unit test CA");
    }
    ~temp_ca() { std::system(("rm -rf '" + dir + "'").c_str()); }
    std::string ca() const { return dir + "/ca"; }
    std::string dir;
};

std::vector<std::string> dns_names(X509* cert) {
    std::vector<std::string> out;
    auto* names =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
        const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
        if (n->type == GEN_DNS) {
            const ASN1_STRING* s = n->d.dNSName;
            out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                             static_cast<std::size_t>(ASN1_STRING_length(s)));
        } else {
            out.emplace_back("<other>");
        }
    }
    GENERAL_NAMES_free(names);
    return out;
}

// What a TLS client sends first: its ClientHello, made by OpenSSL over memory BIOs.
std::string client_hello(const char* server_name) {
    std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx(SSL_CTX_new(TLS_client_method()),
                                                     &SSL_CTX_free);
    std::unique_ptr<SSL, void (*)(SSL*)> ssl(SSL_new(ctx.get()), &SSL_free);
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl.get(), in, out);
    if (server_name != nullptr) {
        SSL_set_tlsext_host_name(ssl.get(), server_name);
    }
    SSL_set_connect_state(ssl.get());
    SSL_do_handshake(ssl.get()); // wants to read the ServerHello
    char* data = nullptr;
    const long size = BIO_get_mem_data(out, &data);
    return std::string(data, static_cast<std::size_t>(size));
}

tls::client_hello read(asio::ssl::context& probe, const std::string& bytes, std::size_t n) {
    return tls::read_client_hello(probe, reinterpret_cast<const unsigned char*>(bytes.data()), n);
}

} // namespace

TEST_CASE("mitm: leaves are signed by the CA, for the name, cached", "[mitm]") {
    temp_ca made;
    mitm_authority ca(made.ca());
    auto leaf = ca.leaf("ws.example.test");
    REQUIRE(leaf);
    CHECK(dns_names(leaf.get()) == std::vector<std::string>{"ws.example.test"});
    CHECK(X509_check_host(leaf.get(), "ws.example.test", 0, 0, nullptr) == 1);
    CHECK(X509_check_host(leaf.get(), "other.example.test", 0, 0, nullptr) != 1);
    CHECK(X509_check_ca(leaf.get()) == 0);
    CHECK(X509_check_private_key(leaf.get(), ca.leaf_key()) == 1);

    // Signed by the CA in ca.pem: verified against it alone.
    std::unique_ptr<X509_STORE, void (*)(X509_STORE*)> store(X509_STORE_new(), &X509_STORE_free);
    REQUIRE(X509_STORE_load_file(store.get(), (made.ca() + "/ca.pem").c_str()) == 1);
    std::unique_ptr<X509_STORE_CTX, void (*)(X509_STORE_CTX*)> verify(X509_STORE_CTX_new(),
                                                                      &X509_STORE_CTX_free);
    REQUIRE(X509_STORE_CTX_init(verify.get(), store.get(), leaf.get(), nullptr) == 1);
    X509_VERIFY_PARAM_set_purpose(X509_STORE_CTX_get0_param(verify.get()), X509_PURPOSE_SSL_SERVER);
    CHECK(X509_verify_cert(verify.get()) == 1);

    CHECK(ca.leaf("ws.example.test").get() == leaf.get()); // the cache
    CHECK(ca.cached() == 1);

    auto ip = ca.leaf("127.0.0.1");
    CHECK(X509_check_ip_asc(ip.get(), "127.0.0.1", 0) == 1);
    CHECK(dns_names(ip.get()) == std::vector<std::string>{"<other>"});

    // A name is one SAN entry, whatever it holds: no entries of the client's making.
    auto odd = ca.leaf("a.test,DNS:evil.test");
    CHECK(dns_names(odd.get()) == std::vector<std::string>{"a.test,DNS:evil.test"});
    CHECK(X509_check_host(odd.get(), "evil.test", 0, 0, nullptr) != 1);
}

TEST_CASE("mitm: the cache is bounded", "[mitm]") {
    temp_ca made;
    mitm_authority ca(made.ca(), 8);
    auto first = ca.leaf("n0.test");
    for (std::size_t i = 1; i <= 8; ++i) {
        ca.leaf("n" + std::to_string(i) + ".test");
    }
    CHECK(ca.cached() == 8);
    CHECK(ca.leaf("n0.test").get() !=
          first.get()); // dropped as the least recently used, made again
}

TEST_CASE("mitm: a key others may read is refused", "[mitm]") {
    temp_ca made;
    REQUIRE(::chmod((made.ca() + "/ca.key").c_str(), 0640) == 0);
    try {
        mitm_authority ca(made.ca());
        FAIL("loaded");
    } catch (const ca_error& e) {
        CHECK(std::string(e.what()).find("mode 640") != std::string::npos);
    }
    CHECK_THROWS_AS(mitm_authority(made.dir + "/nothing"), ca_error);
}

TEST_CASE("mitm: a tunnel's first bytes, read as a ClientHello", "[mitm]") {
    asio::ssl::context probe = tls::hello_probe_context();
    const std::string hello = client_hello("sni.example.test");
    REQUIRE(hello.size() > 100);

    const auto whole = read(probe, hello, hello.size());
    CHECK(whole.what == tls::client_hello::kind::hello);
    CHECK(whole.server_name == std::optional<std::string>("sni.example.test"));

    for (std::size_t n = 1; n < hello.size(); ++n) {
        INFO(n);
        REQUIRE(read(probe, hello, n).what == tls::client_hello::kind::incomplete);
    }

    const std::string nameless = client_hello(nullptr);
    const auto no_sni = read(probe, nameless, nameless.size());
    CHECK(no_sni.what == tls::client_hello::kind::hello);
    CHECK_FALSE(no_sni.server_name);

    const std::string request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(read(probe, request, request.size()).what == tls::client_hello::kind::other);
    const std::string alert = "\x15\x03\x03\x00\x02\x02\x28";
    CHECK(read(probe, alert, alert.size()).what == tls::client_hello::kind::other);
    // A handshake record that is no ClientHello (a ServerHello's type, 2).
    std::string server_hello = hello;
    server_hello[5] = 2;
    CHECK(read(probe, server_hello, server_hello.size()).what == tls::client_hello::kind::other);
}

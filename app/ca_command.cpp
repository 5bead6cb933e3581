#include "ca_command.hpp"

#include "options.hpp"
#include "wssniff/proxy/mitm_ca.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <memory>
#include <unistd.h>

namespace wssniff::app {

std::function<int()> add_ca_command(CLI::App& app) {
    auto dir = std::make_shared<std::string>();
    CLI::App* ca = app.add_subcommand("ca", "Certificate authorities for TLS interception");
    ca->require_subcommand(1);
    CLI::App* create = ca->add_subcommand(
        "create", "Create DIR/ca.key (EC P-256) and DIR/ca.pem (a CA certificate for 10 years), "
                  "both mode 0600; never replaces them");
    create->footer("The key lets whoever holds it impersonate any site to a client that trusts\n"
                   "ca.pem: keep DIR private, and trust ca.pem only where you sniff.\n"
                   "Examples:\n"
                   "  wssniff ca create ~/.wssniff-ca\n"
                   "  NODE_EXTRA_CA_CERTS=~/.wssniff-ca/ca.pem node client.js   # trust it\n"
                   "  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n wssniff \\\n"
                   "      -i ~/.wssniff-ca/ca.pem                      # Chromium (NSS)\n");
    create->add_option("DIR", *dir, "Directory for ca.key and ca.pem (created 0700 if missing)")
        ->required();
    return [create, dir]() -> int {
        if (!create->parsed()) {
            return -1;
        }
        char host[256] = {};
        ::gethostname(host, sizeof host - 1);
        try {
            const proxy::created_ca made =
                proxy::create_ca(*dir, fmt::format("wssniff interception CA ({})", host));
            fmt::print("{}\n{}\n", made.cert_path, made.key_path);
            fmt::print(stderr, "wssniff: created {} ({})\n", made.cert_path, made.subject);
        } catch (const proxy::ca_error& e) {
            throw runtime_failure(e.what());
        }
        return 0;
    };
}

} // namespace wssniff::app

// Fuzz target for the server's Sec-WebSocket-Extensions parser (handshake/extensions): the
// whole input is one header value. Besides the sanitizers, what it checks:
//   - the result is consistent: parameters only when permessage-deflate was accepted without a
//     problem, a problem named whenever it was accepted without parameters, window bits 8-15;
//   - the same value with letters in another case, or with spaces and tabs around its
//     separators (outside quoted strings), means the same (RFC 9110 §5.6.3, RFC 7692 §7);
//   - accepted parameters, written back as a header value, parse to themselves.

#include "wssniff/handshake/extensions.hpp"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using wssniff::handshake::deflate_params;
using wssniff::handshake::negotiated_extensions;
using wssniff::handshake::parse_response_extensions;

[[noreturn]] void fail(const char* property, std::string_view value, std::string_view detail) {
    std::fprintf(stderr, "extensions_fuzz: property violated: %s\n  value: ", property);
    for (const char c : value.substr(0, 1024)) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isprint(u) != 0 && c != '\\') {
            std::fputc(c, stderr);
        } else {
            std::fprintf(stderr, "\\x%02x", u);
        }
    }
    std::fprintf(stderr, "\n  %.*s\n", static_cast<int>(detail.size()), detail.data());
    std::abort();
}

std::string describe(const negotiated_extensions& e) {
    std::string out = e.deflate_accepted ? "deflate accepted" : "no deflate";
    if (e.deflate) {
        const deflate_params& p = *e.deflate;
        out += " server_no_context_takeover=" + std::to_string(p.server_no_context_takeover) +
               " client_no_context_takeover=" + std::to_string(p.client_no_context_takeover) +
               " server_max_window_bits=" + std::to_string(p.server_max_window_bits) +
               " client_max_window_bits=" + std::to_string(p.client_max_window_bits);
    }
    out += e.unknown_extension ? ", unknown extension" : "";
    out += e.problem.empty() ? "" : ", problem: " + e.problem;
    return out;
}

void check_consistent(std::string_view value, const negotiated_extensions& e) {
    if (e.deflate && (!e.deflate_accepted || !e.problem.empty())) {
        fail("parameters without an accepted, unproblematic permessage-deflate", value,
             describe(e));
    }
    if (e.deflate_accepted && !e.deflate && e.problem.empty()) {
        fail("permessage-deflate accepted without parameters and without a problem", value,
             describe(e));
    }
    if (!e.deflate_accepted && !e.problem.empty()) {
        fail("a problem without permessage-deflate", value, describe(e));
    }
    if (e.deflate) {
        for (const int bits :
             {e.deflate->server_max_window_bits, e.deflate->client_max_window_bits}) {
            if (bits < 8 || bits > 15) {
                fail("window bits out of 8-15", value, describe(e));
            }
        }
    }
}

// Quoted strings as the parser sees them: a quote not preceded by a backslash opens or closes.
template <typename Outside>
std::string rewrite_outside_quotes(std::string_view value, Outside outside) {
    std::string out;
    bool quoted = false;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (c == '"' && (i == 0 || value[i - 1] != '\\')) {
            quoted = !quoted;
            out += c;
        } else if (quoted) {
            out += c;
        } else {
            outside(out, c);
        }
    }
    return out;
}

void check_same(std::string_view value, std::string_view variant, const char* what,
                const negotiated_extensions& expected) {
    const negotiated_extensions got = parse_response_extensions(variant);
    if (describe(got) != describe(expected)) {
        fail(what, value, describe(expected) + "\n  became: " + describe(got));
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view value{reinterpret_cast<const char*>(data), size};
    const negotiated_extensions result = parse_response_extensions(value);
    check_consistent(value, result);

    // Names and tokens are case-insensitive; window bits are digits, so no letter inside a
    // quoted string can make a valid value either.
    std::string flipped(value);
    for (char& c : flipped) {
        const auto u = static_cast<unsigned char>(c);
        c = static_cast<char>(std::islower(u) != 0 ? std::toupper(u) : std::tolower(u));
    }
    check_same(value, flipped, "changing the letters' case changed the meaning", result);

    // Optional whitespace around the list and parameter separators.
    const std::string spaced = rewrite_outside_quotes(value, [](std::string& out, char c) {
        if (c == ',' || c == ';' || c == '=') {
            out += " \t";
            out += c;
            out += "\t ";
        } else {
            out += c;
        }
    });
    check_same(value, spaced, "whitespace around separators changed the meaning", result);

    if (result.deflate) {
        const deflate_params& p = *result.deflate;
        std::string written = "permessage-deflate";
        if (p.server_no_context_takeover) {
            written += "; server_no_context_takeover";
        }
        if (p.client_no_context_takeover) {
            written += "; client_no_context_takeover";
        }
        written += "; server_max_window_bits=" + std::to_string(p.server_max_window_bits);
        written += "; client_max_window_bits=\"" + std::to_string(p.client_max_window_bits) + '"';
        const negotiated_extensions again = parse_response_extensions(written);
        if (!again.deflate || !(*again.deflate == p)) {
            fail("accepted parameters written back parse differently", value,
                 describe(result) + "\n  written: " + written + "\n  parsed: " + describe(again));
        }
    }
    return 0;
}

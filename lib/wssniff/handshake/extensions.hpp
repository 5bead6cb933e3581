#pragma once
// The server's Sec-WebSocket-Extensions response (RFC 6455 §9.1) and the permessage-deflate
// parameters it settles (RFC 7692 §7.1). Only the response counts: the client's header is an
// offer the server may have answered differently.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wssniff::handshake {

struct deflate_params {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    std::uint8_t server_max_window_bits = 15;
    std::uint8_t client_max_window_bits = 15;

    friend bool operator==(const deflate_params& a, const deflate_params& b) noexcept {
        return a.server_no_context_takeover == b.server_no_context_takeover &&
               a.client_no_context_takeover == b.client_no_context_takeover &&
               a.server_max_window_bits == b.server_max_window_bits &&
               a.client_max_window_bits == b.client_max_window_bits;
    }
};

struct negotiated_extensions {
    // permessage-deflate was accepted: RSV1 marks compressed messages.
    bool deflate_accepted = false;
    // Its parameters, when they make sense; nullopt with `problem` set when they do not.
    std::optional<deflate_params> deflate;
    std::string problem;
    // An extension wssniff does not know was accepted: the RSV bits are its to use.
    bool unknown_extension = false;
};

negotiated_extensions parse_response_extensions(std::string_view header_value);

} // namespace wssniff::handshake

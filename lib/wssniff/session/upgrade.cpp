#include "wssniff/session/upgrade.hpp"

#include "wssniff/handshake/text.hpp"

namespace wssniff::session {

namespace {

using handshake::iequals;

// Credentials do not belong in a capture file by default. The auth scheme stays: it is what
// one debugs ("Bearer" or "Basic"), the secret is not.
record::header_list redacted(const handshake::header_fields& fields, bool redact) {
    record::header_list out(fields.begin(), fields.end());
    if (!redact) {
        return out;
    }
    for (auto& [name, value] : out) {
        if (iequals(name, "authorization") || iequals(name, "proxy-authorization")) {
            const std::size_t space = value.find(' ');
            value =
                space == std::string::npos ? "[redacted]" : value.substr(0, space) + " [redacted]";
        } else if (iequals(name, "cookie") || iequals(name, "set-cookie")) {
            value = "[redacted]";
        }
    }
    return out;
}

} // namespace

handshake::negotiated_extensions negotiated(const handshake::http_head& response) {
    if (response.status != 101) {
        return {};
    }
    const auto extensions = response.joined("Sec-WebSocket-Extensions");
    return extensions ? handshake::parse_response_extensions(*extensions)
                      : handshake::negotiated_extensions{};
}

record::handshake make_handshake_record(const session_options& options,
                                        const handshake::http_head& request,
                                        const handshake::http_head& response,
                                        const handshake::negotiated_extensions& extensions) {
    record::handshake h;
    h.client = options.client;
    h.upstream = options.upstream;
    h.tls = options.tls;
    h.proxy = options.proxy;
    h.method = request.method;
    h.target = request.target;
    h.status = response.status;
    h.request_headers = redacted(request.fields, options.redact);
    h.response_headers = redacted(response.fields, options.redact);
    if (const std::string* protocol = response.find("Sec-WebSocket-Protocol")) {
        h.subprotocol = *protocol;
    }
    h.extensions = response.joined("Sec-WebSocket-Extensions");
    if (extensions.deflate) {
        const handshake::deflate_params& d = *extensions.deflate;
        h.deflate =
            record::deflate_record{d.server_no_context_takeover, d.client_no_context_takeover,
                                   d.server_max_window_bits, d.client_max_window_bits};
    }
    return h;
}

frame_setup setup_for(direction dir, const handshake::negotiated_extensions& extensions) {
    frame_setup s;
    s.decoder.dir = dir;
    s.decoder.rsv1_allowed = extensions.deflate_accepted;
    s.decoder.rsv_defined_by_extension = extensions.unknown_extension;
    if (extensions.deflate) {
        s.deflate = deflate_direction{true, dir == direction::c2s
                                                ? extensions.deflate->client_no_context_takeover
                                                : extensions.deflate->server_no_context_takeover};
    } else if (extensions.deflate_accepted) {
        // Accepted with parameters that make no sense: RSV1 still marks compressed messages,
        // shown as sent.
        s.deflate = deflate_direction{false, false};
    }
    return s;
}

} // namespace wssniff::session

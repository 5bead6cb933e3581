#pragma once
// What an upgrade exchange means for the records: the handshake record (credentials redacted)
// and, after a 101, how each direction's frames are decoded (RSV rules, permessage-deflate).

#include "wssniff/decoder/frame_decoder.hpp"
#include "wssniff/handshake/extensions.hpp"
#include "wssniff/handshake/http_head.hpp"
#include "wssniff/record/record.hpp"
#include "wssniff/session/frame_recorder.hpp"
#include "wssniff/session/session.hpp"

#include <optional>

namespace wssniff::session {

// The response's extensions, as far as the decoders care (101 only; refusals settle nothing).
handshake::negotiated_extensions negotiated(const handshake::http_head& response);

record::handshake make_handshake_record(const session_options& options,
                                        const handshake::http_head& request,
                                        const handshake::http_head& response,
                                        const handshake::negotiated_extensions& extensions);

// How one direction's frames are decoded after the 101.
struct frame_setup {
    decoder::decoder_options decoder;
    std::optional<deflate_direction> deflate;
};

frame_setup setup_for(direction dir, const handshake::negotiated_extensions& extensions);

} // namespace wssniff::session

#pragma once
// Offline decoding: feeds a session the two directions of a recorded connection.
//
// Without timing, the order of the two directions has to be chosen. The rule: each direction's
// HTTP phase first, request before response (as many exchanges as there are), then all client
// frames, then all server frames. It depends only on the bytes, never on how they were read,
// so a capture decodes to the same records whatever the chunk size.

#include "wssniff/record/record.hpp"
#include "wssniff/session/session.hpp"

#include <functional>

namespace wssniff::session {

// Returns the next chunk of one direction's bytes; an empty view means the end. The view must
// stay valid until the next call.
using chunk_source = std::function<bytes_view()>;

void replay(session& s, const chunk_source& c2s, const chunk_source& s2c,
            record::close_reason reason = record::close_reason::end_of_input);

// Convenience for tests and fuzzers: both directions in memory, fed `chunk` bytes at a time
// (0: in one piece).
void replay(session& s, bytes_view c2s, bytes_view s2c, std::size_t chunk = 0);

} // namespace wssniff::session

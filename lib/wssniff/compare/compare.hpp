#pragma once
// Two archives compared (sans-I/O: the records are already read): connections paired in
// order, since `conn` numbers differ between runs; per connection the handshake (status,
// subprotocol, negotiated deflate), per direction the message sequence (op, payload after
// inflation, close code and reason; close frames are items of the sequence) or, with
// --unit frames, the frame sequence, the error codes per direction, and the close record's
// reason. Sequences are aligned by a shortest edit script over normalised items, so one extra
// server push is one addition; JSON payloads are compared structurally.

#include "wssniff/archive/connections.hpp"
#include "wssniff/compare/difference.hpp"
#include "wssniff/compare/options.hpp"

#include <vector>

namespace wssniff::compare {

// `a` is the expected archive, `b` the actual one. Throws std::invalid_argument when an
// option cannot be used (a --normalize rule that does not compile).
result compare_archives(const std::vector<archive::connection>& a,
                        const std::vector<archive::connection>& b, const options& o);

} // namespace wssniff::compare

#pragma once
// The messages of one archived connection as a browser's DevTools lists them: whole text and
// binary messages in the order they completed, each with its direction and time, and (on
// request) the control frames between them. HAR has no frames, so this is what it can carry.

#include "wssniff/archive/connections.hpp"
#include "wssniff/base/bytes.hpp"
#include "wssniff/record/record.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace wssniff::har {

struct ws_message {
    direction dir = direction::c2s;
    std::optional<record::timestamp> ts; // when its last frame was seen; none from `decode`
    std::uint8_t opcode = 1;             // 1 text, 2 binary; 8, 9, 10 with control frames
    std::string data;                    // the (inflated) payload bytes the archive holds
    std::uint64_t len = 0;               // the whole payload's length
    bool truncated = false;              // `data` is only part of it, or none
};

// Message records where the connection has them; otherwise messages reassembled from its frame
// records (an archive written with `--emit frames`). Control frames come from frame records,
// only with `control`.
std::vector<ws_message> messages_of(const archive::connection& c, bool control);

} // namespace wssniff::har

#pragma once
// One HAR entry as archive records: a handshake record and one message record per text or
// binary message of `_webSocketMessages`, with `ts` from the HAR's times (Chrome writes a
// message's `time` in seconds since the epoch, Playwright in milliseconds: both are read). HAR
// has no frames, so there are no frame records (replay such an archive with `--unit messages`).

#include "wssniff/record/record.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace wssniff::har {

// A WebSocket connection: the entry has `_webSocketMessages`, `_resourceType: "websocket"` or a
// ws:// or wss:// URL.
bool is_websocket_entry(const nlohmann::json& entry);

// request.url, or "" when it has none.
std::string entry_url(const nlohmann::json& entry);

struct imported_entry {
    std::vector<record::record> records; // the handshake, then the messages
    // Messages left out: those DevTools' importer also skips (a type other than send/receive,
    // no numeric time or opcode, no string data, binary data that is not base64) and control
    // frames, which are not messages.
    std::uint64_t skipped_messages = 0;
    std::uint64_t control_messages = 0;
};

// The records of `entry` as connection `conn`. Chrome's WebSocket entries may have an empty
// method, httpVersion or header list: tolerated (the method is then GET).
imported_entry import_entry(const nlohmann::json& entry, std::uint64_t conn);

} // namespace wssniff::har

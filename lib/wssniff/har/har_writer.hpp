#pragma once
// An archive as an HTTP Archive (HAR 1.2) in the shape Chrome's DevTools writes and reads for
// WebSocket connections (devtools-frontend models/har/Log.ts): one entry per handshake, with
// `_resourceType: "websocket"` and the messages in `_webSocketMessages`
// ({type: "send"|"receive", time: epoch seconds, opcode, data}: text as UTF-8, everything else
// base64). Entries are written as they come, so the HAR never exists whole in memory.

#include "wssniff/archive/connections.hpp"
#include "wssniff/record/record.hpp"

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace wssniff::har {

struct export_options {
    bool control = false; // ping, pong and close frames as messages too
    // The time of records without `ts` (an archive from `decode` has no clock); the Unix
    // epoch when not given. The log's comment says which.
    std::optional<record::timestamp> base_time;
    std::string creator_version = "unknown";
};

class har_writer {
  public:
    har_writer(std::FILE* out, export_options options);
    har_writer(const har_writer&) = delete;
    har_writer& operator=(const har_writer&) = delete;

    // One entry for the connection's handshake; false (nothing written) when it has none.
    bool add(const archive::connection& c);
    // Closes the log. Returns false if anything failed to reach the stream.
    bool finish();

    std::uint64_t entries() const noexcept { return entries_; }

  private:
    void put(const std::string& text);

    std::FILE* out_;
    export_options options_;
    std::uint64_t entries_ = 0;
    bool clockless_ = false; // some record had no `ts`
    bool ok_ = true;
};

} // namespace wssniff::har

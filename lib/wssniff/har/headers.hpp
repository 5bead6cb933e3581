#pragma once
// A header of a handshake record by name, as HTTP compares names (case-insensitive): what the
// HAR writer and importer look up (Host, Sec-WebSocket-Protocol, Sec-WebSocket-Extensions).

#include "wssniff/handshake/text.hpp"
#include "wssniff/record/record.hpp"

#include <string>
#include <string_view>

namespace wssniff::har {

// The first field named `name`, or nullptr.
inline const std::string* find_header(const record::header_list& headers,
                                      std::string_view name) noexcept {
    for (const auto& [n, v] : headers) {
        if (handshake::iequals(n, name)) {
            return &v;
        }
    }
    return nullptr;
}

} // namespace wssniff::har

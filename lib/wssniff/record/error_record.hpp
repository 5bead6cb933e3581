#pragma once
// One way to make an `error` record, for every producer (the session, the frame recorders,
// the proxy, the record queue): the message is the table's sentence for `code`
// (base/error_code.hpp), then
// ": detail" when there is one.

#include "wssniff/base/error_code.hpp"
#include "wssniff/record/record.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wssniff::record {

inline error make_error(error_code code, std::string_view detail,
                        std::optional<direction> dir = std::nullopt,
                        std::optional<std::uint64_t> offset = std::nullopt, bool fatal = false) {
    error e;
    e.code = code;
    e.message = std::string(describe(code));
    if (!detail.empty()) {
        e.message.append(": ").append(detail);
    }
    e.fatal = fatal;
    e.dir = dir;
    e.offset = offset;
    return e;
}

} // namespace wssniff::record

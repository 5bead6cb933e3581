#include "wssniff/expect/capture.hpp"

namespace wssniff::expect {

result wait_until_matches(const record::capture& capture, const spec& s,
                          std::chrono::milliseconds timeout, std::optional<std::uint64_t> conn) {
    // Matched under the capture's lock each time records arrive; the stream of a test's
    // connection is small, and the search is bounded.
    const bool done = capture.wait_for(
        [&](const std::vector<record::record>& records) {
            return match_records(s, records, conn).matched;
        },
        timeout);
    (void)done;
    return match_capture(capture, s, conn);
}

result match_capture(const record::capture& capture, const spec& s,
                     std::optional<std::uint64_t> conn) {
    return match_records(s, capture.records(), conn);
}

} // namespace wssniff::expect

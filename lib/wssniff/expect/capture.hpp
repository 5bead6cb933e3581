#pragma once
// Expectations on an in-process capture (record/capture.hpp): the capture is a unit below
// this one, so waiting for a match is a free function here rather than a member there.
//
//     auto r = wssniff::expect::wait_until_matches(capture, seq, 5s);
//     REQUIRE(r.matched);                         // r.report says where it left the spec

#include "wssniff/expect/match.hpp"
#include "wssniff/record/capture.hpp"

#include <chrono>
#include <cstdint>
#include <optional>

namespace wssniff::expect {

// Waits until the records captured so far match `s` (connection `conn`, or the first), or
// `timeout` passes; the result of the last attempt.
result wait_until_matches(const record::capture& capture, const spec& s,
                          std::chrono::milliseconds timeout,
                          std::optional<std::uint64_t> conn = std::nullopt);

// The records captured so far, matched once.
result match_capture(const record::capture& capture, const spec& s,
                     std::optional<std::uint64_t> conn = std::nullopt);

} // namespace wssniff::expect

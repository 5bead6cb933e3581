#pragma once
// A GoogleTest matcher for an in-process capture (header-only; the test links GoogleTest):
//
//     EXPECT_THAT(capture, wssniff::expect::matches(seq));        // what was captured so far
//     EXPECT_THAT(capture, wssniff::expect::matches(seq, 5s));    // waiting up to 5 s
//
// A failure's explanation is the report (steps beside records, the first step not matched, the
// closest record and which matcher failed on it). (catch2.hpp has the Catch2 one; a test
// program includes one of the two.)

#include "wssniff/expect/capture.hpp"

#include <gmock/gmock.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <utility>

namespace wssniff::record {
// How GoogleTest prints a capture in a failure (rather than its bytes).
inline void PrintTo(const capture& c, std::ostream* os) {
    *os << "capture of " << c.records().size() << " records";
}
} // namespace wssniff::record

namespace wssniff::expect {

class capture_gmatcher {
  public:
    using is_gtest_matcher = void;

    capture_gmatcher(spec s, std::chrono::milliseconds wait, std::optional<std::uint64_t> conn)
        : spec_(std::make_shared<const spec>(std::move(s))), wait_(wait), conn_(conn) {}

    bool MatchAndExplain(const record::capture& capture, std::ostream* os) const {
        const auto r = wait_.count() > 0 ? wait_until_matches(capture, *spec_, wait_, conn_)
                                         : match_capture(capture, *spec_, conn_);
        if (!r.matched && os != nullptr) {
            *os << "\n" << r.report;
        }
        return r.matched;
    }
    void DescribeTo(std::ostream* os) const { *os << "matches the expectation"; }
    void DescribeNegationTo(std::ostream* os) const { *os << "does not match the expectation"; }

  private:
    std::shared_ptr<const spec> spec_;
    std::chrono::milliseconds wait_;
    std::optional<std::uint64_t> conn_;
};

inline capture_gmatcher matches(spec s,
                                std::chrono::milliseconds wait = std::chrono::milliseconds(0),
                                std::optional<std::uint64_t> conn = std::nullopt) {
    return capture_gmatcher(std::move(s), wait, conn);
}

} // namespace wssniff::expect

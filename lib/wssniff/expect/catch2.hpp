#pragma once
// A Catch2 (v2) matcher for an in-process capture (header-only; the test links Catch2):
//
//     REQUIRE_THAT(capture, wssniff::expect::matches(seq));         // what was captured so far
//     REQUIRE_THAT(capture, wssniff::expect::matches(seq, 5s));     // waiting up to 5 s
//
// A failure's message is the report: the steps beside the records, the first step not
// matched, the closest record and which matcher failed on it. (gtest.hpp has the GoogleTest
// one; a test program includes one of the two.)

#include "wssniff/expect/capture.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace wssniff::expect {

class capture_matcher final : public Catch::MatcherBase<record::capture> {
  public:
    capture_matcher(spec s, std::chrono::milliseconds wait, std::optional<std::uint64_t> conn)
        : spec_(std::move(s)), wait_(wait), conn_(conn) {}

    bool match(const record::capture& capture) const override {
        last_ = wait_.count() > 0 ? wait_until_matches(capture, spec_, wait_, conn_)
                                  : match_capture(capture, spec_, conn_);
        return last_.matched;
    }

    std::string describe() const override {
        std::string out = "matches the expectation";
        if (!last_.matched && !last_.report.empty()) {
            out += ", but:\n" + last_.report;
        }
        return out;
    }

  private:
    spec spec_;
    std::chrono::milliseconds wait_;
    std::optional<std::uint64_t> conn_;
    mutable result last_;
};

inline capture_matcher matches(spec s,
                               std::chrono::milliseconds wait = std::chrono::milliseconds(0),
                               std::optional<std::uint64_t> conn = std::nullopt) {
    return capture_matcher(std::move(s), wait, conn);
}

} // namespace wssniff::expect

namespace Catch {
template <> struct StringMaker<wssniff::record::capture> {
    static std::string convert(const wssniff::record::capture& c) {
        return "capture of " + std::to_string(c.records().size()) + " records";
    }
};
} // namespace Catch

#pragma once
// The three ways `wssniff diff` writes differences: text for people, NDJSON for jq, JUnit XML
// for CI test reports.

#include "wssniff/archive/connections.hpp"
#include "wssniff/compare/difference.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace wssniff::app {

// XML 1.0 text or attribute value: markup escaped, control characters XML cannot carry dropped
// (line breaks and tabs kept in element text, as character references in attributes).
std::string xml_escape(const std::string& s, bool attribute = true);

// "conn 1 s2c #3 /price: 101.5 → 102.0", "conn 1 s2c #7 + {...}".
std::string text_line(const compare::difference& d);

// One JSON object per difference (README "wssniff diff" lists the fields).
void write_ndjson(const compare::result& r, std::FILE* out);

void write_text(const compare::result& r, std::FILE* out);

struct junit_names {
    std::string expected;
    std::string actual;
};

// One testsuite, one testcase per connection pair, a failure per pair that differs (its
// differences as text lines); pairs the comparison did not reach (--max-diffs) are skipped.
void write_junit(const compare::result& r, const std::vector<archive::connection>& expected,
                 const std::vector<archive::connection>& actual, const junit_names& names,
                 std::FILE* out);

} // namespace wssniff::app

#pragma once
// Shared by the tests that read a record::capture.

#include "support/records.hpp"

#include "wssniff/record/capture.hpp"

#include <variant>
#include <vector>

namespace wssniff::test {

// The bodies of the captured records of one kind (record::handshake, record::close, ...), in
// arrival order.
template <class Body> std::vector<Body> captured(const record::capture& capture) {
    std::vector<Body> out;
    for (const record::record& r : capture.records()) {
        if (const auto* body = std::get_if<Body>(&r.body)) {
            out.push_back(*body);
        }
    }
    return out;
}

// Records written into a capture skip the NDJSON writer: this writes them to the suite's dump
// too, so the schema test validates them like every other record the suites produce.
inline void dump_for_schema(const record::capture& capture) {
    ndjson_capture dump;
    for (record::record& r : capture.records()) {
        dump.write(std::move(r));
    }
}

} // namespace wssniff::test

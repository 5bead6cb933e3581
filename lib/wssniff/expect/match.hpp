#pragma once
// An expectation matched against one connection's records.
//
// The stream: the connection's data items in the order they completed — messages (reassembled
// from frame records by the compare unit when the archive has no message records) or, with
// unit frames, every frame; close frames are items in both units; ping and pong frames only
// when ignore_pings is off — plus its handshake, error and close records, each kind only when
// a step of the spec matches that kind. Items are numbered per direction from 0 (`s2c #3`).
//
// The search: steps in order, each consuming records it matches (greedily, as many as its
// quantifier allows, then fewer if what follows needs it), any-order groups consuming records
// that any of their steps still wanting one matches. With extra "allow" records may be
// skipped. It is a depth-first search over states (step, counts, position, bindings) with every
// state visited once, so it is polynomial in the stream's length for a given spec whatever the
// quantifiers; a work cap (match_options::max_states) ends it on adversarial specs with
// result::gave_up rather than running on.

#include "wssniff/archive/connections.hpp"
#include "wssniff/expect/spec.hpp"
#include "wssniff/record/record.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace wssniff::expect {

// One element of the stream a spec is matched against.
struct actual {
    kind type = kind::item;
    std::optional<direction> dir;
    std::uint64_t index = 0; // items: per direction; errors: among errors
    std::uint64_t line = 0;  // the (last) record's line in the archive, from 1
    // items
    std::uint8_t op = 1; // raw opcode
    std::string payload;
    bool text = false;
    bool truncated = false;
    std::optional<nlohmann::json> json; // a text payload that parses as JSON
    std::optional<std::uint16_t> close_code;
    std::optional<std::string> close_reason;
    // error, close and handshake records
    std::string code;   // error code
    std::string reason; // close reason
    int status = 0;     // handshake status

    // "s2c #3", "handshake", "error #0 (c2s)", "close record".
    std::string label() const;
    // The label and what it holds: `s2c #3 text {"id":7}`.
    std::string summary() const;
};

// The stream of one connection under `s`'s unit, ping and kind rules.
std::vector<actual> stream_of(const archive::connection& c, const spec& s);

struct match_options {
    std::size_t max_states = 1000000; // states the search may visit before it gives up
    std::size_t context = 3;          // records shown before and after the candidate
};

struct result {
    bool matched = false;
    bool gave_up = false; // the search visited max_states states without an answer
    std::string report;   // empty when matched; the failure, several lines, '\n'-terminated
    // For each top-level step, the stream positions it consumed on the match (or, when it
    // failed, on the furthest partial match).
    std::vector<std::vector<std::size_t>> consumed;
};

result match(const spec& s, const std::vector<actual>& stream, const match_options& o = {});
result match(const spec& s, const archive::connection& c, const match_options& o = {});

// Records in memory (a capture's): the connection `conn`, or the first one when not given.
// An empty record list is a connection with no records.
result match_records(const spec& s, const std::vector<record::record>& records,
                     std::optional<std::uint64_t> conn = std::nullopt, const match_options& o = {});

} // namespace wssniff::expect

#pragma once
// Mask files: the JSON payload paths a comparison leaves out, written by hand or learned from
// runs of the same baseline (Diffy's idea: what differs between two good runs is noise).
//
//   {
//     "wssniff_mask": 1,
//     "ignore": ["/ts", "/items/*/id"],                       payloads of both directions
//     "c2s": ["/nonce"],                                      client payloads only
//     "s2c": [{"pointer": "/server_time", "type": "string"}]  server payloads only
//   }
//
// Every key is optional. An entry is a JSON pointer (RFC 6901; "*" matches any member or
// element at its depth) or an object with "pointer" and "type" (null, boolean, number, string,
// array, object): a typed entry ignores the value only while both sides hold that type, so a
// type change is still reported. --learn writes typed entries.

#include "wssniff/archive/connections.hpp"
#include "wssniff/compare/options.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace wssniff::compare {

// The entries of a mask file. Throws std::invalid_argument naming what is wrong.
std::vector<json_ignore> parse_mask(std::string_view text);

struct learned_mask {
    std::vector<json_ignore> entries; // typed, per direction, sorted
    std::string text;                 // the mask file (JSON, ends with a newline)
    // What differs between the runs but cannot be masked (type changes, members only one run
    // has, payloads that are not JSON, different message counts): one sentence each.
    std::vector<std::string> notes;
};

// Compares every run with the first, message by message in order (same scenario, same
// sequence): each JSON value that differs, with the same type on both sides, becomes an entry
// of its direction, array indices generalised to "*". `o` supplies --normalize and the
// pointers already ignored. Throws std::invalid_argument with fewer than two runs.
learned_mask learn_mask(const std::vector<std::vector<archive::connection>>& runs,
                        const options& o);

} // namespace wssniff::compare

#pragma once
// The parsed form of a filter expression: and/or/not over tests, a test being a field with an
// optional comparison. Built by parser.cpp, read by evaluate.cpp.

#include <re2/re2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wssniff::filter {

// Every field the language knows, by its NDJSON name (hs_* are hs.*).
enum class field_id : std::uint8_t {
    type,
    conn,
    ts,
    // frame and message
    dir,
    seq,
    offset,
    fin,
    rsv1,
    rsv2,
    rsv3,
    opcode,
    op,
    masked,
    mask,
    len,
    compressed,
    data_len,
    frames,
    text,
    hex,
    base64,
    payload,
    truncated,
    close_code,
    close_reason,
    json,
    // error
    code,
    message,
    fatal,
    // close
    reason,
    bytes_c2s,
    bytes_s2c,
    frames_c2s,
    frames_s2c,
    // handshake
    client,
    upstream,
    method,
    target,
    status,
    request_headers,
    response_headers,
    subprotocol,
    extensions,
    deflate,
    tls,
    // the connection's handshake, on every record
    hs_client,
    hs_upstream,
    hs_method,
    hs_target,
    hs_status,
    hs_subprotocol,
    hs_extensions,
    hs_header,
};

// One step of a json.* path: .key, ["key"] or [index].
struct path_step {
    bool is_index = false;
    std::string key;
    std::size_t index = 0;
};

struct field_ref {
    field_id id = field_id::type;
    std::vector<path_step> path; // json.*
    std::string header;          // hs.header["name"], lowercased
};

struct literal {
    enum class kind : std::uint8_t { boolean, number, string } type = kind::number;
    bool boolean = false;
    double number = 0;
    std::string string;
};

// A member of `in {...}`: a value, or an inclusive range of numbers lo..hi.
struct set_member {
    bool range = false;
    literal value;
    double low = 0;
    double high = 0;
};

enum class test_op : std::uint8_t { truth, eq, ne, lt, le, gt, ge, contains, matches, in };

struct node {
    enum class kind : std::uint8_t { any_of, all_of, negation, test, constant } type = kind::test;
    std::unique_ptr<node> left; // any_of, all_of; negation's operand
    std::unique_ptr<node> right;
    field_ref field;
    test_op op = test_op::truth;
    literal value;               // eq .. ge, contains; constant's boolean
    std::vector<set_member> set; // in
    std::unique_ptr<RE2> regex;  // matches
};

} // namespace wssniff::filter

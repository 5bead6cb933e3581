#pragma once
// An expectation: the conversation a test expects on one connection, as a sequence of steps,
// each matching one record (or, with a quantifier, several). The same model is read from the
// JSON form (schemas/expectation.schema.json: `wssniff expect --spec`, the pytest and node
// helpers) and built in C++ (builder.hpp). The matcher is in match.hpp.

#include "wssniff/base/bytes.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wssniff::expect {

// What a step is matched against.
enum class unit : std::uint8_t { messages, frames };

// allow: records no step matches may come between and after the steps (an ordered
// subsequence); forbid: every record of the stream is matched by a step, in order, up to the end.
enum class extra : std::uint8_t { allow, forbid };

// The record a step matches: a data item of the unit (a message or a frame; close frames,
// and pings and pongs unless ignored, are items too), or a handshake, error or close record.
enum class kind : std::uint8_t { item, handshake, error, close };

std::string_view to_string(kind k) noexcept;

struct step {
    kind type = kind::item;
    std::optional<direction> dir;
    std::optional<std::uint8_t> op;     // raw opcode (items)
    std::optional<std::string> text;    // the exact text payload
    std::optional<std::string> bytes;   // the exact payload bytes (hex or base64 in JSON)
    std::vector<std::string> contains;  // substrings of the payload
    std::optional<std::string> regex;   // RE2, unanchored, on the payload
    std::optional<nlohmann::json> json; // a JSON subset of the payload
    std::vector<std::pair<std::string, nlohmann::json>> pointers; // RFC 6901 pointer == value
    std::optional<std::uint16_t> close_code;
    std::optional<std::string> close_reason;
    std::optional<std::string> code;   // error records: the error code
    std::optional<std::string> reason; // close records: how the connection ended
    std::optional<int> status;         // handshake records: the HTTP status
    std::vector<std::pair<std::string, std::string>> binds;  // name, pointer
    std::vector<std::pair<std::string, std::string>> equals; // pointer, name
    std::uint64_t min = 1;
    std::optional<std::uint64_t> max = 1; // nullopt: no limit
    std::string location;                 // where the JSON form had it ("/steps/2"), or empty
};

// One entry of the sequence: a step, or a group whose steps match in any order.
struct node {
    step single;
    std::vector<step> any_order; // not empty: a group
    bool group() const noexcept { return !any_order.empty(); }
};

struct spec {
    std::string name; // for reports (JUnit); optional
    expect::unit unit = unit::messages;
    bool ignore_pings = true; // ping and pong frames are not part of the stream
    expect::extra extra = extra::allow;
    std::vector<node> steps;
};

// A spec that cannot be used: `where` is the JSON pointer of the offending value ("" for the
// document), what() says "WHERE: problem".
class spec_error : public std::runtime_error {
  public:
    spec_error(std::string where, const std::string& problem);
    const std::string& where() const noexcept { return where_; }

  private:
    std::string where_;
};

// The JSON form read into a spec. Throws spec_error.
spec parse_spec(std::string_view json_text);
spec parse_spec_json(const nlohmann::json& document);

// Checks what parse_spec checks on a spec built in C++ (regular expressions, pointers,
// quantifiers, bindings used before any step binds them). Throws spec_error.
void validate(const spec& s);

// The JSON form of a spec (what parse_spec reads back to the same spec).
nlohmann::json to_json(const spec& s);

// One line describing a step, as reports show it: `s2c text json {"op":"ack"} /id=$id`.
std::string describe(const step& s);

} // namespace wssniff::expect

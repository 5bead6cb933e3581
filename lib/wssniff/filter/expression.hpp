#pragma once
// A filter expression (--filter, --conn-filter): parsed once at start-up into a small tree, then
// evaluated on the record structs before anything is serialised. Fields are named as the NDJSON
// record names them (README "Filters" has the grammar):
//
//   type in {"error","close"} or (dir == "s2c" and json.type == "trade" and json.price > 100)
//
// A field the record lacks (or holds as null) makes every comparison false; `not` tests for
// absence. Regular expressions are RE2's (linear time on any payload). `json.*` parses the text
// payload once per record, and only when the expression names it.

#include "wssniff/record/record.hpp"

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace wssniff::filter {

// An expression that does not parse: what is wrong, and where (the caret goes there).
struct parse_error : std::runtime_error {
    parse_error(std::size_t at, const std::string& what) : std::runtime_error(what), column(at) {}
    std::size_t column; // from 1, in bytes of the expression
};

// Two lines for the user: the expression, and a caret under `column`.
std::string caret_lines(std::string_view expression, std::size_t column);

struct node; // the parsed tree (ast.hpp)

class expression {
  public:
    // Parses and compiles `text` (regular expressions included). Throws parse_error.
    static std::shared_ptr<const expression> compile(std::string_view text);

    expression(std::string text, std::unique_ptr<node> root);
    ~expression();
    expression(const expression&) = delete;
    expression& operator=(const expression&) = delete;

    // Whether `r` satisfies the expression; `hs` is its connection's handshake, when known
    // (for the hs.* fields). Safe to call from several threads at once.
    bool matches(const record::record& r, const record::handshake* hs) const;

    // false when no record with this head could satisfy the expression, whatever its payload:
    // `head` is a frame or message record as record::sink::may_keep describes it, the fields its
    // payload decides are unknown (three-valued: an unknown test makes `and` false only beside a
    // false one, `or` true only beside a true one, and `not` unknown).
    bool may_match(const record::record& head, const record::handshake* hs) const;

    // Whether any hs.* field occurs (a caller need keep the handshake only then).
    bool uses_handshake() const noexcept { return uses_handshake_; }
    bool uses_json() const noexcept { return uses_json_; }
    const std::string& text() const noexcept { return text_; }

  private:
    std::string text_;
    std::unique_ptr<node> root_;
    bool uses_handshake_ = false;
    bool uses_json_ = false;
};

} // namespace wssniff::filter

// Fuzz target for the filter language (filter/): the whole input is one --filter expression.
// Besides the sanitizers, what it checks:
//   - it compiles, or fails with a parse_error whose column lies within the expression or just
//     past its end (where the caret goes); nothing else is thrown;
//   - a compiled expression evaluates on records of every type, with and without a handshake,
//     the same way twice;
//   - `not (E)` compiles too and is its negation on every record; `(E) or false` and
//     `(E) and true` are E.

#include "wssniff/filter/expression.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace {

using wssniff::direction;
using wssniff::filter::expression;
using namespace wssniff::record;

[[noreturn]] void fail(const char* property, std::string_view text, std::string_view detail) {
    std::fprintf(stderr, "filter_fuzz: property violated: %s\n  expression: %.*s\n  %.*s\n",
                 property, static_cast<int>(text.size()), text.data(),
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}

std::vector<record> sample_records() {
    std::vector<record> out;
    handshake h;
    h.method = "GET";
    h.target = "/ws/chat?room=1";
    h.status = 101;
    h.request_headers = {{"Host", "example.com"}, {"X-Trace-Id", "abc123"}};
    h.response_headers = {{"Upgrade", "websocket"}};
    h.subprotocol = "chat";
    out.push_back(record{1, std::nullopt, h});
    frame f;
    f.dir = direction::s2c;
    f.fin = true;
    f.opcode = 1;
    f.len = 43;
    f.data.encoding = payload_encoding::text;
    f.data.bytes = R"({"type":"trade","price":101.5,"book":{"bids":[[100,2]]},"t":[]})";
    out.push_back(record{1, timestamp{}, f});
    f.data.bytes = "not json \xc3\xa9";
    out.push_back(record{1, std::nullopt, f});
    frame b;
    b.dir = direction::c2s;
    b.opcode = 2;
    b.masked = true;
    b.mask = {1, 2, 3, 4};
    b.data.encoding = payload_encoding::hex;
    b.data.bytes = std::string("\x00\xff{", 3);
    b.data.truncated = true;
    out.push_back(record{1, std::nullopt, b});
    frame c;
    c.opcode = 8;
    c.close_code = 1000;
    c.close_reason = "bye";
    out.push_back(record{1, std::nullopt, c});
    message m;
    m.data.encoding = payload_encoding::base64;
    m.data.bytes = "[1,2]";
    out.push_back(record{1, std::nullopt, m});
    error e;
    e.message = "x";
    e.offset = 3;
    out.push_back(record{1, std::nullopt, e});
    out.push_back(record{1, std::nullopt, close{}});
    return out;
}

// E wrapped in one more level: it compiles unless that level passes the nesting or operator
// bound (null then).
std::shared_ptr<const expression> compile_or_fail(const std::string& text, const char* what) {
    try {
        return expression::compile(text);
    } catch (const wssniff::filter::parse_error& e) {
        const std::string_view why = e.what();
        if (why.rfind("nested more than", 0) == 0 || why.rfind("more than 1000", 0) == 0) {
            return nullptr;
        }
        fail(what, text, e.what());
    } catch (const std::exception& e) {
        fail(what, text, e.what());
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    std::shared_ptr<const expression> e;
    try {
        e = expression::compile(text);
    } catch (const wssniff::filter::parse_error& problem) {
        if (problem.column < 1 || problem.column > text.size() + 1) {
            fail("a parse error's column outside the expression", text,
                 std::to_string(problem.column) + ": " + problem.what());
        }
        (void)wssniff::filter::caret_lines(text, problem.column);
        return 0;
    } catch (const std::exception& other) {
        fail("an exception other than parse_error", text, other.what());
    }
    static const std::vector<record> records = sample_records();
    const auto negated = compile_or_fail("not (" + text + ")", "not (E) does not compile");
    const auto or_false =
        compile_or_fail("(" + text + ") or false", "(E) or false does not compile");
    const auto and_true =
        compile_or_fail("(" + text + ") and true", "(E) and true does not compile");
    const handshake& hs = std::get<handshake>(records.front().body);
    for (const record& r : records) {
        for (const handshake* h : {static_cast<const handshake*>(nullptr), &hs}) {
            const bool first = e->matches(r, h);
            if (e->matches(r, h) != first) {
                fail("two evaluations of one record differ", text, "");
            }
            if (negated && negated->matches(r, h) == first) {
                fail("not (E) is not the negation of E", text, "");
            }
            if ((or_false && or_false->matches(r, h) != first) ||
                (and_true && and_true->matches(r, h) != first)) {
                fail("(E) or false, (E) and true differ from E", text, "");
            }
        }
    }
    return 0;
}

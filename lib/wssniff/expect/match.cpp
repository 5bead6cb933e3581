#include "wssniff/expect/match.hpp"

#include "wssniff/base/opcode.hpp"
#include "wssniff/compare/items.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <map>
#include <memory>
#include <unordered_set>
#include <variant>

namespace wssniff::expect {

namespace {

using nlohmann::json;

std::string dump(const json& v) {
    return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string hex_of(const std::string& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const char c : bytes) {
        out += digits[static_cast<unsigned char>(c) >> 4];
        out += digits[static_cast<unsigned char>(c) & 0xF];
    }
    return out;
}

// A long value cut for a report line (on a UTF-8 boundary).
std::string shorten(std::string s, std::size_t limit = 80) {
    if (s.size() <= limit) {
        return s;
    }
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) {
        --cut;
    }
    s.resize(cut);
    return s + "…";
}

std::string payload_value(const actual& a) {
    if (a.op == opcode::close) {
        std::string out = "a close frame";
        if (a.close_code) {
            out += " " + std::to_string(*a.close_code);
        }
        return out;
    }
    if (a.json) {
        return dump(*a.json);
    }
    if (a.text) {
        return dump(json(a.payload));
    }
    return "hex " + (a.payload.empty() ? std::string("(empty)") : hex_of(a.payload));
}

bool looks_like_json(const std::string& s) noexcept {
    const auto first = s.find_first_not_of(" \t\r\n");
    return first != std::string::npos;
}

bool mentions(const spec& s, kind k) {
    for (const auto& n : s.steps) {
        if (n.group()) {
            for (const auto& st : n.any_order) {
                if (st.type == k) {
                    return true;
                }
            }
        } else if (n.single.type == k) {
            return true;
        }
    }
    return false;
}

} // namespace

std::string actual::label() const {
    switch (type) {
    case kind::item: return std::string(to_string(*dir)) + " #" + std::to_string(index);
    case kind::handshake: return "handshake";
    case kind::error:
        return "error #" + std::to_string(index) +
               (dir ? " (" + std::string(to_string(*dir)) + ")" : std::string());
    case kind::close: return "close record";
    }
    return "?";
}

std::string actual::summary() const {
    std::string out = label();
    switch (type) {
    case kind::item:
        out += ' ';
        out += op_name(op);
        if (op == opcode::close) {
            if (close_code) {
                out += ' ' + std::to_string(*close_code);
            }
            if (close_reason && !close_reason->empty()) {
                out += ' ' + dump(nlohmann::json(*close_reason));
            }
        } else if ((op != opcode::ping && op != opcode::pong) || !payload.empty()) {
            out += ' ' + shorten(payload_value(*this));
        }
        if (truncated) {
            out += " (truncated)";
        }
        break;
    case kind::handshake: out += ' ' + std::to_string(status); break;
    case kind::error: out += ' ' + code; break;
    case kind::close: out += ' ' + reason; break;
    }
    return out;
}

std::vector<actual> stream_of(const archive::connection& c, const spec& s) {
    compare::options o;
    o.unit = s.unit == unit::frames ? compare::unit::frames : compare::unit::messages;
    if (s.ignore_pings) {
        o.ignore |= static_cast<compare::field_set>(compare::field::control);
    }
    const auto view = compare::view_of(c, o, {});
    std::vector<actual> out;
    for (std::size_t d = 0; d < 2; ++d) {
        for (const auto& it : view.items[d]) {
            actual a;
            a.type = kind::item;
            a.dir = d == 0 ? direction::c2s : direction::s2c;
            a.line = it.line;
            a.op = it.opcode;
            a.payload = it.payload;
            a.text = it.text;
            a.truncated = it.truncated;
            a.close_code = it.close_code;
            a.close_reason = it.close_reason;
            a.json = it.json;
            out.push_back(std::move(a));
        }
    }
    const bool pings = !s.ignore_pings && s.unit == unit::messages;
    const bool handshakes = mentions(s, kind::handshake);
    const bool errors = mentions(s, kind::error);
    const bool closes = mentions(s, kind::close);
    for (const auto& e : c.entries) {
        const auto& body = e.record.body;
        if (const auto* f = std::get_if<record::frame>(&body)) {
            // Messages leave out control frames; pings and pongs come back here when asked for.
            if (pings && (f->opcode == opcode::ping || f->opcode == opcode::pong)) {
                actual a;
                a.dir = f->dir;
                a.line = e.line;
                a.op = f->opcode;
                a.payload = f->data.bytes;
                a.truncated = f->data.truncated;
                a.text = f->data.encoding == record::payload_encoding::text;
                out.push_back(std::move(a));
            }
        } else if (const auto* h = std::get_if<record::handshake>(&body); h && handshakes) {
            actual a;
            a.type = kind::handshake;
            a.line = e.line;
            a.status = h->status;
            out.push_back(std::move(a));
        } else if (const auto* err = std::get_if<record::error>(&body); err && errors) {
            actual a;
            a.type = kind::error;
            a.dir = err->dir;
            a.line = e.line;
            a.code = std::string(to_string(err->code));
            out.push_back(std::move(a));
        } else if (const auto* cl = std::get_if<record::close>(&body); cl && closes) {
            actual a;
            a.type = kind::close;
            a.line = e.line;
            a.reason = std::string(to_string(cl->reason));
            out.push_back(std::move(a));
        }
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const actual& a, const actual& b) { return a.line < b.line; });
    std::uint64_t counters[2] = {0, 0};
    std::uint64_t error_counter = 0;
    for (auto& a : out) {
        if (a.type == kind::item) {
            a.index = counters[*a.dir == direction::c2s ? 0 : 1]++;
            if (a.text && !a.json && !a.truncated && looks_like_json(a.payload)) {
                auto parsed = json::parse(a.payload, nullptr, false);
                if (!parsed.is_discarded()) {
                    a.json = std::move(parsed);
                }
            }
        } else if (a.type == kind::error) {
            a.index = error_counter++;
        }
    }
    return out;
}

namespace {

struct binding {
    json value;
    std::string where; // the label of the record it was bound at
};

struct bindings {
    std::map<std::string, binding> values;
    std::string key; // the values as text, for the visited set
};

using bindings_ptr = std::shared_ptr<const bindings>;

std::string escape_token(const std::string& token) {
    std::string out;
    for (const char c : token) {
        out += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
    }
    return out;
}

// Whether `expected` is a subset of `got` (objects: every member present and a subset;
// arrays: as many elements, each a subset; anything else equal, numbers by value). `why` says
// where it is not.
bool subset(const json& expected, const json& got, const std::string& path, std::string& why) {
    if (expected.is_object()) {
        if (!got.is_object()) {
            why = (path.empty() ? std::string("the payload") : path) + " was " +
                  shorten(dump(got), 60) + ", expected an object";
            return false;
        }
        for (const auto& [key, value] : expected.items()) {
            const auto at = path + "/" + escape_token(key);
            const auto it = got.find(key);
            if (it == got.end()) {
                why = at + " is missing, expected " + shorten(dump(value), 60);
                return false;
            }
            if (!subset(value, *it, at, why)) {
                return false;
            }
        }
        return true;
    }
    if (expected.is_array()) {
        if (!got.is_array() || got.size() != expected.size()) {
            why = (path.empty() ? std::string("the payload") : path) + " was " +
                  shorten(dump(got), 60) + ", expected " + shorten(dump(expected), 60);
            return false;
        }
        for (std::size_t i = 0; i < expected.size(); ++i) {
            if (!subset(expected[i], got[i], path + "/" + std::to_string(i), why)) {
                return false;
            }
        }
        return true;
    }
    if (expected != got) {
        why = (path.empty() ? std::string("the payload") : path) + " was " +
              shorten(dump(got), 60) + ", expected " + shorten(dump(expected), 60);
        return false;
    }
    return true;
}

const json* at_pointer(const actual& a, const std::string& pointer) {
    if (!a.json) {
        return nullptr;
    }
    const json::json_pointer p(pointer);
    if (!a.json->contains(p)) {
        return nullptr;
    }
    return &a.json->at(p);
}

struct compiled_step {
    const step* s = nullptr;
    std::shared_ptr<RE2> regex;
};

// The matchers of `cs` on `a`: how many held and, when `why` is given, what each failing one
// says. Stops at the first failure when `why` is null.
struct verdict {
    std::size_t passed = 0;
    std::size_t failed = 0;
};

verdict evaluate(const compiled_step& cs, const actual& a, const bindings& b,
                 std::vector<std::string>* why) {
    const step& s = *cs.s;
    verdict v;
    const auto check = [&](bool ok, auto&& message) -> bool {
        if (ok) {
            ++v.passed;
            return true;
        }
        ++v.failed;
        if (why) {
            why->push_back(message());
            return true;
        }
        return false; // stop
    };
    const auto type_name = [](kind k) {
        return k == kind::item ? std::string("a message or frame")
                               : "a " + std::string(to_string(k)) + " record";
    };
    if (!check(s.type == a.type,
               [&] { return "is " + type_name(a.type) + ", expected " + type_name(s.type); })) {
        return v;
    }
    if (s.type != a.type) {
        return v; // other matchers make no sense on another kind
    }
    if (s.dir && !check(a.dir == s.dir, [&] {
            return "dir was " + std::string(a.dir ? to_string(*a.dir) : "none") + ", expected " +
                   std::string(to_string(*s.dir));
        })) {
        return v;
    }
    if (s.op && !check(a.op == *s.op, [&] {
            return "op was " + std::string(op_name(a.op)) + ", expected " +
                   std::string(op_name(*s.op));
        })) {
        return v;
    }
    if (s.text && !check(a.text && a.payload == *s.text, [&] {
            return "payload was " + shorten(payload_value(a), 60) + ", expected " +
                   shorten(dump(json(*s.text)), 60);
        })) {
        return v;
    }
    if (s.bytes && !check(a.payload == *s.bytes, [&] {
            return "payload was hex " + shorten(hex_of(a.payload), 60) + ", expected hex " +
                   shorten(hex_of(*s.bytes), 60);
        })) {
        return v;
    }
    for (const auto& c : s.contains) {
        if (!check(a.payload.find(c) != std::string::npos,
                   [&] { return "payload does not contain " + dump(json(c)); })) {
            return v;
        }
    }
    if (cs.regex && !check(RE2::PartialMatch(a.payload, *cs.regex),
                           [&] { return "payload does not match /" + *s.regex + "/"; })) {
        return v;
    }
    if (s.json) {
        std::string reason;
        const bool ok = a.json ? subset(*s.json, *a.json, "", reason) : false;
        if (!a.json) {
            reason = a.text ? "payload is not JSON" : "payload is not text";
        }
        if (!check(ok, [&] { return reason; })) {
            return v;
        }
    }
    for (const auto& [pointer, expected] : s.pointers) {
        const json* got = at_pointer(a, pointer);
        if (!check(got && *got == expected, [&] {
                if (!a.json) {
                    return "payload is not JSON, expected " + pointer + " " +
                           shorten(dump(expected), 60);
                }
                return got ? pointer + " was " + shorten(dump(*got), 60) + ", expected " +
                                 shorten(dump(expected), 60)
                           : pointer + " is missing, expected " + shorten(dump(expected), 60);
            })) {
            return v;
        }
    }
    if (s.close_code && !check(a.close_code == s.close_code, [&] {
            return (a.close_code ? "close code was " + std::to_string(*a.close_code)
                                 : std::string("no close code")) +
                   ", expected " + std::to_string(*s.close_code);
        })) {
        return v;
    }
    if (s.close_reason && !check(a.close_reason == s.close_reason, [&] {
            return (a.close_reason ? "close reason was " + dump(json(*a.close_reason))
                                   : std::string("no close reason")) +
                   ", expected " + dump(json(*s.close_reason));
        })) {
        return v;
    }
    if (s.code &&
        !check(a.code == *s.code, [&] { return "code was " + a.code + ", expected " + *s.code; })) {
        return v;
    }
    if (s.reason && !check(a.reason == *s.reason,
                           [&] { return "reason was " + a.reason + ", expected " + *s.reason; })) {
        return v;
    }
    if (s.status && !check(a.status == *s.status, [&] {
            return "status was " + std::to_string(a.status) + ", expected " +
                   std::to_string(*s.status);
        })) {
        return v;
    }
    for (const auto& [pointer, name] : s.equals) {
        const auto bound = b.values.find(name);
        const json* got = at_pointer(a, pointer);
        const bool ok = bound != b.values.end() && got && *got == bound->second.value;
        if (!check(ok, [&, &pointer = pointer, &name = name] {
                if (bound == b.values.end()) {
                    return "$" + name + " is not bound";
                }
                const auto expected = shorten(dump(bound->second.value), 60) + " (bound at " +
                                      bound->second.where + ")";
                if (!a.json) {
                    return "payload is not JSON, expected " + pointer + " " + expected;
                }
                return got ? pointer + " was " + shorten(dump(*got), 60) + ", expected " + expected
                           : pointer + " is missing, expected " + expected;
            })) {
            return v;
        }
    }
    for (const auto& [name, pointer] : s.binds) {
        if (!check(at_pointer(a, pointer) != nullptr, [&, &name = name, &pointer = pointer] {
                return pointer + " is missing (to bind $" + name + ")";
            })) {
            return v;
        }
    }
    return v;
}

bindings_ptr bind_values(const bindings_ptr& before, const step& s, const actual& a) {
    if (s.binds.empty()) {
        return before;
    }
    auto after = std::make_shared<bindings>(*before);
    for (const auto& [name, pointer] : s.binds) {
        after->values[name] = binding{*at_pointer(a, pointer), a.label()};
    }
    after->key.clear();
    for (const auto& [name, value] : after->values) {
        after->key += name;
        after->key += '=';
        after->key += dump(value.value);
        after->key += '\n';
    }
    return after;
}

// What a top-level node consumed, newest first.
struct trail {
    std::size_t node = 0;
    std::size_t element = 0;
    std::size_t pos = 0;
    std::shared_ptr<const trail> prev;
};

using trail_ptr = std::shared_ptr<const trail>;

struct state {
    std::size_t node = 0;
    std::vector<std::uint64_t> counts; // per step of the node
    std::size_t pos = 0;
    bindings_ptr b;
    trail_ptr t;
};

const std::vector<const step*> steps_of(const node& n) {
    std::vector<const step*> out;
    if (n.group()) {
        for (const auto& s : n.any_order) {
            out.push_back(&s);
        }
    } else {
        out.push_back(&n.single);
    }
    return out;
}

std::string state_key(const state& st) {
    std::string k = std::to_string(st.node) + ':' + std::to_string(st.pos);
    for (const auto c : st.counts) {
        k += ',' + std::to_string(c);
    }
    k += '|';
    k += st.b->key;
    return k;
}

std::uint64_t capped(const step& s, std::uint64_t count) {
    return s.max ? count : std::min(count, s.min);
}

std::string pad(std::string s, std::size_t width) {
    // Width in code points, close enough for alignment of mostly-ASCII lines.
    std::size_t cps = 0;
    for (const char c : s) {
        cps += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
    }
    if (cps < width) {
        s.append(width - cps, ' ');
    }
    return s;
}

std::string consumed_text(const std::vector<std::size_t>& positions,
                          const std::vector<actual>& stream) {
    if (positions.empty()) {
        return "";
    }
    if (positions.size() == 1) {
        return stream[positions[0]].label();
    }
    if (positions.size() == 2) {
        return stream[positions[0]].label() + ", " + stream[positions[1]].label();
    }
    return stream[positions.front()].label() + " … " + stream[positions.back()].label() + " (" +
           std::to_string(positions.size()) + " records)";
}

} // namespace

result match(const spec& s, const std::vector<actual>& stream, const match_options& o) {
    // Regular expressions compiled once per step.
    std::vector<std::vector<compiled_step>> compiled;
    for (const auto& n : s.steps) {
        auto& row = compiled.emplace_back();
        for (const auto* st : steps_of(n)) {
            compiled_step cs{st, nullptr};
            if (st->regex) {
                cs.regex = std::make_shared<RE2>(*st->regex, RE2::Quiet);
            }
            row.push_back(std::move(cs));
        }
    }
    const std::size_t n_nodes = s.steps.size();
    const bool allow = s.extra == extra::allow;

    const auto empty_bindings = std::make_shared<const bindings>();
    std::vector<state> stack;
    stack.push_back(
        state{0, std::vector<std::uint64_t>(compiled[0].size(), 0), 0, empty_bindings, nullptr});
    std::unordered_set<std::string> visited;
    std::size_t states = 0;

    // The furthest partial match: the first state of the greatest (node, total count).
    std::optional<state> best;
    std::uint64_t best_total = 0;

    result r;
    const auto collect = [&](const trail_ptr& t) {
        std::vector<std::vector<std::size_t>> out(n_nodes);
        for (auto p = t; p; p = p->prev) {
            out[p->node].push_back(p->pos);
        }
        for (auto& v : out) {
            std::reverse(v.begin(), v.end());
        }
        return out;
    };

    while (!stack.empty()) {
        state st = std::move(stack.back());
        stack.pop_back();
        if (st.node == n_nodes) {
            if (allow || st.pos == stream.size()) {
                r.matched = true;
                r.consumed = collect(st.t);
                return r;
            }
        }
        if (!visited.insert(state_key(st)).second) {
            continue;
        }
        if (++states > o.max_states) {
            r.gave_up = true;
            break;
        }
        std::uint64_t total = 0;
        for (const auto c : st.counts) {
            total += c;
        }
        if (!best || st.node > best->node || (st.node == best->node && total > best_total)) {
            best = st;
            best_total = total;
        }
        if (st.node == n_nodes) {
            continue; // forbid: records left after the last step
        }
        const auto& row = compiled[st.node];
        std::vector<state> next; // in the order they are to be tried
        if (st.pos < stream.size()) {
            const auto& a = stream[st.pos];
            for (std::size_t j = 0; j < row.size(); ++j) {
                const auto& step = *row[j].s;
                if (step.max && st.counts[j] >= *step.max) {
                    continue;
                }
                if (evaluate(row[j], a, *st.b, nullptr).failed != 0) {
                    continue;
                }
                state n{st.node, st.counts, st.pos + 1, bind_values(st.b, step, a),
                        std::make_shared<const trail>(trail{st.node, j, st.pos, st.t})};
                n.counts[j] = capped(step, n.counts[j] + 1);
                next.push_back(std::move(n));
            }
        }
        bool satisfied = true;
        for (std::size_t j = 0; j < row.size(); ++j) {
            satisfied = satisfied && st.counts[j] >= row[j].s->min;
        }
        if (satisfied) {
            const std::size_t following = st.node + 1 < n_nodes ? compiled[st.node + 1].size() : 0;
            next.push_back(
                state{st.node + 1, std::vector<std::uint64_t>(following, 0), st.pos, st.b, st.t});
        }
        if (allow && st.pos < stream.size()) {
            next.push_back(state{st.node, st.counts, st.pos + 1, st.b, st.t});
        }
        for (auto it = next.rbegin(); it != next.rend(); ++it) {
            stack.push_back(std::move(*it));
        }
    }

    // Not matched: the report, from the furthest partial match.
    const state& at = *best;
    r.consumed = collect(at.t);
    std::string out;
    std::string failing_step_text;
    std::optional<std::size_t> candidate;
    std::vector<std::string> candidate_why;
    std::size_t failing_element = 0;
    if (r.gave_up) {
        out += "expectation not decided: the search visited " + std::to_string(o.max_states) +
               " states (the spec's quantifiers are too ambiguous for this stream)\n";
    }
    if (at.node == n_nodes) {
        out += "expectation not met: every step matched, but records are left after the last "
               "one (extra: forbid)\n";
        candidate = at.pos;
    } else {
        const auto& row = compiled[at.node];
        for (std::size_t j = 0; j < row.size(); ++j) {
            if (at.counts[j] < row[j].s->min) {
                failing_element = j;
                break;
            }
        }
        const auto& cs = row[failing_element];
        std::string name = std::to_string(at.node + 1);
        if (row.size() > 1) {
            name += static_cast<char>('a' + std::min<std::size_t>(failing_element, 25));
        }
        if (!r.gave_up) {
            out += "expectation not met: step " + name + " of " + std::to_string(n_nodes) +
                   " not matched";
            if (cs.s->min > 1 || !cs.s->max) {
                out += " (" + std::to_string(at.counts[failing_element]) + " of at least " +
                       std::to_string(cs.s->min) + " found)";
            }
            out += '\n';
        }
        // The closest candidate: the record the step's matchers agree most with.
        const std::size_t end = allow ? stream.size() : std::min(stream.size(), at.pos + 1);
        std::size_t best_passed = 0;
        for (std::size_t p = at.pos; p < end; ++p) {
            std::vector<std::string> why;
            const auto v = evaluate(cs, stream[p], *at.b, &why);
            if (!candidate || v.passed > best_passed) {
                candidate = p;
                best_passed = v.passed;
                candidate_why = std::move(why);
            }
        }
        failing_step_text = describe(*cs.s);
    }

    // Expected beside actual.
    std::vector<std::pair<std::string, std::string>> rows; // marker+number+expected, actual
    std::size_t width = 16; // at least the header's "  step  expected"
    for (std::size_t i = 0; i < n_nodes; ++i) {
        const auto& n = s.steps[i];
        const auto steps = steps_of(n);
        const bool failing = i == at.node;
        if (n.group()) {
            rows.emplace_back((failing ? "> " : "  ") + std::to_string(i + 1) + "  any order:", "");
            for (std::size_t j = 0; j < steps.size(); ++j) {
                std::vector<std::size_t> positions;
                for (auto p = at.t; p; p = p->prev) {
                    if (p->node == i && p->element == j) {
                        positions.push_back(p->pos);
                    }
                }
                std::reverse(positions.begin(), positions.end());
                std::string mark = failing && j == failing_element ? "> " : "  ";
                std::string actual_text = consumed_text(positions, stream);
                if (failing && j == failing_element) {
                    actual_text += actual_text.empty() ? "not matched" : "; then not matched";
                }
                rows.emplace_back(mark + std::to_string(i + 1) +
                                      static_cast<char>('a' + std::min<std::size_t>(j, 25)) + " " +
                                      describe(*steps[j]),
                                  actual_text);
            }
        } else {
            std::string actual_text =
                i < r.consumed.size() ? consumed_text(r.consumed[i], stream) : "";
            if (failing) {
                actual_text += actual_text.empty() ? "not matched" : "; then not matched";
            }
            rows.emplace_back((failing ? "> " : "  ") + std::to_string(i + 1) + "  " +
                                  describe(*steps[0]),
                              actual_text);
        }
    }
    for (auto& [left, right] : rows) {
        left = shorten(left, 70);
        std::size_t cps = 0;
        for (const char c : left) {
            cps += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
        }
        width = std::max(width, cps);
    }
    out += pad("  step  expected", width + 2) + "actual\n";
    for (const auto& [left, right] : rows) {
        out += right.empty() ? left + '\n' : pad(left, width + 2) + right + '\n';
    }

    if (candidate && *candidate < stream.size()) {
        const auto& a = stream[*candidate];
        if (at.node == n_nodes) {
            out += "first record left: " + a.summary() + '\n';
        } else {
            std::string joined;
            for (const auto& w : candidate_why) {
                joined += joined.empty() ? w : "; " + w;
            }
            out += "closest candidate " + a.label() + ": " + joined + '\n';
        }
    } else if (at.node < n_nodes) {
        out += stream.empty()
                   ? std::string("no records in the stream\n")
                   : "no records left after " +
                         (at.pos > 0 ? stream[at.pos - 1].label() : std::string("the start")) +
                         '\n';
    }
    if (!stream.empty()) {
        const std::size_t focus = candidate && *candidate < stream.size() ? *candidate
                                  : at.pos > 0                            ? at.pos - 1
                                                                          : 0;
        const std::size_t from = focus > o.context ? focus - o.context : 0;
        const std::size_t to = std::min(stream.size(), focus + o.context + 1);
        out += "records around it (" + std::to_string(stream.size()) + " in the stream):\n";
        if (from > 0) {
            out += "    …\n";
        }
        for (std::size_t p = from; p < to; ++p) {
            out += (p == focus && candidate ? "  > " : "    ") + stream[p].summary() + '\n';
        }
        if (to < stream.size()) {
            out += "    …\n";
        }
    }
    r.report = std::move(out);
    return r;
}

result match(const spec& s, const archive::connection& c, const match_options& o) {
    return match(s, stream_of(c, s), o);
}

result match_records(const spec& s, const std::vector<record::record>& records,
                     std::optional<std::uint64_t> conn, const match_options& o) {
    std::vector<archive::entry> entries;
    entries.reserve(records.size());
    std::uint64_t line = 0;
    for (const auto& r : records) {
        ++line;
        if (!conn) {
            conn = r.conn;
        }
        if (r.conn == *conn) {
            entries.push_back(archive::entry{line, r});
        }
    }
    archive::connection c;
    c.conn = conn.value_or(1);
    c.entries = std::move(entries);
    return match(s, c, o);
}

} // namespace wssniff::expect

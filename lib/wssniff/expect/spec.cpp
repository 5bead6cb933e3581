#include "wssniff/expect/spec.hpp"

#include "wssniff/archive/payload_text.hpp"
#include "wssniff/base/error_code.hpp"
#include "wssniff/base/opcode.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <set>

namespace wssniff::expect {

namespace {

using nlohmann::json;

std::string member(const std::string& where, const std::string& key) {
    // nlohmann's json_pointer escapes the token (RFC 6901: ~ as ~0, / as ~1).
    return where + (json::json_pointer() / key).to_string();
}

std::string hex_of(const std::string& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    for (const char c : bytes) {
        hex += digits[static_cast<unsigned char>(c) >> 4];
        hex += digits[static_cast<unsigned char>(c) & 0xF];
    }
    return hex;
}

std::string dump(const json& v) {
    return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

[[noreturn]] void fail(const std::string& where, const std::string& problem) {
    throw spec_error(where, problem);
}

const std::string& string_at(const json& v, const std::string& where) {
    if (!v.is_string()) {
        fail(where, "expected a string, got " + dump(v));
    }
    return v.get_ref<const std::string&>();
}

std::uint64_t count_at(const json& v, const std::string& where) {
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0)) {
        fail(where, "expected a non-negative integer, got " + dump(v));
    }
    return v.get<std::uint64_t>();
}

void check_pointer(const std::string& pointer, const std::string& where) {
    try {
        json::json_pointer p(pointer);
        (void)p;
    } catch (const json::exception&) {
        fail(where, "\"" + pointer + "\" is not a JSON pointer (RFC 6901: empty, or /a/b)");
    }
}

std::optional<std::uint8_t> op_named(const std::string& name) {
    for (const auto op : {opcode::continuation, opcode::text, opcode::binary, opcode::close,
                          opcode::ping, opcode::pong}) {
        if (op_name(to_raw(op)) == name) {
            return to_raw(op);
        }
    }
    return std::nullopt;
}

bool is_error_code(const std::string& name) {
#define XX(id, message, close_code)                                                                \
    if (name == #id) {                                                                             \
        return true;                                                                               \
    }
    WSSNIFF_ERROR_CODES(XX)
#undef XX
    return false;
}

const std::set<std::string> close_reasons{"client_closed", "server_closed",        "client_reset",
                                          "server_reset",  "upstream_unreachable", "timeout",
                                          "shutdown",      "end_of_input"};

step parse_step(const json& v, const std::string& where) {
    if (!v.is_object()) {
        fail(where, "a step is an object, got " + dump(v));
    }
    step s;
    s.location = where;
    bool min_given = false;
    bool max_given = false;
    // The type first: other members are checked against it.
    if (const auto it = v.find("type"); it != v.end()) {
        const auto& t = string_at(*it, member(where, "type"));
        if (t == "message" || t == "frame") {
            s.type = kind::item;
        } else if (t == "handshake") {
            s.type = kind::handshake;
        } else if (t == "error") {
            s.type = kind::error;
        } else if (t == "close") {
            s.type = kind::close;
        } else {
            fail(member(where, "type"),
                 "\"" + t + "\" is not a type (message, frame, handshake, error, close)");
        }
    }
    const auto only_for = [&](const std::string& key, std::initializer_list<kind> kinds) {
        if (std::find(kinds.begin(), kinds.end(), s.type) == kinds.end()) {
            fail(member(where, key),
                 "not a matcher of " + std::string(to_string(s.type)) + " records");
        }
    };
    const std::initializer_list<kind> payload_kinds{kind::item};
    for (const auto& [key, value] : v.items()) {
        const auto at = member(where, key);
        if (key == "type" || key == "comment") {
            if (key == "comment") {
                string_at(value, at);
            }
        } else if (key == "dir") {
            const auto& d = string_at(value, at);
            if (d != "c2s" && d != "s2c") {
                fail(at, "\"" + d + "\" is not a direction (c2s, s2c)");
            }
            if (s.type == kind::handshake || s.type == kind::close) {
                fail(at, "handshake and close records have no direction");
            }
            s.dir = d == "c2s" ? direction::c2s : direction::s2c;
        } else if (key == "op") {
            only_for(key, payload_kinds);
            const auto& name = string_at(value, at);
            s.op = op_named(name);
            if (!s.op) {
                fail(at, "\"" + name +
                             "\" is not an op (text, binary, close, ping, pong, "
                             "continuation)");
            }
        } else if (key == "text") {
            only_for(key, payload_kinds);
            s.text = string_at(value, at);
        } else if (key == "hex" || key == "base64") {
            only_for(key, payload_kinds);
            if (s.bytes) {
                fail(at, "give the bytes once (hex or base64)");
            }
            const auto& text = string_at(value, at);
            s.bytes = key == "hex" ? archive::decode_hex(text) : archive::decode_base64(text);
            if (!s.bytes) {
                fail(at, key == "hex" ? "not hex digits in pairs" : "not padded base64");
            }
        } else if (key == "contains") {
            only_for(key, payload_kinds);
            if (value.is_array()) {
                for (std::size_t i = 0; i < value.size(); ++i) {
                    s.contains.push_back(string_at(value[i], at + "/" + std::to_string(i)));
                }
            } else {
                s.contains.push_back(string_at(value, at));
            }
        } else if (key == "regex") {
            only_for(key, payload_kinds);
            s.regex = string_at(value, at);
            RE2 re(*s.regex, RE2::Quiet);
            if (!re.ok()) {
                fail(at, "not an RE2 regular expression: " + re.error());
            }
        } else if (key == "json") {
            only_for(key, payload_kinds);
            s.json = value;
        } else if (key == "pointers") {
            only_for(key, payload_kinds);
            if (!value.is_object()) {
                fail(at, "expected an object of JSON pointers and values");
            }
            for (const auto& [pointer, expected] : value.items()) {
                check_pointer(pointer, member(at, pointer));
                s.pointers.emplace_back(pointer, expected);
            }
        } else if (key == "close_code") {
            only_for(key, payload_kinds);
            const auto code = count_at(value, at);
            if (code > 65535) {
                fail(at, "a close code is 0 to 65535");
            }
            s.close_code = static_cast<std::uint16_t>(code);
        } else if (key == "close_reason") {
            only_for(key, payload_kinds);
            s.close_reason = string_at(value, at);
        } else if (key == "code") {
            only_for(key, {kind::error});
            s.code = string_at(value, at);
            if (!is_error_code(*s.code)) {
                fail(at, "\"" + *s.code + "\" is not an error code (README \"Records\")");
            }
        } else if (key == "reason") {
            only_for(key, {kind::close});
            s.reason = string_at(value, at);
            if (close_reasons.count(*s.reason) == 0) {
                fail(at, "\"" + *s.reason + "\" is not a close reason");
            }
        } else if (key == "status") {
            only_for(key, {kind::handshake});
            const auto status = count_at(value, at);
            if (status > 999) {
                fail(at, "an HTTP status is 100 to 999");
            }
            s.status = static_cast<int>(status);
        } else if (key == "bind") {
            only_for(key, payload_kinds);
            if (!value.is_object()) {
                fail(at, "expected an object of names and JSON pointers ({\"id\": \"/id\"})");
            }
            for (const auto& [name, pointer] : value.items()) {
                const auto& p = string_at(pointer, member(at, name));
                check_pointer(p, member(at, name));
                s.binds.emplace_back(name, p);
            }
        } else if (key == "equal") {
            only_for(key, payload_kinds);
            if (!value.is_object()) {
                fail(at, "expected an object of JSON pointers and names ({\"/id\": \"id\"})");
            }
            for (const auto& [pointer, name] : value.items()) {
                check_pointer(pointer, member(at, pointer));
                s.equals.emplace_back(pointer, string_at(name, member(at, pointer)));
            }
        } else if (key == "min") {
            s.min = count_at(value, at);
            min_given = true;
        } else if (key == "max") {
            max_given = true;
            if (value.is_null()) {
                s.max.reset();
            } else {
                s.max = count_at(value, at);
            }
        } else if (key == "any_order") {
            fail(at, "any_order is a step of its own, not a member of a step");
        } else {
            fail(at, "unknown member \"" + key + "\"");
        }
    }
    if (min_given && !max_given) {
        s.max.reset(); // "min": N alone reads as "at least N"
    }
    if (s.max && *s.max == 0) {
        fail(member(where, "max"), "max must be at least 1 (or null: no limit)");
    }
    if (s.max && *s.max < s.min) {
        fail(member(where, "max"), "max is below min");
    }
    return s;
}

} // namespace

std::string_view to_string(kind k) noexcept {
    switch (k) {
    case kind::item: return "message";
    case kind::handshake: return "handshake";
    case kind::error: return "error";
    case kind::close: return "close";
    }
    return "message";
}

spec_error::spec_error(std::string where, const std::string& problem)
    : std::runtime_error((where.empty() ? std::string("(document)") : where) + ": " + problem),
      where_(std::move(where)) {}

spec parse_spec(std::string_view json_text) {
    json document;
    try {
        document = json::parse(json_text.begin(), json_text.end());
    } catch (const json::parse_error& e) {
        // "[json.exception.parse_error.101] parse error at line 3, column 5: ..." → the part
        // after the id.
        std::string what = e.what();
        const auto bracket = what.find("] ");
        throw spec_error("", "not JSON: " +
                                 (bracket == std::string::npos ? what : what.substr(bracket + 2)));
    }
    return parse_spec_json(document);
}

spec parse_spec_json(const json& document) {
    if (!document.is_object()) {
        fail("", "an expectation is a JSON object with \"steps\"");
    }
    spec s;
    bool have_steps = false;
    for (const auto& [key, value] : document.items()) {
        const auto at = member("", key);
        if (key == "wssniff_expect") {
            if (value != 1) {
                fail(at, "this wssniff reads version 1");
            }
        } else if (key == "name" || key == "comment") {
            s.name = key == "name" ? string_at(value, at) : s.name;
        } else if (key == "unit") {
            const auto& u = string_at(value, at);
            if (u != "messages" && u != "frames") {
                fail(at, "\"" + u + "\" is not a unit (messages, frames)");
            }
            s.unit = u == "frames" ? unit::frames : unit::messages;
        } else if (key == "ignore_pings") {
            if (!value.is_boolean()) {
                fail(at, "expected true or false, got " + dump(value));
            }
            s.ignore_pings = value.get<bool>();
        } else if (key == "extra") {
            const auto& e = string_at(value, at);
            if (e != "allow" && e != "forbid") {
                fail(at, "\"" + e + "\" is not allow or forbid");
            }
            s.extra = e == "forbid" ? extra::forbid : extra::allow;
        } else if (key == "steps") {
            have_steps = true;
            if (!value.is_array() || value.empty()) {
                fail(at, "expected a non-empty array of steps");
            }
            for (std::size_t i = 0; i < value.size(); ++i) {
                const auto where = at + "/" + std::to_string(i);
                const auto& v = value[i];
                node n;
                if (v.is_object() && v.contains("any_order")) {
                    const auto& group = v.at("any_order");
                    if (v.size() != 1 && !(v.size() == 2 && v.contains("comment"))) {
                        fail(where, "an any_order step has only \"any_order\" (and \"comment\")");
                    }
                    if (!group.is_array() || group.empty()) {
                        fail(where + "/any_order", "expected a non-empty array of steps");
                    }
                    for (std::size_t j = 0; j < group.size(); ++j) {
                        n.any_order.push_back(
                            parse_step(group[j], where + "/any_order/" + std::to_string(j)));
                    }
                } else {
                    n.single = parse_step(v, where);
                }
                s.steps.push_back(std::move(n));
            }
        } else {
            fail(at, "unknown member \"" + key + "\"");
        }
    }
    if (!have_steps) {
        fail("", "missing \"steps\"");
    }
    validate(s);
    return s;
}

void validate(const spec& s) {
    if (s.steps.empty()) {
        fail("/steps", "expected a non-empty array of steps");
    }
    std::set<std::string> bound;
    std::size_t index = 0;
    const auto check = [&](const step& st, const std::string& fallback) {
        const auto where = st.location.empty() ? fallback : st.location;
        if (st.max && (*st.max == 0 || *st.max < st.min)) {
            fail(where + "/max",
                 *st.max == 0 ? "max must be at least 1 (or null: no limit)" : "max is below min");
        }
        if (st.regex) {
            RE2 re(*st.regex, RE2::Quiet);
            if (!re.ok()) {
                fail(where + "/regex", "not an RE2 regular expression: " + re.error());
            }
        }
        for (const auto& [pointer, value] : st.pointers) {
            check_pointer(pointer, where + "/pointers");
        }
        for (const auto& [pointer, name] : st.equals) {
            check_pointer(pointer, where + "/equal");
            if (bound.count(name) == 0) {
                fail(member(where + "/equal", pointer),
                     "\"" + name + "\" is not bound by an earlier step");
            }
        }
    };
    for (const auto& n : s.steps) {
        const auto fallback = "/steps/" + std::to_string(index++);
        if (n.group()) {
            // Steps of a group may use what the steps before the group bound, not each other's.
            for (std::size_t j = 0; j < n.any_order.size(); ++j) {
                check(n.any_order[j], fallback + "/any_order/" + std::to_string(j));
            }
            for (const auto& st : n.any_order) {
                for (const auto& [name, pointer] : st.binds) {
                    check_pointer(pointer, fallback + "/bind");
                    bound.insert(name);
                }
            }
        } else {
            check(n.single, fallback);
            for (const auto& [name, pointer] : n.single.binds) {
                check_pointer(pointer, fallback + "/bind");
                bound.insert(name);
            }
        }
    }
}

namespace {

json step_json(const step& s) {
    json out = json::object();
    if (s.type != kind::item) {
        out["type"] = std::string(to_string(s.type));
    }
    if (s.dir) {
        out["dir"] = std::string(to_string(*s.dir));
    }
    if (s.op) {
        out["op"] = std::string(op_name(*s.op));
    }
    if (s.text) {
        out["text"] = *s.text;
    }
    if (s.bytes) {
        out["hex"] = hex_of(*s.bytes);
    }
    if (s.contains.size() == 1) {
        out["contains"] = s.contains.front();
    } else if (!s.contains.empty()) {
        out["contains"] = s.contains;
    }
    if (s.regex) {
        out["regex"] = *s.regex;
    }
    if (s.json) {
        out["json"] = *s.json;
    }
    if (!s.pointers.empty()) {
        auto& p = out["pointers"] = json::object();
        for (const auto& [pointer, value] : s.pointers) {
            p[pointer] = value;
        }
    }
    if (s.close_code) {
        out["close_code"] = *s.close_code;
    }
    if (s.close_reason) {
        out["close_reason"] = *s.close_reason;
    }
    if (s.code) {
        out["code"] = *s.code;
    }
    if (s.reason) {
        out["reason"] = *s.reason;
    }
    if (s.status) {
        out["status"] = *s.status;
    }
    if (!s.binds.empty()) {
        auto& b = out["bind"] = json::object();
        for (const auto& [name, pointer] : s.binds) {
            b[name] = pointer;
        }
    }
    if (!s.equals.empty()) {
        auto& e = out["equal"] = json::object();
        for (const auto& [pointer, name] : s.equals) {
            e[pointer] = name;
        }
    }
    if (s.min != 1 || s.max != std::optional<std::uint64_t>(1)) {
        out["min"] = s.min;
        out["max"] = s.max ? json(*s.max) : json(nullptr);
    }
    return out;
}

std::string quoted(const std::string& s) {
    return dump(json(s));
}

} // namespace

json to_json(const spec& s) {
    json out = json::object();
    out["wssniff_expect"] = 1;
    if (!s.name.empty()) {
        out["name"] = s.name;
    }
    out["unit"] = s.unit == unit::frames ? "frames" : "messages";
    out["ignore_pings"] = s.ignore_pings;
    out["extra"] = s.extra == extra::forbid ? "forbid" : "allow";
    auto& steps = out["steps"] = json::array();
    for (const auto& n : s.steps) {
        if (n.group()) {
            json group = json::array();
            for (const auto& st : n.any_order) {
                group.push_back(step_json(st));
            }
            steps.push_back(json{{"any_order", std::move(group)}});
        } else {
            steps.push_back(step_json(n.single));
        }
    }
    return out;
}

std::string describe(const step& s) {
    std::string out;
    const auto add = [&out](const std::string& part) {
        if (!out.empty()) {
            out += ' ';
        }
        out += part;
    };
    if (s.dir) {
        add(std::string(to_string(*s.dir)));
    }
    if (s.type != kind::item) {
        add(std::string(to_string(s.type)));
    }
    const bool specific = s.op || s.text || s.bytes || !s.contains.empty() || s.regex || s.json ||
                          !s.pointers.empty() || s.close_code || s.close_reason ||
                          !s.equals.empty() || !s.binds.empty();
    if (s.op) {
        add(std::string(op_name(*s.op)));
    } else if (s.type == kind::item && !specific) {
        add("any");
    }
    if (s.text) {
        add(quoted(*s.text));
    }
    if (s.bytes) {
        add("hex " + hex_of(*s.bytes));
    }
    for (const auto& c : s.contains) {
        add("contains " + quoted(c));
    }
    if (s.regex) {
        add("matches /" + *s.regex + "/");
    }
    if (s.json) {
        add("json " + dump(*s.json));
    }
    for (const auto& [pointer, value] : s.pointers) {
        add(pointer + "=" + dump(value));
    }
    if (s.close_code) {
        add(std::to_string(*s.close_code));
    }
    if (s.close_reason) {
        add(quoted(*s.close_reason));
    }
    if (s.code) {
        add(*s.code);
    }
    if (s.reason) {
        add(*s.reason);
    }
    if (s.status) {
        add(std::to_string(*s.status));
    }
    for (const auto& [pointer, name] : s.equals) {
        add(pointer + "==$" + name);
    }
    for (const auto& [name, pointer] : s.binds) {
        add("bind " + name + "=" + pointer);
    }
    if (!s.max) {
        add(s.min == 0 ? "(any number)" : "(at least " + std::to_string(s.min) + ")");
    } else if (*s.max != 1 || s.min != 1) {
        add(s.min == *s.max ? "(" + std::to_string(s.min) + " times)"
                            : "(" + std::to_string(s.min) + " to " + std::to_string(*s.max) + ")");
    }
    return out;
}

} // namespace wssniff::expect

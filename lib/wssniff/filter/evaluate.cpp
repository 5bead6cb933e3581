// Evaluating a parsed filter on one record. Each test reads its field into a small `value`
// (missing, boolean, number, string, or other: an object or array), then compares it with the
// literal; a missing field, or one of another type than the literal, fails every comparison.
// Strings are views into the record (or into the evaluation's scratch space for the few fields
// that are encoded on the way out: mask, hex, base64, ts), so nothing is copied per record.

#include "wssniff/base/error_code.hpp"
#include "wssniff/base/opcode.hpp"
#include "wssniff/filter/ast.hpp"
#include "wssniff/filter/expression.hpp"
#include "wssniff/record/hex_base64.hpp"
#include "wssniff/record/timestamp.hpp"

#include <simdjson.h>

#include <string>
#include <string_view>
#include <variant>

namespace wssniff::filter {

namespace {

struct value {
    enum class kind : std::uint8_t { missing, boolean, number, string, other } type = kind::missing;
    bool boolean = false;
    double number = 0;
    std::string_view string;
};

value of(bool b) {
    value v;
    v.type = value::kind::boolean;
    v.boolean = b;
    return v;
}
value of(double n) {
    value v;
    v.type = value::kind::number;
    v.number = n;
    return v;
}
value of(std::uint64_t n) {
    return of(static_cast<double>(n));
}
value of(std::string_view s) {
    value v;
    v.type = value::kind::string;
    v.string = s;
    return v;
}
value other() {
    value v;
    v.type = value::kind::other;
    return v;
}

template <class T> value of(const std::optional<T>& o) {
    return o ? of(*o) : value{};
}

// One record's evaluation: the record, its connection's handshake, and the JSON document of its
// text payload, parsed the first time a json.* field asks for it.
struct evaluation {
    const record::record& r;
    const record::handshake* hs;
    std::string scratch;
    bool json_parsed = false;
    bool json_ok = false;
    simdjson::dom::element json_root;
};

// The parser's buffers grow to the largest document seen and are reused; one per thread, since
// the proxy's relay threads evaluate at the same time.
simdjson::dom::parser& json_parser() {
    thread_local simdjson::dom::parser parser;
    return parser;
}

const record::payload* payload_of(const record::record& r) {
    if (const auto* f = std::get_if<record::frame>(&r.body)) {
        return &f->data;
    }
    if (const auto* m = std::get_if<record::message>(&r.body)) {
        return &m->data;
    }
    return nullptr;
}

value payload_field(const record::record& r, record::payload_encoding encoding,
                    std::string& scratch) {
    const record::payload* p = payload_of(r);
    if (p == nullptr || p->encoding != encoding) {
        return {};
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(p->bytes.data());
    if (encoding == record::payload_encoding::hex) {
        scratch.resize(p->bytes.size() * 2);
        record::detail::put_hex(scratch.data(), bytes, bytes + p->bytes.size());
        return of(std::string_view(scratch));
    }
    if (encoding == record::payload_encoding::base64) {
        const std::size_t groups = p->bytes.size() / 3;
        const std::size_t tail = p->bytes.size() % 3;
        scratch.resize((groups + (tail != 0 ? 1 : 0)) * 4);
        char* o = record::detail::put_base64_groups(scratch.data(), bytes, groups);
        if (tail != 0) {
            record::detail::put_base64_tail(o, bytes + groups * 3, tail);
        }
        return of(std::string_view(scratch));
    }
    return of(std::string_view(p->bytes));
}

value json_value(evaluation& e, const field_ref& f) {
    if (!e.json_parsed) {
        e.json_parsed = true;
        const record::payload* p = payload_of(e.r);
        if (p != nullptr && p->encoding == record::payload_encoding::text) {
            auto parsed = json_parser().parse(p->bytes.data(), p->bytes.size());
            e.json_ok = parsed.error() == simdjson::SUCCESS;
            if (e.json_ok) {
                e.json_root = parsed.value_unsafe();
            }
        }
    }
    if (!e.json_ok) {
        return {};
    }
    simdjson::dom::element at = e.json_root;
    for (const path_step& step : f.path) {
        if (step.is_index) {
            simdjson::dom::array a;
            if (at.get_array().get(a) != simdjson::SUCCESS ||
                a.at(step.index).get(at) != simdjson::SUCCESS) {
                return {};
            }
        } else {
            simdjson::dom::object o;
            if (at.get_object().get(o) != simdjson::SUCCESS ||
                o.at_key(step.key).get(at) != simdjson::SUCCESS) {
                return {};
            }
        }
    }
    switch (at.type()) {
    case simdjson::dom::element_type::STRING:
        return of(std::string_view(at.get_string().value_unsafe()));
    case simdjson::dom::element_type::INT64:
        return of(static_cast<double>(at.get_int64().value_unsafe()));
    case simdjson::dom::element_type::UINT64:
        return of(static_cast<double>(at.get_uint64().value_unsafe()));
    case simdjson::dom::element_type::DOUBLE: return of(at.get_double().value_unsafe());
    case simdjson::dom::element_type::BOOL: return of(at.get_bool().value_unsafe());
    case simdjson::dom::element_type::NULL_VALUE: return {};
    case simdjson::dom::element_type::ARRAY:
    case simdjson::dom::element_type::OBJECT: return other();
    }
    return {};
}

bool equal_ascii_ci(std::string_view a, std::string_view lower) {
    if (a.size() != lower.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
        if (c != lower[i]) {
            return false;
        }
    }
    return true;
}

// hs.header["name"]: the first request header of that name (any case), else the first
// response header.
value header_value(const record::handshake& hs, const std::string& lower_name) {
    for (const auto* list : {&hs.request_headers, &hs.response_headers}) {
        for (const auto& [name, v] : *list) {
            if (equal_ascii_ci(name, lower_name)) {
                return of(std::string_view(v));
            }
        }
    }
    return {};
}

value handshake_field(const record::handshake* hs, const field_ref& f) {
    if (hs == nullptr) {
        return {};
    }
    switch (f.id) {
    case field_id::hs_client: return of(hs->client);
    case field_id::hs_upstream: return of(hs->upstream);
    case field_id::hs_method: return of(std::string_view(hs->method));
    case field_id::hs_target: return of(std::string_view(hs->target));
    case field_id::hs_status: return of(static_cast<double>(hs->status));
    case field_id::hs_subprotocol: return of(hs->subprotocol);
    case field_id::hs_extensions: return of(hs->extensions);
    case field_id::hs_header: return header_value(*hs, f.header);
    default: return {};
    }
}

struct body_field {
    field_id id;
    evaluation& e;

    value operator()(const record::handshake& h) const {
        switch (id) {
        case field_id::client: return of(h.client);
        case field_id::upstream: return of(h.upstream);
        case field_id::method: return of(std::string_view(h.method));
        case field_id::target: return of(std::string_view(h.target));
        case field_id::status: return of(static_cast<double>(h.status));
        case field_id::request_headers:
        case field_id::response_headers: return other();
        case field_id::subprotocol: return of(h.subprotocol);
        case field_id::extensions: return of(h.extensions);
        case field_id::deflate: return h.deflate ? other() : value{};
        case field_id::tls: return h.tls ? other() : value{};
        default: return {};
        }
    }

    value operator()(const record::frame& f) const {
        switch (id) {
        case field_id::dir: return of(to_string(f.dir));
        case field_id::seq: return of(f.seq);
        case field_id::offset: return of(f.offset);
        case field_id::fin: return of(f.fin);
        case field_id::rsv1: return of(f.rsv1);
        case field_id::rsv2: return of(f.rsv2);
        case field_id::rsv3: return of(f.rsv3);
        case field_id::opcode: return of(static_cast<double>(f.opcode));
        case field_id::op: return of(op_name(f.opcode));
        case field_id::masked: return of(f.masked);
        case field_id::mask:
            if (!f.masked) {
                return {};
            }
            e.scratch.resize(8);
            record::detail::put_hex(e.scratch.data(), f.mask.data(), f.mask.data() + 4);
            return of(std::string_view(e.scratch));
        case field_id::len: return of(f.len);
        case field_id::compressed: return f.compressed ? of(true) : value{};
        case field_id::data_len: return f.compressed ? of(f.data_len) : value{};
        case field_id::truncated:
            return f.data.encoding != record::payload_encoding::none && f.data.truncated ? of(true)
                                                                                         : value{};
        case field_id::close_code:
            return f.close_code ? of(static_cast<double>(*f.close_code)) : value{};
        case field_id::close_reason:
            if (!f.close_code) {
                return {};
            }
            return of(f.close_reason ? std::string_view(*f.close_reason) : std::string_view{});
        default: return {};
        }
    }

    value operator()(const record::message& m) const {
        switch (id) {
        case field_id::dir: return of(to_string(m.dir));
        case field_id::seq: return of(m.seq);
        case field_id::op: return of(op_name(m.opcode));
        case field_id::frames: return of(m.frames);
        case field_id::len: return of(m.len);
        case field_id::compressed: return of(m.compressed);
        case field_id::truncated:
            return m.data.encoding != record::payload_encoding::none && m.data.truncated ? of(true)
                                                                                         : value{};
        default: return {};
        }
    }

    value operator()(const record::error& err) const {
        switch (id) {
        case field_id::code: return of(to_string(err.code));
        case field_id::message: return of(std::string_view(err.message));
        case field_id::fatal: return of(err.fatal);
        case field_id::dir: return err.dir ? of(to_string(*err.dir)) : value{};
        case field_id::offset: return of(err.offset);
        default: return {};
        }
    }

    value operator()(const record::close& c) const {
        switch (id) {
        case field_id::reason: return of(to_string(c.reason));
        case field_id::bytes_c2s: return of(c.bytes_c2s);
        case field_id::bytes_s2c: return of(c.bytes_s2c);
        case field_id::frames_c2s: return of(c.frames_c2s);
        case field_id::frames_s2c: return of(c.frames_s2c);
        default: return {};
        }
    }
};

value field_value(evaluation& e, const field_ref& f) {
    constexpr std::string_view type_names[] = {"handshake", "frame", "message", "error", "close"};
    switch (f.id) {
    case field_id::type: return of(type_names[e.r.body.index()]);
    case field_id::conn: return of(e.r.conn);
    case field_id::ts:
        if (!e.r.ts) {
            return {};
        }
        e.scratch.clear();
        record::append_timestamp(e.scratch, *e.r.ts);
        return of(std::string_view(e.scratch));
    case field_id::text: return payload_field(e.r, record::payload_encoding::text, e.scratch);
    case field_id::hex: return payload_field(e.r, record::payload_encoding::hex, e.scratch);
    case field_id::base64: return payload_field(e.r, record::payload_encoding::base64, e.scratch);
    case field_id::payload: {
        const record::payload* p = payload_of(e.r);
        if (p == nullptr || p->encoding == record::payload_encoding::none) {
            return {};
        }
        return of(std::string_view(p->bytes));
    }
    case field_id::json: return json_value(e, f);
    case field_id::hs_client:
    case field_id::hs_upstream:
    case field_id::hs_method:
    case field_id::hs_target:
    case field_id::hs_status:
    case field_id::hs_subprotocol:
    case field_id::hs_extensions:
    case field_id::hs_header: return handshake_field(e.hs, f);
    default: return std::visit(body_field{f.id, e}, e.r.body);
    }
}

bool same_type(const value& v, const literal& l) {
    switch (l.type) {
    case literal::kind::boolean: return v.type == value::kind::boolean;
    case literal::kind::number: return v.type == value::kind::number;
    case literal::kind::string: return v.type == value::kind::string;
    }
    return false;
}

// -1, 0, 1; only for values of the literal's type.
int compare(const value& v, const literal& l) {
    switch (l.type) {
    case literal::kind::boolean: return v.boolean == l.boolean ? 0 : (v.boolean ? 1 : -1);
    case literal::kind::number: return v.number < l.number ? -1 : (v.number > l.number ? 1 : 0);
    case literal::kind::string: {
        const int c = v.string.compare(l.string);
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    }
    return 0;
}

bool test(evaluation& e, const node& n) {
    const value v = field_value(e, n.field);
    switch (n.op) {
    case test_op::truth:
        return v.type != value::kind::missing && !(v.type == value::kind::boolean && !v.boolean);
    case test_op::eq: return same_type(v, n.value) && compare(v, n.value) == 0;
    case test_op::ne: return same_type(v, n.value) && compare(v, n.value) != 0;
    case test_op::lt: return same_type(v, n.value) && compare(v, n.value) < 0;
    case test_op::le: return same_type(v, n.value) && compare(v, n.value) <= 0;
    case test_op::gt: return same_type(v, n.value) && compare(v, n.value) > 0;
    case test_op::ge: return same_type(v, n.value) && compare(v, n.value) >= 0;
    case test_op::contains:
        return v.type == value::kind::string &&
               v.string.find(n.value.string) != std::string_view::npos;
    case test_op::matches:
        return v.type == value::kind::string &&
               RE2::PartialMatch(re2::StringPiece(v.string.data(), v.string.size()), *n.regex);
    case test_op::in:
        for (const set_member& m : n.set) {
            if (m.range ? (v.type == value::kind::number && v.number >= m.low && v.number <= m.high)
                        : (same_type(v, m.value) && compare(v, m.value) == 0)) {
                return true;
            }
        }
        return false;
    }
    return false;
}

bool evaluate(evaluation& e, const node& n) {
    switch (n.type) {
    case node::kind::any_of: return evaluate(e, *n.left) || evaluate(e, *n.right);
    case node::kind::all_of: return evaluate(e, *n.left) && evaluate(e, *n.right);
    case node::kind::negation: return !evaluate(e, *n.left);
    case node::kind::test: return test(e, n);
    case node::kind::constant: return n.value.boolean;
    }
    return false;
}

// Whether the payload decides `f` on a record of this head's type (record::sink::may_keep).
bool decided_by_payload(const record::record& head, field_id f) {
    switch (f) {
    case field_id::ts:
    case field_id::text:
    case field_id::hex:
    case field_id::base64:
    case field_id::payload:
    case field_id::json:
    case field_id::truncated: return true;
    case field_id::data_len:
    case field_id::close_code:
    case field_id::close_reason: return std::holds_alternative<record::frame>(head.body);
    case field_id::frames:
    case field_id::len:
    case field_id::compressed: return std::holds_alternative<record::message>(head.body);
    default: return false;
    }
}

enum class truth : std::uint8_t { no, yes, unknown };

truth evaluate_head(evaluation& e, const node& n) {
    switch (n.type) {
    case node::kind::any_of: {
        const truth l = evaluate_head(e, *n.left);
        if (l == truth::yes) {
            return l;
        }
        const truth r = evaluate_head(e, *n.right);
        return r == truth::yes
                   ? r
                   : (l == truth::unknown || r == truth::unknown ? truth::unknown : truth::no);
    }
    case node::kind::all_of: {
        const truth l = evaluate_head(e, *n.left);
        if (l == truth::no) {
            return l;
        }
        const truth r = evaluate_head(e, *n.right);
        return r == truth::no
                   ? r
                   : (l == truth::unknown || r == truth::unknown ? truth::unknown : truth::yes);
    }
    case node::kind::negation: {
        const truth t = evaluate_head(e, *n.left);
        return t == truth::unknown ? t : (t == truth::yes ? truth::no : truth::yes);
    }
    case node::kind::test:
        if (decided_by_payload(e.r, n.field.id)) {
            return truth::unknown;
        }
        return test(e, n) ? truth::yes : truth::no;
    case node::kind::constant: return n.value.boolean ? truth::yes : truth::no;
    }
    return truth::unknown;
}

} // namespace

bool expression::may_match(const record::record& head, const record::handshake* hs) const {
    evaluation e{head, hs, {}, false, false, {}};
    return evaluate_head(e, *root_) != truth::no;
}

bool expression::matches(const record::record& r, const record::handshake* hs) const {
    evaluation e{r, hs, {}, false, false, {}};
    return evaluate(e, *root_);
}

} // namespace wssniff::filter

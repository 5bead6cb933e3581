#include "wssniff/compare/items.hpp"

#include "wssniff/base/opcode.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <variant>

namespace wssniff::compare {

namespace {

using nlohmann::json;

std::size_t slot(direction d) noexcept {
    return d == direction::c2s ? 0 : 1;
}

bool looks_like_json(const std::string& s) noexcept {
    const auto first = s.find_first_not_of(" \t\r\n");
    return first != std::string::npos && (s[first] == '{' || s[first] == '[');
}

std::string hex_of(const std::string& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out += digits[b >> 4];
        out += digits[b & 0xF];
    }
    return out;
}

item from_frame(const record::frame& f, std::uint64_t line) {
    item it;
    it.opcode = f.opcode;
    it.fin = f.fin;
    it.rsv1 = f.rsv1;
    it.rsv2 = f.rsv2;
    it.rsv3 = f.rsv3;
    it.masked = f.masked;
    it.len = f.len;
    it.line = line;
    it.close_code = f.close_code;
    it.close_reason = f.close_reason;
    if (f.opcode != opcode::close) {
        it.payload = f.data.bytes;
        it.text = f.data.encoding == record::payload_encoding::text;
        it.truncated = f.data.truncated;
    }
    return it;
}

// What a masked value becomes in a key: equal for any two values the entry ignores.
json placeholder(json_type t) {
    return json(std::string("\x01ignored ") + std::string(to_string(t)));
}

// Removes (or, for array elements and typed entries, replaces) what `ignores` hide, so that
// the dump of what is left is the key.
void mask(json& v, std::vector<std::string>& path, const std::vector<const json_ignore*>& ignores,
          std::size_t depth_limit) {
    if (path.size() >= depth_limit || !v.is_structured()) {
        return;
    }
    const auto visit = [&](json& child) -> bool { // false: erase it
        for (const auto* ig : ignores) {
            if (!matches(*ig, path)) {
                continue;
            }
            if (!ig->type) {
                return false;
            }
            if (type_of(child) == *ig->type) {
                child = placeholder(*ig->type);
                return true;
            }
        }
        mask(child, path, ignores, depth_limit);
        return true;
    };
    if (v.is_object()) {
        for (auto it = v.begin(); it != v.end();) {
            path.push_back(it.key());
            const bool keep = visit(it.value());
            path.pop_back();
            it = keep ? std::next(it) : v.erase(it);
        }
        return;
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
        path.push_back(std::to_string(i));
        if (!visit(v[i])) {
            v[i] = placeholder(json_type::null); // keeps the later indices where they were
        }
        path.pop_back();
    }
}

// Compiled --normalize rules, applied in the order given.
class normalizer {
  public:
    explicit normalizer(const std::vector<normalize_rule>& rules) {
        for (const auto& r : rules) {
            auto re = std::make_unique<RE2>(r.pattern, RE2::Quiet);
            if (!re->ok()) {
                throw std::invalid_argument("normalize rule \"" + r.pattern + "\": " + re->error());
            }
            rules_.emplace_back(std::move(re), r.replacement);
        }
    }
    bool empty() const noexcept { return rules_.empty(); }
    void operator()(std::string& text) const {
        for (const auto& [re, replacement] : rules_) {
            RE2::GlobalReplace(&text, *re, replacement);
        }
    }

  private:
    std::vector<std::pair<std::unique_ptr<RE2>, std::string>> rules_;
};

} // namespace

std::function<void(std::string&)> make_normalizer(const options& o) {
    if (o.normalize.empty()) {
        return {};
    }
    auto rules = std::make_shared<normalizer>(o.normalize);
    return [rules](std::string& text) { (*rules)(text); };
}

json_type type_of(const json& v) noexcept {
    switch (v.type()) {
    case json::value_t::null: return json_type::null;
    case json::value_t::boolean: return json_type::boolean;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return json_type::number;
    case json::value_t::string: return json_type::string;
    case json::value_t::array: return json_type::array;
    case json::value_t::object: return json_type::object;
    default: return json_type::null;
    }
}

bool matches(const json_ignore& ig, const std::vector<std::string>& path) {
    if (ig.segments.size() != path.size()) {
        return false;
    }
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (ig.segments[i] != "*" && ig.segments[i] != path[i]) {
            return false;
        }
    }
    return true;
}

std::vector<const json_ignore*> ignores_for(const options& o, direction dir) {
    std::vector<const json_ignore*> out;
    for (const auto& ig : o.ignore_json) {
        if (!ig.dir || *ig.dir == dir) {
            out.push_back(&ig);
        }
    }
    return out;
}

connection_view view_of(const archive::connection& c, const options& o,
                        const std::function<void(std::string&)>& normalize) {
    connection_view v;
    v.conn = c.conn;
    const bool frames = o.unit == unit::frames;
    const bool has_messages = std::any_of(c.entries.begin(), c.entries.end(), [](const auto& e) {
        return std::holds_alternative<record::message>(e.record.body);
    });
    std::uint64_t client_items = 0;
    std::array<std::optional<item>, 2> pending; // a message being rebuilt from its frames

    const auto push = [&](direction d, item&& it) {
        auto& seq = v.items[slot(d)];
        it.index = seq.size();
        it.epoch = client_items;
        if (d == direction::c2s) {
            ++client_items;
        }
        if (it.text && normalize) {
            normalize(it.payload);
        }
        if (it.text && !it.truncated && looks_like_json(it.payload)) {
            auto parsed = json::parse(it.payload, nullptr, false);
            if (!parsed.is_discarded()) {
                it.json = std::move(parsed);
            }
        }
        seq.push_back(std::move(it));
    };

    for (const auto& e : c.entries) {
        const auto& body = e.record.body;
        if (const auto* h = std::get_if<record::handshake>(&body)) {
            v.handshake = h;
            v.handshake_line = e.line;
        } else if (const auto* f = std::get_if<record::frame>(&body)) {
            if (frames) {
                const bool control = f->opcode == opcode::ping || f->opcode == opcode::pong;
                if (!(control && has(o.ignore, field::control))) {
                    push(f->dir, from_frame(*f, e.line));
                }
            } else if (f->opcode == opcode::close) {
                push(f->dir, from_frame(*f, e.line));
            } else if (!has_messages) {
                // No message records: the data frames make the messages (payload bytes in
                // order; control frames between fragments are not part of them).
                auto& p = pending[slot(f->dir)];
                if (is_message_start(f->opcode)) {
                    if (p) { // a new message inside a fragmented one: the old one ends here
                        p->truncated = true;
                        push(f->dir, std::move(*p));
                        p.reset();
                    }
                    p = item{};
                    p->opcode = f->opcode;
                    p->text = f->opcode == opcode::text;
                } else if (f->opcode != opcode::continuation || !p) {
                    continue; // control frames, reserved opcodes, stray continuations
                }
                p->payload += f->data.bytes;
                p->truncated = p->truncated || f->data.truncated;
                p->line = e.line;
                if (f->fin) {
                    push(f->dir, std::move(*p));
                    p.reset();
                }
            }
        } else if (const auto* m = std::get_if<record::message>(&body)) {
            if (!frames) {
                item it;
                it.opcode = m->opcode;
                it.text = m->opcode == opcode::text;
                it.payload = m->data.bytes;
                it.truncated = m->data.truncated;
                it.line = e.line;
                push(m->dir, std::move(it));
            }
        } else if (const auto* err = std::get_if<record::error>(&body)) {
            auto& list = v.errors[err->dir ? slot(*err->dir) : 2];
            list.push_back({std::string(to_string(err->code)), list.size(), e.line});
        } else if (const auto* cl = std::get_if<record::close>(&body)) {
            v.close = cl->reason;
            v.close_line = e.line;
        }
    }
    for (const direction d : {direction::c2s, direction::s2c}) {
        if (auto& p = pending[slot(d)]) { // the stream ended inside a message
            p->truncated = true;
            push(d, std::move(*p));
        }
    }
    return v;
}

void make_key(item& it, const options& o, const std::vector<const json_ignore*>& ignores) {
    auto& k = it.key;
    k.clear();
    if (!has(o.ignore, field::op)) {
        k += static_cast<char>('A' + it.opcode);
    }
    if (o.unit == unit::frames) {
        if (!has(o.ignore, field::fin)) {
            k += it.fin ? 'F' : 'f';
        }
        if (!has(o.ignore, field::rsv)) {
            k += static_cast<char>('0' + (it.rsv1 ? 4 : 0) + (it.rsv2 ? 2 : 0) + (it.rsv3 ? 1 : 0));
        }
        if (!has(o.ignore, field::masked)) {
            k += it.masked ? 'M' : 'm';
        }
        if (!has(o.ignore, field::len)) {
            k += std::to_string(it.len);
        }
    }
    k += '|';
    if (it.close_code && !has(o.ignore, field::close_code)) {
        k += std::to_string(*it.close_code);
    }
    k += '|';
    if (it.close_reason && !has(o.ignore, field::close_reason)) {
        k += *it.close_reason;
    }
    k += '|';
    if (!has(o.ignore, field::payload)) {
        if (it.json) {
            const bool whole = std::any_of(ignores.begin(), ignores.end(), [](const auto* ig) {
                return ig->segments.empty() && !ig->type;
            });
            if (!whole) {
                k += 'J';
                if (ignores.empty()) {
                    k += json_text(*it.json);
                } else {
                    std::size_t depth = 0;
                    for (const auto* ig : ignores) {
                        depth = std::max(depth, ig->segments.size());
                    }
                    json copy = *it.json;
                    std::vector<std::string> path;
                    mask(copy, path, ignores, depth);
                    k += json_text(copy);
                }
            }
        } else {
            k += 'B';
            k += it.payload;
        }
    }
    it.hash = std::hash<std::string>{}(k);
}

std::string json_text(const json& v) {
    return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string string_text(const std::string& s) {
    return json_text(json(s));
}

std::string payload_text(const item& it) {
    if (it.json) {
        return json_text(*it.json);
    }
    if (it.text) {
        return string_text(it.payload);
    }
    return json_text(json{{"hex", hex_of(it.payload)}});
}

std::string item_text(const item& it, const options& o) {
    if (o.unit == unit::messages && it.opcode != opcode::close) {
        return payload_text(it);
    }
    nlohmann::ordered_json out;
    out["op"] = std::string(op_name(it.opcode));
    if (o.unit == unit::frames) {
        if (is_reserved(it.opcode)) {
            out["opcode"] = it.opcode;
        }
        out["fin"] = it.fin;
        out["rsv1"] = it.rsv1;
        out["rsv2"] = it.rsv2;
        out["rsv3"] = it.rsv3;
        out["masked"] = it.masked;
        out["len"] = it.len;
        if (it.opcode != opcode::close) {
            if (it.text) {
                out["text"] = it.payload;
            } else {
                out["hex"] = hex_of(it.payload);
            }
        }
    }
    if (it.close_code) {
        out["close_code"] = *it.close_code;
    }
    if (it.close_reason) {
        out["close_reason"] = *it.close_reason;
    }
    return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

} // namespace wssniff::compare

#include "wssniff/compare/compare.hpp"

#include "wssniff/base/opcode.hpp"
#include "wssniff/compare/align.hpp"
#include "wssniff/compare/items.hpp"
#include "wssniff/compare/json_diff.hpp"

#include <algorithm>
#include <numeric>

namespace wssniff::compare {

namespace {

using nlohmann::json;

// Differences up to --max-diffs.
class collector {
  public:
    collector(std::size_t max, result& r) : max_(max), result_(r) {}
    bool full() const noexcept { return max_ != 0 && result_.differences.size() >= max_; }
    void add(difference&& d) {
        if (!full()) {
            result_.differences.push_back(std::move(d));
        }
    }

  private:
    std::size_t max_;
    result& result_;
};

std::string optional_string_text(const std::optional<std::string>& s) {
    return s ? string_text(*s) : "null";
}

std::string deflate_text(const std::optional<record::deflate_record>& d) {
    if (!d) {
        return "null";
    }
    nlohmann::ordered_json out{
        {"server_no_context_takeover", d->server_no_context_takeover},
        {"client_no_context_takeover", d->client_no_context_takeover},
        {"server_max_window_bits", d->server_max_window_bits},
        {"client_max_window_bits", d->client_max_window_bits},
    };
    return out.dump();
}

bool same_deflate(const std::optional<record::deflate_record>& a,
                  const std::optional<record::deflate_record>& b) {
    if (!a || !b) {
        return !a && !b;
    }
    return a->server_no_context_takeover == b->server_no_context_takeover &&
           a->client_no_context_takeover == b->client_no_context_takeover &&
           a->server_max_window_bits == b->server_max_window_bits &&
           a->client_max_window_bits == b->client_max_window_bits;
}

std::string handshake_text(const record::handshake& h) {
    nlohmann::ordered_json out{{"status", h.status}, {"target", h.target}};
    return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string optional_number_text(const std::optional<std::uint16_t>& n) {
    return n ? std::to_string(*n) : "null";
}

std::string bool_text(bool b) {
    return b ? "true" : "false";
}

class connection_compare {
  public:
    connection_compare(std::size_t pair, connection_view* a, connection_view* b, const options& o,
                       collector& out)
        : pair_(pair), a_(a), b_(b), o_(o), out_(out) {}

    void run() {
        if (a_ == nullptr || b_ == nullptr) {
            const auto* only = a_ != nullptr ? a_ : b_;
            auto d = base();
            d.part = part::connection;
            d.change = a_ != nullptr ? change::removed : change::added;
            json what{{"conn", only->conn}};
            if (only->handshake != nullptr) {
                what["target"] = only->handshake->target;
            }
            (a_ != nullptr ? d.a : d.b) = json_text(what);
            (a_ != nullptr ? d.line_a : d.line_b) = only->handshake_line;
            out_.add(std::move(d));
            return;
        }
        handshake();
        for (const direction dir : {direction::c2s, direction::s2c}) {
            sequence(dir);
        }
        if (!has(o_.ignore, field::error)) {
            for (std::size_t slot = 0; slot < 3; ++slot) {
                errors(slot);
            }
        }
        close();
    }

  private:
    difference base() const {
        difference d;
        d.connection = pair_;
        if (a_ != nullptr) {
            d.conn_a = a_->conn;
        }
        if (b_ != nullptr) {
            d.conn_b = b_->conn;
        }
        return d;
    }

    difference handshake_base(std::string field) const {
        auto d = base();
        d.part = part::handshake;
        d.field = std::move(field);
        d.line_a = a_->handshake_line;
        d.line_b = b_->handshake_line;
        return d;
    }

    void handshake() {
        const auto* ha = a_->handshake;
        const auto* hb = b_->handshake;
        if (ha == nullptr && hb == nullptr) {
            return;
        }
        if (ha == nullptr || hb == nullptr) {
            auto d = handshake_base("");
            d.change = ha != nullptr ? change::removed : change::added;
            (ha != nullptr ? d.a : d.b) = handshake_text(ha != nullptr ? *ha : *hb);
            out_.add(std::move(d));
            return;
        }
        if (ha->status != hb->status && !has(o_.ignore, field::status)) {
            auto d = handshake_base("status");
            d.a = std::to_string(ha->status);
            d.b = std::to_string(hb->status);
            out_.add(std::move(d));
        }
        if (ha->subprotocol != hb->subprotocol && !has(o_.ignore, field::subprotocol)) {
            auto d = handshake_base("subprotocol");
            d.a = optional_string_text(ha->subprotocol);
            d.b = optional_string_text(hb->subprotocol);
            out_.add(std::move(d));
        }
        if (!same_deflate(ha->deflate, hb->deflate) && !has(o_.ignore, field::deflate)) {
            auto d = handshake_base("deflate");
            d.a = deflate_text(ha->deflate);
            d.b = deflate_text(hb->deflate);
            out_.add(std::move(d));
        }
    }

    // The order items are aligned in: as recorded, or with --order epoch the server items of
    // one epoch sorted by content, so that the same multiset gives the same sequence.
    std::vector<std::size_t> arrangement(const std::vector<item>& items, direction dir) const {
        std::vector<std::size_t> order(items.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        if (o_.order == order::epoch && dir == direction::s2c) {
            std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
                const auto& ix = items[x];
                const auto& iy = items[y];
                if (ix.epoch != iy.epoch) {
                    return ix.epoch < iy.epoch;
                }
                return ix.key < iy.key;
            });
        }
        return order;
    }

    void sequence(direction dir) {
        if (out_.full()) {
            return;
        }
        const std::size_t slot = dir == direction::c2s ? 0 : 1;
        auto& items_a = a_->items[slot];
        auto& items_b = b_->items[slot];
        const auto ignores = ignores_for(o_, dir);
        for (auto* items : {&items_a, &items_b}) {
            for (auto& it : *items) {
                make_key(it, o_, ignores);
            }
        }
        const auto order_a = arrangement(items_a, dir);
        const auto order_b = arrangement(items_b, dir);
        const auto edits = align(order_a.size(), order_b.size(), [&](std::size_t x, std::size_t y) {
            const auto& ix = items_a[order_a[x]];
            const auto& iy = items_b[order_b[y]];
            return ix.hash == iy.hash && ix.key == iy.key;
        });
        const auto what = o_.unit == unit::frames ? part::frame : part::message;
        for (const auto& e : edits) {
            if (out_.full()) {
                return;
            }
            if (e.step == step::same) {
                continue;
            }
            auto d = base();
            d.part = what;
            d.dir = dir;
            if (e.step == step::removed) {
                const auto& it = items_a[order_a[e.a_index]];
                d.change = change::removed;
                d.index_a = it.index;
                d.line_a = it.line;
                d.a = item_text(it, o_);
                out_.add(std::move(d));
            } else if (e.step == step::added) {
                const auto& it = items_b[order_b[e.b_index]];
                d.change = change::added;
                d.index_b = it.index;
                d.line_b = it.line;
                d.b = item_text(it, o_);
                out_.add(std::move(d));
            } else {
                const auto& ia = items_a[order_a[e.a_index]];
                const auto& ib = items_b[order_b[e.b_index]];
                d.change = change::changed;
                d.index_a = ia.index;
                d.index_b = ib.index;
                d.line_a = ia.line;
                d.line_b = ib.line;
                fields(d, ia, ib, ignores);
            }
        }
    }

    void field_change(const difference& d, std::string name, std::string a, std::string b) {
        auto c = d;
        c.field = std::move(name);
        c.a = std::move(a);
        c.b = std::move(b);
        out_.add(std::move(c));
    }

    void fields(const difference& d, const item& a, const item& b,
                const std::vector<const json_ignore*>& ignores) {
        if (a.opcode != b.opcode && !has(o_.ignore, field::op)) {
            if (op_name(a.opcode) == op_name(b.opcode)) { // both reserved
                field_change(d, "opcode", std::to_string(a.opcode), std::to_string(b.opcode));
            } else {
                field_change(d, "op", string_text(std::string(op_name(a.opcode))),
                             string_text(std::string(op_name(b.opcode))));
            }
        }
        if (o_.unit == unit::frames) {
            const auto flag = [&](bool x, bool y, field f, const char* name) {
                if (x != y && !has(o_.ignore, f)) {
                    field_change(d, name, bool_text(x), bool_text(y));
                }
            };
            flag(a.fin, b.fin, field::fin, "fin");
            flag(a.rsv1, b.rsv1, field::rsv, "rsv1");
            flag(a.rsv2, b.rsv2, field::rsv, "rsv2");
            flag(a.rsv3, b.rsv3, field::rsv, "rsv3");
            flag(a.masked, b.masked, field::masked, "masked");
            if (a.len != b.len && !has(o_.ignore, field::len)) {
                field_change(d, "len", std::to_string(a.len), std::to_string(b.len));
            }
        }
        if (a.close_code != b.close_code && !has(o_.ignore, field::close_code)) {
            field_change(d, "close_code", optional_number_text(a.close_code),
                         optional_number_text(b.close_code));
        }
        if (a.close_reason != b.close_reason && !has(o_.ignore, field::close_reason)) {
            field_change(d, "close_reason", optional_string_text(a.close_reason),
                         optional_string_text(b.close_reason));
        }
        if (has(o_.ignore, field::payload)) {
            return;
        }
        if (a.json && b.json) {
            json_diff(*a.json, *b.json, ignores, [&](const json_change& c) {
                auto p = d;
                p.field = "payload";
                p.pointer = c.pointer;
                if (c.a != nullptr) {
                    p.a = json_text(*c.a);
                }
                if (c.b != nullptr) {
                    p.b = json_text(*c.b);
                }
                out_.add(std::move(p));
                return !out_.full();
            });
            return;
        }
        // A truncated payload holds only the first bytes: those are what can be compared.
        bool same = a.payload == b.payload;
        if (!same && (a.truncated || b.truncated)) {
            const auto n = std::min(a.payload.size(), b.payload.size());
            same = a.payload.compare(0, n, b.payload, 0, n) == 0;
        }
        if (!same) {
            field_change(d, "payload", payload_text(a), payload_text(b));
        }
    }

    void errors(std::size_t slot) {
        if (out_.full()) {
            return;
        }
        const auto& ea = a_->errors[slot];
        const auto& eb = b_->errors[slot];
        const auto edits = align(ea.size(), eb.size(), [&](std::size_t x, std::size_t y) {
            return ea[x].code == eb[y].code;
        });
        for (const auto& e : edits) {
            if (e.step == step::same) {
                continue;
            }
            auto d = base();
            d.part = part::error;
            d.field = "code";
            if (slot < 2) {
                d.dir = slot == 0 ? direction::c2s : direction::s2c;
            }
            if (e.step != step::added) {
                d.index_a = ea[e.a_index].index;
                d.line_a = ea[e.a_index].line;
                d.a = string_text(ea[e.a_index].code);
            }
            if (e.step != step::removed) {
                d.index_b = eb[e.b_index].index;
                d.line_b = eb[e.b_index].line;
                d.b = string_text(eb[e.b_index].code);
            }
            d.change = e.step == step::added     ? change::added
                       : e.step == step::removed ? change::removed
                                                 : change::changed;
            out_.add(std::move(d));
        }
    }

    void close() {
        // An expected archive without a close record for the connection does not say how it
        // ended (imported from a HAR, cut short, filtered): there is nothing to compare with.
        if (!a_->close || a_->close == b_->close || has(o_.ignore, field::close)) {
            return;
        }
        auto d = base();
        d.part = part::close;
        d.field = "reason";
        d.line_a = a_->close_line;
        d.line_b = b_->close_line;
        d.change = !b_->close ? change::removed : change::changed;
        d.a = string_text(std::string(to_string(*a_->close)));
        if (b_->close) {
            d.b = string_text(std::string(to_string(*b_->close)));
        }
        out_.add(std::move(d));
    }

    std::size_t pair_;
    connection_view* a_;
    connection_view* b_;
    const options& o_;
    collector& out_;
};

} // namespace

result compare_archives(const std::vector<archive::connection>& a,
                        const std::vector<archive::connection>& b, const options& o) {
    const auto rewrite = make_normalizer(o);
    result r;
    r.connections = std::max(a.size(), b.size());
    collector out(o.max_diffs, r);
    for (std::size_t i = 0; i < r.connections && !out.full(); ++i) {
        // One pair at a time: a view holds parsed JSON for every message of its connection.
        std::optional<connection_view> va;
        std::optional<connection_view> vb;
        if (i < a.size()) {
            va = view_of(a[i], o, rewrite);
        }
        if (i < b.size()) {
            vb = view_of(b[i], o, rewrite);
        }
        connection_compare(i + 1, va ? &*va : nullptr, vb ? &*vb : nullptr, o, out).run();
    }
    r.stopped = out.full();
    return r;
}

} // namespace wssniff::compare

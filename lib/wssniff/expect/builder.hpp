#pragma once
// Expectations written in C++, the same model as the JSON form (spec.hpp):
//
//     using namespace wssniff::expect;
//     const auto seq = sequence(
//         c2s.text_json({{"op", "subscribe"}}).bind("id", "/id"),
//         s2c.text_json({{"op", "ack"}}).equal("/id", "id"),
//         at_least(1, s2c.text_json({{"type", "trade"}})),
//         c2s.close(1000));
//     auto r = match_records(seq, capture.records());   // or wait_until_matches (capture.hpp)

#include "wssniff/base/opcode.hpp"
#include "wssniff/expect/spec.hpp"

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace wssniff::expect {

class step_builder {
  public:
    step_builder() = default;
    explicit step_builder(step s) : s_(std::move(s)) {}

    // Binds `name` to the value at `pointer` of the payload this step matches.
    step_builder& bind(std::string name, std::string pointer) {
        s_.binds.emplace_back(std::move(name), std::move(pointer));
        return *this;
    }
    // The value at `pointer` must equal what an earlier step bound to `name`.
    step_builder& equal(std::string pointer, std::string name) {
        s_.equals.emplace_back(std::move(pointer), std::move(name));
        return *this;
    }
    // The value at `pointer` must equal `value`.
    step_builder& at(std::string pointer, nlohmann::json value) {
        s_.pointers.emplace_back(std::move(pointer), std::move(value));
        return *this;
    }
    step_builder& contains(std::string part) {
        s_.contains.push_back(std::move(part));
        return *this;
    }
    step_builder& matching(std::string re2) {
        s_.regex = std::move(re2);
        return *this;
    }
    step_builder& json(nlohmann::json subset) {
        s_.json = std::move(subset);
        return *this;
    }
    step_builder& times(std::uint64_t min, std::optional<std::uint64_t> max) {
        s_.min = min;
        s_.max = max;
        return *this;
    }

    const step& get() const noexcept { return s_; }
    operator const step&() const noexcept { return s_; }

  private:
    step s_;
};

class direction_builder {
  public:
    explicit constexpr direction_builder(direction d) : dir_(d) {}

    // Any data item (message or frame) of this direction.
    step_builder any() const { return make(std::nullopt); }
    step_builder text() const { return make(to_raw(opcode::text)); }
    step_builder text(std::string exact) const {
        auto b = make(to_raw(opcode::text));
        step s = b.get();
        s.text = std::move(exact);
        return step_builder(std::move(s));
    }
    // A text payload that is JSON holding `subset` (objects: these members, any others too).
    step_builder text_json(nlohmann::json subset) const {
        return make(to_raw(opcode::text)).json(std::move(subset));
    }
    step_builder binary() const { return make(to_raw(opcode::binary)); }
    step_builder binary(std::string exact_bytes) const {
        step s = make(to_raw(opcode::binary)).get();
        s.bytes = std::move(exact_bytes);
        return step_builder(std::move(s));
    }
    step_builder close(std::optional<std::uint16_t> code = std::nullopt,
                       std::optional<std::string> reason = std::nullopt) const {
        step s = make(to_raw(opcode::close)).get();
        s.close_code = code;
        s.close_reason = std::move(reason);
        return step_builder(std::move(s));
    }
    step_builder ping() const { return make(to_raw(opcode::ping)); }
    step_builder pong() const { return make(to_raw(opcode::pong)); }
    // An error record of this direction.
    step_builder error(std::string code) const {
        step s;
        s.type = kind::error;
        s.dir = dir_;
        s.code = std::move(code);
        return step_builder(std::move(s));
    }

  private:
    step_builder make(std::optional<std::uint8_t> op) const {
        step s;
        s.dir = dir_;
        s.op = op;
        return step_builder(std::move(s));
    }
    direction dir_;
};

inline constexpr direction_builder c2s{direction::c2s};
inline constexpr direction_builder s2c{direction::s2c};

// The handshake record (status 101 unless told).
inline step_builder handshake(int status = 101) {
    step s;
    s.type = kind::handshake;
    s.status = status;
    return step_builder(std::move(s));
}
// The close record: how the connection ended ("client_closed", ...).
inline step_builder closed(std::string reason) {
    step s;
    s.type = kind::close;
    s.reason = std::move(reason);
    return step_builder(std::move(s));
}
// An error record of either direction.
inline step_builder error(std::string code) {
    step s;
    s.type = kind::error;
    s.code = std::move(code);
    return step_builder(std::move(s));
}

inline step_builder at_least(std::uint64_t n, step_builder b) {
    return std::move(b.times(n, std::nullopt));
}
inline step_builder between(std::uint64_t min, std::uint64_t max, step_builder b) {
    return std::move(b.times(min, max));
}
inline step_builder exactly(std::uint64_t n, step_builder b) {
    return std::move(b.times(n, n));
}
inline step_builder optional(step_builder b) {
    return std::move(b.times(0, 1));
}

// Steps that match in any order.
struct group_builder {
    std::vector<step> steps;
};
inline group_builder any_order(std::initializer_list<step_builder> steps) {
    group_builder g;
    for (const auto& s : steps) {
        g.steps.push_back(s.get());
    }
    return g;
}

// A spec with the options as chainable setters.
struct sequence_builder : spec {
    sequence_builder& frames() {
        unit = unit::frames;
        return *this;
    }
    sequence_builder& keep_pings() {
        ignore_pings = false;
        return *this;
    }
    sequence_builder& forbid_extra() {
        extra = extra::forbid;
        return *this;
    }
    sequence_builder& named(std::string n) {
        name = std::move(n);
        return *this;
    }
};

namespace detail {
inline void add(spec& s, const step_builder& b) {
    node n;
    n.single = b.get();
    s.steps.push_back(std::move(n));
}
inline void add(spec& s, const group_builder& g) {
    node n;
    n.any_order = g.steps;
    s.steps.push_back(std::move(n));
}
} // namespace detail

// The steps in order. Throws spec_error as parse_spec would (an `equal` before its `bind`, a
// regular expression that does not compile).
template <typename... Parts> sequence_builder sequence(const Parts&... parts) {
    sequence_builder s;
    (detail::add(s, parts), ...);
    validate(s);
    return s;
}

} // namespace wssniff::expect

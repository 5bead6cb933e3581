#include "wssniff/compare/json_diff.hpp"

#include "wssniff/compare/items.hpp"

#include <algorithm>

namespace wssniff::compare {

namespace {

using nlohmann::json;

// Whether an ignore entry hides the values at `path`: an entry without a type hides them
// whatever they are (and whether they are there at all); a typed (learned) entry only when both
// sides hold that type.
bool is_hidden(const std::vector<std::string>& path, const json* a, const json* b,
               const std::vector<const json_ignore*>& ignores) {
    for (const auto* ig : ignores) {
        if (!matches(*ig, path)) {
            continue;
        }
        if (!ig->type) {
            return true;
        }
        if (a != nullptr && b != nullptr && type_of(*a) == *ig->type && type_of(*b) == *ig->type) {
            return true;
        }
    }
    return false;
}

class walker {
  public:
    walker(const std::vector<const json_ignore*>& ignores,
           const std::function<bool(const json_change&)>& report)
        : ignores_(ignores), report_(report) {}

    // false: stop
    bool walk(const json* a, const json* b) {
        if (is_hidden(path_, a, b, ignores_)) {
            return true;
        }
        if (a == nullptr || b == nullptr || type_of(*a) != type_of(*b)) {
            return report_({pointer_of(path_), generic(), a, b});
        }
        if (a->is_object()) {
            // Both are std::map-backed: members come in key order, so one merge pass.
            auto ia = a->begin();
            auto ib = b->begin();
            while (ia != a->end() || ib != b->end()) {
                const bool take_a = ib == b->end() || (ia != a->end() && ia.key() < ib.key());
                const bool take_b = ia == a->end() || (ib != b->end() && ib.key() < ia.key());
                const std::string& key = take_a ? ia.key() : ib.key();
                path_.push_back(key);
                index_.push_back(false);
                const bool go_on =
                    walk(take_b ? nullptr : &ia.value(), take_a ? nullptr : &ib.value());
                path_.pop_back();
                index_.pop_back();
                if (!go_on) {
                    return false;
                }
                if (!take_b) {
                    ++ia;
                }
                if (!take_a) {
                    ++ib;
                }
            }
            return true;
        }
        if (a->is_array()) {
            const std::size_t n = std::max(a->size(), b->size());
            for (std::size_t i = 0; i < n; ++i) {
                path_.push_back(std::to_string(i));
                index_.push_back(true);
                const bool go_on =
                    walk(i < a->size() ? &(*a)[i] : nullptr, i < b->size() ? &(*b)[i] : nullptr);
                path_.pop_back();
                index_.pop_back();
                if (!go_on) {
                    return false;
                }
            }
            return true;
        }
        if (*a != *b) { // numbers by value: 1 and 1.0 are equal
            return report_({pointer_of(path_), generic(), a, b});
        }
        return true;
    }

  private:
    std::string generic() const {
        auto path = path_;
        for (std::size_t i = 0; i < path.size(); ++i) {
            if (index_[i]) {
                path[i] = "*";
            }
        }
        return pointer_of(path);
    }

    const std::vector<const json_ignore*>& ignores_;
    const std::function<bool(const json_change&)>& report_;
    std::vector<std::string> path_;
    std::vector<bool> index_; // path_[i] is an array index
};

} // namespace

std::string pointer_of(const std::vector<std::string>& path) {
    std::string out;
    for (const auto& token : path) {
        out += '/';
        for (const char c : token) {
            if (c == '~') {
                out += "~0";
            } else if (c == '/') {
                out += "~1";
            } else {
                out += c;
            }
        }
    }
    return out;
}

void json_diff(const json& a, const json& b, const std::vector<const json_ignore*>& ignores,
               const std::function<bool(const json_change&)>& report) {
    walker w(ignores, report);
    w.walk(&a, &b);
}

} // namespace wssniff::compare

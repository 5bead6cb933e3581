#include "wssniff/compare/mask.hpp"

#include "wssniff/compare/items.hpp"
#include "wssniff/compare/json_diff.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <tuple>

namespace wssniff::compare {

namespace {

using nlohmann::json;

void read_entries(const json& list, const std::string& key, std::optional<direction> dir,
                  std::vector<json_ignore>& out) {
    if (!list.is_array()) {
        throw std::invalid_argument("mask: \"" + key + "\" is not an array");
    }
    for (const auto& entry : list) {
        json_ignore ig;
        if (entry.is_string()) {
            ig = parse_json_ignore(entry.get<std::string>());
        } else if (entry.is_object() && entry.contains("pointer") && entry["pointer"].is_string()) {
            ig = parse_json_ignore(entry["pointer"].get<std::string>());
            for (const auto& [name, value] : entry.items()) {
                if (name == "pointer") {
                    continue;
                }
                if (name != "type" || !value.is_string() ||
                    !json_type_named(value.get<std::string>())) {
                    throw std::invalid_argument(
                        "mask: entry " + entry.dump() + " in \"" + key +
                        "\": only \"pointer\" and \"type\" (null, boolean, number, string, "
                        "array, object) are allowed");
                }
                ig.type = json_type_named(value.get<std::string>());
            }
        } else {
            throw std::invalid_argument("mask: entry " + entry.dump() + " in \"" + key +
                                        "\" is neither a pointer nor {\"pointer\": ...}");
        }
        ig.dir = dir;
        out.push_back(std::move(ig));
    }
}

std::string where(std::size_t pair, direction dir, std::uint64_t index) {
    return "conn " + std::to_string(pair) + " " + std::string(to_string(dir)) + " #" +
           std::to_string(index);
}

} // namespace

std::vector<json_ignore> parse_mask(std::string_view text) {
    const auto doc = json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        throw std::invalid_argument("mask: not a JSON object");
    }
    std::vector<json_ignore> out;
    for (const auto& [key, value] : doc.items()) {
        if (key == "wssniff_mask") {
            if (value != 1) {
                throw std::invalid_argument("mask: \"wssniff_mask\" is " + value.dump() +
                                            ", this version reads 1");
            }
        } else if (key == "ignore") {
            read_entries(value, key, std::nullopt, out);
        } else if (key == "c2s") {
            read_entries(value, key, direction::c2s, out);
        } else if (key == "s2c") {
            read_entries(value, key, direction::s2c, out);
        } else {
            throw std::invalid_argument("mask: unknown key \"" + key +
                                        "\" (known: wssniff_mask, ignore, c2s, s2c)");
        }
    }
    return out;
}

learned_mask learn_mask(const std::vector<std::vector<archive::connection>>& runs,
                        const options& o) {
    if (runs.size() < 2) {
        throw std::invalid_argument("learning a mask needs at least two archives");
    }
    options messages = o;
    messages.unit = unit::messages;
    const auto rewrite = make_normalizer(messages);
    // (direction, pointer, type)
    std::set<std::tuple<int, std::string, int>> found;
    std::set<std::string> notes;
    const auto& base = runs.front();
    for (std::size_t r = 1; r < runs.size(); ++r) {
        const auto& run = runs[r];
        if (run.size() != base.size()) {
            notes.insert("run " + std::to_string(r + 1) + " has " + std::to_string(run.size()) +
                         " connections, run 1 has " + std::to_string(base.size()));
        }
        for (std::size_t c = 0; c < std::min(run.size(), base.size()); ++c) {
            const auto va = view_of(base[c], messages, rewrite);
            const auto vb = view_of(run[c], messages, rewrite);
            for (const direction dir : {direction::c2s, direction::s2c}) {
                const auto& ia = va.items[dir == direction::c2s ? 0 : 1];
                const auto& ib = vb.items[dir == direction::c2s ? 0 : 1];
                if (ia.size() != ib.size()) {
                    notes.insert("conn " + std::to_string(c + 1) + " " +
                                 std::string(to_string(dir)) + ": run " + std::to_string(r + 1) +
                                 " has " + std::to_string(ib.size()) + " messages, run 1 has " +
                                 std::to_string(ia.size()));
                }
                const auto ignores = ignores_for(messages, dir);
                for (std::size_t k = 0; k < std::min(ia.size(), ib.size()); ++k) {
                    const auto& a = ia[k];
                    const auto& b = ib[k];
                    if (a.json && b.json) {
                        json_diff(*a.json, *b.json, ignores, [&](const json_change& ch) {
                            if (ch.a != nullptr && ch.b != nullptr &&
                                type_of(*ch.a) == type_of(*ch.b)) {
                                found.emplace(static_cast<int>(dir), ch.generic_pointer,
                                              static_cast<int>(type_of(*ch.a)));
                            } else if (ch.a != nullptr && ch.b != nullptr) {
                                notes.insert(
                                    where(c + 1, dir, k) + " " + ch.pointer + ": " +
                                    std::string(to_string(type_of(*ch.a))) + " in run 1, " +
                                    std::string(to_string(type_of(*ch.b))) + " in run " +
                                    std::to_string(r + 1) + ": a type change is never masked");
                            } else {
                                notes.insert(where(c + 1, dir, k) + " " + ch.pointer +
                                             ": only one run has it: not masked");
                            }
                            return true;
                        });
                    } else if (a.payload != b.payload) {
                        notes.insert(where(c + 1, dir, k) +
                                     ": payloads differ and are not both JSON: not masked "
                                     "(--normalize can rewrite text)");
                    }
                }
            }
        }
    }
    learned_mask out;
    nlohmann::ordered_json doc;
    doc["wssniff_mask"] = 1;
    doc["c2s"] = nlohmann::ordered_json::array();
    doc["s2c"] = nlohmann::ordered_json::array();
    for (const auto& [dir, pointer, type] : found) {
        auto ig = parse_json_ignore(pointer);
        ig.dir = static_cast<direction>(dir);
        ig.type = static_cast<json_type>(type);
        doc[dir == static_cast<int>(direction::c2s) ? "c2s" : "s2c"].push_back(
            {{"pointer", pointer}, {"type", std::string(to_string(*ig.type))}});
        out.entries.push_back(std::move(ig));
    }
    out.text = doc.dump(2) + "\n";
    out.notes.assign(notes.begin(), notes.end());
    return out;
}

} // namespace wssniff::compare

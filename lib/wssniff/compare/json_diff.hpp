#pragma once
// Structural comparison of two JSON values: members in any order, arrays element by element,
// numbers by value. Each difference is named by its RFC 6901 pointer. Internal to the compare
// unit.

#include "wssniff/compare/options.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace wssniff::compare {

struct json_change {
    std::string pointer;
    std::string generic_pointer;       // array indices as "*": "/items/*/ts"
    const nlohmann::json* a = nullptr; // null: only b has it
    const nlohmann::json* b = nullptr; // null: only a has it
};

// Calls `report` for each difference not hidden by `ignores`, depth first, members in key
// order; stops early when `report` returns false.
void json_diff(const nlohmann::json& a, const nlohmann::json& b,
               const std::vector<const json_ignore*>& ignores,
               const std::function<bool(const json_change&)>& report);

// Reference tokens -> "/a/b~1c".
std::string pointer_of(const std::vector<std::string>& path);

} // namespace wssniff::compare

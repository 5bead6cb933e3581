#pragma once
// `--conn LIST`: the connections a command works on, as numbers and ranges ("1,3-5").

#include <cstdint>
#include <set>
#include <string>

namespace wssniff::app {

// "1,3-5" -> {1, 3, 4, 5}. Throws CLI::ValidationError naming --conn.
std::set<std::uint64_t> parse_conn_list(const std::string& text);

} // namespace wssniff::app

#pragma once
// The allowed range of every numeric option, checked while parsing: a value outside it stops
// the start with one line that names the option and the range (exit 2), instead of wrapping
// around (-1 as "no limit") or overflowing (1e300 seconds) later.

#include <CLI/CLI.hpp>

#include <cstdint>
#include <set>
#include <string>

namespace wssniff::app {

// Seconds from `min` to `max` (a decimal number: 2, 0.5, 1e-3); with `zero_is_off`, 0 too.
// NaN, infinities and values that would round to 0 ms are refused.
CLI::Validator seconds_in(double min, double max, bool zero_is_off);

// A byte count from `min` to `max`: digits, then an optional unit (B, KiB, MiB, GiB; K/KB, M/MB,
// G/GB mean the same 1024-based sizes). Rewrites the value to plain digits for the conversion.
CLI::Validator bytes_in(std::uint64_t min, std::uint64_t max);

// A whole number from `min` to `max`.
CLI::Validator count_in(std::uint64_t min, std::uint64_t max);

// 1048576 -> "1MiB", 1000 -> "1000": how help texts and errors show a size.
std::string size_text(std::uint64_t bytes);

// "1,3-5" -> {1, 3, 4, 5}: numbers from 1 to `max` and ranges, for `option` (--conn, --ports).
// Throws CLI::ValidationError saying it expects `what`.
std::set<std::uint64_t> number_list(const std::string& text, const std::string& option,
                                    const std::string& what, std::uint64_t max);

// --conn LIST (decode, replay, har export): connection numbers and ranges.
inline std::set<std::uint64_t> conn_list(const std::string& text) {
    return number_list(text, "--conn", "connection numbers such as 1,3-5", ~std::uint64_t{0});
}

} // namespace wssniff::app

#include "ranges.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <utility>

namespace wssniff::app {

namespace {

// Digits only: strtoull alone would take "-1" as 2^64-1, " 7" and "0x10".
std::optional<std::uint64_t> whole_number(const std::string& digits) {
    if (digits.empty() || digits.size() > 19 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    return std::stoull(digits);
}

std::string lowercase(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

std::optional<std::uint64_t> unit_factor(const std::string& unit) {
    static const std::pair<const char*, std::uint64_t> units[] = {{"", 1},
                                                                  {"b", 1},
                                                                  {"k", 1ULL << 10},
                                                                  {"kb", 1ULL << 10},
                                                                  {"kib", 1ULL << 10},
                                                                  {"m", 1ULL << 20},
                                                                  {"mb", 1ULL << 20},
                                                                  {"mib", 1ULL << 20},
                                                                  {"g", 1ULL << 30},
                                                                  {"gb", 1ULL << 30},
                                                                  {"gib", 1ULL << 30}};
    const std::string key = lowercase(unit);
    for (const auto& [name, factor] : units) {
        if (key == name) {
            return factor;
        }
    }
    return std::nullopt;
}

std::string seconds_text(double s) {
    return fmt::format("{}", s);
}

} // namespace

std::string size_text(std::uint64_t bytes) {
    if (bytes != 0 && bytes % (1ULL << 30) == 0) {
        return fmt::format("{}GiB", bytes >> 30);
    }
    if (bytes != 0 && bytes % (1ULL << 20) == 0) {
        return fmt::format("{}MiB", bytes >> 20);
    }
    if (bytes != 0 && bytes % (1ULL << 10) == 0) {
        return fmt::format("{}KiB", bytes >> 10);
    }
    return fmt::format("{}", bytes);
}

CLI::Validator seconds_in(double min, double max, bool zero_is_off) {
    const std::string range = fmt::format("{}{} to {} seconds", zero_is_off ? "0 (off) or " : "",
                                          seconds_text(min), seconds_text(max));
    return CLI::Validator(
        [=](std::string& input) -> std::string {
            const std::string refused = "must be " + range + ", got '" + input + "'";
            if (input.empty() || std::isspace(static_cast<unsigned char>(input.front()))) {
                return refused;
            }
            errno = 0;
            char* end = nullptr;
            const double value = std::strtod(input.c_str(), &end);
            if (end != input.c_str() + input.size() || !std::isfinite(value) || errno == ERANGE) {
                return refused;
            }
            if (value == 0 && zero_is_off) {
                return {};
            }
            // `!(in range)` rather than `out of range`: NaN is in no range.
            if (!(value >= min && value <= max)) {
                return refused;
            }
            return {};
        },
        "", "seconds range");
}

CLI::Validator bytes_in(std::uint64_t min, std::uint64_t max) {
    const std::string range =
        fmt::format("from {} to {} bytes (units KiB, MiB, GiB)", size_text(min), size_text(max));
    return CLI::Validator(
        [=](std::string& input) -> std::string {
            const std::string refused = "must be " + range + ", got '" + input + "'";
            const std::size_t digits_end = input.find_first_not_of("0123456789");
            const auto number = whole_number(input.substr(0, digits_end));
            std::string unit = digits_end == std::string::npos ? "" : input.substr(digits_end);
            unit.erase(0, std::min(unit.find_first_not_of(' '), unit.size()));
            const auto factor = unit_factor(unit);
            if (!number || !factor || *number > max / *factor) {
                return refused;
            }
            const std::uint64_t bytes = *number * *factor;
            if (bytes < min || bytes > max) {
                return refused;
            }
            input = std::to_string(bytes);
            return {};
        },
        "", "bytes range");
}

CLI::Validator count_in(std::uint64_t min, std::uint64_t max) {
    const std::string range = fmt::format("a whole number from {} to {}", min, max);
    return CLI::Validator(
        [=](std::string& input) -> std::string {
            const auto number = whole_number(input);
            if (!number || *number < min || *number > max) {
                return "must be " + range + ", got '" + input + "'";
            }
            return {};
        },
        "", "count range");
}

std::set<std::uint64_t> number_list(const std::string& text, const std::string& option,
                                    const std::string& what, std::uint64_t max) {
    std::set<std::uint64_t> out;
    std::size_t pos = 0;
    const auto number = [&](std::size_t& at) {
        std::size_t used = 0;
        unsigned long long n = 0;
        try {
            n = std::stoull(text.substr(at), &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || n == 0 || n > max || text[at] == '-' || text[at] == '+') {
            throw CLI::ValidationError(option, "expects " + what + ", got '" + text + "'");
        }
        at += used;
        return static_cast<std::uint64_t>(n);
    };
    while (pos < text.size()) {
        const auto first = number(pos);
        auto last = first;
        if (pos < text.size() && text[pos] == '-') {
            ++pos;
            last = number(pos);
        }
        if (last < first || last - first > 1'000'000) {
            throw CLI::ValidationError(option, "range " + std::to_string(first) + "-" +
                                                   std::to_string(last) +
                                                   " is backwards or too long");
        }
        for (auto n = first; n <= last; ++n) {
            out.insert(n);
        }
        if (pos < text.size()) {
            if (text[pos] != ',') {
                throw CLI::ValidationError(option, "expects " + what + ", got '" + text + "'");
            }
            ++pos;
        }
    }
    return out;
}

} // namespace wssniff::app

#include "conn_list.hpp"

#include <CLI/CLI.hpp>

#include <exception>

namespace wssniff::app {

std::set<std::uint64_t> parse_conn_list(const std::string& text) {
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
        if (used == 0 || n == 0 || text[at] == '-' || text[at] == '+') {
            throw CLI::ValidationError("--conn", "expects connection numbers such as 1,3-5, got '" +
                                                     text + "'");
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
            throw CLI::ValidationError("--conn", "range " + std::to_string(first) + "-" +
                                                     std::to_string(last) +
                                                     " is backwards or too long");
        }
        for (auto n = first; n <= last; ++n) {
            out.insert(n);
        }
        if (pos < text.size()) {
            if (text[pos] != ',') {
                throw CLI::ValidationError("--conn", "expects connection numbers such as 1,3-5, "
                                                     "got '" +
                                                         text + "'");
            }
            ++pos;
        }
    }
    return out;
}

} // namespace wssniff::app

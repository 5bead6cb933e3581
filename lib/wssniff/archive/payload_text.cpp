#include "wssniff/archive/payload_text.hpp"

#include <array>
#include <cstdint>

namespace wssniff::archive {

namespace {

constexpr std::uint8_t invalid = 0xff;

constexpr std::array<std::uint8_t, 256> make_table(std::string_view alphabet) {
    std::array<std::uint8_t, 256> t{};
    for (auto& v : t) {
        v = invalid;
    }
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
    }
    return t;
}

constexpr auto hex_table = [] {
    auto t = make_table("0123456789abcdef");
    for (std::size_t i = 0; i < 6; ++i) {
        t['A' + i] = static_cast<std::uint8_t>(10 + i);
    }
    return t;
}();

constexpr auto base64_table =
    make_table("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");

} // namespace

std::optional<std::string> decode_hex(std::string_view text) {
    if (text.size() % 2 != 0) {
        return std::nullopt;
    }
    std::string out(text.size() / 2, '\0');
    for (std::size_t i = 0; i < out.size(); ++i) {
        const auto hi = hex_table[static_cast<unsigned char>(text[2 * i])];
        const auto lo = hex_table[static_cast<unsigned char>(text[2 * i + 1])];
        if (hi > 15 || lo > 15) {
            return std::nullopt;
        }
        out[i] = static_cast<char>((hi << 4) | lo);
    }
    return out;
}

std::optional<std::string> decode_base64(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::size_t pad = 0;
    if (!text.empty() && text.back() == '=') {
        pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
    }
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        std::uint32_t group = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            const char c = text[i + j];
            std::uint8_t v = 0;
            if (c == '=') {
                if (!last || j < 4 - pad) {
                    return std::nullopt;
                }
            } else {
                v = base64_table[static_cast<unsigned char>(c)];
                if (v == invalid) {
                    return std::nullopt;
                }
            }
            group = (group << 6) | v;
        }
        const std::size_t n = last ? 3 - pad : 3;
        for (std::size_t j = 0; j < n; ++j) {
            out.push_back(static_cast<char>((group >> (16 - 8 * j)) & 0xff));
        }
    }
    return out;
}

} // namespace wssniff::archive

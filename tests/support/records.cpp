#include "support/records.hpp"

#include "wssniff/record/ndjson.hpp"
#include "wssniff/session/replay.hpp"

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <stdexcept>
#include <unistd.h>

namespace wssniff::test {

namespace {

// One write() per line on an O_APPEND descriptor: suites running in parallel append to the
// same file without interleaving inside a line.
void dump(const std::string& line) {
    static const int fd = [] {
        const char* path = std::getenv("WSSNIFF_RECORDS_OUT");
        return path != nullptr ? ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
    }();
    if (fd >= 0 && ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        throw std::runtime_error("cannot append to WSSNIFF_RECORDS_OUT");
    }
}

} // namespace

void ndjson_capture::write(record::record&& r) {
    std::string line;
    record::append_ndjson(line, r);
    dump(line);
    lines.push_back(std::move(line));
}

std::string ndjson_capture::text() const {
    std::string all;
    for (const auto& l : lines) {
        all += l;
    }
    return all;
}

std::vector<nlohmann::json> ndjson_capture::json() const {
    return parse_lines(text());
}

std::string unhex(std::string_view hex) {
    std::string out;
    int high = -1;
    for (const char c : hex) {
        int v;
        if (c >= '0' && c <= '9') {
            v = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v = c - 'A' + 10;
        } else if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            continue;
        } else {
            throw std::invalid_argument("not hex: " + std::string(1, c));
        }
        if (high < 0) {
            high = v;
        } else {
            out.push_back(static_cast<char>(high * 16 + v));
            high = -1;
        }
    }
    if (high >= 0) {
        throw std::invalid_argument("odd number of hex digits");
    }
    return out;
}

std::string frame(std::uint8_t first_byte, std::string_view payload, std::string_view mask) {
    std::string out;
    out.push_back(static_cast<char>(first_byte));
    const std::uint8_t mask_bit = mask.empty() ? 0 : 0x80;
    const std::size_t n = payload.size();
    if (n < 126) {
        out.push_back(static_cast<char>(mask_bit | n));
    } else if (n <= 0xFFFF) {
        out.push_back(static_cast<char>(mask_bit | 126));
        out.push_back(static_cast<char>(n >> 8));
        out.push_back(static_cast<char>(n & 0xFF));
    } else {
        out.push_back(static_cast<char>(mask_bit | 127));
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xFF));
        }
    }
    out.append(mask);
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(mask.empty() ? payload[i] : static_cast<char>(payload[i] ^ mask[i % 4]));
    }
    return out;
}

std::string decode_frames(direction dir, std::string_view bytes, session::session_options options,
                          std::size_t chunk) {
    options.handshake = false;
    ndjson_capture capture;
    session::session s(capture, options);
    const std::string_view none;
    if (dir == direction::c2s) {
        session::replay(s, bytes_view{bytes}, bytes_view{none}, chunk);
    } else {
        session::replay(s, bytes_view{none}, bytes_view{bytes}, chunk);
    }
    return capture.text();
}

std::string decode_connection(std::string_view c2s, std::string_view s2c,
                              session::session_options options, std::size_t chunk) {
    ndjson_capture capture;
    session::session s(capture, options);
    session::replay(s, bytes_view{c2s}, bytes_view{s2c}, chunk);
    return capture.text();
}

std::vector<nlohmann::json> parse_lines(const std::string& ndjson) {
    std::vector<nlohmann::json> out;
    std::size_t start = 0;
    while (start < ndjson.size()) {
        const std::size_t nl = ndjson.find('\n', start);
        if (nl == std::string::npos) {
            throw std::runtime_error("NDJSON does not end in a newline");
        }
        out.push_back(nlohmann::json::parse(ndjson.substr(start, nl - start)));
        start = nl + 1;
    }
    return out;
}

std::vector<nlohmann::json> of_type(const std::string& ndjson, std::string_view type) {
    std::vector<nlohmann::json> out;
    for (auto& r : parse_lines(ndjson)) {
        if (r.at("type") == type) {
            out.push_back(std::move(r));
        }
    }
    return out;
}

std::vector<std::string> error_codes(const std::string& ndjson) {
    std::vector<std::string> out;
    for (const auto& r : of_type(ndjson, "error")) {
        out.push_back(r.at("code").get<std::string>());
    }
    return out;
}

} // namespace wssniff::test

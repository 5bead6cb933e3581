#include "wssniff/handshake/http_head.hpp"

#include "wssniff/handshake/text.hpp"

#include <algorithm>
#include <cctype>

namespace wssniff::handshake {

namespace {

// RFC 9110 §5.6.2 tchar.
bool is_token_char(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
        return true;
    }
    return std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char);
}

bool is_http_version(std::string_view v) noexcept {
    return v.size() == 8 && v.substr(0, 5) == "HTTP/" &&
           std::isdigit(static_cast<unsigned char>(v[5])) && v[6] == '.' &&
           std::isdigit(static_cast<unsigned char>(v[7]));
}

} // namespace

const std::string* http_head::find(std::string_view name) const noexcept {
    for (const auto& [n, v] : fields) {
        if (iequals(n, name)) {
            return &v;
        }
    }
    return nullptr;
}

std::optional<std::string> http_head::joined(std::string_view name) const {
    std::optional<std::string> out;
    for (const auto& [n, v] : fields) {
        if (!iequals(n, name)) {
            continue;
        }
        if (out) {
            out->append(", ");
            out->append(v);
        } else {
            out = v;
        }
    }
    return out;
}

bool http_head::has_token(std::string_view name, std::string_view token) const {
    for (const auto& [n, v] : fields) {
        if (!iequals(n, name)) {
            continue;
        }
        std::string_view rest = v;
        while (!rest.empty()) {
            const std::size_t comma = rest.find(',');
            if (iequals(trim(rest.substr(0, comma)), token)) {
                return true;
            }
            if (comma == std::string_view::npos) {
                break;
            }
            rest.remove_prefix(comma + 1);
        }
    }
    return false;
}

head_parser::head_parser(kind k, std::size_t max_size) : kind_(k), max_size_(max_size) {}

void head_parser::reset() noexcept {
    status_ = status::need_more;
    buffer_.clear();
    line_start_ = 0;
    seen_start_line_ = false;
    first_byte_judged_ = false;
    head_ = http_head{};
    detail_.clear();
}

void head_parser::release() noexcept {
    reset();
    std::string().swap(buffer_);
    std::string().swap(detail_);
}

void head_parser::fail(error_code code, std::string detail) {
    status_ = status::failed;
    error_ = code;
    detail_ = std::move(detail);
}

std::size_t head_parser::feed(bytes_view in) {
    if (status_ != status::need_more) {
        return 0;
    }
    // Scan only the new bytes, line by line, so a head that trickles in byte by byte costs
    // linear time.
    const std::size_t before = buffer_.size();
    if (!first_byte_judged_) {
        // Judge the first byte of the start line at once: a peer that is not speaking HTTP
        // (a TLS ClientHello on a plain port) should not wait for a line end that never comes.
        // Only CR and LF may come before it, so where the input was split does not matter;
        // nor may a byte past the size limit, which a split input would never get to.
        const std::size_t within_limit = std::min(in.size(), max_size_ - before);
        std::size_t i = 0;
        while (i < within_limit && (in[i] == '\r' || in[i] == '\n')) {
            ++i;
        }
        if (i < within_limit) {
            first_byte_judged_ = true;
            const char first = static_cast<char>(in[i]);
            const bool plausible = kind_ == kind::request ? is_token_char(first) : first == 'H';
            if (!plausible) {
                fail(error_code::malformed_head,
                     in[i] == 0x16
                         ? "this is a TLS handshake, not HTTP (plain ws:// expected)"
                         : "this does not start like an HTTP " +
                               std::string(kind_ == kind::request ? "request" : "response"));
                return 0;
            }
        }
    }
    const std::size_t take = std::min(in.size(), max_size_ - before);
    buffer_.append(in.chars().substr(0, take));
    for (std::size_t i = before; i < buffer_.size(); ++i) {
        if (buffer_[i] != '\n') {
            continue;
        }
        const std::size_t line_length = i - line_start_;
        bool empty_line = line_length == 0 || (line_length == 1 && buffer_[line_start_] == '\r');
        if (!seen_start_line_ && !empty_line) {
            // Before the start line CR and LF are skipped in any order, as the first-byte
            // judgement above and parse() skip them: a line of CRs alone starts nothing,
            // however the bytes were split.
            empty_line = std::string_view{buffer_}
                             .substr(line_start_, line_length)
                             .find_first_not_of('\r') == std::string_view::npos;
        }
        line_start_ = i + 1;
        if (!empty_line) {
            seen_start_line_ = true;
            continue;
        }
        if (!seen_start_line_) {
            continue; // a request may be preceded by empty lines (RFC 9112 §2.2)
        }
        buffer_.resize(i + 1);
        if (parse()) {
            status_ = status::done;
        }
        return i + 1 - before;
    }
    if (buffer_.size() >= max_size_) {
        fail(error_code::head_too_large,
             "HTTP head exceeds " + std::to_string(max_size_) + " bytes");
    }
    return take;
}

bool head_parser::parse() {
    std::string_view rest = buffer_;
    // Skip the empty lines a client may send before the request line.
    while (!rest.empty() && (rest.front() == '\r' || rest.front() == '\n')) {
        rest.remove_prefix(1);
    }
    auto next_line = [&rest]() {
        const std::size_t nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        return line;
    };

    const std::string_view start = next_line();
    const std::size_t sp1 = start.find(' ');
    if (sp1 == std::string_view::npos) {
        fail(error_code::malformed_head, "start line has no space");
        return false;
    }
    if (kind_ == kind::request) {
        const std::size_t sp2 = start.find(' ', sp1 + 1);
        if (sp2 == std::string_view::npos) {
            fail(error_code::malformed_head, "request line is not METHOD TARGET VERSION");
            return false;
        }
        head_.method = std::string(start.substr(0, sp1));
        head_.target = std::string(start.substr(sp1 + 1, sp2 - sp1 - 1));
        head_.version = std::string(start.substr(sp2 + 1));
        if (!is_token(head_.method) || head_.target.empty() || !is_http_version(head_.version)) {
            fail(error_code::malformed_head, "request line is not METHOD TARGET VERSION");
            return false;
        }
    } else {
        head_.version = std::string(start.substr(0, sp1));
        const std::string_view code = start.substr(sp1 + 1, 3);
        if (!is_http_version(head_.version) || code.size() != 3 ||
            !std::all_of(code.begin(), code.end(),
                         [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
            (start.size() > sp1 + 4 && start[sp1 + 4] != ' ')) {
            fail(error_code::malformed_head, "status line is not VERSION CODE REASON");
            return false;
        }
        head_.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
        head_.reason = start.size() > sp1 + 5 ? std::string(start.substr(sp1 + 5)) : std::string{};
    }

    while (!rest.empty()) {
        const std::string_view line = next_line();
        if (line.empty()) {
            break;
        }
        if (line.front() == ' ' || line.front() == '\t') {
            // obs-fold (RFC 9112 §5.2): a continuation of the previous field's value.
            if (head_.fields.empty()) {
                fail(error_code::malformed_head, "first header line starts with whitespace");
                return false;
            }
            // Each fold is one space; a continuation of nothing but whitespace adds nothing, so
            // the value stays without the whitespace around it.
            std::string& value = head_.fields.back().second;
            const std::string_view more = trim(line);
            if (!more.empty()) {
                value.append(value.empty() ? "" : " ").append(more);
            }
            continue;
        }
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            fail(error_code::malformed_head, "header line has no colon");
            return false;
        }
        const std::string_view name = line.substr(0, colon);
        if (!is_token(name)) {
            // Includes whitespace before the colon, which RFC 9112 §5.1 says to reject.
            fail(error_code::malformed_head, "header field name is not a token");
            return false;
        }
        head_.fields.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
    }
    return true;
}

} // namespace wssniff::handshake

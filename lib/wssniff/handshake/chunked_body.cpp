#include "wssniff/handshake/chunked_body.hpp"

#include <algorithm>

namespace wssniff::handshake {

namespace {

int hex_value(std::uint8_t c) noexcept {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Bytes a chunk extension or a trailer field may hold: visible characters, SP, HTAB and
// obs-text (RFC 9110 §5.5); other controls mean the peer is not sending what it claims.
bool is_line_byte(std::uint8_t c) noexcept {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

} // namespace

chunked_body::status chunked_body::state() const noexcept {
    switch (step_) {
    case step::done: return status::done;
    case step::failed: return status::failed;
    default: return status::in_body;
    }
}

std::size_t chunked_body::fail(std::size_t at, std::string problem) {
    step_ = step::failed;
    problem_ = std::move(problem);
    return at;
}

std::size_t chunked_body::feed(bytes_view in) {
    std::size_t pos = 0;
    while (pos < in.size()) {
        const std::uint8_t c = in[pos];
        switch (step_) {
        case step::size: {
            const int digit = hex_value(c);
            if (digit >= 0) {
                any_digit_ = true;
                if (size_digits_ > 0 || digit != 0) {
                    // 16 hex digits fill 64 bits; a longer size is no real chunk.
                    if (++size_digits_ > 16) {
                        return fail(pos, "chunk size is larger than 64 bits");
                    }
                    size_ = (size_ << 4) | static_cast<std::uint64_t>(digit);
                }
                if (++line_length_ > max_line_) {
                    return fail(pos, "chunk size line is longer than " + std::to_string(max_line_) +
                                         " bytes");
                }
                ++pos;
                break;
            }
            if (!any_digit_) {
                return fail(pos, "chunk size is not a hex number");
            }
            if (c == ' ' || c == '\t') {
                step_ = step::size_space;
                break;
            }
            if (c != ';' && c != '\r' && c != '\n') {
                return fail(pos, "chunk size is followed by something other than an extension");
            }
            step_ = step::size_line;
            break;
        }
        case step::size_space:
            // Whitespace may come before an extension's ";" (BWS, RFC 9112 §7.1.1), and
            // nothing else may follow the size.
            if (c == ' ' || c == '\t') {
                if (++line_length_ > max_line_) {
                    return fail(pos, "chunk size line is longer than " + std::to_string(max_line_) +
                                         " bytes");
                }
                ++pos;
                break;
            }
            if (c != ';' && c != '\r' && c != '\n') {
                return fail(pos, "chunk size is followed by something other than an extension");
            }
            step_ = step::size_line;
            break;
        case step::size_line:
        case step::trailer_line: {
            ++pos;
            if (c == '\n') {
                // Bare LF ends a line as in heads (RFC 9112 §2.2); the CR before it is dropped.
                line_length_ = 0;
                line_cr_ = false;
                if (step_ == step::trailer_line) {
                    step_ = step::trailer_start;
                } else if (size_ == 0) {
                    step_ = step::trailer_start; // the last chunk: trailers follow
                } else {
                    step_ = step::data;
                }
                break;
            }
            if (line_cr_) {
                return fail(pos - 1, "CR inside a line");
            }
            if (c == '\r') {
                line_cr_ = true;
            } else if (!is_line_byte(c)) {
                return fail(pos - 1, step_ == step::trailer_line
                                         ? "trailer field holds a control character"
                                         : "chunk extension holds a control character");
            }
            if (++line_length_ > max_line_) {
                return fail(
                    pos - 1,
                    (step_ == step::trailer_line ? "trailer field line" : "chunk size line") +
                        std::string(" is longer than ") + std::to_string(max_line_) + " bytes");
            }
            if (step_ == step::trailer_line && ++trailer_bytes_ > max_trailers_) {
                return fail(pos - 1, "trailer section is longer than " +
                                         std::to_string(max_trailers_) + " bytes");
            }
            break;
        }
        case step::data: {
            const auto take =
                static_cast<std::size_t>(std::min<std::uint64_t>(size_, in.size() - pos));
            pos += take;
            size_ -= take;
            if (size_ == 0) {
                step_ = step::data_end;
            }
            break;
        }
        case step::data_end:
            ++pos;
            if (c == '\r') {
                step_ = step::data_end_lf;
            } else if (c == '\n') {
                step_ = step::size;
            } else {
                return fail(pos - 1, "chunk data is longer than its size");
            }
            size_digits_ = 0;
            any_digit_ = false;
            break;
        case step::data_end_lf:
            if (c != '\n') {
                return fail(pos, "chunk data is not followed by CRLF");
            }
            ++pos;
            step_ = step::size;
            break;
        case step::trailer_start:
            ++pos;
            if (c == '\n') {
                step_ = step::done;
                return pos;
            }
            if (c == '\r') {
                step_ = step::final_lf;
                break;
            }
            if (c == ' ' || c == '\t' || !is_line_byte(c)) {
                return fail(pos - 1, "trailer field line does not start with a field name");
            }
            step_ = step::trailer_line;
            line_length_ = 1;
            if (++trailer_bytes_ > max_trailers_) {
                return fail(pos - 1, "trailer section is longer than " +
                                         std::to_string(max_trailers_) + " bytes");
            }
            break;
        case step::final_lf:
            if (c != '\n') {
                return fail(pos, "CR inside a line");
            }
            step_ = step::done;
            return pos + 1;
        case step::done:
        case step::failed: return pos;
        }
    }
    return pos;
}

} // namespace wssniff::handshake

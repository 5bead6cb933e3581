#pragma once
// The writer of one NDJSON line: the fields of a record (keys, numbers, booleans, names,
// escaped strings, hex and base64 payloads, timestamps, header lists) appended to a line_buffer
// through a raw pointer. Header-only so that the serializers (ndjson.cpp) inline it: a record is
// a few dozen small fields and a call per field would cost more than the field.

#include "wssniff/record/digits.hpp"
#include "wssniff/record/hex_base64.hpp"
#include "wssniff/record/json_string.hpp"
#include "wssniff/record/line_buffer.hpp"
#include "wssniff/record/record.hpp"
#include "wssniff/record/timestamp.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace wssniff::record::detail {

// Every method that writes first makes room for the most it can write (a compare, and rarely a
// reallocation); literal keys carry their quotes, colon and leading comma, so most fields are
// one memcpy and a number.
class line_writer {
  public:
    explicit line_writer(line_buffer& out)
        : out_(out), o_(out.reserve(512)), end_(out.room_end()) {}

    void room(std::size_t n) {
        if (static_cast<std::size_t>(end_ - o_) < n) {
            out_.commit(o_);
            o_ = out_.reserve(std::max(n, std::size_t{512}));
            end_ = out_.room_end();
        }
    }

    // Appends, without a bounds check: only after room().
    template <std::size_t N> void lit(const char (&s)[N]) noexcept {
        std::memcpy(o_, s, N - 1);
        o_ += N - 1;
    }
    void raw(std::string_view s) noexcept {
        std::memcpy(o_, s.data(), s.size());
        o_ += s.size();
    }
    void u64(std::uint64_t v) noexcept {
        // Most numbers in a record (conn, opcode, small lengths, window bits) are below 100.
        if (v < 10) {
            *o_++ = static_cast<char>('0' + v);
        } else if (v < 100) {
            std::memcpy(o_, &two_digit_pairs[v * 2], 2);
            o_ += 2;
        } else {
            const fmt::format_int f(v);
            raw({f.data(), f.size()});
        }
    }

    // `key` is a literal such as R"(,"seq":)".
    template <std::size_t N> void num(const char (&key)[N], std::uint64_t v) {
        room(N + 20);
        lit(key);
        u64(v);
    }
    template <std::size_t N> void boolean(const char (&key)[N], bool v) {
        room(N + 5);
        lit(key);
        if (v) {
            lit("true");
        } else {
            lit("false");
        }
    }
    template <std::size_t N> void null(const char (&key)[N]) {
        room(N + 4);
        lit(key);
        lit("null");
    }
    // A name from the format's own tables ("frame", "c2s", "text"...): nothing to escape.
    template <std::size_t N> void name(const char (&key)[N], std::string_view v) {
        room(N + v.size() + 2);
        lit(key);
        *o_++ = '"';
        raw(v);
        *o_++ = '"';
    }
    template <std::size_t N> void str(const char (&key)[N], std::string_view v) {
        room(N);
        lit(key);
        string(v, false);
    }
    void string(std::string_view v, bool valid_utf8) {
        room(1);
        *o_++ = '"';
        const auto* p = reinterpret_cast<const unsigned char*>(v.data());
        const auto* const all_end = p + v.size();
        while (p < all_end) {
            const auto* const end =
                p + std::min<std::size_t>(block_size, static_cast<std::size_t>(all_end - p));
            room(static_cast<std::size_t>(end - p) * 6);
            o_ = valid_utf8 ? escape_json<true>(o_, p, end, all_end)
                            : escape_json<false>(o_, p, end, all_end);
        }
        room(1);
        *o_++ = '"';
    }
    template <std::size_t N> void hex(const char (&key)[N], std::string_view bytes) {
        room(N + 1);
        lit(key);
        *o_++ = '"';
        const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
        const auto* const all_end = p + bytes.size();
        while (p < all_end) {
            const auto* const end =
                p + std::min<std::size_t>(block_size, static_cast<std::size_t>(all_end - p));
            room(static_cast<std::size_t>(end - p) * 2);
            o_ = put_hex(o_, p, end);
            p = end;
        }
        room(1);
        *o_++ = '"';
    }
    template <std::size_t N> void base64(const char (&key)[N], std::string_view bytes) {
        room(N + 1);
        lit(key);
        *o_++ = '"';
        const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
        std::size_t n = bytes.size();
        while (n >= 3) {
            // Whole groups of three bytes per block, so padding can only come at the very end.
            const std::size_t groups = std::min<std::size_t>(n / 3, block_size / 3);
            room(groups * 4);
            o_ = put_base64_groups(o_, p, groups);
            p += groups * 3;
            n -= groups * 3;
        }
        room(5);
        if (n > 0) {
            o_ = put_base64_tail(o_, p, n);
        }
        *o_++ = '"';
    }
    void timestamp_field(timestamp ts) { timestamp_field(R"(,"ts":")", ts); }
    // `key` is the field up to the value's opening quote: `,"request_ts":"`.
    void timestamp_field(std::string_view key, timestamp ts) {
        room(key.size() + 32);
        raw(key);
        o_ = put_timestamp(o_, ts);
        *o_++ = '"';
    }
    void headers(std::string_view key, const header_list& list) {
        room(key.size() + 1);
        raw(key);
        *o_++ = '[';
        bool first = true;
        for (const auto& [header, value] : list) {
            room(2);
            if (!first) {
                *o_++ = ',';
            }
            first = false;
            *o_++ = '[';
            string(header, false);
            room(1);
            *o_++ = ',';
            string(value, false);
            room(1);
            *o_++ = ']';
        }
        room(1);
        *o_++ = ']';
    }
    void payload_field(const payload& p) {
        switch (p.encoding) {
        case payload_encoding::none: return;
        case payload_encoding::text:
            room(8);
            lit(R"(,"text":)");
            string(p.bytes, p.valid_utf8);
            break;
        case payload_encoding::hex: hex(R"(,"hex":)", p.bytes); break;
        case payload_encoding::base64: base64(R"(,"base64":)", p.bytes); break;
        }
        if (p.truncated) {
            boolean(R"(,"truncated":)", true);
        }
    }
    // Text that is already JSON (the identity's pre-escaped fields), copied as it is.
    void verbatim(std::string_view json) {
        room(json.size());
        raw(json);
    }
    // For the few places that write structure by hand (nested objects).
    template <std::size_t N> void punct(const char (&s)[N]) {
        room(N);
        lit(s);
    }
    void finish() {
        room(2);
        lit("}\n");
        out_.commit(o_);
    }

  private:
    line_buffer& out_;
    char* o_;
    char* end_;
};

} // namespace wssniff::record::detail

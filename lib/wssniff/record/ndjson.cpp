#include "wssniff/record/ndjson.hpp"

#include "wssniff/decoder/opcode.hpp"

#include <fmt/format.h>

#include <cstring>
#include <ctime>

namespace wssniff::record {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

// Bytes that can be copied into a JSON string as they are: printable ASCII but '"' and '\',
// and, when the text is known to be valid UTF-8, every byte of a multi-byte character.
struct plain_table {
    bool plain[256] = {};
    constexpr explicit plain_table(bool high_bytes_plain) {
        for (int c = 0x20; c < 0x100; ++c) {
            plain[c] = c != '"' && c != '\\' && (c < 0x80 || high_bytes_plain);
        }
    }
};
constexpr plain_table plain_ascii{false};
constexpr plain_table plain_utf8{true};

// Length of the valid UTF-8 sequence starting at p (lead byte >= 0x80), or 0 if invalid.
std::size_t utf8_sequence(const unsigned char* p, const unsigned char* end) noexcept {
    const unsigned char b = p[0];
    std::size_t n;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        n = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        if (b == 0xE0)
            lo = 0xA0;
        if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 4;
        if (b == 0xF0)
            lo = 0x90;
        if (b == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (static_cast<std::size_t>(end - p) < n) {
        return 0;
    }
    if (p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (std::size_t i = 2; i < n; ++i) {
        if (p[i] < 0x80 || p[i] > 0xBF) {
            return 0;
        }
    }
    return n;
}

class json_line {
  public:
    explicit json_line(std::string& out) : out_(out) { out_.push_back('{'); }

    json_line& key(std::string_view k) {
        if (!first_) {
            out_.push_back(',');
        }
        first_ = false;
        out_.push_back('"');
        out_.append(k);
        out_.append("\":");
        return *this;
    }
    void str(std::string_view k, std::string_view v) {
        key(k);
        raw_string(v);
    }
    void raw_string(std::string_view v) {
        out_.push_back('"');
        append_json_string_contents(out_, v);
        out_.push_back('"');
    }
    void num(std::string_view k, std::uint64_t v) {
        key(k);
        const fmt::format_int f(v);
        out_.append(f.data(), f.size());
    }
    void boolean(std::string_view k, bool v) {
        key(k);
        out_.append(v ? "true" : "false");
    }
    void null(std::string_view k) {
        key(k);
        out_.append("null");
    }
    void hex(std::string_view k, std::string_view bytes) {
        key(k);
        out_.push_back('"');
        const std::size_t at = out_.size();
        out_.resize(at + bytes.size() * 2);
        char* o = &out_[at];
        for (const char c : bytes) {
            const auto b = static_cast<unsigned char>(c);
            *o++ = hex_digits[b >> 4];
            *o++ = hex_digits[b & 0xF];
        }
        out_.push_back('"');
    }
    void base64(std::string_view k, std::string_view bytes) {
        static constexpr char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        key(k);
        out_.push_back('"');
        const std::size_t at = out_.size();
        out_.resize(at + (bytes.size() + 2) / 3 * 4);
        char* o = &out_[at];
        const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
        std::size_t n = bytes.size();
        for (; n >= 3; n -= 3, p += 3) {
            const std::uint32_t v = (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
            *o++ = alphabet[v >> 18];
            *o++ = alphabet[(v >> 12) & 63];
            *o++ = alphabet[(v >> 6) & 63];
            *o++ = alphabet[v & 63];
        }
        if (n > 0) {
            const std::uint32_t v =
                (std::uint32_t{p[0]} << 16) | (n == 2 ? std::uint32_t{p[1]} << 8 : 0);
            *o++ = alphabet[v >> 18];
            *o++ = alphabet[(v >> 12) & 63];
            *o++ = n == 2 ? alphabet[(v >> 6) & 63] : '=';
            *o++ = '=';
        }
        out_.push_back('"');
    }
    void headers(std::string_view k, const header_list& list) {
        key(k);
        out_.push_back('[');
        bool first = true;
        for (const auto& [name, value] : list) {
            if (!first) {
                out_.push_back(',');
            }
            first = false;
            out_.push_back('[');
            raw_string(name);
            out_.push_back(',');
            raw_string(value);
            out_.push_back(']');
        }
        out_.push_back(']');
    }
    void payload_field(const payload& p) {
        switch (p.encoding) {
        case payload_encoding::none: return;
        case payload_encoding::text:
            key("text");
            out_.push_back('"');
            if (p.valid_utf8) {
                append_valid_json_string_contents(out_, p.bytes);
            } else {
                append_json_string_contents(out_, p.bytes);
            }
            out_.push_back('"');
            break;
        case payload_encoding::hex: hex("hex", p.bytes); break;
        case payload_encoding::base64: base64("base64", p.bytes); break;
        }
        if (p.truncated) {
            boolean("truncated", true);
        }
    }
    void finish() { out_.append("}\n"); }
    std::string& out() noexcept { return out_; }

  private:
    std::string& out_;
    bool first_ = true;
};

void write_body(json_line& j, const handshake& h) {
    if (h.client)
        j.str("client", *h.client);
    if (h.upstream)
        j.str("upstream", *h.upstream);
    j.str("method", h.method);
    j.str("target", h.target);
    j.num("status", static_cast<std::uint64_t>(h.status));
    j.headers("request_headers", h.request_headers);
    j.headers("response_headers", h.response_headers);
    if (h.subprotocol)
        j.str("subprotocol", *h.subprotocol);
    else
        j.null("subprotocol");
    if (h.extensions)
        j.str("extensions", *h.extensions);
    else
        j.null("extensions");
    if (h.deflate) {
        std::string& out = j.key("deflate").out();
        json_line d(out);
        d.boolean("server_no_context_takeover", h.deflate->server_no_context_takeover);
        d.boolean("client_no_context_takeover", h.deflate->client_no_context_takeover);
        d.num("server_max_window_bits", h.deflate->server_max_window_bits);
        d.num("client_max_window_bits", h.deflate->client_max_window_bits);
        out.push_back('}');
    } else {
        j.null("deflate");
    }
    if (h.tls) {
        std::string& out = j.key("tls").out();
        json_line t(out);
        if (h.tls->client) {
            json_line c(t.key("client").out());
            c.str("version", h.tls->client->version);
            c.str("cipher", h.tls->client->cipher);
            out.push_back('}');
        }
        if (const auto& u = h.tls->upstream) {
            json_line c(t.key("upstream").out());
            c.str("version", u->version);
            c.str("cipher", u->cipher);
            if (u->server_name)
                c.str("server_name", *u->server_name);
            else
                c.null("server_name");
            c.str("subject", u->subject);
            c.str("issuer", u->issuer);
            c.boolean("verified", u->verified);
            out.push_back('}');
        }
        out.push_back('}');
    }
}

void write_body(json_line& j, const frame& f) {
    j.str("dir", to_string(f.dir));
    j.num("seq", f.seq);
    j.num("offset", f.offset);
    j.boolean("fin", f.fin);
    j.boolean("rsv1", f.rsv1);
    j.boolean("rsv2", f.rsv2);
    j.boolean("rsv3", f.rsv3);
    j.num("opcode", f.opcode);
    j.str("op", decoder::op_name(f.opcode));
    j.boolean("masked", f.masked);
    if (f.masked) {
        j.hex("mask", std::string_view{reinterpret_cast<const char*>(f.mask.data()), 4});
    }
    j.num("len", f.len);
    if (f.compressed) {
        j.boolean("compressed", true);
        j.num("data_len", f.data_len);
    }
    j.payload_field(f.data);
    if (f.close_code) {
        j.num("close_code", *f.close_code);
        j.str("close_reason", f.close_reason ? *f.close_reason : std::string_view{});
    }
}

void write_body(json_line& j, const message& m) {
    j.str("dir", to_string(m.dir));
    j.num("seq", m.seq);
    j.str("op", decoder::op_name(m.opcode));
    j.num("frames", m.frames);
    j.num("len", m.len);
    j.boolean("compressed", m.compressed);
    j.payload_field(m.data);
}

void write_body(json_line& j, const error& e) {
    j.str("code", to_string(e.code));
    j.str("message", e.message);
    j.boolean("fatal", e.fatal);
    if (e.dir)
        j.str("dir", to_string(*e.dir));
    if (e.offset)
        j.num("offset", *e.offset);
}

void write_body(json_line& j, const close& c) {
    j.str("reason", to_string(c.reason));
    j.num("bytes_c2s", c.bytes_c2s);
    j.num("bytes_s2c", c.bytes_s2c);
    j.num("frames_c2s", c.frames_c2s);
    j.num("frames_s2c", c.frames_s2c);
}

constexpr std::string_view type_name(const decltype(record::body)& body) noexcept {
    constexpr std::string_view names[] = {"handshake", "frame", "message", "error", "close"};
    return names[body.index()];
}

// One pass, written through a pointer into room reserved up front (six bytes per input byte at
// worst: \u00XX), shrunk once at the end. Runs that need nothing move eight bytes at a time.
template <bool Valid> void escape_into(std::string& out, std::string_view bytes) {
    const plain_table& table = Valid ? plain_utf8 : plain_ascii;
    // Bounded blocks keep the reserved room (and its zero-filling) small for large payloads.
    constexpr std::size_t block = 16 * 1024;
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const auto* const all_end = p + bytes.size();
    while (p < all_end) {
        const auto* const end =
            p + std::min<std::size_t>(block, static_cast<std::size_t>(all_end - p));
        const std::size_t at = out.size();
        out.resize(at + static_cast<std::size_t>(end - p) * 6);
        char* const first = &out[at];
        char* o = first;
        while (p < end) {
            while (end - p >= 8) {
                std::uint64_t w;
                std::memcpy(&w, p, sizeof w);
                constexpr std::uint64_t ones = 0x0101010101010101ULL;
                constexpr std::uint64_t highs = 0x8080808080808080ULL;
                const std::uint64_t quote = w ^ (ones * '"');
                const std::uint64_t backslash = w ^ (ones * '\\');
                std::uint64_t attention = ((w - ones * 0x20) & ~w) |         // < 0x20
                                          ((quote - ones) & ~quote) |        // == '"'
                                          ((backslash - ones) & ~backslash); // == '\\'
                if (!Valid) {
                    attention |= w; // >= 0x80
                }
                if ((attention & highs) != 0) {
                    break;
                }
                std::memcpy(o, p, 8);
                o += 8;
                p += 8;
            }
            if (p == end) {
                break;
            }
            const unsigned char b = *p;
            if (table.plain[b]) {
                *o++ = static_cast<char>(b);
                ++p;
                continue;
            }
            if (!Valid && b >= 0x80) {
                // A character may straddle the block's end: judge it against the whole input.
                const std::size_t seq = utf8_sequence(p, all_end);
                if (seq == 0) {
                    std::memcpy(o, "\xEF\xBF\xBD", 3); // U+FFFD REPLACEMENT CHARACTER
                    o += 3;
                    ++p;
                } else {
                    std::memcpy(o, p, seq); // at most 4 bytes into room for 6 per byte
                    o += seq;
                    p += seq;
                }
                continue;
            }
            *o++ = '\\';
            switch (b) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex_digits[b >> 4];
                *o++ = hex_digits[b & 0xF];
            }
            ++p;
        }
        out.resize(at + static_cast<std::size_t>(o - first));
    }
}

} // namespace

void append_json_string_contents(std::string& out, std::string_view bytes) {
    escape_into<false>(out, bytes);
}

void append_valid_json_string_contents(std::string& out, std::string_view utf8) {
    escape_into<true>(out, utf8);
}

namespace {

// gmtime_r and the date digits change once a second: keep the last second's prefix.
struct second_prefix {
    long long second = -1;
    char text[20]; // "2026-11-26T19:05:53."
};

void two_digits(char* o, int v) {
    o[0] = static_cast<char>('0' + v / 10);
    o[1] = static_cast<char>('0' + v % 10);
}

} // namespace

void append_timestamp(std::string& out, timestamp ts) {
    using namespace std::chrono;
    const auto us = duration_cast<microseconds>(ts.time_since_epoch()).count();
    long long secs = us / 1000000;
    long long micros = us % 1000000;
    if (micros < 0) {
        micros += 1000000;
        --secs;
    }
    thread_local second_prefix cache;
    if (cache.second != secs) {
        const auto t = static_cast<std::time_t>(secs);
        std::tm tm{};
        gmtime_r(&t, &tm);
        const int year = tm.tm_year + 1900;
        two_digits(cache.text, year / 100);
        two_digits(cache.text + 2, year % 100);
        cache.text[4] = '-';
        two_digits(cache.text + 5, tm.tm_mon + 1);
        cache.text[7] = '-';
        two_digits(cache.text + 8, tm.tm_mday);
        cache.text[10] = 'T';
        two_digits(cache.text + 11, tm.tm_hour);
        cache.text[13] = ':';
        two_digits(cache.text + 14, tm.tm_min);
        cache.text[16] = ':';
        two_digits(cache.text + 17, tm.tm_sec);
        cache.text[19] = '.';
        cache.second = secs;
    }
    char text[27];
    std::memcpy(text, cache.text, sizeof cache.text);
    auto m = static_cast<int>(micros);
    for (int i = 25; i >= 20; --i) {
        text[i] = static_cast<char>('0' + m % 10);
        m /= 10;
    }
    text[26] = 'Z';
    out.append(text, sizeof text);
}

void append_ndjson(std::string& out, const record& r) {
    json_line j(out);
    j.str("type", type_name(r.body));
    j.num("conn", r.conn);
    if (r.ts) {
        j.key("ts");
        out.push_back('"');
        append_timestamp(out, *r.ts);
        out.push_back('"');
    }
    std::visit([&j](const auto& body) { write_body(j, body); }, r.body);
    j.finish();
}

ndjson_sink::ndjson_sink(std::FILE* out, bool flush_each_record)
    : out_(out), flush_each_record_(flush_each_record) {}

ndjson_sink::~ndjson_sink() {
    flush();
}

void ndjson_sink::write(record&& r) {
    line_.clear();
    append_ndjson(line_, r);
    if (std::fwrite(line_.data(), 1, line_.size(), out_) != line_.size()) {
        ok_ = false;
    }
    if (flush_each_record_) {
        flush();
    }
}

bool ndjson_sink::flush() {
    if (std::fflush(out_) != 0) {
        ok_ = false;
    }
    return ok_;
}

} // namespace wssniff::record

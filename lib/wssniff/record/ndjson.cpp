#include "wssniff/record/ndjson.hpp"

#include "wssniff/decoder/opcode.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cstring>
#include <ctime>

namespace wssniff::record {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

// Both hex digits of every byte value, so a byte costs one two-byte copy.
struct hex_pair_table {
    char text[512] = {};
    constexpr hex_pair_table() {
        for (int b = 0; b < 256; ++b) {
            text[b * 2] = hex_digits[b >> 4];
            text[b * 2 + 1] = hex_digits[b & 0xF];
        }
    }
};
constexpr hex_pair_table hex_pairs;

// Two hex digits per byte of [p, end) at `o`; returns the end of what was written. SSE2 (every
// x86-64 has it) does sixteen bytes at a time: split into nibbles, '0' + n, 39 more for a-f,
// then interleave the high and low digits.
char* put_hex(char* o, const unsigned char* p, const unsigned char* end) noexcept {
#if defined(__SSE2__)
    const __m128i low_nibbles = _mm_set1_epi8(0x0F);
    const __m128i nine = _mm_set1_epi8(9);
    const __m128i zero_char = _mm_set1_epi8('0');
    const __m128i to_letter = _mm_set1_epi8('a' - '0' - 10);
    const auto digits = [&](__m128i n) {
        const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(n, nine), to_letter);
        return _mm_add_epi8(_mm_add_epi8(n, zero_char), letter);
    };
    for (; end - p >= 16; p += 16, o += 32) {
        const __m128i in = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i high = digits(_mm_and_si128(_mm_srli_epi16(in, 4), low_nibbles));
        const __m128i low = digits(_mm_and_si128(in, low_nibbles));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm_unpacklo_epi8(high, low));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 16), _mm_unpackhi_epi8(high, low));
    }
#endif
    for (; p < end; ++p, o += 2) {
        std::memcpy(o, &hex_pairs.text[*p * 2], 2);
    }
    return o;
}

constexpr char two_digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

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

// Escapes [p, end) into `o`, which has room for six bytes per input byte (\u00XX at worst);
// returns the end of what was written and moves `p` past what was consumed. A multi-byte
// character that starts before `end` is judged against `all_end` and taken whole, so `p` may end
// up to three bytes beyond `end` (its output still fits: at most four bytes for the one byte the
// room was counted for). Runs that need nothing move eight bytes at a time.
template <bool Valid>
char* escape(char* o, const unsigned char*& p, const unsigned char* end,
             const unsigned char* all_end) noexcept {
    const plain_table& table = Valid ? plain_utf8 : plain_ascii;
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
            attention &= highs;
            std::memcpy(o, p, 8); // room for 48 bytes here; only the plain prefix counts
            if (attention != 0) {
                // The lowest flag is exact (a borrow only runs upwards from a real match):
                // skip the plain bytes before it at once, not one at a time.
                const auto plain = static_cast<std::size_t>(__builtin_ctzll(attention)) / 8;
                o += plain;
                p += plain;
                break;
            }
            o += 8;
            p += 8;
        }
        if (p >= end) {
            break;
        }
        const unsigned char b = *p;
        if (table.plain[b]) {
            *o++ = static_cast<char>(b);
            ++p;
            continue;
        }
        if (!Valid && b >= 0x80) {
            const std::size_t seq = utf8_sequence(p, all_end);
            if (seq == 0) {
                std::memcpy(o, "\xEF\xBF\xBD", 3); // U+FFFD REPLACEMENT CHARACTER
                o += 3;
                ++p;
            } else {
                std::memcpy(o, p, seq);
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
    return o;
}

// Payloads are encoded in blocks, so the room reserved ahead (six bytes per byte for text) stays
// small however large the payload.
constexpr std::size_t block_size = 16 * 1024;

char* put_timestamp(char* o, timestamp ts) noexcept;

// Writes one line into a line_buffer through a raw pointer. Every method that writes first makes
// room for the most it can write (a compare, and rarely a reallocation); literal keys carry
// their quotes, colon and leading comma, so most fields are one memcpy and a number.
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
            o_ =
                valid_utf8 ? escape<true>(o_, p, end, all_end) : escape<false>(o_, p, end, all_end);
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
            // A local pointer: stores through char* may alias the member, which would make the
            // compiler reload and store o_ for every byte.
            o_ = put_hex(o_, p, end);
            p = end;
        }
        room(1);
        *o_++ = '"';
    }
    template <std::size_t N> void base64(const char (&key)[N], std::string_view bytes) {
        static constexpr char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        room(N + 1);
        lit(key);
        *o_++ = '"';
        const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
        std::size_t n = bytes.size();
        while (n >= 3) {
            // Whole groups of three bytes per block, so padding can only come at the very end.
            const std::size_t groups = std::min<std::size_t>(n / 3, block_size / 3);
            room(groups * 4);
            char* o = o_; // see hex()
            for (std::size_t g = 0; g < groups; ++g, p += 3, o += 4) {
                const std::uint32_t v =
                    (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
                o[0] = alphabet[v >> 18];
                o[1] = alphabet[(v >> 12) & 63];
                o[2] = alphabet[(v >> 6) & 63];
                o[3] = alphabet[v & 63];
            }
            o_ = o;
            n -= groups * 3;
        }
        room(5);
        if (n > 0) {
            const std::uint32_t v =
                (std::uint32_t{p[0]} << 16) | (n == 2 ? std::uint32_t{p[1]} << 8 : 0);
            *o_++ = alphabet[v >> 18];
            *o_++ = alphabet[(v >> 12) & 63];
            *o_++ = n == 2 ? alphabet[(v >> 6) & 63] : '=';
            *o_++ = '=';
        }
        *o_++ = '"';
    }
    void timestamp_field(timestamp ts) {
        room(40);
        lit(R"(,"ts":")");
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

void write_body(line_writer& w, const handshake& h) {
    if (h.client)
        w.str(R"(,"client":)", *h.client);
    if (h.upstream)
        w.str(R"(,"upstream":)", *h.upstream);
    w.str(R"(,"method":)", h.method);
    w.str(R"(,"target":)", h.target);
    w.num(R"(,"status":)", static_cast<std::uint64_t>(h.status));
    w.headers(R"(,"request_headers":)", h.request_headers);
    w.headers(R"(,"response_headers":)", h.response_headers);
    if (h.subprotocol)
        w.str(R"(,"subprotocol":)", *h.subprotocol);
    else
        w.null(R"(,"subprotocol":)");
    if (h.extensions)
        w.str(R"(,"extensions":)", *h.extensions);
    else
        w.null(R"(,"extensions":)");
    if (const auto& d = h.deflate) {
        w.boolean(R"(,"deflate":{"server_no_context_takeover":)", d->server_no_context_takeover);
        w.boolean(R"(,"client_no_context_takeover":)", d->client_no_context_takeover);
        w.num(R"(,"server_max_window_bits":)", d->server_max_window_bits);
        w.num(R"(,"client_max_window_bits":)", d->client_max_window_bits);
        w.punct("}");
    } else {
        w.null(R"(,"deflate":)");
    }
    if (h.tls) {
        w.punct(R"(,"tls":{)");
        if (const auto& c = h.tls->client) {
            w.str(R"("client":{"version":)", c->version);
            w.str(R"(,"cipher":)", c->cipher);
            w.punct("}");
        }
        if (const auto& u = h.tls->upstream) {
            if (h.tls->client) {
                w.punct(",");
            }
            w.str(R"("upstream":{"version":)", u->version);
            w.str(R"(,"cipher":)", u->cipher);
            if (u->server_name)
                w.str(R"(,"server_name":)", *u->server_name);
            else
                w.null(R"(,"server_name":)");
            w.str(R"(,"subject":)", u->subject);
            w.str(R"(,"issuer":)", u->issuer);
            w.boolean(R"(,"verified":)", u->verified);
            w.punct("}");
        }
        w.punct("}");
    }
}

void write_body(line_writer& w, const frame& f) {
    w.name(R"(,"dir":)", to_string(f.dir));
    w.num(R"(,"seq":)", f.seq);
    w.num(R"(,"offset":)", f.offset);
    w.boolean(R"(,"fin":)", f.fin);
    w.boolean(R"(,"rsv1":)", f.rsv1);
    w.boolean(R"(,"rsv2":)", f.rsv2);
    w.boolean(R"(,"rsv3":)", f.rsv3);
    w.num(R"(,"opcode":)", f.opcode);
    w.name(R"(,"op":)", decoder::op_name(f.opcode));
    w.boolean(R"(,"masked":)", f.masked);
    if (f.masked) {
        w.hex(R"(,"mask":)", std::string_view{reinterpret_cast<const char*>(f.mask.data()), 4});
    }
    w.num(R"(,"len":)", f.len);
    if (f.compressed) {
        w.boolean(R"(,"compressed":)", true);
        w.num(R"(,"data_len":)", f.data_len);
    }
    w.payload_field(f.data);
    if (f.close_code) {
        w.num(R"(,"close_code":)", *f.close_code);
        w.str(R"(,"close_reason":)", f.close_reason ? *f.close_reason : std::string_view{});
    }
}

void write_body(line_writer& w, const message& m) {
    w.name(R"(,"dir":)", to_string(m.dir));
    w.num(R"(,"seq":)", m.seq);
    w.name(R"(,"op":)", decoder::op_name(m.opcode));
    w.num(R"(,"frames":)", m.frames);
    w.num(R"(,"len":)", m.len);
    w.boolean(R"(,"compressed":)", m.compressed);
    w.payload_field(m.data);
}

void write_body(line_writer& w, const error& e) {
    w.name(R"(,"code":)", to_string(e.code));
    w.str(R"(,"message":)", e.message);
    w.boolean(R"(,"fatal":)", e.fatal);
    if (e.dir)
        w.name(R"(,"dir":)", to_string(*e.dir));
    if (e.offset)
        w.num(R"(,"offset":)", *e.offset);
}

void write_body(line_writer& w, const close& c) {
    w.name(R"(,"reason":)", to_string(c.reason));
    w.num(R"(,"bytes_c2s":)", c.bytes_c2s);
    w.num(R"(,"bytes_s2c":)", c.bytes_s2c);
    w.num(R"(,"frames_c2s":)", c.frames_c2s);
    w.num(R"(,"frames_s2c":)", c.frames_s2c);
}

constexpr std::string_view type_name(const decltype(record::body)& body) noexcept {
    constexpr std::string_view names[] = {"handshake", "frame", "message", "error", "close"};
    return names[body.index()];
}

template <bool Valid> void escape_into(std::string& out, std::string_view bytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const auto* const all_end = p + bytes.size();
    while (p < all_end) {
        const auto* const end =
            p + std::min<std::size_t>(block_size, static_cast<std::size_t>(all_end - p));
        const std::size_t at = out.size();
        out.resize(at + static_cast<std::size_t>(end - p) * 6);
        char* const first = &out[at];
        char* const last = escape<Valid>(first, p, end, all_end);
        out.resize(at + static_cast<std::size_t>(last - first));
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

char* put_timestamp(char* o, timestamp ts) noexcept {
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
    std::memcpy(o, cache.text, sizeof cache.text);
    const auto m = static_cast<unsigned>(micros);
    std::memcpy(o + 20, &two_digit_pairs[m / 10000 * 2], 2);
    std::memcpy(o + 22, &two_digit_pairs[m / 100 % 100 * 2], 2);
    std::memcpy(o + 24, &two_digit_pairs[m % 100 * 2], 2);
    o[26] = 'Z';
    return o + 27;
}

} // namespace

void append_timestamp(std::string& out, timestamp ts) {
    char text[27];
    put_timestamp(text, ts);
    out.append(text, sizeof text);
}

void line_buffer::clear(std::size_t keep) noexcept {
    size_ = 0;
    if (capacity_ > keep) {
        data_.reset();
        capacity_ = 0;
    }
}

char* line_buffer::reserve(std::size_t n) {
    if (capacity_ - size_ < n) {
        const std::size_t capacity = std::max({capacity_ * 2, size_ + n, std::size_t{4096}});
        std::unique_ptr<char[]> grown(new char[capacity]); // not zero-filled: written before read
        if (size_ > 0) {
            std::memcpy(grown.get(), data_.get(), size_);
        }
        data_ = std::move(grown);
        capacity_ = capacity;
    }
    return data_.get() + size_;
}

void append_ndjson(line_buffer& out, const record& r) {
    line_writer w(out);
    w.name(R"({"type":)", type_name(r.body));
    w.num(R"(,"conn":)", r.conn);
    if (r.ts) {
        w.timestamp_field(*r.ts);
    }
    std::visit([&w](const auto& body) { write_body(w, body); }, r.body);
    w.finish();
}

void append_ndjson(std::string& out, const record& r) {
    thread_local line_buffer line;
    line.clear();
    append_ndjson(line, r);
    out.append(line.view());
}

ndjson_sink::ndjson_sink(std::FILE* out, bool flush_each_record)
    : out_(out), flush_each_record_(flush_each_record) {}

ndjson_sink::~ndjson_sink() {
    // Only lines still held: after an explicit flush() the owner may have closed the stream,
    // which must not be touched again.
    if (!lines_.empty()) {
        flush();
    }
}

void ndjson_sink::write(record&& r) {
    append_ndjson(lines_, r);
    if (flush_each_record_) {
        flush();
    } else if (lines_.size() >= 64 * 1024) {
        drain();
    }
}

void ndjson_sink::drain() {
    if (!lines_.empty() && std::fwrite(lines_.data(), 1, lines_.size(), out_) != lines_.size()) {
        failed(errno);
    }
    lines_.clear();
}

bool ndjson_sink::flush() {
    drain();
    if (std::fflush(out_) != 0) {
        failed(errno);
    }
    return ok_;
}

void ndjson_sink::failed(int error_number) {
    if (!ok_) {
        return;
    }
    ok_ = false;
    error_ = std::error_code(error_number != 0 ? error_number : EIO, std::generic_category());
    if (on_failure_) {
        on_failure_(error_);
    }
}

} // namespace wssniff::record

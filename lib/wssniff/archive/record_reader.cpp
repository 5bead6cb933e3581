#include "wssniff/archive/record_reader.hpp"

#include "wssniff/archive/payload_text.hpp"
#include "wssniff/base/opcode.hpp"

#include <simdjson.h>

#include <fmt/format.h>

#include <cerrno>
#include <fcntl.h>
#include <system_error>
#include <unistd.h>

namespace wssniff::archive {

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

// Thrown inside one line's conversion; the reader adds the archive's name and line number.
struct bad_line {
    std::string what;
};

[[noreturn]] void fail(std::string what) {
    throw bad_line{std::move(what)};
}

std::string_view as_string(element v, std::string_view key) {
    std::string_view s;
    if (v.get_string().get(s) != simdjson::SUCCESS) {
        fail(fmt::format("field \"{}\" is not a string", key));
    }
    return s;
}

std::optional<std::string> as_optional_string(element v, std::string_view key) {
    if (v.is_null()) {
        return std::nullopt;
    }
    return std::string{as_string(v, key)};
}

std::uint64_t as_unsigned(element v, std::string_view key) {
    std::uint64_t n = 0;
    if (v.get_uint64().get(n) != simdjson::SUCCESS) {
        fail(fmt::format("field \"{}\" is not an unsigned integer", key));
    }
    return n;
}

std::uint64_t as_bounded(element v, std::string_view key, std::uint64_t max) {
    const auto n = as_unsigned(v, key);
    if (n > max) {
        fail(fmt::format("field \"{}\" is {}, more than {}", key, n, max));
    }
    return n;
}

bool as_bool(element v, std::string_view key) {
    bool b = false;
    if (v.get_bool().get(b) != simdjson::SUCCESS) {
        fail(fmt::format("field \"{}\" is not true or false", key));
    }
    return b;
}

object as_object(element v, std::string_view key) {
    object o;
    if (v.get_object().get(o) != simdjson::SUCCESS) {
        fail(fmt::format("field \"{}\" is not an object", key));
    }
    return o;
}

direction as_direction(element v) {
    const auto s = as_string(v, "dir");
    if (s == "c2s") {
        return direction::c2s;
    }
    if (s == "s2c") {
        return direction::s2c;
    }
    fail(fmt::format("field \"dir\" is \"{}\", not \"c2s\" or \"s2c\"", s));
}

error_code as_error_code(element v) {
    const auto s = as_string(v, "code");
#define XX(id, message, close_code)                                                                \
    if (s == #id) {                                                                                \
        return error_code::id;                                                                     \
    }
    WSSNIFF_ERROR_CODES(XX)
#undef XX
    fail(fmt::format("error code \"{}\" is unknown to this wssniff", s));
}

record::close_reason as_close_reason(element v) {
    const auto s = as_string(v, "reason");
    using record::close_reason;
    for (auto r :
         {close_reason::client_closed, close_reason::server_closed, close_reason::client_reset,
          close_reason::server_reset, close_reason::upstream_unreachable, close_reason::timeout,
          close_reason::shutdown, close_reason::end_of_input}) {
        if (to_string(r) == s) {
            return r;
        }
    }
    fail(fmt::format("close reason \"{}\" is unknown to this wssniff", s));
}

record::header_list as_headers(element v, std::string_view key) {
    simdjson::dom::array rows;
    if (v.get_array().get(rows) != simdjson::SUCCESS) {
        fail(fmt::format("field \"{}\" is not an array", key));
    }
    record::header_list out;
    for (element row : rows) {
        simdjson::dom::array pair;
        if (row.get_array().get(pair) != simdjson::SUCCESS || pair.size() != 2) {
            fail(fmt::format("field \"{}\" holds something other than [name, value] pairs", key));
        }
        out.emplace_back(std::string{as_string(pair.at(0).value_unsafe(), key)},
                         std::string{as_string(pair.at(1).value_unsafe(), key)});
    }
    return out;
}

// A payload field: returns true when `key` was one.
bool read_payload(std::string_view key, element v, record::payload& p) {
    using record::payload_encoding;
    if (key == "text") {
        p.encoding = payload_encoding::text;
        p.bytes = std::string{as_string(v, key)};
        p.valid_utf8 = true; // JSON strings are UTF-8
    } else if (key == "hex") {
        p.encoding = payload_encoding::hex;
        auto bytes = decode_hex(as_string(v, key));
        if (!bytes) {
            fail("field \"hex\" is not pairs of hex digits");
        }
        p.bytes = std::move(*bytes);
    } else if (key == "base64") {
        p.encoding = payload_encoding::base64;
        auto bytes = decode_base64(as_string(v, key));
        if (!bytes) {
            fail("field \"base64\" is not padded standard base64");
        }
        p.bytes = std::move(*bytes);
    } else if (key == "truncated") {
        p.truncated = as_bool(v, key);
    } else {
        return false;
    }
    return true;
}

record::deflate_record as_deflate(element v) {
    record::deflate_record d;
    for (auto [key, value] : as_object(v, "deflate")) {
        if (key == "server_no_context_takeover") {
            d.server_no_context_takeover = as_bool(value, key);
        } else if (key == "client_no_context_takeover") {
            d.client_no_context_takeover = as_bool(value, key);
        } else if (key == "server_max_window_bits") {
            d.server_max_window_bits = static_cast<std::uint8_t>(as_bounded(value, key, 15));
        } else if (key == "client_max_window_bits") {
            d.client_max_window_bits = static_cast<std::uint8_t>(as_bounded(value, key, 15));
        }
    }
    return d;
}

void read_leg(object o, tls_leg& leg) {
    for (auto [key, value] : o) {
        if (key == "version") {
            leg.version = std::string{as_string(value, key)};
        } else if (key == "cipher") {
            leg.cipher = std::string{as_string(value, key)};
        }
    }
}

record::tls_info as_tls(element v) {
    record::tls_info t;
    for (auto [key, value] : as_object(v, "tls")) {
        if (key == "client") {
            read_leg(as_object(value, key), t.client.emplace());
        } else if (key == "upstream") {
            auto& u = t.upstream.emplace();
            const auto o = as_object(value, key);
            read_leg(o, u);
            for (auto [k, field] : o) {
                if (k == "server_name") {
                    u.server_name = as_optional_string(field, k);
                } else if (k == "subject") {
                    u.subject = std::string{as_string(field, k)};
                } else if (k == "issuer") {
                    u.issuer = std::string{as_string(field, k)};
                } else if (k == "verified") {
                    u.verified = as_bool(field, k);
                }
            }
        }
    }
    return t;
}

void read_field(std::string_view key, element v, record::handshake& h) {
    if (key == "client") {
        h.client = as_optional_string(v, key);
    } else if (key == "upstream") {
        h.upstream = as_optional_string(v, key);
    } else if (key == "request_ts") {
        h.request_ts = parse_timestamp(as_string(v, key));
        if (!h.request_ts) {
            fail("field \"request_ts\" is not an RFC 3339 UTC time");
        }
    } else if (key == "method") {
        h.method = std::string{as_string(v, key)};
    } else if (key == "target") {
        h.target = std::string{as_string(v, key)};
    } else if (key == "status") {
        h.status = static_cast<int>(as_bounded(v, key, 999));
    } else if (key == "request_headers") {
        h.request_headers = as_headers(v, key);
    } else if (key == "response_headers") {
        h.response_headers = as_headers(v, key);
    } else if (key == "subprotocol") {
        h.subprotocol = as_optional_string(v, key);
    } else if (key == "extensions") {
        h.extensions = as_optional_string(v, key);
    } else if (key == "deflate") {
        if (!v.is_null()) {
            h.deflate = as_deflate(v);
        }
    } else if (key == "tls") {
        h.tls = as_tls(v);
    } else if (key == "proxy") {
        auto& hop = h.proxy.emplace();
        for (auto [k, field] : as_object(v, key)) {
            if (k == "mode") {
                hop.mode = std::string{as_string(field, k)};
            } else if (k == "authority") {
                hop.authority = std::string{as_string(field, k)};
            }
        }
    }
}

void read_field(std::string_view key, element v, record::frame& f) {
    if (key == "dir") {
        f.dir = as_direction(v);
    } else if (key == "seq") {
        f.seq = as_unsigned(v, key);
    } else if (key == "offset") {
        f.offset = as_unsigned(v, key);
    } else if (key == "fin") {
        f.fin = as_bool(v, key);
    } else if (key == "rsv1") {
        f.rsv1 = as_bool(v, key);
    } else if (key == "rsv2") {
        f.rsv2 = as_bool(v, key);
    } else if (key == "rsv3") {
        f.rsv3 = as_bool(v, key);
    } else if (key == "opcode") {
        f.opcode = static_cast<std::uint8_t>(as_bounded(v, key, 15));
    } else if (key == "masked") {
        f.masked = as_bool(v, key);
    } else if (key == "mask") {
        const auto mask = decode_hex(as_string(v, key));
        if (!mask || mask->size() != 4) {
            fail("field \"mask\" is not 8 hex digits");
        }
        for (std::size_t i = 0; i < 4; ++i) {
            f.mask[i] = static_cast<std::uint8_t>((*mask)[i]);
        }
    } else if (key == "len") {
        f.len = as_unsigned(v, key);
    } else if (key == "compressed") {
        f.compressed = as_bool(v, key);
    } else if (key == "data_len") {
        f.data_len = as_unsigned(v, key);
    } else if (key == "close_code") {
        f.close_code = static_cast<std::uint16_t>(as_bounded(v, key, 0xffff));
    } else if (key == "close_reason") {
        f.close_reason = std::string{as_string(v, key)};
    } else {
        read_payload(key, v, f.data);
    }
}

void read_field(std::string_view key, element v, record::message& m) {
    if (key == "dir") {
        m.dir = as_direction(v);
    } else if (key == "seq") {
        m.seq = as_unsigned(v, key);
    } else if (key == "op") {
        const auto op = as_string(v, key);
        if (op == "text") {
            m.opcode = to_raw(wssniff::opcode::text);
        } else if (op == "binary") {
            m.opcode = to_raw(wssniff::opcode::binary);
        } else {
            fail(fmt::format("message \"op\" is \"{}\", not \"text\" or \"binary\"", op));
        }
    } else if (key == "frames") {
        m.frames = as_unsigned(v, key);
    } else if (key == "len") {
        m.len = as_unsigned(v, key);
    } else if (key == "compressed") {
        m.compressed = as_bool(v, key);
    } else {
        read_payload(key, v, m.data);
    }
}

void read_field(std::string_view key, element v, record::error& e) {
    if (key == "code") {
        e.code = as_error_code(v);
    } else if (key == "message") {
        e.message = std::string{as_string(v, key)};
    } else if (key == "fatal") {
        e.fatal = as_bool(v, key);
    } else if (key == "dir") {
        e.dir = as_direction(v);
    } else if (key == "offset") {
        e.offset = as_unsigned(v, key);
    }
}

void read_field(std::string_view key, element v, record::close& c) {
    if (key == "reason") {
        c.reason = as_close_reason(v);
    } else if (key == "bytes_c2s") {
        c.bytes_c2s = as_unsigned(v, key);
    } else if (key == "bytes_s2c") {
        c.bytes_s2c = as_unsigned(v, key);
    } else if (key == "frames_c2s") {
        c.frames_c2s = as_unsigned(v, key);
    } else if (key == "frames_s2c") {
        c.frames_s2c = as_unsigned(v, key);
    }
}

record::record_body body_for(std::string_view type) {
    if (type == "frame") {
        return record::frame{};
    }
    if (type == "message") {
        return record::message{};
    }
    if (type == "handshake") {
        return record::handshake{};
    }
    if (type == "error") {
        return record::error{};
    }
    if (type == "close") {
        return record::close{};
    }
    fail(fmt::format("record type \"{}\" is unknown to this wssniff", type));
}

record::record to_record(element doc) {
    object o;
    if (doc.get_object().get(o) != simdjson::SUCCESS) {
        fail("line is not a JSON object");
    }
    element type;
    if (o["type"].get(type) != simdjson::SUCCESS) {
        fail("record has no \"type\" field");
    }
    record::record r;
    r.body = body_for(as_string(type, "type"));
    bool has_conn = false;
    for (auto [key, value] : o) {
        if (key == "type") {
            continue;
        }
        if (key == "conn") {
            r.conn = as_unsigned(value, key);
            has_conn = true;
        } else if (key == "ts") {
            r.ts = parse_timestamp(as_string(value, key));
            if (!r.ts) {
                fail("field \"ts\" is not an RFC 3339 UTC time");
            }
        } else {
            std::visit([&](auto& body) { read_field(key, value, body); }, r.body);
        }
    }
    if (!has_conn) {
        fail("record has no \"conn\" field");
    }
    return r;
}

} // namespace

format_error::format_error(const std::string& where, std::uint64_t line, const std::string& what)
    : std::runtime_error(line > 0 ? fmt::format("{}:{}: {}", where, line, what)
                                  : fmt::format("{}: {}", where, what)),
      line_(line) {}

struct record_reader::parser {
    simdjson::dom::parser dom;
};

record_reader::record_reader(int fd, std::string name)
    : lines_(fd, std::move(name), simdjson::SIMDJSON_PADDING), parser_(std::make_unique<parser>()) {
}

namespace {
int open_for_reading(const std::string& path) {
    if (path == "-") {
        return -1;
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw std::system_error(errno, std::generic_category(), path);
    }
    return fd;
}
} // namespace

record_reader::record_reader(const std::string& path)
    : owned_fd_(open_for_reading(path)),
      lines_(owned_fd_ < 0 ? STDIN_FILENO : owned_fd_, path == "-" ? "<stdin>" : path,
             simdjson::SIMDJSON_PADDING),
      parser_(std::make_unique<parser>()) {}

record_reader::~record_reader() {
    if (owned_fd_ >= 0) {
        ::close(owned_fd_);
    }
}

std::optional<entry> record_reader::next() {
    for (;;) {
        const auto line = lines_.next();
        if (!line) {
            return std::nullopt;
        }
        if (line->find_first_not_of(" \t\r") == std::string_view::npos) {
            continue;
        }
        element doc;
        // The line source leaves SIMDJSON_PADDING readable bytes after every line.
        const auto err = parser_->dom.parse(line->data(), line->size(), false).get(doc);
        if (err != simdjson::SUCCESS) {
            throw format_error(lines_.name(), lines_.line_number(),
                               fmt::format("not valid JSON ({})", simdjson::error_message(err)));
        }
        try {
            return entry{lines_.line_number(), to_record(doc)};
        } catch (const bad_line& e) {
            throw format_error(lines_.name(), lines_.line_number(), e.what);
        }
    }
}

record::record parse_record(std::string_view json) {
    simdjson::dom::parser p;
    element doc;
    const auto err = p.parse(json.data(), json.size(), true).get(doc);
    if (err != simdjson::SUCCESS) {
        throw format_error("record", 0,
                           fmt::format("not valid JSON ({})", simdjson::error_message(err)));
    }
    try {
        return to_record(doc);
    } catch (const bad_line& e) {
        throw format_error("record", 0, e.what);
    }
}

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (i >= s.size() || s[i] < '0' || s[i] > '9') {
            return false;
        }
        out = out * 10 + (s[i] - '0');
    }
    return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy =
        (153 * static_cast<unsigned>(m + (m > 2 ? -3 : 9)) + 2) / 5 + static_cast<unsigned>(d) - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

} // namespace

std::optional<record::timestamp> parse_timestamp(std::string_view s) noexcept {
    // YYYY-MM-DDTHH:MM:SS[.ffffff]Z
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
    if (s.size() < 20 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) ||
        s[7] != '-' || !digits(s, 8, 2, d) || s[10] != 'T' || !digits(s, 11, 2, h) ||
        s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, se) ||
        s.back() != 'Z' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) {
        return std::nullopt;
    }
    std::int64_t micros = 0;
    if (s.size() > 20) {
        if (s[19] != '.' || s.size() - 21 > 6 || s.size() == 21) {
            return std::nullopt;
        }
        int frac = 0;
        const std::size_t n = s.size() - 21;
        if (!digits(s, 20, n, frac)) {
            return std::nullopt;
        }
        micros = frac;
        for (std::size_t i = n; i < 6; ++i) {
            micros *= 10;
        }
    }
    const std::int64_t seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return record::timestamp{std::chrono::duration_cast<record::timestamp::duration>(
        std::chrono::microseconds{seconds * 1000000 + micros})};
}

} // namespace wssniff::archive

// Differential fuzz target for the HTTP head parser (handshake/http_head): a byte stream is
// parsed as heads one after another, as the session does on a connection (a head, then what
// follows it, then the next head), once fed whole and again in chunks whose sizes come from the
// input. Both must find the same heads, consume the same bytes and fail the same way; each head
// found must be well formed, and the parser must never hold more than its size limit.
//
// Input layout (every byte string is a valid input):
//   [0]      options: bit 0 response heads (else requests), bit 1 the size limit is byte [1]
//            (else the default, 64 KiB)
//   [1]      size limit when bit 1 is set: 0..255 bytes
//   [2]      k = count of chunk sizes (mod 17)
//   [3..3+k) chunk sizes, each byte b meaning b + 1 bytes; k = 0 feeds one byte at a time
//   ...      the stream

#include "fuzz_support.hpp"

#include "wssniff/handshake/http_head.hpp"
#include "wssniff/handshake/text.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using wssniff::bytes_view;
using wssniff::handshake::head_parser;
using wssniff::handshake::http_head;

[[noreturn]] void fail(const char* property, std::string_view detail = {}) {
    wssniff::fuzz::fail("http_head_fuzz", property, detail);
}

struct fuzz_input {
    head_parser::kind kind = head_parser::kind::request;
    std::size_t max_size = head_parser::default_max_size;
    std::vector<std::size_t> chunk_sizes;
    bytes_view stream;
};

fuzz_input split(const std::uint8_t* data, std::size_t size) {
    fuzz_input in;
    wssniff::fuzz::input_reader input(data, size);
    const std::uint8_t flags = input.byte();
    in.kind = (flags & 0x01u) != 0 ? head_parser::kind::response : head_parser::kind::request;
    const std::uint8_t limit = input.byte();
    if ((flags & 0x02u) != 0) {
        in.max_size = limit;
    }
    in.chunk_sizes = input.chunk_sizes();
    in.stream = input.rest();
    return in;
}

bool is_token(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
    });
}

// A head the parser accepted, checked on its own and printed in one canonical form.
void describe_head(const fuzz_input& in, const http_head& h, std::string& out) {
    if (h.version.size() != 8 || h.version.compare(0, 5, "HTTP/") != 0) {
        fail("accepted head has a bad version", h.version);
    }
    if (in.kind == head_parser::kind::request) {
        if (!is_token(h.method) || h.target.empty() || h.status != 0) {
            fail("accepted request line is not METHOD TARGET VERSION", h.method + " " + h.target);
        }
    } else if (h.status < 0 || h.status > 999 || !h.method.empty()) {
        fail("accepted status line has a bad code", std::to_string(h.status));
    }
    out += h.method + '|' + h.target + '|' + std::to_string(h.status) + '|' + h.reason + '|' +
           h.version + '\n';
    for (const auto& [name, value] : h.fields) {
        if (!is_token(name)) {
            fail("a header field name is not a token", name);
        }
        if (value.find('\n') != std::string::npos ||
            wssniff::handshake::trim(value).size() != value.size()) {
            fail("a header field value holds a line end or untrimmed whitespace", value);
        }
        // The lookups agree with the list: the first field of a name is what find() gives,
        // and each comma-separated element of its value is a token of that name.
        const std::string* first = h.find(name);
        if (first == nullptr) {
            fail("find() misses a field that is there", name);
        }
        const auto joined = h.joined(name);
        if (!joined || joined->find(value) == std::string::npos) {
            fail("joined() lacks a value of its field", name);
        }
        std::string_view rest = value;
        while (!rest.empty()) {
            const std::size_t comma = rest.find(',');
            const std::string_view element = wssniff::handshake::trim(rest.substr(0, comma));
            if (!element.empty() && !h.has_token(name, element)) {
                fail("has_token() misses an element of the field's list", value);
            }
            if (comma == std::string_view::npos) {
                break;
            }
            rest.remove_prefix(comma + 1);
        }
        out += name + ": " + value + '\n';
    }
}

// Parses heads one after another from `stream` cut by `sizes` (cycled), as a session does; what
// was found, consumed and rejected is returned as text for the comparison.
std::string run(const fuzz_input& in, const std::vector<std::size_t>& sizes) {
    std::string out;
    head_parser parser(in.kind, in.max_size);
    std::size_t pos = 0;
    std::size_t head_start = 0;
    wssniff::fuzz::chunk_cutter cutter(sizes, 0);
    while (true) {
        const bytes_view chunk = cutter.cut(in.stream.subview(pos));
        const std::size_t n = chunk.size();
        const std::size_t took = parser.feed(chunk);
        if (took > n) {
            fail("feed() consumed more bytes than it was given");
        }
        if (!cutter.unchanged()) {
            fail("feed() wrote into the bytes it was given");
        }
        pos += took;
        if (pos - head_start > in.max_size) {
            fail("a head took more bytes than the size limit");
        }
        switch (parser.state()) {
        case head_parser::status::need_more:
            if (took != n) {
                fail("feed() left bytes unconsumed without finishing or failing");
            }
            if (pos == in.stream.size()) {
                out += "need more after " + std::to_string(pos - head_start) + " bytes\n";
                return out;
            }
            break;
        case head_parser::status::done:
            out += "head of " + std::to_string(pos - head_start) + " bytes\n";
            describe_head(in, parser.head(), out);
            if (parser.feed(bytes_view{in.stream.data(), 0}) != 0 ||
                parser.state() != head_parser::status::done) {
                fail("a finished parser did not stay finished");
            }
            parser.reset();
            head_start = pos;
            if (pos == in.stream.size()) {
                return out;
            }
            break;
        case head_parser::status::failed:
            // Not how many bytes it took: after a failure the session passes the rest of the
            // direction through undecoded, so that count means nothing (and the CR and LF
            // before a first byte that is judged at once are taken or not depending on the
            // split).
            out += "failed: " + std::to_string(static_cast<int>(parser.error())) + " " +
                   std::string(parser.error_detail()) + '\n';
            if (parser.error_detail().empty()) {
                fail("a rejection has no detail");
            }
            return out;
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const fuzz_input in = split(data, size);
    const std::string one_shot = run(in, {std::max<std::size_t>(1, in.stream.size())});
    const std::string chunked = run(in, in.chunk_sizes);
    if (one_shot != chunked) {
        fail("one-shot and chunked parsing differ",
             "one-shot:\n" + one_shot + "chunked:\n" + chunked);
    }
    return 0;
}

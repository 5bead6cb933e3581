// Differential fuzz target for the forward proxy's request parser (handshake/proxy_request): the
// bytes a client sends a forward proxy, fed whole and again in chunks whose sizes come from the
// input. Both must agree on the request (form, host, port, the head as received and as
// forwarded) or on the rejection; each request accepted must hold together on its own: it took
// exactly its head's bytes, its authority splits back into its host and port, and the head it
// forwards is in origin-form with no Proxy-Authorization or Proxy-Connection field left.
//
// Input layout (every byte string is a valid input):
//   [0]      options: bit 0 the size limit is byte [1] (else the default, 64 KiB)
//   [1]      size limit when bit 0 is set: 0..255 bytes
//   [2]      k = count of chunk sizes (mod 17)
//   [3..3+k) chunk sizes, each byte b meaning b + 1 bytes; k = 0 feeds one byte at a time
//   ...      the stream

#include "fuzz_support.hpp"

#include "wssniff/handshake/proxy_request.hpp"
#include "wssniff/handshake/text.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using wssniff::bytes_view;
using wssniff::handshake::head_parser;
using wssniff::handshake::proxy_form;
using wssniff::handshake::proxy_request;
using wssniff::handshake::proxy_request_parser;

[[noreturn]] void fail(const char* property, std::string_view detail = {}) {
    wssniff::fuzz::fail("proxy_request_fuzz", property, detail);
}

struct fuzz_input {
    std::size_t max_size = head_parser::default_max_size;
    std::vector<std::size_t> chunk_sizes;
    bytes_view stream;
};

fuzz_input split(const std::uint8_t* data, std::size_t size) {
    fuzz_input in;
    wssniff::fuzz::input_reader input(data, size);
    const std::uint8_t flags = input.byte();
    const std::uint8_t limit = input.byte();
    if ((flags & 0x01u) != 0) {
        in.max_size = limit;
    }
    in.chunk_sizes = input.chunk_sizes();
    in.stream = input.rest();
    return in;
}

// The lines of a head, without their line ends, from the request line on.
std::vector<std::string_view> lines_of(std::string_view head) {
    std::vector<std::string_view> lines;
    std::size_t start = 0;
    while (start < head.size()) {
        std::size_t end = head.find('\n', start);
        end = end == std::string_view::npos ? head.size() : end + 1;
        std::string_view line = head.substr(start, end - start);
        start = end;
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
            line.remove_suffix(1);
        }
        if (!line.empty() || !lines.empty()) {
            lines.push_back(line);
        }
    }
    return lines;
}

bool proxy_hop_field(std::string_view line) {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
        return false;
    }
    const std::string_view name = line.substr(0, colon);
    return wssniff::handshake::iequals(name, "proxy-authorization") ||
           wssniff::handshake::iequals(name, "proxy-connection");
}

// A request the parser accepted, checked on its own and printed in one canonical form.
void describe(const proxy_request& r, std::size_t consumed, std::string& out) {
    if (consumed != r.head.size()) {
        fail("the head kept is not the bytes consumed");
    }
    std::string host;
    std::uint16_t port = 0;
    if (r.host.empty() || r.port == 0 ||
        !wssniff::handshake::split_authority(r.authority(), 0, host, port) || host != r.host ||
        port != r.port) {
        fail("the authority does not split back into its host and port", r.authority());
    }
    if (r.form == proxy_form::connect) {
        if (!r.forwarded_head.empty() || r.websocket) {
            fail("a CONNECT has a forwarded head or an upgrade");
        }
    } else {
        const auto lines = lines_of(r.forwarded_head);
        if (lines.empty()) {
            fail("an absolute-form request forwards no request line");
        }
        const std::string_view request_line = lines.front();
        const std::size_t sp = request_line.find(' ');
        if (sp == std::string_view::npos || sp + 1 >= request_line.size() ||
            request_line[sp + 1] != '/') {
            fail("the forwarded request line is not in origin-form", request_line);
        }
        for (std::size_t i = 1; i < lines.size(); ++i) {
            if (proxy_hop_field(lines[i])) {
                fail("a Proxy-* field is forwarded", lines[i]);
            }
        }
        if (lines.size() < 2 || !lines.back().empty()) {
            fail("the forwarded head does not end with its empty line", r.forwarded_head);
        }
    }
    out += std::string(to_string(r.form)) + '|' + r.authority() + '|' +
           (r.websocket ? "websocket" : "-") + '\n' + r.head + "\n--\n" + r.forwarded_head + '\n';
}

// Feeds `stream` cut by `sizes` (cycled) until the request is whole or rejected; what was found,
// consumed and rejected is returned as text for the comparison.
std::string run(const fuzz_input& in, const std::vector<std::size_t>& sizes) {
    proxy_request_parser parser(in.max_size);
    std::size_t pos = 0;
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
        if (pos > in.max_size) {
            fail("the request took more bytes than the size limit");
        }
        switch (parser.state()) {
        case proxy_request_parser::status::need_more:
            if (took != n) {
                fail("feed() left bytes unconsumed without finishing or failing");
            }
            if (pos == in.stream.size()) {
                return "need more after " + std::to_string(pos) + " bytes\n";
            }
            break;
        case proxy_request_parser::status::done: {
            std::string out = "request of " + std::to_string(pos) + " bytes\n";
            describe(parser.request(), pos, out);
            if (parser.feed(in.stream.subview(pos)) != 0 ||
                parser.state() != proxy_request_parser::status::done) {
                fail("a finished parser took more bytes");
            }
            return out;
        }
        case proxy_request_parser::status::failed:
            if (parser.error_detail().empty()) {
                fail("a rejection has no detail");
            }
            // As with heads, not the bytes taken: after a rejection nothing more is read.
            return "failed: " + std::to_string(static_cast<int>(parser.error())) + " " +
                   parser.error_detail() + '\n';
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

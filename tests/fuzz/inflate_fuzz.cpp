// Differential fuzz target for the capped permessage-deflate inflater (inflate/inflater): the
// messages of one direction are inflated with their compressed bytes fed whole, and again cut
// into chunks whose sizes come from the input. What it checks:
//   - no message ever yields more than the cap (inflate_limits::max_message), however it was cut;
//   - the two runs give the same bytes, the same status and the same problem for each message;
//   - with no_context_takeover, each message inflates as it would with a fresh inflater;
//   - in "compress" mode the input's messages are plain bytes, compressed here with zlib as a
//     permessage-deflate sender would (RFC 7692 §7.2.1): below the cap each message must inflate
//     to exactly those bytes, above it to their first max_message bytes and a limit_exceeded.
//
// Input layout (every byte string is a valid input):
//   [0]      options: bit 0 no_context_takeover, bit 1 compress mode, bits 2-5 in compress mode
//            the sender's window bits (9 + value mod 7), bit 6 a small cap (byte [1] + 1 bytes)
//   [1..3)   the cap, little-endian, plus one: 1..65536 bytes (bit 6: byte [1] + 1 only)
//   [3]      k = count of chunk sizes (mod 17)
//   [4..4+k) chunk sizes, each byte b meaning b + 1 bytes; k = 0 feeds one byte at a time
//   ...      messages, each a 2-byte little-endian length (clamped to what is left) and bytes

#include "fuzz_support.hpp"

#include "wssniff/inflate/inflater.hpp"

#include <zlib.h>

#include <algorithm>
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
using wssniff::inflate::inflate_limits;
using wssniff::inflate::inflater;

[[noreturn]] void fail(const char* property, std::string_view detail = {}) {
    wssniff::fuzz::fail("inflate_fuzz", property, detail);
}

struct fuzz_input {
    bool no_context_takeover = false;
    bool compress = false;
    int window_bits = 15;
    std::uint64_t max_message = 0;
    std::vector<std::size_t> chunk_sizes;
    std::vector<std::string> messages; // compressed (what is fed)
    std::vector<std::string> plain;    // compress mode: what was compressed
};

// RFC 7692 §7.2.1: raw DEFLATE, each message ended by a sync flush whose 00 00 ff ff is removed;
// the compressor's context carries over unless no_context_takeover.
std::vector<std::string> compress_messages(const std::vector<std::string>& plain, int window_bits,
                                           bool no_context_takeover) {
    z_stream z{};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        fail("deflateInit2 failed");
    }
    std::vector<std::string> out;
    for (const std::string& message : plain) {
        std::string compressed(deflateBound(&z, message.size()) + 16, '\0');
        z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
        z.avail_in = static_cast<uInt>(message.size());
        z.next_out = reinterpret_cast<Bytef*>(compressed.data());
        z.avail_out = static_cast<uInt>(compressed.size());
        const int rc = deflate(&z, Z_SYNC_FLUSH);
        if (rc == Z_BUF_ERROR && message.empty()) {
            // Nothing to flush: an empty message is one 00 byte (RFC 7692 §7.2.3.6).
            out.emplace_back(1, '\0');
            continue;
        }
        if (rc != Z_OK || z.avail_in != 0) {
            fail("deflate failed");
        }
        compressed.resize(compressed.size() - z.avail_out);
        if (compressed.size() < 4 ||
            compressed.compare(compressed.size() - 4, 4, std::string("\0\0\xff\xff", 4)) != 0) {
            fail("a sync flush did not end in 00 00 ff ff");
        }
        compressed.resize(compressed.size() - 4);
        out.push_back(std::move(compressed));
        if (no_context_takeover) {
            deflateReset(&z);
        }
    }
    deflateEnd(&z);
    return out;
}

fuzz_input split(const std::uint8_t* data, std::size_t size) {
    fuzz_input in;
    wssniff::fuzz::input_reader input(data, size);
    const std::uint8_t flags = input.byte();
    in.no_context_takeover = (flags & 0x01u) != 0;
    in.compress = (flags & 0x02u) != 0;
    in.window_bits = 9 + ((flags >> 2) & 0x0fu) % 7;
    const std::uint8_t low = input.byte();
    const std::uint8_t high = input.byte();
    in.max_message =
        (flags & 0x40u) != 0 ? std::uint64_t{low} + 1 : (std::uint64_t{high} << 8 | low) + 1;
    in.chunk_sizes = input.chunk_sizes();
    while (!input.done()) {
        in.messages.emplace_back(input.take(input.u16()).chars());
    }
    if (in.compress) {
        in.plain = std::move(in.messages);
        in.messages = compress_messages(in.plain, in.window_bits, in.no_context_takeover);
    }
    return in;
}

class collector final : public wssniff::inflate::output_handler {
  public:
    explicit collector(std::uint64_t cap) : cap_(cap) {}
    void on_inflated(bytes_view data) override {
        if (data.empty()) {
            fail("an empty piece of output");
        }
        bytes.append(data.chars());
        if (bytes.size() > cap_) {
            fail("a message inflated past the cap",
                 std::to_string(bytes.size()) + " > " + std::to_string(cap_));
        }
    }
    std::string bytes;

  private:
    std::uint64_t cap_;
};

struct message_result {
    inflater::status status = inflater::status::ok;
    std::string bytes;
    std::string problem;
};

std::string describe(const std::vector<message_result>& results) {
    std::string out;
    for (std::size_t i = 0; i < results.size(); ++i) {
        const message_result& r = results[i];
        out += "message " + std::to_string(i) + ": status " +
               std::to_string(static_cast<int>(r.status)) + ", " + std::to_string(r.bytes.size()) +
               " bytes";
        out += r.problem.empty() ? "\n" : ", " + r.problem + "\n";
    }
    return out;
}

// Inflates `messages` with one inflater, each fed in chunks of `sizes` (cycled); stops at the
// first message that fails, as the session drops the inflater then.
std::vector<message_result> run(const fuzz_input& in, const std::vector<std::string>& messages,
                                const std::vector<std::size_t>& sizes) {
    std::vector<message_result> results;
    inflater z(in.no_context_takeover, inflate_limits{in.max_message});
    wssniff::fuzz::chunk_cutter cutter(sizes, 0);
    for (const std::string& message : messages) {
        collector out(in.max_message);
        message_result r;
        bytes_view rest{message};
        while (r.status == inflater::status::ok && !rest.empty()) {
            const bytes_view chunk = cutter.cut(rest);
            r.status = z.feed(chunk, out);
            if (!cutter.unchanged()) {
                fail("the inflater wrote into the bytes it was fed");
            }
            rest = rest.subview(chunk.size());
        }
        if (r.status == inflater::status::ok) {
            r.status = z.end_message(out);
        }
        if (r.status != inflater::status::ok) {
            r.problem = z.problem();
            if (r.problem.empty()) {
                fail("a failed message has no problem");
            }
        }
        r.bytes = std::move(out.bytes);
        results.push_back(std::move(r));
        if (results.back().status != inflater::status::ok) {
            break;
        }
    }
    return results;
}

void check_equal(const char* property, const std::vector<message_result>& a,
                 const std::vector<message_result>& b) {
    bool same = a.size() == b.size();
    for (std::size_t i = 0; same && i < a.size(); ++i) {
        same =
            a[i].status == b[i].status && a[i].bytes == b[i].bytes && a[i].problem == b[i].problem;
    }
    if (!same) {
        fail(property, "first:\n" + describe(a) + "second:\n" + describe(b));
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const fuzz_input in = split(data, size);

    std::size_t longest = 1;
    for (const std::string& m : in.messages) {
        longest = std::max(longest, m.size());
    }
    const std::vector<message_result> one_shot = run(in, in.messages, {longest});
    const std::vector<message_result> chunked = run(in, in.messages, in.chunk_sizes);
    check_equal("one-shot and chunked inflation differ", one_shot, chunked);

    if (in.no_context_takeover) {
        // Each message on its own, as if it were the first.
        for (std::size_t i = 0; i < one_shot.size(); ++i) {
            const std::vector<message_result> alone = run(in, {in.messages[i]}, {longest});
            check_equal("a no_context_takeover message depends on the ones before it",
                        {one_shot[i]}, alone);
        }
    }

    if (in.compress) {
        if (one_shot.size() != in.plain.size() && one_shot.back().status == inflater::status::ok) {
            fail("messages went missing");
        }
        for (std::size_t i = 0; i < one_shot.size(); ++i) {
            const message_result& r = one_shot[i];
            const std::string& plain = in.plain[i];
            if (plain.size() <= in.max_message) {
                if (r.status != inflater::status::ok || r.bytes != plain) {
                    fail("a compressed message did not inflate to its bytes",
                         "message " + std::to_string(i) + " of " + std::to_string(plain.size()) +
                             " bytes:\n" + describe(one_shot));
                }
            } else if (r.status != inflater::status::limit_exceeded ||
                       r.bytes != plain.substr(0, in.max_message)) {
                fail("a message over the cap did not stop at the cap with its first bytes",
                     "message " + std::to_string(i) + " of " + std::to_string(plain.size()) +
                         " bytes, cap " + std::to_string(in.max_message) + ":\n" +
                         describe(one_shot));
            }
        }
    }
    return 0;
}

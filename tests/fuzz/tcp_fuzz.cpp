// Differential fuzz target for the TCP reassembler (tcp/reassembler): segments cut from one
// reference stream, in the order, sizes, overlaps and repeats the input names, possibly with a
// SYN, a FIN or a RST, and an ISN anywhere (near 2^32 too). Properties:
//   - every byte delivered is the reference byte at its offset, and delivered bytes and given-up
//     holes together cover the stream from 0 without overlap (no byte twice, none skipped
//     silently);
//   - the held bytes never pass --max-reorder;
//   - no conflict is reported (the bytes are all true); every event belongs to flow 1 after
//     its open, and nothing follows its close;
//   - when the segments cover the stream and the limit is the stream's size, the stream comes
//     out whole, without a hole, whatever the order: chunk invariance.
//
// Input layout (every byte string is a valid input):
//   [0]      flags: bit 0 SYN first, bit 1 a FIN after the last byte, bit 2 a RST at the end,
//            bit 3 a small limit (byte [1] bytes) else the stream's size
//   [1]      the small limit
//   [2..6)   the client's ISN (little-endian)
//   [6]      n = number of segments (mod 64)
//   then n times: offset (2 bytes), length (1 byte)
//   ...      the reference stream (at most 4 KiB)

#include "fuzz_support.hpp"

#include "wssniff/tcp/reassembler.hpp"

#include <string>
#include <vector>

namespace {

using namespace wssniff;

[[noreturn]] void fail(const char* property, std::string_view detail = {}) {
    fuzz::fail("tcp_fuzz", property, detail);
}

struct checker final : tcp::listener {
    bytes_view reference;
    std::uint64_t covered = 0; // delivered bytes and holes, from 0
    std::uint64_t gaps = 0;
    bool opened = false;
    bool closed = false;

    void event(std::uint64_t flow) {
        if (flow != 1 || !opened || closed) {
            fail("an event for another flow, before the open or after the close");
        }
    }
    void on_open(std::uint64_t flow, const tcp::endpoint&, const tcp::endpoint&,
                 tcp::clock_time) override {
        if (flow != 1 || opened) {
            fail("a second open");
        }
        opened = true;
    }
    void on_data(std::uint64_t flow, direction dir, bytes_view data, tcp::clock_time) override {
        event(flow);
        if (dir != direction::c2s || data.empty()) {
            fail("data in the wrong direction, or empty");
        }
        if (covered + data.size() > reference.size() ||
            std::string_view(reference.chars()).substr(covered, data.size()) != data.chars()) {
            fail("delivered bytes are not the stream's at their offset");
        }
        covered += data.size();
    }
    void on_gap(std::uint64_t flow, direction, std::uint64_t offset, std::uint64_t length,
                tcp::clock_time) override {
        event(flow);
        if (offset != covered || length == 0) {
            fail("a hole not where the stream stands, or empty");
        }
        covered += length;
        ++gaps;
    }
    void on_conflict(std::uint64_t, direction, std::uint64_t, tcp::clock_time) override {
        fail("a conflict reported for true bytes");
    }
    void on_end(std::uint64_t flow, direction, tcp::clock_time) override { event(flow); }
    void on_close(std::uint64_t flow, tcp::close_cause, tcp::clock_time) override {
        event(flow);
        closed = true;
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::input_reader input(data, size);
    const std::uint8_t flags = input.byte();
    const std::size_t small_limit = input.byte();
    std::uint32_t isn = 0;
    for (int i = 0; i < 4; ++i) {
        isn |= static_cast<std::uint32_t>(input.byte()) << (8 * i);
    }
    struct piece {
        std::size_t offset;
        std::size_t length;
    };
    std::vector<piece> pieces(input.byte() % 64u);
    for (auto& p : pieces) {
        p.offset = input.u16();
        p.length = input.byte();
    }
    const bytes_view stream = input.take(4096);
    if (stream.empty()) {
        return 0;
    }
    for (auto& p : pieces) {
        p.offset %= stream.size();
        p.length = std::min(p.length, stream.size() - p.offset);
    }
    const std::size_t limit = (flags & 0x08u) != 0 ? small_limit : stream.size();

    checker out;
    out.reference = stream;
    tcp::reassembler tcp(out, tcp::reassembler_options{limit});
    tcp::segment s;
    s.src.address = {10, 0, 0, 1};
    s.src.port = 40000;
    s.dst.address = {10, 0, 0, 2};
    s.dst.port = 80;
    if ((flags & 0x01u) != 0) {
        s.syn = true;
        s.seq = isn;
        tcp.feed(s);
        s.syn = false;
    }
    // Without a SYN the first segment fixes offset 0: a piece at 0 goes first.
    std::vector<piece> order = pieces;
    if ((flags & 0x01u) == 0) {
        order.insert(order.begin(), piece{0, std::min<std::size_t>(1, stream.size())});
    }
    std::vector<bool> seen(stream.size(), false);
    for (const auto& p : order) {
        // Each piece in its own allocation of its size: a pointer kept into it is caught.
        std::vector<std::uint8_t> copy(stream.data() + p.offset,
                                       stream.data() + p.offset + p.length);
        s.seq = isn + 1 + static_cast<std::uint32_t>(p.offset);
        s.payload = bytes_view(copy.data(), copy.size());
        s.ack = true;
        tcp.feed(s);
        for (std::size_t i = p.offset; i < p.offset + p.length; ++i) {
            seen[i] = true;
        }
        if (tcp.held_bytes() > limit) {
            fail("more bytes held than --max-reorder");
        }
    }
    if ((flags & 0x02u) != 0) {
        s.seq = isn + 1 + static_cast<std::uint32_t>(stream.size());
        s.payload = {};
        s.fin = true;
        tcp.feed(s);
        s.fin = false;
    }
    if ((flags & 0x04u) != 0) {
        s.rst = true;
        s.src.port = 80;
        s.dst.port = 40000;
        s.dst.address = {10, 0, 0, 1};
        s.src.address = {10, 0, 0, 2};
        tcp.feed(s);
    }
    tcp.finish({});
    if (!out.opened || !out.closed) {
        fail("a flow that carried bytes was not opened and closed");
    }
    const bool all_seen = std::find(seen.begin(), seen.end(), false) == seen.end();
    if (all_seen && limit >= stream.size() && (out.gaps != 0 || out.covered != stream.size())) {
        fail("segments covering the stream, within the limit, did not give it whole");
    }
    return 0;
}

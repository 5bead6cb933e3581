// Fuzz target for the link/IP/TCP header parser (pcap/packet): any bytes under any supported
// link type. Properties: the segment's payload lies inside the packet, right after headers
// that fit; its length plus the cut bytes never pass the wire length; the same bytes parse the
// same way twice (a pure function); and the segment, fed to a reassembler, is taken without
// trouble.
//
// Input layout (every byte string is a valid input):
//   [0]      link type: one of the supported ones, by index (mod their count)
//   [1..3)   extra wire bytes beyond the captured ones (little-endian): a snaplen cut
//   ...      the captured packet

#include "fuzz_support.hpp"

#include "wssniff/pcap/packet.hpp"
#include "wssniff/tcp/reassembler.hpp"

#include <array>

namespace {

using namespace wssniff;

[[noreturn]] void fail(const char* property) {
    fuzz::fail("packet_fuzz", property);
}

struct quiet final : tcp::listener {
    void on_open(std::uint64_t, const tcp::endpoint&, const tcp::endpoint&,
                 tcp::clock_time) override {}
    void on_data(std::uint64_t, direction, bytes_view, tcp::clock_time) override {}
    void on_gap(std::uint64_t, direction, std::uint64_t, std::uint64_t, tcp::clock_time) override {}
    void on_conflict(std::uint64_t, direction, std::uint64_t, tcp::clock_time) override {}
    void on_end(std::uint64_t, direction, tcp::clock_time) override {}
    void on_close(std::uint64_t, tcp::close_cause, tcp::clock_time) override {}
};

constexpr std::array<int, 10> links = {
    pcap::link::null,         pcap::link::ethernet,  pcap::link::raw,       pcap::link::raw_openbsd,
    pcap::link::raw_linktype, pcap::link::loop,      pcap::link::linux_sll, pcap::link::ipv4,
    pcap::link::ipv6,         pcap::link::linux_sll2};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::input_reader input(data, size);
    const int link = links[input.byte() % links.size()];
    const std::size_t extra = input.u16();
    const bytes_view rest = input.rest();
    // The packet in an allocation of exactly its size.
    std::vector<std::uint8_t> packet(rest.begin(), rest.end());
    const bytes_view captured(packet.data(), packet.size());
    const auto wire = static_cast<std::uint32_t>(packet.size() + extra);

    tcp::segment first;
    tcp::segment second;
    const auto status = pcap::parse_packet(link, captured, wire, first);
    if (pcap::parse_packet(link, captured, wire, second) != status) {
        fail("the same packet parsed two ways");
    }
    if (status != pcap::parse_status::tcp) {
        return 0;
    }
    if (first.payload.data() < packet.data() ||
        first.payload.data() + first.payload.size() > packet.data() + packet.size()) {
        fail("payload outside the packet");
    }
    if (first.payload.size() != second.payload.size() || first.seq != second.seq ||
        first.missing != second.missing || !(first.src == second.src)) {
        fail("the same packet parsed two ways");
    }
    if (first.payload.size() + first.missing > std::max<std::size_t>(wire, packet.size())) {
        fail("payload and cut bytes longer than the packet on the wire");
    }
    quiet out;
    tcp::reassembler tcp(out);
    tcp.feed(first);
    first.seq += static_cast<std::uint32_t>(first.payload.size());
    tcp.feed(first);
    tcp.finish({});
    return 0;
}

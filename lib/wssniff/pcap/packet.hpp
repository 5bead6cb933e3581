#pragma once
// One captured packet to one TCP segment: link layer (Ethernet with 802.1Q/802.1ad tags, Linux
// cooked v1 and v2, raw IP, BSD loopback), IPv4 or IPv6 (extension headers walked), TCP. A
// pure function of the bytes, so it is fuzzed on its own.

#include "wssniff/base/bytes.hpp"
#include "wssniff/tcp/reassembler.hpp"

#include <cstdint>
#include <string_view>

namespace wssniff::pcap {

// Link-layer header types, as libpcap's pcap_datalink() reports them (DLT_ values).
namespace link {
constexpr int null = 0;     // BSD loopback: 4-byte address family in the host's byte order
constexpr int ethernet = 1; // DLT_EN10MB
constexpr int raw = 12;     // DLT_RAW on Linux (LINKTYPE_RAW 101 in files)
constexpr int raw_openbsd = 14;
constexpr int raw_linktype = 101;
constexpr int loop = 108; // OpenBSD loopback: the family in network byte order
constexpr int linux_sll = 113;
constexpr int ipv4 = 228;
constexpr int ipv6 = 229;
constexpr int linux_sll2 = 276;
} // namespace link

bool link_supported(int link_type) noexcept;

enum class parse_status : std::uint8_t {
    tcp,       // `out` holds the segment (views into the packet)
    not_tcp,   // another protocol, an IP fragment, or a link-layer frame without IP
    truncated, // the headers themselves were cut by the capture's snaplen, or are malformed
};

std::string_view to_string(parse_status s) noexcept;

// `packet`: the captured bytes; `wire_length`: the packet's length on the wire. The segment's
// payload is what the capture holds; `missing` counts the TCP payload bytes it cut. The
// timestamp is left to the caller.
parse_status parse_packet(int link_type, bytes_view packet, std::uint32_t wire_length,
                          tcp::segment& out) noexcept;

} // namespace wssniff::pcap

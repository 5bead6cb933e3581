#include "wssniff/pcap/packet.hpp"

#include <algorithm>

namespace wssniff::pcap {

namespace {

constexpr std::uint16_t ethertype_ipv4 = 0x0800;
constexpr std::uint16_t ethertype_ipv6 = 0x86dd;
constexpr std::uint16_t ethertype_vlan = 0x8100; // 802.1Q
constexpr std::uint16_t ethertype_qinq = 0x88a8; // 802.1ad
constexpr std::uint16_t ethertype_qinq_old = 0x9100;
constexpr std::uint8_t protocol_tcp = 6;

std::uint16_t be16(bytes_view b, std::size_t at) noexcept {
    return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]);
}
std::uint32_t be32(bytes_view b, std::size_t at) noexcept {
    return static_cast<std::uint32_t>(b[at]) << 24 | static_cast<std::uint32_t>(b[at + 1]) << 16 |
           static_cast<std::uint32_t>(b[at + 2]) << 8 | b[at + 3];
}

// Where the network layer starts and which one it is (0: not IP).
struct network {
    std::size_t at = 0;
    int version = 0;
};

network from_ethertype(std::uint16_t type, std::size_t at) noexcept {
    if (type == ethertype_ipv4) {
        return {at, 4};
    }
    if (type == ethertype_ipv6) {
        return {at, 6};
    }
    return {};
}

// The IP version from the first nibble (raw IP carries no other hint).
network from_nibble(bytes_view p, std::size_t at) noexcept {
    if (p.size() <= at) {
        return {};
    }
    const int version = p[at] >> 4;
    return version == 4 || version == 6 ? network{at, version} : network{};
}

// BSD loopback address families: AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD, OpenBSD),
// 28 (FreeBSD), 30 (macOS) or 10 (Linux).
network from_family(std::uint32_t family, std::size_t at) noexcept {
    if (family == 2) {
        return {at, 4};
    }
    if (family == 24 || family == 28 || family == 30 || family == 10) {
        return {at, 6};
    }
    return {};
}

// Returns {} for a link-layer frame without IP; at == SIZE_MAX when the header is cut.
constexpr std::size_t cut = static_cast<std::size_t>(-1);

network link_layer(int link_type, bytes_view p) noexcept {
    switch (link_type) {
    case link::ethernet: {
        if (p.size() < 14) {
            return {cut, 0};
        }
        std::size_t at = 12;
        std::uint16_t type = be16(p, at);
        // Any number of VLAN tags (802.1Q, QinQ), each 4 bytes before the real type.
        while (type == ethertype_vlan || type == ethertype_qinq || type == ethertype_qinq_old) {
            at += 4;
            if (p.size() < at + 2) {
                return {cut, 0};
            }
            type = be16(p, at);
        }
        return from_ethertype(type, at + 2);
    }
    case link::linux_sll:
        // Packet type, ARPHRD type, address length, 8 address bytes, protocol.
        if (p.size() < 16) {
            return {cut, 0};
        }
        return from_ethertype(be16(p, 14), 16);
    case link::linux_sll2:
        // Protocol, reserved, interface index, ARPHRD type, packet type, address length, 8 bytes.
        if (p.size() < 20) {
            return {cut, 0};
        }
        return from_ethertype(be16(p, 0), 20);
    case link::raw:
    case link::raw_openbsd:
    case link::raw_linktype: return from_nibble(p, 0);
    case link::ipv4: return p.empty() ? network{cut, 0} : network{0, 4};
    case link::ipv6: return p.empty() ? network{cut, 0} : network{0, 6};
    case link::null: {
        if (p.size() < 4) {
            return {cut, 0};
        }
        // The capturing host's byte order, which the file does not say: try both.
        const std::uint32_t little =
            static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
            static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
        const network n = from_family(little, 4);
        return n.version != 0 ? n : from_family(be32(p, 0), 4);
    }
    case link::loop:
        if (p.size() < 4) {
            return {cut, 0};
        }
        return from_family(be32(p, 0), 4);
    default: return {};
    }
}

} // namespace

bool link_supported(int link_type) noexcept {
    switch (link_type) {
    case link::null:
    case link::ethernet:
    case link::raw:
    case link::raw_openbsd:
    case link::raw_linktype:
    case link::loop:
    case link::linux_sll:
    case link::ipv4:
    case link::ipv6:
    case link::linux_sll2: return true;
    default: return false;
    }
}

std::string_view to_string(parse_status s) noexcept {
    switch (s) {
    case parse_status::tcp: return "tcp";
    case parse_status::not_tcp: return "not_tcp";
    case parse_status::truncated: return "truncated";
    }
    return "truncated";
}

parse_status parse_packet(int link_type, bytes_view p, std::uint32_t wire_length,
                          tcp::segment& out) noexcept {
    const network net = link_layer(link_type, p);
    if (net.at == cut) {
        return parse_status::truncated;
    }
    if (net.version == 0) {
        return parse_status::not_tcp;
    }
    // The packet on the wire may be longer than what was captured; lengths below are the
    // IP header's, measured against the wire, and only then against the capture.
    const std::size_t wire = std::max<std::size_t>(wire_length, p.size());
    std::size_t at = net.at;
    std::size_t ip_end = 0; // end of the IP packet, as the IP header says (on the wire)
    tcp::endpoint src;
    tcp::endpoint dst;
    if (net.version == 4) {
        if (p.size() < at + 20 || p[at] >> 4 != 4) {
            return p.size() < at + 20 ? parse_status::truncated : parse_status::not_tcp;
        }
        const std::size_t header = static_cast<std::size_t>(p[at] & 0x0f) * 4;
        if (header < 20 || p.size() < at + header) {
            return parse_status::truncated;
        }
        // Fragments (more-fragments set, or an offset) are not reassembled.
        if ((be16(p, at + 6) & 0x3fff) != 0) {
            return parse_status::not_tcp;
        }
        if (p[at + 9] != protocol_tcp) {
            return parse_status::not_tcp;
        }
        const std::size_t total = be16(p, at + 2);
        // 0: segmentation offload wrote no length; the wire length stands for it.
        ip_end = total == 0 ? wire : at + total;
        if (ip_end < at + header) {
            return parse_status::truncated;
        }
        std::copy_n(p.data() + at + 12, 4, src.address.begin());
        std::copy_n(p.data() + at + 16, 4, dst.address.begin());
        at += header;
    } else {
        if (p.size() < at + 40 || p[at] >> 4 != 6) {
            return p.size() < at + 40 ? parse_status::truncated : parse_status::not_tcp;
        }
        const std::size_t payload_length = be16(p, at + 4);
        ip_end = payload_length == 0 ? wire : at + 40 + payload_length;
        std::uint8_t next = p[at + 6];
        src.v6 = dst.v6 = true;
        std::copy_n(p.data() + at + 8, 16, src.address.begin());
        std::copy_n(p.data() + at + 24, 16, dst.address.begin());
        at += 40;
        // Extension headers before TCP: hop-by-hop, routing, destination options, AH.
        for (int hops = 0; next != protocol_tcp; ++hops) {
            if (hops == 8 || (next != 0 && next != 43 && next != 60 && next != 51)) {
                return parse_status::not_tcp; // a fragment (44), ESP, or no TCP at all
            }
            if (p.size() < at + 2) {
                return parse_status::truncated;
            }
            const std::size_t length = next == 51 ? (static_cast<std::size_t>(p[at + 1]) + 2) * 4
                                                  : (static_cast<std::size_t>(p[at + 1]) + 1) * 8;
            next = p[at];
            at += length;
            if (at > ip_end) {
                return parse_status::truncated;
            }
        }
    }
    // TCP (RFC 9293 §3.1).
    if (p.size() < at + 20) {
        return parse_status::truncated;
    }
    const std::size_t header = static_cast<std::size_t>(p[at + 12] >> 4) * 4;
    if (header < 20 || p.size() < at + header || ip_end < at + header) {
        return parse_status::truncated;
    }
    src.port = be16(p, at);
    dst.port = be16(p, at + 2);
    out = tcp::segment{};
    out.src = src;
    out.dst = dst;
    out.seq = be32(p, at + 4);
    const std::uint8_t flags = p[at + 13];
    out.fin = (flags & 0x01) != 0;
    out.syn = (flags & 0x02) != 0;
    out.rst = (flags & 0x04) != 0;
    out.ack = (flags & 0x10) != 0;
    const std::size_t payload_start = at + header;
    // Ethernet pads short frames: the IP length, not the capture, says where TCP ends. A length
    // past the packet's wire length is a lie: nothing beyond the wire was cut.
    ip_end = std::min(ip_end, wire);
    const std::size_t captured_end = std::min(p.size(), ip_end);
    out.payload = p.subview(payload_start, captured_end - payload_start);
    out.missing = static_cast<std::uint32_t>(ip_end - captured_end);
    return parse_status::tcp;
}

} // namespace wssniff::pcap

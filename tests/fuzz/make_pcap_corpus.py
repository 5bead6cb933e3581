"""Writes the seed corpora of the tcp and packet fuzz targets (tests/fuzz/corpus/{tcp,packet}).
The packet seeds are built with python3-scapy: run with /usr/bin/python3.

    /usr/bin/python3 tests/fuzz/make_pcap_corpus.py
"""

import logging
import os
import struct

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import (IP, TCP, CookedLinux, CookedLinuxV2, Dot1Q, Ether, IPv6,  # noqa: E402
                       IPv6ExtHdrDestOpt, Loopback, Raw)

HERE = os.path.dirname(os.path.abspath(__file__))
MACS = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
# Index of each link type in packet_fuzz.cpp's table.
NULL, ETHERNET, RAW, RAW_OPENBSD, RAW_LINKTYPE, LOOP, SLL, IPV4, IPV6, SLL2 = range(10)


def write(target, name, data):
    with open(os.path.join(HERE, "corpus", target, name), "wb") as f:
        f.write(data)


def packet_seeds():
    seg = TCP(sport=40000, dport=8080, seq=2**32 - 5, flags="PA") / Raw(b"GET / HTTP/1.1\r\n\r\n")
    v4 = IP(src="192.0.2.1", dst="192.0.2.2") / seg
    v6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / seg
    seeds = {
        "ethernet-v4": (ETHERNET, 0, Ether(**MACS) / v4),
        "ethernet-v6-ext": (ETHERNET, 0, Ether(**MACS) / IPv6(src="::1", dst="::1") /
                            IPv6ExtHdrDestOpt() / seg),
        "vlan": (ETHERNET, 0, Ether(**MACS) / Dot1Q(vlan=3) / v4),
        "qinq": (ETHERNET, 0, Ether(**MACS, type=0x88a8) / Dot1Q(vlan=1) / Dot1Q(vlan=2) / v6),
        "sll": (SLL, 0, CookedLinux(proto=0x0800) / v4),
        "sll2": (SLL2, 0, CookedLinuxV2(proto=0x86DD) / v6),
        "raw": (RAW, 0, v4),
        "raw-v6": (RAW_LINKTYPE, 0, v6),
        "null": (NULL, 0, Loopback(type=2) / v4),
        "null-v6": (NULL, 0, Loopback(type=30) / v6),
        "loop": (LOOP, 0, struct.pack("!I", 2) + bytes(v4)),
        "ipv4": (IPV4, 0, v4),
        "ipv6": (IPV6, 0, v6),
        "snaplen-cut": (ETHERNET, 300, Ether(**MACS) / IP(src="192.0.2.1", dst="192.0.2.2") /
                        TCP(sport=1, dport=2) / Raw(bytes(100))),
    }
    for name, (link, extra, packet) in seeds.items():
        raw = bytes(packet)
        if name == "snaplen-cut":
            raw = bytes(Ether(**MACS) / IP(src="192.0.2.1", dst="192.0.2.2", len=440) /
                        TCP(sport=1, dport=2) / Raw(bytes(100)))
        write("packet", name, bytes([link]) + struct.pack("<H", extra) + raw)


def tcp_seeds():
    stream = bytes(range(256)) * 3

    def seed(flags, limit, isn, pieces):
        out = bytes([flags, limit]) + struct.pack("<I", isn) + bytes([len(pieces)])
        for offset, length in pieces:
            out += struct.pack("<HB", offset, length)
        return out + stream

    write("tcp", "in-order", seed(0x03, 0, 1000, [(i, 100) for i in range(0, 768, 100)]))
    write("tcp", "reordered-wrap", seed(0x03, 0, 2**32 - 200,
                                        [(300, 200), (0, 150), (150, 200), (500, 255), (700, 68)]))
    write("tcp", "overlaps-duplicates", seed(0x01, 0, 7, [(0, 100), (50, 100), (0, 100),
                                                          (120, 200), (320, 255), (570, 198)]))
    write("tcp", "hole-small-limit", seed(0x0d, 64, 5, [(0, 10), (20, 30), (60, 40), (110, 50)]))
    write("tcp", "mid-stream", seed(0x00, 0, 0, [(10, 50), (60, 100)]))


packet_seeds()
tcp_seeds()

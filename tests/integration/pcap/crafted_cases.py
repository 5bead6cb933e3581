"""decode --pcap on captures crafted with scapy (python3-scapy): every link type, pcapng and
nanosecond pcap, stdin; reordered, duplicated and overlapping segments (same and conflicting
bytes), dropped and snaplen-cut segments, ISNs near 2^32, IPv6, VLAN tags, Linux cooked v1/v2,
raw IP and BSD loopback, a capture that starts mid-stream, two connections on one 4-tuple, TLS
and plain HTTP flows, and the command's one-line failures.

    crafted_cases.py WSSNIFF RECORDS_DIR
"""

import json
import os
import shutil
import random
import subprocess
import sys
import tempfile
import time

import logging

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # noqa: E402 (before scapy)
from scapy.all import (IP, TCP, CookedLinux, CookedLinuxV2, Dot1Q, Ether, IPv6, Loopback,
                       PcapWriter, Raw, wrpcapng)

from wssniff_kit.checks import CheckFailed, check
from wssniff_kit.heads import upgrade_request, upgrade_response, websocket_key
from wssniff_kit.records import Side

WSSNIFF = sys.argv[1]
RECORDS = sys.argv[2]
WORK = tempfile.mkdtemp(prefix="wssniff-crafted-")
T0 = 1764480000.0  # 2025-11-30T05:20:00Z


def conversation():
    key = websocket_key(1)
    c, s = Side("c2s"), Side("s2c")
    request = upgrade_request("example.test:8080", key)
    response = upgrade_response(key)
    c2s = [c.frame(1, b"hello"), c.frame(2, bytes(range(256)) * 20), c.frame(9, b"ping"),
           c.frame(8, b"\x03\xe8bye")]
    s2c = [s.frame(1, "héllo wörld".encode()), s.frame(2, b"x" * 5000), s.frame(10, b"ping"),
           s.frame(8, b"\x03\xe8bye")]
    return request, response, c2s, s2c


REQUEST, RESPONSE, C2S_FRAMES, S2C_FRAMES = conversation()
C2S = REQUEST + b"".join(C2S_FRAMES)
S2C = RESPONSE + b"".join(S2C_FRAMES)


class Conn:
    """The segments of one connection as (dir, offset, payload, flags), in the order sent."""

    def __init__(self, client_isn=1000, server_isn=900000, mss=700, c2s=C2S, s2c=S2C,
                 handshake=True):
        self.client_isn = client_isn
        self.server_isn = server_isn
        self.events = []
        if handshake:
            self.events += [("c2s", -1, b"", "S"), ("s2c", -1, b"", "SA"), ("c2s", 0, b"", "A")]
        self.split("c2s", 0, c2s[:len(REQUEST)], mss)
        self.split("s2c", 0, s2c[:len(RESPONSE)], mss)
        cs = self.pieces("c2s", len(REQUEST), c2s[len(REQUEST):], mss)
        ss = self.pieces("s2c", len(RESPONSE), s2c[len(RESPONSE):], mss)
        while cs or ss:  # both directions interleaved
            if cs:
                self.events.append(cs.pop(0))
            if ss:
                self.events.append(ss.pop(0))
        self.events += [("c2s", len(c2s), b"", "FA"), ("s2c", len(s2c), b"", "FA"),
                        ("c2s", len(c2s) + 1, b"", "A")]

    def pieces(self, d, start, data, mss):
        return [(d, start + i, data[i:i + mss], "PA") for i in range(0, len(data), mss)]

    def split(self, d, start, data, mss):
        self.events += self.pieces(d, start, data, mss)


CLIENT4, SERVER4 = "192.0.2.10", "198.51.100.20"
CLIENT6, SERVER6 = "2001:db8::10", "2001:db8::20"


def tcp_for(conn, event, sport=40000, dport=8080):
    d, offset, payload, flags = event
    if d == "c2s":
        seq = (conn.client_isn + 1 + offset) % 2**32
        return TCP(sport=sport, dport=dport, seq=seq, ack=(conn.server_isn + 1) % 2**32, flags=flags,
                   window=512) / Raw(payload)
    seq = (conn.server_isn + 1 + offset) % 2**32
    return TCP(sport=dport, dport=sport, seq=seq, ack=(conn.client_isn + 1) % 2**32, flags=flags,
               window=512) / Raw(payload)


def ip_for(d, v6=False):
    if v6:
        return IPv6(src=CLIENT6, dst=SERVER6) if d == "c2s" else IPv6(src=SERVER6, dst=CLIENT6)
    return IP(src=CLIENT4, dst=SERVER4) if d == "c2s" else IP(src=SERVER4, dst=CLIENT4)


# Addresses given: scapy would otherwise ask the network (ARP) for them.
MACS = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
LINKS = {  # name: (linktype, wrap(ip packet, v6))
    "ethernet": (1, lambda p, v6: Ether(**MACS) / p),
    "vlan": (1, lambda p, v6: Ether(**MACS) / Dot1Q(vlan=5) / p),
    "qinq": (1, lambda p, v6: Ether(**MACS, type=0x88a8) / Dot1Q(vlan=7) / Dot1Q(vlan=5) / p),
    "sll": (113, lambda p, v6: CookedLinux(proto=0x86DD if v6 else 0x0800) / p),
    "sll2": (276, lambda p, v6: CookedLinuxV2(proto=0x86DD if v6 else 0x0800) / p),
    "raw": (101, lambda p, v6: p),
    "null": (0, lambda p, v6: Loopback(type=24 if v6 else 2) / p),
}


def packets(conns, link="ethernet", v6=False, order=None):
    """Every event of every conn (in sequence), framed for `link`, 1 ms apart."""
    linktype, wrap = LINKS[link]
    out = []
    for conn in conns:
        for event in (order(conn.events) if order else conn.events):
            out.append(wrap(ip_for(event[0], v6) / tcp_for(conn, event), v6))
    for i, p in enumerate(out):
        p.time = T0 + i * 0.001
    return linktype, out


def write(name, linktype, pkts, nano=False, pcapng=False):
    path = os.path.join(WORK, name + (".pcapng" if pcapng else ".pcap"))
    if pcapng:
        wrpcapng(path, pkts)
    else:
        with PcapWriter(path, linktype=linktype, nano=nano, sync=True) as w:
            for p in pkts:
                w.write(p)
    return path


def decode(path, *args, stdin=None, expect=0):
    out = os.path.join(RECORDS, f"pcap-crafted-{os.path.basename(path)}.ndjson")
    argv = [WSSNIFF, "decode", "--pcap", path, "--output", out, *args]
    done = subprocess.run(argv, capture_output=True, timeout=30, stdin=stdin)
    check(done.returncode == expect,
          f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    if expect != 0:
        return done.stderr.decode()
    with open(out) as f:
        return [json.loads(line) for line in f]


def plain(records, keep_reason=True):
    return [{k: v for k, v in r.items() if k not in ("ts", "request_ts", "client", "upstream")}
            for r in records]


def by_type(records, kind, d=None):
    return [r for r in records if r["type"] == kind and (d is None or r.get("dir") == d)]


BASELINE = None


def baseline():
    global BASELINE
    if BASELINE is None:
        linktype, pkts = packets([Conn()])
        BASELINE = decode(write("baseline", linktype, pkts))
        check(len(by_type(BASELINE, "frame")) == 8, f"baseline frames: {BASELINE}")
        check(not by_type(BASELINE, "error"), f"baseline errors: {by_type(BASELINE, 'error')}")
        check(BASELINE[-1]["reason"] == "client_closed", "FIN from the client first")
        hs = BASELINE[0]
        check(hs["client"] == "192.0.2.10:40000" and hs["upstream"] == "198.51.100.20:8080",
              f"addresses: {hs}")
        check(hs["ts"] == "2025-11-30T05:20:00.004000Z", f"ts of the 101: {hs['ts']}")
    return BASELINE


def same_as_baseline(records, what):
    check(plain(records) == plain(baseline()),
          f"{what}: records differ from the baseline:\n{plain(records)}\n{plain(baseline())}")


def case_links():
    for link in LINKS:
        linktype, pkts = packets([Conn()], link)
        same_as_baseline(decode(write("link-" + link, linktype, pkts)), link)
        if link != "qinq":
            linktype, pkts = packets([Conn()], link, v6=True)
            records = decode(write("link6-" + link, linktype, pkts))
            same_as_baseline(records, link + " IPv6")
            check(records[0]["client"] == "[2001:db8::10]:40000", f"IPv6: {records[0]}")


def case_formats():
    linktype, pkts = packets([Conn()])
    same_as_baseline(decode(write("pcapng", linktype, pkts, pcapng=True)), "pcapng")
    for p in pkts:
        p.time = p.time + 0.000000789
    nano = decode(write("nano", linktype, pkts, nano=True))
    same_as_baseline(nano, "ns pcap")
    check(nano[0]["ts"] == "2025-11-30T05:20:00.004000Z", f"ns ts: {nano[0]['ts']}")
    path = write("stdin", linktype, packets([Conn()])[1])
    with open(path, "rb") as f:
        same_as_baseline(decode("-", stdin=f), "stdin")


def case_reorder_duplicates_overlaps():
    rng = random.Random(7)

    def mess(events):
        out = []
        for e in events:
            out.append(e)
            d, offset, payload, flags = e
            if payload and rng.random() < 0.3:
                out.append(e)  # an exact retransmission
            if len(payload) > 10 and rng.random() < 0.3:
                # An overlapping retransmission with the same bytes.
                out.append((d, offset + 5, payload[5:], flags))
        # Local shuffles, data segments only (SYNs and FINs stay put).
        for i in range(3, len(out) - 3):
            j = min(len(out) - 4, i + rng.randrange(4))
            out[i], out[j] = out[j], out[i]
        return out

    linktype, pkts = packets([Conn()], order=mess)
    records = decode(write("reorder", linktype, pkts))
    for d in ("c2s", "s2c"):
        check(plain(by_type(records, "frame", d)) == plain(by_type(baseline(), "frame", d)),
              f"reordered: {d} frames differ")
    check(not by_type(records, "error"), f"reordered: errors {by_type(records, 'error')}")


def case_conflicting_overlap():
    conn = Conn()
    # A retransmission of a c2s frame segment with one byte changed, after the original.
    index = next(i for i, e in enumerate(conn.events)
                 if e[0] == "c2s" and e[1] >= len(REQUEST) + 100 and e[2])
    d, offset, payload, flags = conn.events[index]
    changed = payload[:3] + bytes([payload[3] ^ 0xFF]) + payload[4:]
    conn.events.insert(index + 2, (d, offset, changed, flags))
    linktype, pkts = packets([conn])
    records = decode(write("conflict", linktype, pkts))
    check(plain(by_type(records, "frame")) == plain(by_type(baseline(), "frame")),
          "conflict: the first bytes must win")
    errors = by_type(records, "error")
    check(len(errors) == 1 and errors[0]["code"] == "overlap_conflict" and
          errors[0]["dir"] == "c2s" and not errors[0]["fatal"] and
          f"offset {offset + 3};" in errors[0]["message"], f"conflict: {errors}")


def case_dropped_segment():
    conn = Conn()
    index = next(i for i, e in enumerate(conn.events)
                 if e[0] == "c2s" and e[1] >= len(REQUEST) + 700 and e[2])
    dropped = conn.events.pop(index)
    linktype, pkts = packets([conn])
    records = decode(write("dropped", linktype, pkts))
    errors = by_type(records, "error", "c2s")
    check(errors and errors[0]["code"] == "capture_gap" and errors[0]["fatal"],
          f"dropped: {errors}")
    check(f"{len(dropped[2])} bytes" in errors[0]["message"] and
          f"offset {dropped[1]};" in errors[0]["message"], f"dropped: {errors[0]}")
    check(plain(by_type(records, "frame", "s2c")) == plain(by_type(baseline(), "frame", "s2c")),
          "dropped: s2c frames intact")
    c2s = by_type(records, "frame", "c2s")
    check(plain(c2s[:1]) == plain(by_type(baseline(), "frame", "c2s"))[:1],
          "dropped: the c2s frame before the hole is whole")
    # The frame the hole cut is reported at the end with what arrived before the hole.
    check(len(c2s) == 2 and c2s[1].get("truncated") is True, f"dropped: cut frame {c2s[1:]}")
    # A smaller --max-reorder gives the hole up earlier, with the same outcome.
    early = decode(write("dropped", linktype, pkts), "--max-reorder", "1KiB")
    check(by_type(early, "error", "c2s")[0]["code"] == "capture_gap", "--max-reorder 1KiB")


def case_isn_wrap():
    for client_isn, server_isn in ((2**32 - 300, 2**32 - 1), (2**32 - 1, 2**32 - 2000)):
        linktype, pkts = packets([Conn(client_isn, server_isn)])
        same_as_baseline(decode(write("wrap", linktype, pkts)), f"ISN {client_isn}")


def case_mid_stream():
    # No SYN: the client is the side whose first bytes are an HTTP request.
    linktype, pkts = packets([Conn(handshake=False)])
    same_as_baseline(decode(write("mid-handshake", linktype, pkts)), "no SYN")
    # Starting after the upgrade: nothing to decode, nothing said.
    conn = Conn()
    conn.events = [e for e in conn.events if e[1] >= len(REQUEST) + 50 and e[0] == "c2s" or
                   e[1] >= len(RESPONSE) + 50 and e[0] == "s2c"]
    linktype, pkts = packets([conn])
    check(decode(write("mid-frames", linktype, pkts)) == [], "mid-stream after the upgrade")


def case_same_four_tuple():
    linktype, pkts = packets([Conn(), Conn(client_isn=5555, server_isn=77)])
    records = decode(write("two", linktype, pkts))
    for conn in (1, 2):
        mine = [dict(r, conn=1) for r in records if r["conn"] == conn]
        same_as_baseline(mine, f"connection {conn}")


def case_snaplen_cut():
    linktype, pkts = packets([Conn()])
    index = next(i for i, p in enumerate(pkts)
                 if p[TCP].sport == 8080 and len(p[TCP].payload) > 600 and
                 p[TCP].seq > 900001 + len(RESPONSE) + 100)
    full = bytes(pkts[index])
    cut = Raw(full[:len(full) - 200])
    cut.time = pkts[index].time
    cut.wirelen = len(full)
    pkts[index] = cut
    records = decode(write("snaplen", linktype, pkts))
    errors = by_type(records, "error", "s2c")
    check(errors and errors[0]["code"] == "capture_gap" and "200 bytes" in errors[0]["message"],
          f"snaplen: {errors}")
    check(plain(by_type(records, "frame", "c2s")) == plain(by_type(baseline(), "frame", "c2s")),
          "snaplen: c2s intact")


def case_other_flows():
    tls = Conn(c2s=b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(200), s2c=b"")
    http = Conn(c2s=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", s2c=b"HTTP/1.1 200 OK\r\n\r\n")
    linktype, pkts = packets([tls])
    _, more = packets([Conn()])
    _, plain_http = packets([http])
    for p in plain_http:
        p[TCP].sport, p[TCP].dport = (p[TCP].sport + 1, p[TCP].dport) if p[TCP].dport == 8080 \
            else (p[TCP].sport, p[TCP].dport + 1)
    for p in more:
        p[TCP].dport, p[TCP].sport = (9000, p[TCP].sport) if p[TCP].dport == 8080 \
            else (p[TCP].dport, 9000)
    everything = pkts + plain_http + more
    for i, p in enumerate(everything):
        p.time = T0 + i * 0.001
    path = write("others", linktype, everything)
    records = decode(path)
    check(records[0]["code"] == "tls_not_decoded" and records[0]["conn"] == 1 and
          "192.0.2.10:40000 to 198.51.100.20:8080" in records[0]["message"], f"tls: {records[0]}")
    check({r["conn"] for r in records} == {1, 2}, "TLS is conn 1, WebSocket conn 2, HTTP none")
    check(decode(path, "--ports", "9000")[0]["conn"] == 1, "--ports 9000: the WebSocket only")
    check(decode(path, "--ports", "1-79") == [], "--ports with none of them")
    check({r["conn"] for r in decode(path, "--conn", "2")} == {2}, "--conn 2")


def case_failures():
    text = os.path.join(WORK, "not-a-capture.pcap")
    with open(text, "w") as f:
        f.write("hello, this is not a capture\n" * 10)
    said = decode(text, expect=1)
    check(said.count("\n") == 1 and "cannot read capture" in said, f"not a capture: {said!r}")
    said = decode(os.path.join(WORK, "missing.pcap"), expect=1)
    check(said.count("\n") == 1 and "missing.pcap" in said, f"missing: {said!r}")
    path = write("wifi", 105, [Raw(b"\x08\x00" + bytes(40))])
    said = decode(path, expect=1)
    check(said.count("\n") == 1 and "not supported" in said, f"link type: {said!r}")
    linktype, pkts = packets([Conn()])
    path = write("cut-file", linktype, pkts)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 100)
    out = os.path.join(RECORDS, "pcap-crafted-cut-file.ndjson")
    done = subprocess.run([WSSNIFF, "decode", "--pcap", path, "--output", out],
                          capture_output=True, timeout=30)
    check(done.returncode == 1 and done.stderr.count(b"\n") == 1, f"cut file: {done}")
    with open(out) as f:
        check(json.loads(f.readlines()[-1])["type"] == "close", "a cut file still ends its flows")
    for args in (["--ports", "0"], ["--ports", "70000"], ["--conn", "x"],
                 ["--max-reorder", "0"], ["--c2s", "a"], ["--no-handshake"]):
        done = subprocess.run([WSSNIFF, "decode", "--pcap", path, *args], capture_output=True,
                              timeout=30)
        check(done.returncode == 2 and done.stderr.count(b"\n") == 1,
              f"{args}: exit {done.returncode}, {done.stderr!r}")
    done = subprocess.run([WSSNIFF, "decode", "--ports", "80"], capture_output=True, timeout=30)
    check(done.returncode == 2, "--ports without --pcap")


CASES = [case_links, case_formats, case_reorder_duplicates_overlaps, case_conflicting_overlap,
         case_dropped_segment, case_isn_wrap, case_mid_stream, case_same_four_tuple,
         case_snaplen_cut, case_other_flows, case_failures]

if __name__ == "__main__":
    failed = 0
    started = time.monotonic()
    try:
        for case in CASES:
            try:
                case()
                print(f"PASS [{case.__name__}]", flush=True)
            except CheckFailed as e:
                failed += 1
                print(f"FAIL [{case.__name__}]: {e}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)  # the crafted captures
    print(f"{len(CASES) - failed} of {len(CASES)} passed in {time.monotonic() - started:.1f} s")
    sys.exit(1 if failed else 0)

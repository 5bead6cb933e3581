#!/usr/bin/python3
"""Soak test of `wssniff proxy`: waves of connections opening, exchanging messages (a third of
them under permessage-deflate with context takeover, some fragmented) and closing in three
ways, for a bounded time, while the proxy's resident memory and open descriptors are sampled
every 0.5 s.

    soak.py WSSNIFF RECORDS_DIR [--seconds 45] [--peak 300] [--output file|rotate|flapping-tcp]
            [--drop]

Afterwards: the descriptors are exactly those the idle proxy started with, its memory is back
within a stated allowance, every byte arrived unchanged, and the records hold one handshake and
exactly one close per connection, the right frame counts and no error.

Where the records go (--output): one file; `rotate`: segments, a new one every second
(--rotate-time 1), read back in order without the repeated handshakes; `flapping-tcp`: a TCP
listener (wssniff_kit.sinks) that goes away for --down seconds every --flap seconds, so the
proxy keeps reconnecting under load. Lossless (the default), every record arrives once; with
--drop (--drop-when-behind and a small --queue) records are dropped while the listener is away,
and each connection's missing records must equal what its records_dropped errors count.
scripts/soak runs the long version (30 minutes of each).
"""

import argparse
import glob
import hashlib
import re
import os
import random
import resource
import selectors
import socket
import sys
import threading
import time
import zlib

from wssniff_kit.checks import CheckFailed, check, log
from wssniff_kit.echo import EchoUpstream
from wssniff_kit.heads import rewrite_host, take_upgrade_response, upgrade_request, websocket_key
from wssniff_kit.proxy import RETAINED_KB_PER_PEAK_CONNECTION, RSS_SETTLE_KB, Proxy, RssMonitor
from wssniff_kit.records import brief, iter_ndjson, parse_ndjson, sample_for_schema
from wssniff_kit.sinks import LineListener
from wssniff_kit.runner import run_within_budget
from wssniff_kit.sockets import LOOPBACK
from wssniff_kit.wire import (OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_TEXT, close_payload, frame,
                              mask_key, parse_frame)

DEFLATE = "permessage-deflate"
# Resident memory the proxy may reach at the peak: 300 connections each with their decoders,
# zlib windows for a third of them and a 64 KiB buffer per direction while data flows.
RSS_CEILING_KB = int(128 * 1024 * float(os.environ.get("WSSNIFF_RSS_FACTOR", "1")))


class Client:
    """One connection of a wave: upgrade, some messages each echoed, then one way to end:
    "close" (close handshake, the server closes first), "half" (close frame, then its own FIN
    at once) or "reset" (RST once every echo is in)."""

    def __init__(self, index, proxy_port, upstream_authority, rng):
        self.index = index
        self.key = websocket_key(100000 + index)
        self.deflate = rng.random() < 0.34
        self.ending = rng.choices(["close", "half", "reset"], [8, 1, 1])[0]
        extra = [("Sec-WebSocket-Extensions", DEFLATE)] if self.deflate else []
        request = upgrade_request(f"{LOOPBACK}:{proxy_port}", self.key, extra=extra)
        self.sock = socket.create_connection((LOOPBACK, proxy_port), timeout=5)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.outbox = bytearray(request)
        # What the upstream must receive: the request with Host rewritten, then the frames.
        self.expected_upstream = hashlib.sha256(rewrite_host(request, upstream_authority))
        self.sent_count = len(rewrite_host(request, upstream_authority))
        self.received = hashlib.sha256()
        self.received_count = 0
        self.inbox = bytearray()
        self.phase = "upgrading"
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, -15) if self.deflate else None
        self.rng = rng
        self.messages = [self.make_message() for _ in range(rng.randrange(1, 9))]
        self.next_message = 0
        self.frames_c2s = 0
        self.frames_echoed = 0
        self.ended = None

    def make_message(self):
        size = self.rng.choice([self.rng.randrange(0, 200), self.rng.randrange(200, 4000),
                                self.rng.randrange(20000, 70000)])
        text = self.rng.random() < 0.5
        if text:
            data = (b"connection %d says %d; " % (self.index, self.rng.randrange(10**6)) *
                    (size // 20 + 1))[:size]
        else:
            data = self.rng.randbytes(size)
        return OP_TEXT if text else OP_BINARY, data, self.rng.choice([1, 1, 1, 2, 3])

    def put(self, data):
        self.outbox += data
        self.expected_upstream.update(data)
        self.sent_count += len(data)

    def send_message(self):
        opcode, data, parts = self.messages[self.next_message]
        self.next_message += 1
        rsv = 0
        if self.deflate:
            data = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
            data = data[:-4]
            rsv = 4
        step = max(1, -(-len(data) // parts))
        pieces = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
        for i, piece in enumerate(pieces):
            self.put(frame(opcode if i == 0 else OP_CONTINUATION, piece,
                           fin=i == len(pieces) - 1, rsv=rsv if i == 0 else 0,
                           mask=mask_key(self.index * 64 + self.frames_c2s)))
            self.frames_c2s += 1

    def on_bytes(self):
        if self.phase == "upgrading":
            head = take_upgrade_response(self.inbox, self.key, f"client {self.index}")
            if head is None:
                return
            check((DEFLATE.encode() in head) == self.deflate,
                  f"client {self.index}: deflate not negotiated as offered")
            self.phase = "messaging"
            self.send_message()
        while True:
            parsed, size = parse_frame(self.inbox)
            if parsed is None:
                return
            del self.inbox[:size]
            self.frames_echoed += 1
            if parsed["opcode"] == OP_CLOSE:
                self.phase = "awaiting_eof"
                continue
            check(not parsed["masked"], f"client {self.index}: a masked server frame")
            if self.frames_echoed < self.frames_c2s:
                continue  # the rest of a fragmented message
            if self.next_message < len(self.messages):
                self.send_message()
            elif self.ending == "reset":
                self.phase = "reset"
            else:
                self.put(frame(OP_CLOSE, close_payload(1000), mask=mask_key(self.index * 64 +
                                                                            self.frames_c2s)))
                self.frames_c2s += 1
                self.phase = "closing"


    def retire(self, upstream_state):
        """Once its wave is over: the bytes each way compared with what the upstream saw, then
        all but what the record checks need let go, so a long soak's memory stays flat."""
        check(upstream_state is not None,
              f"client {self.index}: its upgrade never reached the upstream")
        check(upstream_state.received_hash.hexdigest() == self.expected_upstream.hexdigest() and
              upstream_state.received_count == self.sent_count,
              f"client {self.index}: the upstream received {upstream_state.received_count} "
              f"bytes, not the {self.sent_count} the client sent (SHA-256 compared)")
        check(upstream_state.sent_hash.hexdigest() == self.received.hexdigest() and
              upstream_state.sent_count == self.received_count,
              f"client {self.index}: received {self.received_count} bytes, not the "
              f"{upstream_state.sent_count} the upstream sent (SHA-256 compared)")
        self.message_lengths = [len(data) for _, data, _ in self.messages]
        self.bytes_c2s = upstream_state.received_count
        self.bytes_s2c = upstream_state.sent_count
        for name in ("sock", "outbox", "inbox", "compressor", "rng", "messages",
                     "expected_upstream", "received"):
            delattr(self, name)


def run_wave(clients, deadline):
    """Drives a wave until every connection has ended."""
    selector = selectors.DefaultSelector()
    for c in clients:
        selector.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    running = len(clients)
    while running:
        check(time.monotonic() < deadline,
              f"{running} of {len(clients)} connections of a wave unfinished; phases "
              f"{sorted({c.phase for c in clients if not c.ended})}")
        for key, events in selector.select(timeout=0.2):
            c = key.data
            try:
                if events & selectors.EVENT_WRITE and c.outbox:
                    n = c.sock.send(c.outbox)
                    del c.outbox[:n]
                    if not c.outbox and c.phase == "closing" and c.ending == "half":
                        c.sock.shutdown(socket.SHUT_WR)
                        c.phase = "half-closed"
                data = c.sock.recv(262144) if events & selectors.EVENT_READ else None
            except BlockingIOError:
                data = None
            except ConnectionResetError as e:
                raise CheckFailed(f"client {c.index}: reset in phase {c.phase}: {e}")
            if data == b"":
                check(c.phase in ("awaiting_eof", "half-closed"),
                      f"client {c.index}: EOF in phase {c.phase}")
                c.ended = "eof"
            elif data:
                c.received.update(data)
                c.received_count += len(data)
                c.inbox += data
                c.on_bytes()
                if c.phase == "reset":
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    c.ended = "reset"
            if c.ended:
                selector.unregister(c.sock)
                c.sock.close()
                running -= 1
                continue
            selector.modify(c.sock, selectors.EVENT_READ |
                            (selectors.EVENT_WRITE if c.outbox else 0), c)
    selector.close()


def write_lines(path, lines):
    """Appends lines (without their newlines) to the file at `path`."""
    with open(path, "ab") as f:
        f.write(b"".join(line + b"\n" for line in lines))


def segments_of(output):
    """The segments of a rotated `output` (STEM_00001_<time>.EXT), in order."""
    stem, extension = os.path.splitext(output)
    return sorted(glob.glob(glob.escape(stem) + "_*" + glob.escape(extension)))


class Flapper:
    """Takes the listener away for `down` seconds every `every` seconds, until stopped."""

    def __init__(self, sink, every, down):
        self.sink = sink
        self.flaps = 0
        self._stop = threading.Event()
        self.failure = None

        def run():
            try:
                while not self._stop.wait(every):
                    sink.down()
                    self._stop.wait(down)
                    sink.up()
                    self.flaps += 1
            except Exception as e:  # noqa: BLE001 - raised by stop()
                self.failure = e
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        if self.failure:
            raise self.failure


def records_of(client):
    """The records a connection makes: its handshake and close, and each frame and message
    twice (the upstream echoes them)."""
    return 2 + 2 * client.frames_c2s + 2 * len(client.message_lengths)


KINDS = {"handshake": 0, "frame": 1, "message": 2, "close": 3}


def check_drops_counted(records, clients, stderr):
    """--drop: each connection's records are a subset of what it should have, none twice, and
    what is missing is exactly what its records_dropped errors count; stderr says the total."""
    expected = {c.index + 1: records_of(c) for c in clients}
    got = {}
    reported = {}
    seen = set()
    for r in records:
        conn = r["conn"]
        if r["type"] == "error":
            check(r["code"] == "records_dropped", f"conn {conn}: error {brief(r)}")
            m = re.search(r"(\d+) of this connection's records$", r["message"])
            check(m is not None, f"conn {conn}: records_dropped says {r['message']!r}")
            reported[conn] = reported.get(conn, 0) + int(m.group(1))
            continue
        # One int per record (a tuple would take three times the memory in a long soak).
        key = ((conn * 4 + KINDS[r["type"]]) * 2 + (r.get("dir") == "s2c")) << 20 | \
            (r.get("seq") or 0)
        check(key not in seen, f"conn {conn}: {r['type']} {r.get('dir')} {r.get('seq')} "
                               f"arrived twice")
        seen.add(key)
        got[conn] = got.get(conn, 0) + 1
    check(set(got) | set(reported) <= set(expected), "records of unknown connections")
    for conn, want in expected.items():
        missing = want - got.get(conn, 0)
        check(missing == reported.get(conn, 0),
              f"conn {conn}: {missing} of {want} records missing, "
              f"{reported.get(conn, 0)} reported dropped")
    total = sum(reported.values())
    said = re.search(r"wssniff: (\d+) records dropped", stderr)
    check(total == 0 and said is None or said is not None and int(said.group(1)) == total,
          f"{total} records reported dropped in the records; stderr: {stderr[-500:]!r}")
    log(f"{total} records dropped, each counted in its connection's records_dropped; "
        f"{sum(got.values())} arrived once each")
    return records


def soak(args):
    # Each connection is a client and an upstream socket here, and two in the proxy, which
    # inherits the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 4 * args.peak + 256
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    name = "soak" if args.output == "file" and not args.drop else \
        f"soak-{args.output}{'-drop' if args.drop else ''}"
    sample = os.path.join(args.records_dir, f"faults-{name}.ndjson")
    output = sample + ".full"
    for path in [sample, output] + segments_of(output):
        if os.path.exists(path):
            os.unlink(path)
    upstream = EchoUpstream(keep=False, deflate=True)
    proxy_args = ["--emit", "both", "--payload", "none"]
    if args.drop:
        proxy_args += ["--drop-when-behind", "--queue", "256"]
    sink = None
    flapper = None
    if args.output == "rotate":
        proxy_args += ["--rotate-time", "1"]
    if args.output == "flapping-tcp":
        sink = LineListener()
        proxy_args += ["--output", sink.url, "--instance", "soak"]
        proxy = Proxy(args.wssniff, upstream.port, None, proxy_args)
        flapper = Flapper(sink, args.flap, args.down)
    else:
        proxy = Proxy(args.wssniff, upstream.port, output, proxy_args)
    sampler = None
    try:
        sampler = RssMonitor(proxy, interval=0.5, descriptors=True)
        rng = random.Random(args.seed)
        clients = []
        started = time.monotonic()
        waves = 0
        idle_rss = []  # (seconds, kB) once each wave is over
        while time.monotonic() - started < args.seconds:
            # Waves of different sizes, the largest at the peak.
            size = args.peak if waves % 3 == 0 else rng.randrange(args.peak // 4, args.peak)
            wave = [Client(len(clients) + i, proxy.port, upstream.authority, rng)
                    for i in range(size)]
            clients += wave
            run_wave(wave, time.monotonic() + 60)
            waves += 1
            proxy.wait_idle(timeout=20, what=f"wave {waves} torn down")
            for c in wave:
                c.retire(upstream.connections.pop(c.key, None))
            if sink is not None and not args.drop:
                # Idle means the queue is empty too: records still queued for a listener that
                # was away when the wave ended would be counted as the proxy's growth.
                want = sum(records_of(c) for c in clients)
                got = sink.wait_lines(want, timeout=20)
                check(got >= want, f"wave {waves}: {got} of {want} records reached the "
                                   f"listener within 20 s of the wave's end")
            idle_rss.append((time.monotonic() - started, proxy.rss_kb()))
            if sink is not None:
                write_lines(output, sink.take_lines())
        load_ended = time.monotonic()
        if flapper:
            flapper.stop()
        proxy.wait_idle(timeout=20, what="every connection torn down after the soak")
        check(not upstream.failures, f"upstream: {upstream.failures[:3]}")
        peak_fds = max(s[2] for s in sampler.history)
        peak_rss = max(s[1] for s in sampler.history)
        log(f"{len(clients)} connections in {waves} waves over {load_ended - started:.1f} s; "
            f"{len(sampler.history)} samples: RSS {proxy.baseline_rss_kb} kB at start, peak "
            f"{peak_rss} kB; descriptors {len(proxy.baseline_fds)} at start, peak {peak_fds}")
        log("RSS (kB) every 5 s: " + " ".join(str(s[1]) for s in sampler.history[::10]))
        check(peak_fds > args.peak // 2, f"at most {peak_fds} descriptors: the waves never "
                                             f"had many connections open at once")
        check(peak_rss < RSS_CEILING_KB, f"proxy RSS peaked at {peak_rss} kB, ceiling "
                                         f"{RSS_CEILING_KB} kB")
        # Back to the start: the same descriptors exactly; memory within what the allocator
        # keeps after the peak. glibc keeps the heap the peak needed (harness:
        # RETAINED_KB_PER_PEAK_CONNECTION), twice that here: a connection under
        # permessage-deflate also had two zlib streams and their windows.
        proxy.check_no_leaks(rss_tolerance_kb=RSS_SETTLE_KB +
                             args.peak * 2 * RETAINED_KB_PER_PEAK_CONNECTION,
                             what="after the soak")
        # And no trend: retained memory levels off after the first waves, a leak keeps growing
        # with the connections. From a third of the way on, the proxy's idle RSS between waves
        # may rise by RSS_SETTLE_KB at most.
        third = idle_rss[len(idle_rss) // 3]
        log(f"idle RSS between waves (kB): {third[1]} after {third[0]:.0f} s, {idle_rss[-1][1]} "
            f"at the end; " +
            " ".join(str(kb) for _, kb in idle_rss[::max(1, len(idle_rss) // 12)]))
        check(idle_rss[-1][1] - third[1] <= RSS_SETTLE_KB,
              f"the idle proxy's RSS grew from {third[1]} kB after {third[0]:.0f} s to "
              f"{idle_rss[-1][1]} kB at the end: it grows with the connections")
        # A reconnected output is another socket, a rotated one another segment: sockets
        # compare by kind, segments by name without their number and time.
        def kinds(fds):
            return sorted(re.sub(r"_\d{5}_\d{8}T\d{6}Z", "_SEGMENT",
                                 re.sub(r"^socket:\[\d+\]$", "socket", fd)) for fd in fds)
        check(kinds(proxy.open_fds()) == kinds(proxy.baseline_fds),
              f"descriptors differ from the start: {proxy.open_fds()} vs {proxy.baseline_fds}")
        sampler.stop()
        proxy.check_clean_exit(leaks=False)
        stderr = proxy.stderr_text()
    finally:
        if sampler:
            sampler.stop()
        if flapper:
            flapper.stop()
        proxy.stop()
        upstream.close()
    if sink is not None:
        check(not sink.failures and not sink.partial,
              f"listener: {sink.failures} {[p[:80] for p in sink.partial]}")
        write_lines(output, sink.take_lines())
        log(f"the listener was away {flapper.flaps} times; {sink.connections} connections to it")
        check(flapper.flaps >= 2 and sink.connections >= 2,
              "the listener never went away and came back")
        sink.close()
    elif args.output == "rotate":
        segments = segments_of(output)
        check(len(segments) >= args.seconds / 2,
              f"{len(segments)} segments in {args.seconds} s with --rotate-time 1")
        with open(output, "wb") as whole:
            for path in segments:
                with open(path, "rb") as f:
                    data = f.read()
                # Each segment stands alone: its first records repeat the handshakes of the
                # connections still open.
                for r, line in zip(parse_ndjson(data, path), data.split(b"\n")):
                    if not r.get("repeat"):
                        whole.write(line + b"\n")
                os.unlink(path)
        log(f"{len(segments)} segments read back in order, repeats left out")

    if args.drop:
        check_drops_counted(iter_ndjson(output), clients, stderr)
    else:
        check_records(iter_ndjson(output), clients)
    sample_for_schema(output, sample, lines=5000)


REASONS = {"close": ("server_closed",), "half": ("client_closed", "server_closed"),
           "reset": ("client_reset",)}


def check_records(records, clients):
    """Lossless: each connection has one handshake first, its frames and messages as sent
    (each echoed), and one close last that counts the bytes the upstream saw. Checked as the
    records stream past, a connection's tallies let go at its close."""
    by_key = {c.key.decode(): c for c in clients}  # client ports come round again; keys do not
    open_conns = {}  # conn -> [client, frames by dir, message (len, compressed) by dir]
    closed = set()
    total = 0
    for r in records:
        total += 1
        conn = r.get("conn")
        kind = r.get("type")
        check(kind != "error", f"an error record: {brief(r)}")
        check(conn not in closed, f"conn {conn}: a {kind} record after its close record")
        if kind == "handshake":
            check(conn not in open_conns, f"conn {conn}: two handshake records")
            keys = [v for n, v in r["request_headers"] if n.lower() == "sec-websocket-key"]
            c = by_key.get(keys[0]) if keys else None
            check(c is not None and r["client"] == f"{LOOPBACK}:{c.port}",
                  f"conn {conn}: client {r['client']} with key {keys} is none of ours")
            open_conns[conn] = [c, {"c2s": 0, "s2c": 0}, {"c2s": [], "s2c": []}]
            continue
        check(conn in open_conns, f"conn {conn}: a {kind} record before its handshake")
        c, frames, messages = open_conns[conn]
        if kind == "frame":
            frames[r["dir"]] += 1
        elif kind == "message":
            messages[r["dir"]].append((r["len"], r["compressed"]))
        elif kind == "close":
            check(r["reason"] in REASONS[c.ending],
                  f"conn {conn} ({c.ending}): close reason {r['reason']}")
            check(r["bytes_c2s"] == c.bytes_c2s and r["bytes_s2c"] == c.bytes_s2c,
                  f"conn {conn}: close record counts {r['bytes_c2s']}/{r['bytes_s2c']} bytes, "
                  f"the upstream received {c.bytes_c2s} and sent {c.bytes_s2c}")
            for direction in ("c2s", "s2c"):
                check(r[f"frames_{direction}"] == c.frames_c2s == frames[direction],
                      f"conn {conn} {direction}: close record says "
                      f"{r[f'frames_{direction}']} frames, {frames[direction]} frame records, "
                      f"client sent {c.frames_c2s}")
                check(messages[direction] == [(n, c.deflate) for n in c.message_lengths],
                      f"conn {conn} {direction}: message records do not match the messages "
                      f"sent")
            del open_conns[conn]
            closed.add(conn)
    check(not open_conns, f"{len(open_conns)} connections without a close record: "
                          f"{sorted(open_conns)[:5]}")
    check(closed == set(range(1, len(clients) + 1)),
          f"{len(closed)} connections closed in the records, {len(clients)} made")
    log(f"{total} records: every connection one handshake, one close, frame and message "
        f"records as sent, bytes as the upstream saw them; endings "
        f"{ {e: sum(c.ending == e for c in clients) for e in REASONS} }, "
        f"deflate on {sum(c.deflate for c in clients)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("wssniff")
    parser.add_argument("records_dir")
    parser.add_argument("--seconds", type=float, default=45, help="how long the waves go on")
    parser.add_argument("--peak", type=int, default=300, help="connections in the largest wave")
    parser.add_argument("--seed", type=int, default=6455)
    parser.add_argument("--output", choices=["file", "rotate", "flapping-tcp"], default="file",
                        help="where the records go (see above)")
    parser.add_argument("--drop", action="store_true",
                        help="--drop-when-behind --queue 256: drops must all be counted")
    parser.add_argument("--flap", type=float, default=1.0,
                        help="flapping-tcp: seconds between the listener's departures")
    parser.add_argument("--down", type=float, default=0.3,
                        help="flapping-tcp: seconds the listener stays away each time")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds before giving up (default: --seconds + 60)")
    args = parser.parse_args()
    os.makedirs(args.records_dir, exist_ok=True)
    budget = args.budget or args.seconds + 60

    return run_within_budget("soak", budget, lambda: soak(args))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Slow and stopped readers: a client that stops reading (the proxy's memory must stay
bounded), and a reader on each side that stops, then reads slowly.

    slow_readers.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Each case runs its own upstream and its own proxy (records in RECORDS_DIR/faults-CASE*.ndjson,
which the schema suite validates afterwards) and ends in one PASS or FAIL line
(wssniff_kit.runner). Cases: slow_consumer, stopped_reader_client, stopped_reader_server.
"""

import random
import select
import socket
import statistics
import sys
import threading
import time

from wssniff_kit.checks import CheckFailed, check, log
from wssniff_kit.pairs import upgrade, wait_stalled
from wssniff_kit.proxy import RssMonitor
from wssniff_kit.records import (check_close, check_errors, check_no_errors, check_only_conns,
                                 of_type)
from wssniff_kit.runner import run_cases
from wssniff_kit.sockets import in_background, kernel_queues
from wssniff_kit.wire import OP_BINARY, OP_TEXT, frame, frame_header, mask_key, parse_frame


class Pinger:
    """Round trips of small text messages through one connection, timed, until stopped; the
    upstream's echo runs on the same thread."""

    def __init__(self, client, server):
        self.client, self.server = client, server
        self.round_trips = []  # (when, seconds)
        self.stopped = threading.Event()
        self.join = in_background(self._run)

    def _run(self):
        n = 0
        while not self.stopped.is_set():
            payload = f"ping {n}".encode()
            started = time.monotonic()
            self.client.send(frame(OP_TEXT, payload, mask=mask_key(n)))
            got = self.server.recv_frame(timeout=5)
            check(got["payload"] == payload and got["opcode"] == OP_TEXT,
                  f"upstream got {got} for ping {n}")
            self.server.send(frame(OP_TEXT, payload))
            echoed = self.client.recv_frame(timeout=5)
            check(echoed["payload"] == payload, f"client got {echoed} for ping {n}")
            self.round_trips.append((started, time.monotonic() - started))
            n += 1
            self.stopped.wait(0.02)

    def stop(self):
        self.stopped.set()
        self.join()

    def between(self, start, end):
        return [t for when, t in self.round_trips if start <= when < end]


def describe_rtts(rtts):
    if not rtts:
        return "none"
    return (f"{len(rtts)} round trips, median {statistics.median(rtts) * 1000:.1f} ms, "
            f"max {max(rtts) * 1000:.1f} ms")


def held_by_proxy(sent, proxy, upstream, frame_size=64 * 1024):
    """Of `sent` bytes stuck between a sender and a reader that stopped, how many the proxy
    itself holds: what the kernel holds in the sockets on the way (the sender's, the proxy's
    two and the reader's) is taken off. That part is the kernel's choice: receive buffers
    autotune up to net.ipv4.tcp_rmem's maximum (6 MiB on stock Debian, 32 MiB on some hosts),
    so the total says little about the proxy. The proxy reads into one 256 KiB buffer per
    direction and reads again only once it is written, so it holds at most that much. The
    bound below is four times that: room for what this accounting cannot see exactly, and still
    a small fraction of the megabytes a proxy that buffered would hold."""
    queued = kernel_queues({proxy.port, upstream.port})
    held = sent - queued
    # `sent` counts whole frames sendall() has returned for; the kernel may already hold part
    # of the next one. Anything further below zero means the accounting is wrong.
    check(held > -frame_size - 1024, f"the kernel holds {queued} bytes but only {sent} were "
                                     f"sent: the socket accounting is wrong")
    check(held <= 1 << 20, f"the proxy itself holds {held} bytes of the {sent} sent before "
                           f"blocking (the kernel {queued}): it buffers far too much")
    return held


def slow_consumer(ctx):
    upstream = ctx.upstream()
    # Payloads are not what this is about; hex of 200 MB would dwarf the traffic.
    proxy = ctx.proxy(upstream.port, ctx.output(), ["--payload", "none"])
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    reader, blaster, request_a, response_a = upgrade(ctx, proxy, upstream, 1, name=" A")
    client_b, server_b, _, _ = upgrade(ctx, proxy, upstream, 2, name=" B")
    reader.start_phase(keep=False)
    blaster.start_phase(keep=False)

    frame_size, frames = 64 * 1024, 3200  # 200 MiB
    block = random.Random(7).randbytes(1 << 20)

    def blast():
        header = frame_header(OP_BINARY, frame_size)
        for i in range(frames):
            start = (i * 40503) % (len(block) - frame_size)
            blaster.send(header + block[start:start + frame_size], timeout=60)
        blaster.shutdown_write()

    pinger = Pinger(client_b, server_b)
    ctx.stack.callback(pinger.stopped.set)
    started = time.monotonic()
    join_blast = in_background(blast)
    stalled_at = wait_stalled(lambda: blaster.sent_count, what="the upstream's sending")
    stall_began = time.monotonic()
    time.sleep(1.5)
    check(blaster.sent_count == stalled_at,
          f"the upstream went on sending ({blaster.sent_count - stalled_at} bytes) while the "
          f"client read nothing")
    stall_ended = time.monotonic()
    total = frames * (frame_size + len(frame_header(OP_BINARY, frame_size)))
    log(f"upstream blocked after sending {stalled_at / 2**20:.1f} MiB of {total / 2**20:.0f} MiB "
        f"({stall_began - started:.2f} s); proxy RSS peak so far {rss.peak_kb / 1024:.1f} MiB")
    check(stalled_at < total, f"the upstream sent all {total} bytes: it never blocked")
    held = held_by_proxy(stalled_at, proxy, upstream)
    log(f"the proxy itself held {held / 2**10:.0f} KiB of it, the kernel's socket buffers the "
        f"rest")

    deadline = time.monotonic() + 45
    while True:
        try:
            chunk = reader.read_some(deadline)
        except socket.timeout:
            raise CheckFailed(f"client A read only {reader.received_count} of {total} bytes "
                              f"within 45 s")
        if not chunk:
            break
    drained = time.monotonic()
    join_blast(10)
    pinger.stop()
    rss.stop()
    log(f"client A read {reader.received_count / 2**20:.1f} MiB in {drained - stall_ended:.2f} s "
        f"after it resumed")
    check(reader.received_count == total == blaster.sent_count,
          f"client A received {reader.received_count} bytes, upstream sent "
          f"{blaster.sent_count}, expected {total}")
    check(reader.received_hash.hexdigest() == blaster.sent_hash.hexdigest(),
          "client A's bytes differ from what the upstream sent (SHA-256)")
    stalled_rtts = pinger.between(stall_began, stall_ended)
    all_rtts = [t for _, t in pinger.round_trips]
    log(f"connection B while A was stalled: {describe_rtts(stalled_rtts)}; "
        f"over the whole run: {describe_rtts(all_rtts)}")
    log(f"proxy RSS peak {rss.peak_kb / 1024:.1f} MiB over {rss.samples} samples")
    rss.check_ceiling()
    check(len(stalled_rtts) >= 20, f"connection B made only {len(stalled_rtts)} round trips in "
                                   f"the {stall_ended - stall_began:.1f} s A was stalled")
    # Generous bounds: the machine may be busy; a connection stuck behind A would take
    # seconds.
    check(statistics.median(stalled_rtts) < 0.05,
          f"connection B's round trips took {statistics.median(stalled_rtts) * 1000:.0f} ms "
          f"(median) while A was stalled")
    check(max(stalled_rtts) < 0.5, f"connection B's round trips took up to "
                                   f"{max(stalled_rtts) * 1000:.0f} ms while A was stalled")
    check(max(all_rtts) < 1.0, f"connection B's round trips took up to "
                               f"{max(all_rtts) * 1000:.0f} ms while A was draining")

    reader.close()
    blaster.expect_eof(what="EOF after client A closed")
    blaster.close()
    pings = len(pinger.round_trips)
    client_b.close()
    server_b.expect_eof(what="EOF after client B closed")
    server_b.close()
    proxy.wait_idle()
    proxy.check_clean_exit()

    records = proxy.records()
    check_only_conns(records, [1, 2])
    frames_a = of_type(records, "frame", 1, "s2c")
    check([f.get("seq") for f in frames_a] == list(range(frames)),
          f"conn 1 has {len(frames_a)} s2c frame records, expected seq 0..{frames - 1}")
    check(all(f.get("len") == frame_size and f.get("op") == "binary" for f in frames_a),
          "conn 1 frame records with the wrong length or opcode")
    check_errors(records, 1, [])
    check_errors(records, 2, [])
    check_close(records, 1, "server_closed", bytes_c2s=len(request_a),
                bytes_s2c=len(response_a) + total, frames_c2s=0, frames_s2c=frames)
    check_close(records, 2, "client_closed", frames_c2s=pings, frames_s2c=pings)


def stopped_reader(ctx, stopping):
    """`stopping` ("client" or "server") stops reading while the other side sends 32 MiB to it,
    then reads slowly, then at full speed. Meanwhile it keeps sending small messages the other
    way through the same connection: that direction must not wait for the stalled one. The
    proxy's memory stays flat and every byte arrives unchanged."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output(), ["--payload", "none"])
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    client, server, request, response = upgrade(ctx, proxy, upstream, 1)
    reader, blaster = (client, server) if stopping == "client" else (server, client)
    reader_dir = "c2s" if stopping == "client" else "s2c"  # the direction that keeps flowing
    blast_dir = "s2c" if stopping == "client" else "c2s"
    for peer in (client, server):
        peer.start_phase(keep=False)
        # Two threads use each socket from here on: one timeout for the whole run, never
        # changed, and reads only after select() says there is data.
        peer.sock.settimeout(30)

    # Twice what the kernel may buffer on the way (the sender's, the proxy's two and the
    # receiver's socket buffers: about 20 MiB on loopback), so a stall is seen well before the
    # end.
    frame_size, frames = 64 * 1024, 1024  # 64 MiB
    rng = random.Random(11)
    masked = blast_dir == "c2s"
    prebuilt = [frame(OP_BINARY, rng.randbytes(frame_size),
                      mask=mask_key(k) if masked else None) for k in range(16)]
    total = sum(len(prebuilt[k % len(prebuilt)]) for k in range(frames))

    def blast():
        for k in range(frames):
            data = prebuilt[k % len(prebuilt)]
            blaster.sock.sendall(data)
            blaster.note_sent(data)

    pings_sent = {}  # n -> when sent
    pings_seen = {}  # n -> when it arrived
    stop_pings = threading.Event()

    def send_pings():
        n = 0
        while not stop_pings.is_set():
            data = frame(OP_TEXT, f"ping {n}".encode(),
                         mask=mask_key(n) if reader_dir == "c2s" else None)
            pings_sent[n] = time.monotonic()
            reader.sock.sendall(data)
            reader.note_sent(data)
            n += 1
            stop_pings.wait(0.02)

    def receive_pings():
        inbox = bytearray()
        deadline = time.monotonic() + 60
        while len(pings_seen) < len(pings_sent) or not stop_pings.is_set():
            check(time.monotonic() < deadline, "pings still missing after 60 s")
            ready, _, _ = select.select([blaster.sock], [], [], 0.05)
            if not ready:
                continue
            data = blaster.sock.recv(65536)
            check(data, f"the {blast_dir} sender got EOF while waiting for pings")
            blaster.note_received(data)
            inbox += data
            while True:
                parsed, size = parse_frame(inbox)
                if parsed is None:
                    break
                del inbox[:size]
                n = int(parsed["payload"].split()[1])
                pings_seen[n] = time.monotonic()

    started = time.monotonic()
    join_blast = in_background(blast)
    join_ping_sender = in_background(send_pings)
    join_ping_receiver = in_background(receive_pings)

    stalled_at = wait_stalled(lambda: blaster.sent_count, what=f"the {blast_dir} sending")
    stall_began = time.monotonic()
    time.sleep(1.0)
    check(blaster.sent_count == stalled_at, f"the {blast_dir} sender went on "
                                            f"({blaster.sent_count - stalled_at} bytes) while "
                                            f"the {stopping} read nothing")
    check(stalled_at < total, f"the {blast_dir} sender sent all {total} bytes: it never blocked")
    held = held_by_proxy(stalled_at, proxy, upstream)
    log(f"the {blast_dir} sender blocked after {stalled_at / 2**20:.1f} MiB of "
        f"{total / 2**20:.0f} MiB ({stall_began - started:.2f} s); the proxy itself held "
        f"{held / 2**10:.0f} KiB of it, the kernel's socket buffers the rest")

    def read_available(limit, deadline):
        ready, _, _ = select.select([reader.sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return 0
        data = reader.sock.recv(limit)
        check(data, f"the {stopping} got EOF before all {total} bytes")
        reader.note_received(data)
        return len(data)

    # A slow reader: 16 KiB every 10 ms, for a second and then until the sender has moved on
    # (at most 10 s): the kernel's buffers on both legs, autotuned to megabytes, have to drain
    # far enough before a window opens back to the sender, which under a sanitizer on a loaded
    # machine can take longer than the first second.
    slow_began = time.monotonic()
    while time.monotonic() - slow_began < 1.0 or (blaster.sent_count == stalled_at and
                                                  time.monotonic() - slow_began < 10.0):
        read_available(16 * 1024, time.monotonic() + 0.5)
        time.sleep(0.01)
    slow_ended = time.monotonic()
    check(blaster.sent_count > stalled_at, f"the {blast_dir} sender did not move on while the "
                                           f"{stopping} read slowly")
    log(f"reading slowly for {slow_ended - slow_began:.2f} s: {stopping} read "
        f"{reader.received_count / 2**20:.2f} MiB, the sender moved on by "
        f"{(blaster.sent_count - stalled_at) / 2**20:.2f} MiB")
    deadline = time.monotonic() + 30
    while reader.received_count < total:
        check(time.monotonic() < deadline, f"the {stopping} read {reader.received_count} of "
                                           f"{total} bytes in 30 s")
        read_available(262144, deadline)
    join_blast(10)
    stop_pings.set()
    join_ping_sender(10)
    join_ping_receiver(10)
    rss.stop()

    check(reader.received_count == total == blaster.sent_count,
          f"the {stopping} received {reader.received_count} bytes, sent {blaster.sent_count}")
    check(reader.received_hash.hexdigest() == blaster.sent_hash.hexdigest(),
          f"the {stopping}'s bytes differ from what was sent (SHA-256)")
    check(blaster.received_hash.hexdigest() == reader.sent_hash.hexdigest(),
          f"the {blast_dir} sender's pings differ from what was sent (SHA-256)")
    during = [pings_seen[n] - pings_sent[n] for n in pings_sent
              if stall_began <= pings_sent[n] < slow_ended]
    everything = [pings_seen[n] - pings_sent[n] for n in pings_sent]
    log(f"{reader_dir} while {blast_dir} was stalled or slow: {describe_rtts(during)}; "
        f"over the whole run: {describe_rtts(everything)}; "
        f"proxy RSS peak {rss.peak_kb / 1024:.1f} MiB")
    check(len(during) >= 40, f"only {len(during)} {reader_dir} messages in the "
                             f"{slow_ended - stall_began:.1f} s of stall and slow reading")
    check(statistics.median(during) < 0.05, f"{reader_dir} messages took "
                                            f"{statistics.median(during) * 1000:.0f} ms "
                                            f"(median) while {blast_dir} was stalled")
    check(max(everything) < 0.5, f"a {reader_dir} message took {max(everything) * 1000:.0f} ms")
    rss.check_ceiling()

    pings = len(pings_sent)
    reader.close()
    blaster.expect_eof(what=f"EOF after the {stopping} closed")
    blaster.close()
    proxy.wait_idle()
    proxy.check_clean_exit()
    records = proxy.records()
    check_only_conns(records, [1])
    check_no_errors(records, 1)
    blast_frames = of_type(records, "frame", 1, blast_dir)
    check([f.get("seq") for f in blast_frames] == list(range(frames)),
          f"{len(blast_frames)} {blast_dir} frame records, expected seq 0..{frames - 1}")
    ping_frames = of_type(records, "frame", 1, reader_dir)
    check(len(ping_frames) == pings, f"{len(ping_frames)} {reader_dir} frame records for "
                                     f"{pings} messages")
    counts = {blast_dir: frames, reader_dir: pings}
    sizes = {blast_dir: total, reader_dir: reader.sent_count}
    check_close(records, 1, f"{stopping}_closed",
                bytes_c2s=len(request) + sizes["c2s"], bytes_s2c=len(response) + sizes["s2c"],
                frames_c2s=counts["c2s"], frames_s2c=counts["s2c"])


def stopped_reader_client(ctx):
    stopped_reader(ctx, "client")


def stopped_reader_server(ctx):
    stopped_reader(ctx, "server")


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, [slow_consumer, stopped_reader_client, stopped_reader_server]))

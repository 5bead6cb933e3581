#!/usr/bin/python3
"""The records' consumer: one that stops reading (lossless and dropping), and one that goes away.

    output.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Each case runs its own upstream and its own proxy (records in RECORDS_DIR/faults-CASE*.ndjson,
which the schema suite validates afterwards) and ends in one PASS or FAIL line
(wssniff_kit.runner). Cases: stopped_output_consumer, stopped_output_consumer_drop,
output_reader_gone.
"""

import os
import random
import re
import sys
import time

from wssniff_kit.checks import check, log
from wssniff_kit.pairs import upgrade, wait_stalled
from wssniff_kit.proxy import RssMonitor
from wssniff_kit.records import (Side, brief, check_close, check_errors, check_only_conns, of_type,
                                 parse_ndjson)
from wssniff_kit.runner import run_cases
from wssniff_kit.sockets import in_background
from wssniff_kit.wire import OP_BINARY, OP_TEXT, frame, mask_key


class Drain:
    """Reads the proxy's stdout to EOF on a thread."""

    def __init__(self, stream):
        self.data = bytearray()
        self.join = in_background(self._run, stream)

    def _run(self, stream):
        while True:
            chunk = os.read(stream.fileno(), 1 << 16)
            if not chunk:
                return
            self.data += chunk


def output_traffic(ctx, drop):
    upstream = ctx.upstream()
    args = ["--queue", "256", "--max-payload", "32"] + (["--drop-when-behind"] if drop else [])
    proxy = ctx.proxy(upstream.port, None, args)
    ctx.stack.callback(proxy.stdout.close)
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    client, server, request, response = upgrade(ctx, proxy, upstream, 1)
    client.start_phase(keep=False)
    server.start_phase(keep=False)

    payload_size, frames = 16 * 1024, 8000  # 125 MiB
    rng = random.Random(10)
    prebuilt = [frame(OP_BINARY, rng.randbytes(payload_size), mask=mask_key(k))
                for k in range(64)]
    total = frames * len(prebuilt[0])

    def send_all():
        for k in range(frames):
            client.send(prebuilt[k % len(prebuilt)], timeout=60)
        client.shutdown_write()

    def receive_all():
        deadline = time.monotonic() + 85
        while server.read_some(deadline):
            pass

    started = time.monotonic()
    join_send = in_background(send_all)
    join_receive = in_background(receive_all)
    return (proxy, rss, client, server, request, response, frames, total, started, join_send,
            join_receive)


def parse_records_output(ctx, data):
    with open(ctx.output(), "wb") as f:
        f.write(data)
    return parse_ndjson(bytes(data), "the proxy's stdout")


def stopped_output_consumer(ctx):
    (proxy, rss, client, server, request, response, frames, total, started, join_send,
     join_receive) = output_traffic(ctx, drop=False)
    received_at_stall = wait_stalled(lambda: server.received_count,
                                     what="forwarding with the records unread")
    sent_at_stall = wait_stalled(lambda: client.sent_count, quiet=0.5,
                                 what="the client's sending with the records unread")
    stalled = time.monotonic()
    time.sleep(1.0)
    check(server.received_count == received_at_stall,
          f"forwarding went on ({server.received_count - received_at_stall} bytes) with the "
          f"records output full")
    log(f"with stdout unread: upstream got {received_at_stall / 2**20:.1f} MiB, client blocked "
        f"after {sent_at_stall / 2**20:.1f} MiB of {total / 2**20:.0f} MiB "
        f"({stalled - started:.2f} s); RSS peak {rss.peak_kb / 1024:.1f} MiB")
    check(sent_at_stall < total, "the client sent everything: its sends never blocked")

    drain = Drain(proxy.stdout)
    join_send(40)
    join_receive(40)
    done = time.monotonic()
    rss.stop()
    log(f"after draining began, the rest arrived in {done - stalled - 1.0:.2f} s; "
        f"RSS peak {rss.peak_kb / 1024:.1f} MiB")
    check(server.received_count == total == client.sent_count,
          f"upstream received {server.received_count} bytes, client sent {client.sent_count}, "
          f"expected {total}")
    check(server.received_hash.hexdigest() == client.sent_hash.hexdigest(),
          "the upstream's bytes differ from what the client sent (SHA-256)")
    server.close()
    client.expect_eof(what="EOF after the upstream closed")
    client.close()
    proxy.wait_idle()
    proxy.check_clean_exit()
    drain.join(10)
    rss.check_ceiling()

    records = parse_records_output(ctx, drain.data)
    check_only_conns(records, [1])
    got = of_type(records, "frame", 1, "c2s")
    check([f.get("seq") for f in got] == list(range(frames)),
          f"{len(got)} c2s frame records, expected seq 0..{frames - 1} (lossless)")
    check(all(f.get("truncated") is True and len(f.get("hex", "")) == 64 for f in got),
          "frame records without their first 32 payload bytes or truncated: true")
    check_errors(records, 1, [])
    check_close(records, 1, "client_closed", bytes_c2s=len(request) + total,
                bytes_s2c=len(response), frames_c2s=frames, frames_s2c=0)
    log(f"{len(records)} records, none lost")


def stopped_output_consumer_drop(ctx):
    (proxy, rss, client, server, request, response, frames, total, started, join_send,
     join_receive) = output_traffic(ctx, drop=True)
    join_send(40)
    join_receive(40)
    forwarded = time.monotonic()
    log(f"with stdout unread: {total / 2**20:.0f} MiB forwarded in {forwarded - started:.2f} s "
        f"({total / 2**20 / (forwarded - started):.0f} MiB/s); RSS peak "
        f"{rss.peak_kb / 1024:.1f} MiB")
    check(server.received_count == total == client.sent_count,
          f"upstream received {server.received_count} bytes, client sent {client.sent_count}, "
          f"expected {total}")
    check(server.received_hash.hexdigest() == client.sent_hash.hexdigest(),
          "the upstream's bytes differ from what the client sent (SHA-256)")
    server.close()
    client.expect_eof(what="EOF after the upstream closed")
    client.close()
    # Torn down while nobody reads the records: the close record cannot block either.
    proxy.wait_idle()
    rss.stop()
    rss.check_ceiling()

    drain = Drain(proxy.stdout)
    proxy.check_clean_exit()
    drain.join(10)
    records = parse_records_output(ctx, drain.data)
    check_only_conns(records, [1])
    dropped_errors = [e for e in of_type(records, "error", 1) if e.get("code") == "records_dropped"]
    check(dropped_errors, f"no records_dropped error although the output was never read while "
                          f"{frames} frames passed; {len(records)} records written")
    dropped = 0
    for e in dropped_errors:
        count = re.search(r"(\d+) of this connection's records", e.get("message", ""))
        check(count, f"records_dropped does not say how many: {brief(e)}")
        dropped += int(count.group(1))
    present = [r for r in records if r not in dropped_errors]
    check_errors([r for r in records if r not in dropped_errors], 1, [])
    got = of_type(present, "frame", 1)
    expected_total = 1 + frames + 1  # handshake, frames, close
    log(f"{len(got)} of {frames} frame records written, {dropped} records reported dropped "
        f"in {len(dropped_errors)} error record(s)")
    check(len(got) < frames, "no frame record was dropped")
    check(len(present) + dropped == expected_total,
          f"{len(present)} records written + {dropped} reported dropped != {expected_total}")
    seqs = [f.get("seq") for f in got]
    check(seqs == sorted(set(seqs)), "frame records out of order or repeated")


def output_reader_gone(ctx):
    """Nobody reads the records any more (the reader of the proxy's stdout closed it, as
    `| head -1` does): the proxy says so on stderr at once, keeps forwarding every byte, and
    on SIGTERM exits 1 saying the records were not all written."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, None)
    proxy.stdout.close()
    client, server, request, response = upgrade(ctx, proxy, upstream, 1)
    started = time.monotonic()
    expected = "wssniff: cannot write records: Broken pipe; still forwarding, records are lost"
    while expected not in proxy.stderr_lines and time.monotonic() - started < 5:
        time.sleep(0.01)
    check(expected in proxy.stderr_lines, f"no {expected!r} on stderr within 5 s of the "
                                          f"handshake; stderr: {proxy.stderr_text()!r}")
    log(f"stderr said so {time.monotonic() - started:.3f} s after the handshake")
    c2s, s2c = Side("c2s"), Side("s2c")
    for k in range(50):
        data = c2s.frame(OP_TEXT, f"message {k}".encode())
        client.send(data)
        server.expect(data, what=f"client frame {k} after the output failed")
        data = s2c.frame(OP_BINARY, bytes([k]) * 3000)
        server.send(data)
        client.expect(data, what=f"server frame {k} after the output failed")
    client.close()
    server.wait_closed()
    server.close()
    proxy.wait_idle()
    proxy.check_no_leaks()
    code, _ = proxy.terminate()
    proxy._stderr_reader.join(5)
    lines = proxy.stderr_lines
    check(code == 1, f"exit code {code} after SIGTERM with lost records, expected 1; "
                     f"stderr: {proxy.stderr_text()!r}")
    check(lines.count(expected) == 1, f"the failure was said {lines.count(expected)} times")
    check(lines[-1] == "wssniff: cannot write records: Broken pipe",
          f"last stderr line {lines[-1]!r}")


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, [stopped_output_consumer, stopped_output_consumer_drop,
                                 output_reader_gone]))

#!/usr/bin/python3
"""`wssniff proxy --output kafka://BROKERS/TOPIC` against librdkafka's mock cluster:

    kafka_cases.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Debian packages no Kafka broker: the cluster is mock_cluster (beside this script, built from
mock_cluster.cpp; its path in $WSSNIFF_KAFKA_MOCK), librdkafka's own mock brokers, which speak
the protocol, and which it can take down and bring back up. The traffic is python3-websockets
clients through the proxy to the kit's echoing upstream; the records are read back with kcat
(Debian) and written to RECORDS_DIR/kafka-CASE.ndjson for the schema suite.
"""

import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time

import websockets

from wssniff_kit.checks import check, log
from wssniff_kit.processes import die_with_parent
from wssniff_kit.records import check_connections_whole, parse_ndjson
from wssniff_kit.runner import run_cases
from wssniff_kit.traffic import echo_traffic, echo_upstream

TOPIC = "wssniff"
SUMMARY = re.compile(r"^wssniff: kafka: (\d+) records delivered to (\S+), (\d+) failed, "
                     r"(\d+) undelivered")


def traffic(port, connections=6, messages=12, pause=0.01):
    echo_traffic(port, connections, messages, pause, path="k", filler=100)


class MockCluster:
    """mock_cluster BROKERS TOPIC PARTITIONS as a child: its bootstrap servers, and brokers
    taken down and brought up on command."""

    def __init__(self, brokers=3, partitions=4):
        self.process = subprocess.Popen([os.environ["WSSNIFF_KAFKA_MOCK"], str(brokers), TOPIC,
                                         str(partitions)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, preexec_fn=die_with_parent)
        line = self.process.stdout.readline()
        if not line.startswith("bootstrap "):
            self.process.kill()
            check(False, f"mock_cluster said {line!r}, stderr {self.process.stderr.read()!r}")
        self.bootstrap = line.split()[1]
        self.brokers = brokers

    def command(self, text):
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        check(answer == "ok\n", f"mock_cluster answered {answer!r} to {text!r}")

    def down(self, *ids):
        for i in ids or range(1, self.brokers + 1):
            self.command(f"down {i}")

    def up(self, *ids):
        for i in ids or range(1, self.brokers + 1):
            self.command(f"up {i}")

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
                self.process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(5)

    def url(self):
        return f"kafka://{self.bootstrap}/{TOPIC}"


def cluster(ctx, **kwargs):
    c = MockCluster(**kwargs)
    ctx.stack.callback(c.close)
    return c


def relay_sockets(proxy, upstream_port):
    """The proxy's sockets of connections it relays (accepted on its port, or to the upstream);
    the kit's wait_idle counts every socket, and the producer keeps one per broker."""
    inodes = set()
    for fd in os.listdir(f"/proc/{proxy.pid}/fd"):
        try:
            link = os.readlink(f"/proc/{proxy.pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local = int(fields[1].rsplit(":", 1)[1], 16)
                remote = int(fields[2].rsplit(":", 1)[1], 16)
                if fields[9] in inodes and fields[3] != "0A" and (
                        local == proxy.port or remote == upstream_port):
                    count += 1
    return count


def wait_idle(proxy, upstream_port, timeout=10):
    """Until the proxy has torn down every relayed connection (their close records written)."""
    deadline = time.monotonic() + timeout
    while relay_sockets(proxy, upstream_port) > 0:
        check(proxy.alive(), f"the proxy exited: {proxy.stderr_text()!r}")
        check(time.monotonic() < deadline, f"connections still open after {timeout} s")
        time.sleep(0.01)


def consume(ctx, mock, what):
    """Every message of the topic, partition by partition (kcat reads each in order), as
    (key, record); also written to RECORDS_DIR/kafka-CASE.ndjson for the schema suite."""
    done = subprocess.run(["kcat", "-C", "-b", mock.bootstrap, "-t", TOPIC, "-e", "-q",
                           "-f", "%k\t%s\n"], capture_output=True, timeout=20,
                          stdin=subprocess.DEVNULL)
    check(done.returncode == 0, f"{what}: kcat exited {done.returncode}: {done.stderr!r}")
    keys, values = [], []
    for line in done.stdout.splitlines():
        key, _, value = line.partition(b"\t")
        keys.append(key.decode())
        values.append(value)
    records = parse_ndjson(b"".join(v + b"\n" for v in values), f"{what}: the topic")
    with open(ctx.output(), "wb") as f:
        f.write(b"".join(v + b"\n" for v in values))
    log(f"{what}: {len(records)} records on the topic")
    return list(zip(keys, records))


def check_connections(pairs, connections, what):
    """Each connection whole and in order: its handshake, every frame of each direction once
    (seq 0, 1, 2... as many as its close record counts), its close last; all under the key
    HOST/RUN/CONN with one RUN. Returns the records by connection."""
    host = socket.gethostname()
    runs = set()
    for key, r in pairs:
        parts = key.split("/")
        check(len(parts) == 3 and parts[0] == host and parts[2] == str(r["conn"]),
              f"{what}: key {key!r} for a record of conn {r['conn']} (host {host})")
        runs.add(parts[1])
    check(len(runs) == 1 and all(runs), f"{what}: run ids {runs} in the keys, one expected")
    by_conn = check_connections_whole([r for _, r in pairs], what)
    check(len(by_conn) == connections,
          f"{what}: {len(by_conn)} connections on the topic, {connections} expected")
    return by_conn


def summary(proxy, what):
    """(delivered, failed, undelivered) from the proxy's last line at exit."""
    lines = [m for m in map(SUMMARY.match, proxy.stderr_lines) if m]
    check(len(lines) == 1, f"{what}: {len(lines)} summary lines on stderr: "
                           f"{proxy.stderr_text()!r}")
    m = lines[0]
    check(m.group(2) == TOPIC, f"{what}: the summary names topic {m.group(2)}")
    return int(m.group(1)), int(m.group(3)), int(m.group(4))


def delivers_in_order(ctx):
    """Six connections at once through the proxy to a 3-broker, 4-partition topic: every record
    arrives once, each connection's in order (in one partition, under one key), and SIGTERM
    ends with exit 0 and the count of records delivered."""
    mock = cluster(ctx)
    echo = echo_upstream(ctx)
    proxy = ctx.proxy(echo.port, mock.url())
    traffic(proxy.port)
    wait_idle(proxy, echo.port)
    code = proxy.stop()
    check(code == 0, f"the proxy exited {code}: {proxy.stderr_text()!r}")
    pairs = consume(ctx, mock, "delivered")
    check_connections(pairs, 6, "delivered")
    delivered, failed, undelivered = summary(proxy, "delivered")
    check((delivered, failed, undelivered) == (len(pairs), 0, 0),
          f"the proxy says {delivered} delivered, {failed} failed, {undelivered} undelivered; "
          f"the topic holds {len(pairs)}")


def brokers_fail_and_recover(ctx):
    """Lossless: every broker goes down for 1 s while six connections talk, with room for
    only 20 records in librdkafka's queue (--kafka-option) and 16 in wssniff's: the writer and
    then the relay wait, and once the brokers are back every record is delivered, once, in
    order per connection."""
    mock = cluster(ctx)
    echo = echo_upstream(ctx)
    proxy = ctx.proxy(echo.port, mock.url(),
                      ["--queue", "16", "--kafka-option", "queue.buffering.max.messages=20"])
    outage = {}

    def flap():
        time.sleep(0.4)
        mock.down()
        outage["down"] = time.monotonic()
        time.sleep(1.0)
        mock.up()
        outage["up"] = time.monotonic()

    flapper = threading.Thread(target=flap)
    flapper.start()
    started = time.monotonic()
    traffic(proxy.port, connections=6, messages=30, pause=0.02)
    took = time.monotonic() - started
    flapper.join()
    wait_idle(proxy, echo.port)
    code = proxy.stop(timeout=15)
    check(code == 0, f"the proxy exited {code}: {proxy.stderr_text()!r}")
    log(f"traffic took {took:.2f} s with an outage of "
        f"{outage['up'] - outage['down']:.2f} s; the proxy said:\n{proxy.stderr_text()}")
    # The relay waited for the output: the traffic could not finish before the brokers did.
    check(started + took > outage["up"] - 0.1,
          f"the traffic ended {outage['up'] - started - took:.2f} s before the brokers came "
          f"back: the relay did not wait")
    pairs = consume(ctx, mock, "after the outage")
    check_connections(pairs, 6, "after the outage")
    delivered, failed, undelivered = summary(proxy, "after the outage")
    check((delivered, failed, undelivered) == (len(pairs), 0, 0),
          f"the proxy says {delivered} delivered, {failed} failed, {undelivered} undelivered; "
          f"the topic holds {len(pairs)}")


def sigterm_flushes(ctx):
    """SIGTERM while connections are open and their records are still in librdkafka's queue
    (linger.ms=3000 via --kafka-option): the proxy sends them at once, exits 0 within a
    second, and the topic has every connection whole, closed with reason shutdown."""
    mock = cluster(ctx)
    echo = echo_upstream(ctx)
    proxy = ctx.proxy(echo.port, mock.url(), ["--kafka-option", "linger.ms=3000"])
    ready = threading.Event()
    release = threading.Event()

    async def hold(index):
        async with websockets.connect(f"ws://127.0.0.1:{proxy.port}/h{index}",
                                      ping_interval=None, compression=None) as ws:
            for i in range(5):
                await ws.send(f"held {index} {i}")
                await ws.recv()
            ready.set()
            while not release.is_set():
                await asyncio.sleep(0.05)

    def clients():
        async def run():
            tasks = [asyncio.create_task(hold(i)) for i in range(3)]
            await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.run(run())

    thread = threading.Thread(target=clients)
    thread.start()
    try:
        check(ready.wait(10), "the clients did not get their echoes")
        time.sleep(0.3)  # all three have sent theirs; the records wait out the linger
        code, took = proxy.terminate(timeout=10)
    finally:
        release.set()
        thread.join(10)
    check(code == 0, f"the proxy exited {code}: {proxy.stderr_text()!r}")
    check(took < 2, f"the proxy took {took:.2f} s to exit: the flush waited for linger.ms")
    pairs = consume(ctx, mock, "after SIGTERM")
    by_conn = check_connections(pairs, 3, "after SIGTERM")
    for conn, rs in by_conn.items():
        check(rs[-1]["reason"] == "shutdown", f"conn {conn} closed {rs[-1]['reason']}")
        check(rs[-1]["frames_c2s"] == 5, f"conn {conn}: {rs[-1]['frames_c2s']} client frames")
    delivered, failed, undelivered = summary(proxy, "after SIGTERM")
    check((delivered, failed, undelivered) == (len(pairs), 0, 0),
          f"the proxy says {delivered} delivered, {failed} failed, {undelivered} undelivered; "
          f"the topic holds {len(pairs)}")


def drop_when_behind(ctx):
    """--drop-when-behind: with the broker down and room for 10 records in librdkafka's queue,
    the traffic goes on at full speed, the records that do not fit are dropped and counted on
    stderr, and exit is 0; what reached the topic is in order per connection."""
    mock = cluster(ctx, brokers=1, partitions=2)
    echo = echo_upstream(ctx)
    proxy = ctx.proxy(echo.port, mock.url(),
                      ["--drop-when-behind", "--kafka-option", "queue.buffering.max.messages=10"])
    traffic(proxy.port, connections=2, messages=5)
    wait_idle(proxy, echo.port)
    mock.down()
    started = time.monotonic()
    traffic(proxy.port, connections=3, messages=20, pause=0.005)
    took = time.monotonic() - started
    wait_idle(proxy, echo.port)
    check(took < 2, f"the traffic took {took:.2f} s with the broker down: the relay waited")
    mock.up()
    code = proxy.stop(timeout=10)
    check(code == 0, f"the proxy exited {code}: {proxy.stderr_text()!r}")
    line = [l for l in proxy.stderr_lines if SUMMARY.match(l)]
    check(len(line) == 1, f"no summary: {proxy.stderr_text()!r}")
    dropped = re.search(r", (\d+) dropped \(librdkafka's queue was full\)$", line[0])
    check(dropped is not None and int(dropped.group(1)) > 0, f"summary {line[0]!r}")
    delivered, failed, undelivered = summary(proxy, "dropping")
    check(failed == 0 and undelivered == 0, f"summary {line[0]!r}")
    pairs = consume(ctx, mock, "dropping")
    check(len(pairs) == delivered, f"{len(pairs)} on the topic, {delivered} said delivered")
    by_conn = {}
    for _, r in pairs:
        by_conn.setdefault(r["conn"], []).append(r)
    for conn in (1, 2):
        check(by_conn.get(conn, [{}])[-1].get("type") == "close",
              f"conn {conn}, before the outage, is not whole")
    for conn, rs in by_conn.items():
        for d in ("c2s", "s2c"):
            seqs = [r["seq"] for r in rs if r["type"] == "frame" and r["dir"] == d]
            check(seqs == sorted(set(seqs)), f"conn {conn} {d}: frames out of order {seqs}")


def run_alone(ctx, args, timeout):
    started = time.monotonic()
    done = subprocess.run([ctx.wssniff, "proxy", "--upstream", "ws://127.0.0.1:9",
                           "--listen", "127.0.0.1:0"] + args, capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    return done.returncode, done.stderr.decode(), time.monotonic() - started


def down_at_start(ctx):
    """Brokers that do not answer at start: exit 1 with one line within --kafka-timeout (and
    nothing listening meanwhile)."""
    mock = cluster(ctx, brokers=1, partitions=1)
    mock.down()
    code, stderr, took = run_alone(ctx, ["--output", mock.url(), "--kafka-timeout", "1.5"], 10)
    lines = stderr.strip().splitlines()
    check(code == 1 and len(lines) == 1 and "cannot reach Kafka at" in lines[0] and
          "within 1.5 s" in lines[0], f"exit {code}, stderr {stderr!r}")
    check(1.4 < took < 3.5, f"took {took:.2f} s with --kafka-timeout 1.5")


def down_at_exit(ctx):
    """The brokers go away mid-run and stay away: SIGTERM gives the records --kafka-timeout,
    then the proxy exits 1 saying how many were delivered and how many were not."""
    mock = cluster(ctx, brokers=1, partitions=2)
    echo = echo_upstream(ctx)
    proxy = ctx.proxy(echo.port, mock.url(), ["--kafka-timeout", "1"])
    traffic(proxy.port, connections=2, messages=5)
    wait_idle(proxy, echo.port)
    time.sleep(0.2)  # delivered
    mock.down()
    traffic(proxy.port, connections=2, messages=5)
    wait_idle(proxy, echo.port)
    code, took = proxy.terminate(timeout=10)
    check(code == 1, f"the proxy exited {code}: {proxy.stderr_text()!r}")
    check(took < 3, f"the proxy took {took:.2f} s to exit with --kafka-timeout 1")
    delivered, failed, undelivered = summary(proxy, "down at exit")
    check(delivered > 0 and undelivered > 0 and failed == 0,
          f"{delivered} delivered, {failed} failed, {undelivered} undelivered")
    check(proxy.stderr_lines[-1].startswith("wssniff: not every record reached Kafka"),
          f"last line {proxy.stderr_lines[-1]!r}")
    mock.up()
    pairs = consume(ctx, mock, "down at exit")
    check(len(pairs) == delivered, f"{len(pairs)} on the topic, {delivered} said delivered")
    check_connections(pairs, 2, "down at exit (the first two connections)")


def usage(ctx):
    """Malformed kafka:// URLs and options: exit 2, one line naming the option. (The runs go
    side by side: a start costs most of a second under ASan.)"""
    runs = []

    def refused(args, says):
        runs.append((args, says, subprocess.Popen(
            [ctx.wssniff, "proxy", "--upstream", "ws://127.0.0.1:9", "--listen", "127.0.0.1:0"] +
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent)))
    refused(["-o", "kafka://127.0.0.1:9092"], "names no topic")
    refused(["-o", "kafka://a:9092,,b:99999/t"], "'' is not a broker")
    refused(["-o", "kafka://a/t/x"], "is not a topic name")
    refused(["-o", "kafka://a/t", "--kafka-option", "no.such.property=1"],
            "No such configuration property")
    refused(["-o", "kafka://a/t", "--kafka-option", "linger.ms"], "expected KEY=VALUE")
    refused(["--kafka-option", "linger.ms=1"], "applies to --output kafka://")
    refused(["-o", "kafka://a/t", "--rotate-size", "1MiB"], "kafka://a/t is a network output")
    for args, says, process in runs:
        _, stderr = process.communicate(timeout=10)
        stderr = stderr.decode()
        check(process.returncode == 2 and len(stderr.strip().splitlines()) == 1 and
              says in stderr, f"{args}: exit {process.returncode}, stderr {stderr!r}")


CASES = [delivers_in_order, brokers_fail_and_recover, sigterm_flushes, drop_when_behind,
         down_at_start, down_at_exit, usage]

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, prefix="kafka"))

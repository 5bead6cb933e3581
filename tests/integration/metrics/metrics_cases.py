#!/usr/bin/python3
"""`wssniff proxy --metrics`: the Prometheus text format on /metrics, scraped with urllib and by
a real Prometheus server, against what the records say:

    metrics_cases.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

The traffic is python3-websockets clients (or raw sockets, for crafted violations) through the
proxy to the kit's echoing upstream. Records go to RECORDS_DIR/metrics-CASE*.ndjson (the schema
suite validates them).
"""

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import json

import websockets

from wssniff_kit.checks import CheckFailed, check, log
from wssniff_kit.echo import EchoUpstream
from wssniff_kit.heads import upgrade_request, websocket_key
from wssniff_kit.pairs import open_pair
from wssniff_kit.processes import die_with_parent
from wssniff_kit.records import of_type, parse_ndjson
from wssniff_kit.runner import run_cases
from wssniff_kit.sockets import LOOPBACK, connect, unused_port
from wssniff_kit.wire import OP_TEXT, frame, mask_key

METRICS_ARGS = ["--metrics", f"{LOOPBACK}:0"]

# Every family the proxy exports, with its type.
FAMILIES = {
    "wssniff_connections_open": "gauge",
    "wssniff_connections_total": "counter",
    "wssniff_frames_total": "counter",
    "wssniff_messages_total": "counter",
    "wssniff_bytes_total": "counter",
    "wssniff_records_written_total": "counter",
    "wssniff_records_dropped_total": "counter",
    "wssniff_errors_total": "counter",
    "wssniff_upstream_connect_failures_total": "counter",
    "wssniff_output_failures_total": "counter",
    "wssniff_queue_depth": "gauge",
}

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Scrape:
    """One /metrics answer parsed (text format 0.0.4): samples by (name, labels), and the HELP
    and TYPE lines by family."""

    def __init__(self, text):
        self.text = text
        self.samples = {}
        self.helps = {}
        self.types = {}
        for line in text.splitlines():
            if line.startswith("# HELP "):
                name, _, help_text = line[len("# HELP "):].partition(" ")
                self.helps[name] = help_text
            elif line.startswith("# TYPE "):
                name, _, kind = line[len("# TYPE "):].partition(" ")
                self.types[name] = kind
            elif not line.strip() or line.startswith("#"):
                continue
            else:
                m = SAMPLE.match(line)
                check(m is not None, f"not a sample line of the text format: {line!r}")
                labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
                self.samples[(m.group(1), labels)] = float(m.group(3))

    def get(self, name, **labels):
        key = (name, tuple(sorted(labels.items())))
        check(key in self.samples, f"no sample {name}{labels or ''} in /metrics:\n{self.text}")
        return self.samples[key]

    def errors(self):
        """wssniff_errors_total by code, the codes that are not 0."""
        return {dict(labels)["code"]: value for (name, labels), value in self.samples.items()
                if name == "wssniff_errors_total" and value != 0}

    def check_families(self):
        for family, kind in FAMILIES.items():
            check(self.types.get(family) == kind,
                  f"{family}: TYPE {self.types.get(family)!r}, expected {kind}")
            check(self.helps.get(family), f"{family} has no HELP line")
            check(any(name == family for name, _ in self.samples),
                  f"{family} has no sample")


def metrics_url(proxy, timeout=5):
    """The address of the proxy's 'metrics on http://HOST:PORT/metrics' line."""
    deadline = time.monotonic() + timeout
    while True:
        for line in list(proxy.stderr_lines):
            if line.startswith("metrics on http://"):
                url = line[len("metrics on "):]
                check(re.fullmatch(r"http://127\.0\.0\.1:[1-9][0-9]*/metrics", url),
                      f"bad metrics line {line!r}")
                return url
        check(time.monotonic() < deadline and proxy.alive(),
              f"no 'metrics on' line on the proxy's stderr: {proxy.stderr_text()!r}")
        time.sleep(0.01)


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as answer:
        check(answer.status == 200, f"GET {url}: {answer.status}")
        kind = answer.headers.get("Content-Type", "")
        check(kind.startswith("text/plain"),
              f"GET {url}: Content-Type {kind!r}, expected the text format (text/plain)")
        return Scrape(answer.read().decode("utf-8"))


async def session(port, index, messages):
    """One connection: text and binary messages, every third one in three fragments, each
    echoed, then a close."""
    async with websockets.connect(f"ws://{LOOPBACK}:{port}/m{index}", ping_interval=None,
                                  compression=None) as ws:
        for i in range(messages):
            if i % 3 == 2:
                parts = [f"conn {index} part {p} of {i} " for p in range(3)]
                await ws.send(parts)
                check(await ws.recv() == "".join(parts), "the fragmented echo differs")
            elif i % 2:
                data = bytes([index, i]) * (50 + i)
                await ws.send(data)
                check(await ws.recv() == data, "the binary echo differs")
            else:
                text = f"conn {index} message {i} " + "m" * (i * 7)
                await ws.send(text)
                check(await ws.recv() == text, "the text echo differs")
        await ws.close(1000, "done")


def traffic(port, connections, messages):
    async def run():
        await asyncio.gather(*(session(port, i, messages) for i in range(connections)))
    asyncio.run(run())


def upstream(ctx):
    echo = EchoUpstream(keep=False)
    ctx.stack.callback(echo.close)
    return echo


def records_when_closed(output, connections, timeout=10):
    """The records file once it holds the close records of `connections` connections (the
    writer flushes within 10 ms of the last record)."""
    deadline = time.monotonic() + timeout
    while True:
        with open(output, "rb") as f:
            data = f.read()
        if data.endswith(b"\n"):
            records = parse_ndjson(data, output)
            if len(of_type(records, "close")) == connections:
                return records
        check(time.monotonic() < deadline,
              f"{output}: not {connections} close records within {timeout} s")
        time.sleep(0.02)


def expected_from_records(records):
    """What the counters must say, from the records of a proxy run with --emit both."""
    closes = of_type(records, "close")
    frames = {d: len(of_type(records, "frame", direction=d)) for d in ("c2s", "s2c")}
    for d in ("c2s", "s2c"):
        check(frames[d] == sum(c[f"frames_{d}"] for c in closes),
              f"{d}: {frames[d]} frame records, the close records count "
              f"{sum(c[f'frames_{d}'] for c in closes)}")
    return {
        ("wssniff_connections_total", ()): len(closes),
        ("wssniff_connections_open", ()): 0,
        ("wssniff_records_written_total", ()): len(records),
        ("wssniff_records_dropped_total", ()): 0,
        ("wssniff_queue_depth", ()): 0,
        ("wssniff_upstream_connect_failures_total", ()): 0,
        ("wssniff_output_failures_total", ()): 0,
        **{("wssniff_frames_total", (("direction", d),)): frames[d] for d in ("c2s", "s2c")},
        **{("wssniff_messages_total", (("direction", d),)):
           len(of_type(records, "message", direction=d)) for d in ("c2s", "s2c")},
        **{("wssniff_bytes_total", (("direction", d),)): sum(c[f"bytes_{d}"] for c in closes)
           for d in ("c2s", "s2c")},
    }


def check_counters(got, expected):
    wrong = [f"{name}{dict(labels)}: {got.samples.get((name, labels))}, records say {value}"
             for (name, labels), value in sorted(expected.items())
             if got.samples.get((name, labels)) != value]
    check(not wrong, "counters differ from the records:\n  " + "\n  ".join(wrong))


def counters_match_records(ctx):
    """Four python3-websockets clients, 30 messages each (fragmented, text, binary): every
    counter equals what the records say, the format has HELP and TYPE for every family."""
    echo = upstream(ctx)
    output = ctx.output()
    proxy = ctx.proxy(echo.port, output, ["--emit", "both"] + METRICS_ARGS)
    url = metrics_url(proxy)
    before = scrape(url)
    before.check_families()
    check(before.get("wssniff_connections_total") == 0 and
          before.get("wssniff_frames_total", direction="c2s") == 0,
          "counters are not 0 before any traffic")
    traffic(proxy.port, connections=4, messages=30)
    proxy.wait_idle()
    records = records_when_closed(output, 4)
    after = scrape(url)
    after.check_families()
    expected = expected_from_records(records)
    check_counters(after, expected)
    check(not after.errors(), f"errors counted without error records: {after.errors()}")
    check(after.get("wssniff_messages_total", direction="c2s") == 4 * 30,
          "not one message per message sent")
    log(f"counters agree with {len(records)} records: "
        f"{ {k[0] + str(dict(k[1])): v for k, v in expected.items()} }")
    proxy.check_clean_exit()


def count_codes(records):
    counted = {}
    for r in of_type(records, "error"):
        counted[r["code"]] = counted.get(r["code"], 0) + 1
    return counted


def errors_by_code(ctx):
    """Crafted violations on a raw-socket pair (a reserved opcode and an unmasked frame from the
    client, a masked frame from the server), then an unreachable upstream: wssniff_errors_total
    by code equals the error records, and the upstream failure is counted."""
    proxy, client, server, _, _, _ = open_pair(ctx, METRICS_ARGS)
    url = metrics_url(proxy)
    client.send(frame(0x3, b"reserved", mask=mask_key(1)))
    server.expect(frame(0x3, b"reserved", mask=mask_key(1)), what="the reserved frame")
    client.send(frame(OP_TEXT, b"no mask"))
    server.expect(frame(OP_TEXT, b"no mask"), what="the unmasked frame")
    client.send(frame(OP_TEXT, b"fine", mask=mask_key(2)))
    server.expect(frame(OP_TEXT, b"fine", mask=mask_key(2)), what="the valid frame")
    server.send(frame(OP_TEXT, b"masked", mask=mask_key(3)))
    client.expect(frame(OP_TEXT, b"masked", mask=mask_key(3)), what="the masked server frame")
    client.close()
    server.expect_eof(what="EOF after the client closed")
    server.close()
    proxy.wait_idle()
    records = records_when_closed(proxy.output, 1)
    got = scrape(url)
    counted = count_codes(records)
    check(counted == {"reserved_opcode": 1, "unmasked_client_frame": 1,
                      "masked_server_frame": 1}, f"error records {counted}")
    check(got.errors() == counted, f"errors counted {got.errors()}, records {counted}")
    check(got.get("wssniff_errors_total", code="invalid_utf8") == 0,
          "a code the proxy can write is not exported as 0")
    check_counters(got, {
        ("wssniff_frames_total", (("direction", "c2s"),)): 3,
        ("wssniff_frames_total", (("direction", "s2c"),)): 1,
        ("wssniff_upstream_connect_failures_total", ()): 0})
    proxy.check_clean_exit()

    holder, port = unused_port()  # bound, not listening: connecting is refused
    ctx.track(holder)
    down = ctx.proxy(port, ctx.output("-unreachable"), METRICS_ARGS)
    down_url = metrics_url(down)
    lone = ctx.track(connect(down.port, "client"))
    lone.send(upgrade_request(f"{LOOPBACK}:{down.port}", websocket_key(1)))
    head = lone.read_head(timeout=10)
    check(head.startswith(b"HTTP/1.1 502 "), f"expected a 502, got {head[:100]!r}")
    lone.close()
    down.wait_idle()
    unreachable = count_codes(records_when_closed(down.output, 1))
    got = scrape(down_url)
    check(unreachable == {"upstream_unreachable": 1}, f"error records {unreachable}")
    check(got.errors() == unreachable, f"errors counted {got.errors()}")
    check(got.get("wssniff_upstream_connect_failures_total") == 1,
          "the unreachable upstream is not counted")
    down.check_clean_exit()
    log(f"error records {counted}, then {unreachable}: counted the same")


def records_dropped(ctx):
    """--drop-when-behind with nobody reading the proxy's stdout: the records dropped are
    counted, and their number is what the records_dropped error records say once the output is
    read; the queue depth stays within --queue."""
    echo = upstream(ctx)
    proxy = ctx.proxy(echo.port, None, ["--drop-when-behind", "--queue", "16"] + METRICS_ARGS)
    url = metrics_url(proxy)
    traffic(proxy.port, connections=2, messages=150)
    proxy.wait_idle()
    got = scrape(url)
    dropped = got.get("wssniff_records_dropped_total")
    depth = got.get("wssniff_queue_depth")
    check(dropped > 0, "nothing dropped although nobody read the output")
    check(0 <= depth <= 16, f"queue depth {depth}, --queue 16")
    # Now read the output: the writer catches up and reports the drops in the stream.
    data = bytearray()
    reader = threading.Thread(target=lambda: data.extend(proxy.stdout.read()), daemon=True)
    reader.start()
    code = proxy.stop()
    reader.join(10)
    check(code == 0, f"the proxy exited {code}: {proxy.stderr_text()!r}")
    records = parse_ndjson(bytes(data), "the proxy's stdout")
    reported = sum(int(re.search(r"(\d+) of this connection's records", r["message"]).group(1))
                   for r in of_type(records, "error") if r["code"] == "records_dropped")
    check(reported == dropped, f"records_dropped records say {reported}, the counter {dropped}")
    written = len(records) - len([r for r in of_type(records, "error")
                                  if r["code"] == "records_dropped"])
    log(f"{dropped:g} dropped (the records say {reported}), {written} written, depth {depth:g}")


def output_failures(ctx):
    """--output /dev/full: every flush fails (ENOSPC); the failure is counted, the traffic goes
    on, and the proxy exits 1 when stopped."""
    echo = upstream(ctx)
    proxy = ctx.proxy(echo.port, "/dev/full", METRICS_ARGS)
    url = metrics_url(proxy)
    traffic(proxy.port, connections=1, messages=10)
    proxy.wait_idle()
    deadline = time.monotonic() + 5
    while scrape(url).get("wssniff_output_failures_total") == 0:
        check(time.monotonic() < deadline, "the failing output is not counted within 5 s")
        time.sleep(0.02)
    got = scrape(url)
    check(got.get("wssniff_output_failures_total") == 1, "more than one failure counted")
    check(got.get("wssniff_frames_total", direction="c2s") >= 11, "frames not counted")
    code = proxy.stop()
    check(code == 1, f"the proxy exited {code} after its output failed, expected 1")


def usage(ctx):
    """Bad values exit 2 with one line naming --metrics, before anything is created; an address
    in use exits 1 with one line; a non-loopback address is served with a warning."""
    holder, port = unused_port()
    ctx.track(holder)
    work = tempfile.mkdtemp(prefix="wssniff-metrics-")
    ctx.stack.callback(shutil.rmtree, work, True)
    output = os.path.join(work, "never.ndjson")

    def run(metrics):
        return subprocess.run([ctx.wssniff, "proxy", "--upstream", f"ws://{LOOPBACK}:{port}",
                               "--listen", f"{LOOPBACK}:0", "--output", output, "--metrics",
                               metrics], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=10, preexec_fn=die_with_parent)

    for bad in ("70000", "abc", "[::1]:9100", "::1:9100", "example.com:9100", "1.2.3:9100",
                "127.0.0.1:", ""):
        done = run(bad)
        lines = done.stderr.decode().splitlines()
        check(done.returncode == 2, f"--metrics {bad!r}: exit {done.returncode}, expected 2: "
                                    f"{lines}")
        check(len(lines) == 1 and "--metrics" in lines[0],
              f"--metrics {bad!r}: expected one line naming --metrics: {lines}")
        check(not os.path.exists(output), f"--metrics {bad!r}: the output was created")
    # In use: a listening socket on the port.
    busy = ctx.track(EchoUpstream(keep=False))
    done = run(f"{LOOPBACK}:{busy.port}")
    lines = done.stderr.decode().splitlines()
    check(done.returncode == 1, f"a busy port: exit {done.returncode}, expected 1: {lines}")
    check(len(lines) == 1 and "--metrics" in lines[0] and "in use" in lines[0],
          f"a busy port: expected one line naming --metrics and saying 'in use': {lines}")
    check(not os.path.exists(output), "a busy metrics port: the output was created")
    # Another address only when given, with a warning; PORT alone is loopback.
    echo = upstream(ctx)
    wide = ctx.proxy(echo.port, ctx.output("-wide"), ["--metrics", "0.0.0.0:0"])
    deadline = time.monotonic() + 5
    while not any("metrics on http://0.0.0.0:" in l for l in wide.stderr_lines):
        check(time.monotonic() < deadline, f"no metrics line: {wide.stderr_text()!r}")
        time.sleep(0.01)
    while not any("warning" in l and "metrics" in l for l in wide.stderr_lines):
        check(time.monotonic() < deadline,
              f"no warning for a non-loopback metrics address: {wide.stderr_text()!r}")
        time.sleep(0.01)
    wide.check_clean_exit(leaks=False)
    narrow = ctx.proxy(echo.port, ctx.output("-port-only"), ["--metrics", "0"])
    url = metrics_url(narrow)
    scrape(url).check_families()
    check(not any("warning" in l for l in narrow.stderr_lines),
          f"a warning for a loopback metrics address: {narrow.stderr_text()!r}")
    narrow.check_clean_exit()


def scrape_while_relaying(ctx):
    """Scrapes in a loop while four connections stream through two relay loops: every counter
    only grows, and the last scrape equals the records (the tsan tree runs this one: the
    exposer's thread reads what the relay threads write)."""
    echo = upstream(ctx)
    output = ctx.output()
    proxy = ctx.proxy(echo.port, output, ["--emit", "both", "--threads", "2"] + METRICS_ARGS)
    url = metrics_url(proxy)
    scrapes = []
    done = threading.Event()
    failures = []

    def scraper():
        try:
            while not done.is_set():
                scrapes.append(scrape(url))
        except (CheckFailed, OSError) as e:
            failures.append(e)

    thread = threading.Thread(target=scraper, daemon=True)
    thread.start()
    traffic(proxy.port, connections=4, messages=40)
    proxy.wait_idle()
    records = records_when_closed(output, 4)
    done.set()
    thread.join(10)
    check(not failures, f"a scrape failed: {failures}")
    check(len(scrapes) >= 3, f"only {len(scrapes)} scrapes during the traffic")
    monotonic = [k for k in FAMILIES if FAMILIES[k] == "counter"]
    for earlier, later in zip(scrapes, scrapes[1:]):
        for key, value in earlier.samples.items():
            if key[0] in monotonic:
                check(later.samples.get(key, -1) >= value, f"{key} went down: {value} then "
                                                           f"{later.samples.get(key)}")
    check_counters(scrape(url), expected_from_records(records))
    log(f"{len(scrapes)} scrapes during the traffic, counters only grew")
    proxy.check_clean_exit()


def prometheus_server(ctx):
    """A real Prometheus server (Debian `prometheus`) scrapes the proxy every second during a
    load of a few hundred frames; what it stored agrees with the close records."""
    echo = upstream(ctx)
    output = ctx.output()
    proxy = ctx.proxy(echo.port, output, ["--emit", "both"] + METRICS_ARGS)
    target = urllib.parse.urlsplit(metrics_url(proxy)).netloc
    work = tempfile.mkdtemp(prefix="wssniff-prometheus-")
    ctx.stack.callback(shutil.rmtree, work, True)
    config = os.path.join(work, "prometheus.yml")
    with open(config, "w") as f:
        f.write("global:\n"
                "  scrape_interval: 1s\n"
                "  scrape_timeout: 1s\n"
                "scrape_configs:\n"
                "  - job_name: wssniff\n"
                "    static_configs:\n"
                f"      - targets: ['{target}']\n")
    holder, web_port = unused_port()
    holder.close()
    server = subprocess.Popen(
        ["/usr/bin/prometheus", f"--config.file={config}",
         f"--storage.tsdb.path={os.path.join(work, 'data')}",
         f"--web.listen-address={LOOPBACK}:{web_port}", "--log.level=warn"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(work, "prometheus.log"), "wb"), preexec_fn=die_with_parent)

    def stop_server():
        server.kill()
        server.wait(10)

    ctx.stack.callback(stop_server)
    api = f"http://{LOOPBACK}:{web_port}/api/v1/"

    def query(expression):
        with urllib.request.urlopen(api + "query?" + urllib.parse.urlencode(
                {"query": expression}), timeout=5) as answer:
            body = json.load(answer)
        check(body.get("status") == "success", f"query {expression!r}: {body}")
        return body["data"]["result"]

    def ready():
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{web_port}/-/ready",
                                        timeout=1) as answer:
                return answer.status == 200
        except OSError:
            return False

    deadline = time.monotonic() + 10
    while not ready():
        check(server.poll() is None, f"prometheus exited {server.returncode}: "
                                     f"{open(os.path.join(work, 'prometheus.log')).read()}")
        check(time.monotonic() < deadline, "prometheus not ready within 10 s")
        time.sleep(0.1)
    log(f"prometheus ready on :{web_port}, scraping {target}")
    traffic(proxy.port, connections=5, messages=60)
    proxy.wait_idle()
    records = records_when_closed(output, 5)
    expected = expected_from_records(records)
    loaded = time.time()
    # Wait for a scrape that began after the load: its timestamp is later than `loaded`.
    deadline = time.monotonic() + 8
    while True:
        result = query("timestamp(wssniff_connections_total)")
        if result and float(result[0]["value"][1]) > loaded:
            break
        check(time.monotonic() < deadline, f"no scrape after the load within 8 s: {result}")
        time.sleep(0.2)
    stored = {}
    for sample in query('{__name__=~"wssniff_.*", job="wssniff"}'):
        metric = dict(sample["metric"])
        name = metric.pop("__name__")
        metric.pop("job", None)
        metric.pop("instance", None)
        stored[(name, tuple(sorted(metric.items())))] = float(sample["value"][1])
    wrong = [f"{name}{dict(labels)}: prometheus stored {stored.get((name, labels))}, "
             f"records say {value}"
             for (name, labels), value in sorted(expected.items())
             if stored.get((name, labels)) != value]
    check(not wrong, "\n  ".join(["prometheus' counters differ from the records:"] + wrong))
    frames = query("sum(wssniff_frames_total)")
    check(frames and float(frames[0]["value"][1]) == sum(
        expected[("wssniff_frames_total", (("direction", d),))] for d in ("c2s", "s2c")),
        f"sum(wssniff_frames_total) {frames}")
    log(f"prometheus stored what the records say: "
        f"{ {k[0] + str(dict(k[1])): v for k, v in expected.items()} }")
    proxy.check_clean_exit()


CASES = [counters_match_records, errors_by_code, records_dropped,
         output_failures, usage, scrape_while_relaying, prometheus_server]

if __name__ == "__main__":
    raise SystemExit(run_cases(__doc__, CASES, prefix="metrics"))

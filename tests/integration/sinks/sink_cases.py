#!/usr/bin/python3
"""`wssniff proxy --output tcp://HOST:PORT` and `--output unix:///PATH`, and the identity
(`--instance`, `run`) every live record carries:

    sink_cases.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

The collector is a Python listener (wssniff_kit.sinks.LineListener) reading lines as Vector's
`socket` source or Fluent Bit's `tcp` input would; the traffic is python3-websockets clients
through the proxy to the kit's echoing upstream. What the listener received goes to
RECORDS_DIR/sinks-CASE*.ndjson for the schema suite.
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

from wssniff_kit.checks import check, log
from wssniff_kit.heads import take_upgrade_response, upgrade_request, websocket_key
from wssniff_kit.records import parse_ndjson
from wssniff_kit.runner import run_cases
from wssniff_kit.sinks import LineListener
from wssniff_kit.traffic import echo_traffic, echo_upstream
from wssniff_kit.wire import OP_TEXT, frame, mask_key

RUN = re.compile(r"^[0-9a-f]{16}$")
DROPPED = re.compile(r"(\d+) of this connection's records$")


def listener(ctx, unix=False):
    path = None
    if unix:
        d = tempfile.mkdtemp(prefix="wssniff-sink-")
        path = os.path.join(d, "records.sock")
        ctx.stack.callback(os.rmdir, d)
    sink = LineListener(unix_path=path)
    ctx.stack.callback(sink.close)
    return sink


def in_background(body):
    """Runs `body` on a thread; the returned function joins it and re-raises its failure."""
    failure = []

    def run():
        try:
            body()
        except BaseException as e:  # noqa: BLE001 - re-raised in the test's thread
            failure.append(e)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join(timeout=30):
        thread.join(timeout)
        check(not thread.is_alive(), f"the traffic did not end within {timeout} s")
        if failure:
            raise failure[0]
    return join


def received(ctx, sink, suffix=""):
    """The listener's lines as records, also saved for the schema suite."""
    check(not sink.failures, f"the listener failed: {sink.failures}")
    check(not sink.partial, f"the listener was left with part of a line: "
                            f"{[p[:80] for p in sink.partial]}")
    data = sink.data()
    with open(ctx.output(suffix), "wb") as f:
        f.write(data)
    return parse_ndjson(data, f"{sink.url} ({ctx.name})")


def check_identity(records, instance):
    """Every record names `instance` and one run; returns the run."""
    runs = {r.get("run") for r in records}
    check(all(r.get("instance") == instance for r in records),
          f"records without instance {instance!r}: "
          f"{[r for r in records if r.get('instance') != instance][:2]}")
    check(len(runs) == 1 and RUN.match(next(iter(runs)) or ""),
          f"the records carry run ids {sorted(map(str, runs))[:4]}, not one of 16 hex digits")
    return next(iter(runs))


def check_exactly_once(records, connections, messages):
    """Every record of every connection, once, in order: a handshake first, frames numbered
    0.. without a gap or a repeat each way as many as the close record counts, the close last."""
    by_conn = {}
    for r in records:
        by_conn.setdefault(r["conn"], []).append(r)
    check(sorted(by_conn) == list(range(1, connections + 1)),
          f"records of connections {sorted(by_conn)}, expected 1..{connections}")
    for conn, rs in by_conn.items():
        check(rs[0]["type"] == "handshake" and rs[-1]["type"] == "close",
              f"conn {conn}: first {rs[0]['type']}, last {rs[-1]['type']}")
        close = rs[-1]
        for direction in ("c2s", "s2c"):
            seqs = [r["seq"] for r in rs if r["type"] == "frame" and r["dir"] == direction]
            check(seqs == list(range(messages + 1)) and
                  close[f"frames_{direction}"] == messages + 1,
                  f"conn {conn} {direction}: frame seqs {seqs[:5]}..{seqs[-3:]} "
                  f"({len(seqs)}), the close record counts {close[f'frames_{direction}']}, "
                  f"{messages + 1} were sent")
        check(len(rs) == 2 + 2 * (messages + 1),
              f"conn {conn}: {len(rs)} records, expected {2 + 2 * (messages + 1)}")


def delivered_in_order(ctx, unix):
    sink = listener(ctx, unix)
    echo = echo_upstream(ctx)
    instance = "sink-" + ("unix" if unix else "tcp")
    proxy = ctx.proxy(echo.port, None, ["--output", sink.url, "--instance", instance,
                                        "--output-connect-timeout", "2"])
    echo_traffic(proxy.port, connections=6, messages=15)
    proxy.wait_idle()
    check(proxy.check_clean_exit() is not None, "no clean exit")
    records = received(ctx, sink, "-unix" if unix else "-tcp")
    check_exactly_once(records, 6, 15)
    run = check_identity(records, instance)
    check(sink.connections == 1, f"{sink.connections} connections to the listener, not 1")
    log(f"{len(records)} records over {sink.url}, in order, run {run}")
    return run


def tcp_and_unix(ctx):
    """Records arrive whole and in order over TCP and over a unix socket; every record names
    the instance and the run, and the two runs have different ids."""
    first = delivered_in_order(ctx, unix=False)
    second = delivered_in_order(ctx, unix=True)
    check(first != second, f"two runs share the run id {first}")
    # Without --instance: the host name (the demo writes identity as the proxy does).
    done = subprocess.run([ctx.wssniff, "demo", "--format", "ndjson"], capture_output=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    check(done.returncode == 0, f"demo exit {done.returncode}: {done.stderr[-500:]!r}")
    records = parse_ndjson(done.stdout, "demo")
    check_identity(records, socket.gethostname())


def restart_during_traffic(ctx, extra_args, connections=6, messages=40):
    """The listener goes down mid-run for a second and comes back; returns the records it got
    and the proxy's stderr."""
    sink = listener(ctx)
    echo = echo_upstream(ctx)
    proxy = ctx.proxy(echo.port, None, ["--output", sink.url, "--instance", "flap",
                                        "--queue", "16"] + extra_args)
    join = in_background(lambda: echo_traffic(proxy.port, connections, messages, pause=0.01))
    time.sleep(0.3)
    sink.down()
    time.sleep(1.0)
    sink.up()
    join(60)
    proxy.wait_idle(timeout=20)
    check(proxy.check_clean_exit(timeout=10) is not None, "no clean exit")
    check(sink.connections == 2, f"{sink.connections} connections to the listener, expected 2 "
                                 f"(one before the restart, one after)")
    stderr = proxy.stderr_text()
    check("lost the output " + sink.url in stderr and "reconnected to the output" in stderr,
          f"the proxy did not say it lost and regained the output: {stderr!r}")
    return received(ctx, sink), stderr


def listener_restart_lossless(ctx):
    """Lossless (the default): while the listener is away the writer waits, the queue fills
    and the relay waits; every record arrives exactly once."""
    records, _ = restart_during_traffic(ctx, [])
    check_exactly_once(records, 6, 40)
    check_identity(records, "flap")
    log(f"{len(records)} records, each once, across the restart")


def listener_restart_drop(ctx):
    """--drop-when-behind: while the listener is away records are dropped, and every dropped
    record is counted: in its connection's records_dropped error record and on stderr."""
    connections, messages = 6, 40
    records, stderr = restart_during_traffic(ctx, ["--drop-when-behind"], connections,
                                             messages)
    seen = set()
    for r in records:
        key = (r["conn"], r["type"], r.get("dir"), r.get("seq"))
        check(r["type"] == "error" or key not in seen, f"{key} arrived twice")
        seen.add(key)
    total_reported = 0
    for conn in range(1, connections + 1):
        rs = [r for r in records if r["conn"] == conn]
        errors = [r for r in rs if r["type"] == "error"]
        reported = 0
        for e in errors:
            check(e["code"] == "records_dropped", f"conn {conn}: error {e}")
            m = DROPPED.search(e["message"])
            check(m is not None, f"conn {conn}: records_dropped says {e['message']!r}")
            reported += int(m.group(1))
        got = len(rs) - len(errors)
        missing = 2 + 2 * (messages + 1) - got
        check(missing == reported, f"conn {conn}: {missing} records missing, "
                                   f"{reported} reported dropped")
        total_reported += reported
    check(total_reported > 0, "nothing was dropped: the listener was not away long enough")
    said = re.search(r"wssniff: (\d+) records dropped", stderr)
    check(said is not None and int(said.group(1)) == total_reported,
          f"stderr does not say {total_reported} records dropped: {stderr!r}")
    log(f"{total_reported} records dropped while the listener was away, each counted")


def down_at_start(ctx):
    """An output that is not there at start: exit 1 with one line after
    --output-connect-timeout, never a hang; usage mistakes: exit 2, one line."""
    echo = echo_upstream(ctx)
    # A bound port nobody listens on refuses connections.
    reserved = socket.socket()
    reserved.bind(("127.0.0.1", 0))
    ctx.stack.callback(reserved.close)
    port = reserved.getsockname()[1]
    base = [ctx.wssniff, "proxy", "--upstream", f"ws://127.0.0.1:{echo.port}", "--listen",
            "127.0.0.1:0"]
    missing = os.path.join(tempfile.gettempdir(), f"wssniff-no-such-{os.getpid()}.sock")
    # Both started at once, and the usage mistakes below too: each is a process start, slow
    # under a sanitizer.
    started = time.monotonic()
    connecting = [(url, says, subprocess.Popen(
        base + ["--output", url, "--output-connect-timeout", "0.5"], stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for url, says in ((f"tcp://127.0.0.1:{port}", "Connection refused"),
                          (f"unix://{missing}", "No such file or directory"))]
    # The usage mistakes, started together (each a process start: slow under a sanitizer).
    mistakes = [
        (["--output", "http://127.0.0.1:9/x"], "unknown scheme 'http://'"),
        (["--output", "tcp://127.0.0.1"], "expected tcp://HOST:PORT"),
        (["--output", "tcp://127.0.0.1:0"], "the port must be a number from 1 to 65535"),
        (["--output", "unix://relative.sock"], "expected unix:///ABSOLUTE/PATH"),
        (["--output", f"tcp://127.0.0.1:{port}", "--rotate-time", "5"], "is a network output"),
        (["--instance", "a/b"], "--instance"),
        (["decode", "--c2s", "/dev/null", "--s2c", "/dev/null", "--output", "tcp://127.0.0.1:9"],
         "only the proxy writes to tcp://"),
    ]
    running = [(args, says, subprocess.Popen(
        [ctx.wssniff] + args if args[0] == "decode" else base + args, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)) for args, says in mistakes]
    for url, says, process in connecting:
        _, stderr = process.communicate(timeout=20)
        took = time.monotonic() - started
        stderr = stderr.decode()
        check(process.returncode == 1 and stderr.count("\n") == 1 and
              f"cannot connect to --output {url}: {says}" in stderr,
              f"{url}: exit {process.returncode}, stderr {stderr!r}")
        # At least the timeout; at most the timeout and nine slow (sanitized) starts at once:
        # no hang.
        check(0.5 <= took < 10, f"{url}: gave up after {took:.2f} s with a 0.5 s timeout")
    for args, says, process in running:
        _, stderr = process.communicate(timeout=20)
        stderr = stderr.decode()
        check(process.returncode == 2 and stderr.count("\n") == 1 and says in stderr,
              f"{args}: exit {process.returncode}, stderr {stderr!r}")


def sigterm_while_down(ctx):
    """SIGTERM while the output is away and the relay waits for it: the proxy still ends within
    --output-connect-timeout and a little, and says how many records it could not deliver."""
    sink = listener(ctx)
    echo = echo_upstream(ctx)
    proxy = ctx.proxy(echo.port, None, ["--output", sink.url, "--queue", "16",
                                        "--output-connect-timeout", "1"])
    started = time.monotonic()
    echo_traffic(proxy.port, connections=1, messages=3)
    check(sink.wait_lines(10, 5) == 10, "the first connection's records did not arrive")
    log(f"first connection's records in {time.monotonic() - started:.2f} s")
    sink.down()

    def stuck():
        # A raw client that keeps sending text frames: the relay soon waits for the writer,
        # which waits for the listener. It ends when the stopping proxy closes it.
        key = websocket_key(1)
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as c:
            c.sendall(upgrade_request(f"127.0.0.1:{proxy.port}", key))
            inbox = bytearray()
            while take_upgrade_response(inbox, key, "stuck client") is None:
                data = c.recv(65536)
                check(data, "the proxy closed before the 101")
                inbox += data
            try:
                for i in range(400):
                    c.sendall(frame(OP_TEXT, b"x" * 100, mask=mask_key(i)))
                while c.recv(65536):
                    pass  # open until the proxy ends it
            except OSError:
                pass  # the proxy ends the connection as it stops
    join = in_background(stuck)
    time.sleep(0.8)
    code, took = proxy.terminate(timeout=10)
    join(10)
    log(f"client ended {time.monotonic() - started:.2f} s")
    stderr = proxy.stderr_text()
    check(code == 1, f"exit {code} after SIGTERM with the output away; stderr {stderr!r}")
    check(took < 1 + 3, f"took {took:.2f} s to exit with --output-connect-timeout 1")
    said = re.search(r"wssniff: (\d+) records were not delivered to " + re.escape(sink.url) +
                     ": Connection refused", stderr)
    check(said is not None and int(said.group(1)) > 0,
          f"stderr does not say how many records were not delivered: {stderr!r}")
    log(f"exit 1 after {took:.2f} s: {said.group(0)}")
    received(ctx, sink)


CASES = [tcp_and_unix, listener_restart_lossless, listener_restart_drop, down_at_start,
         sigterm_while_down]

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, prefix="sinks"))

#!/usr/bin/python3
"""`wssniff proxy --output` for long runs: segments (--rotate-size, --rotate-time,
--rotate-keep) and SIGHUP reopening the file after logrotate moved it:

    rotation_cases.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

The traffic is python3-websockets clients through the proxy to the kit's echoing upstream,
several connections open at once so that segments begin while connections are open. Records
go to RECORDS_DIR/rotation-CASE*.ndjson and its segments (the schema suite validates them).
"""

import glob
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

from wssniff_kit.checks import check
from wssniff_kit.processes import die_with_parent
from wssniff_kit.records import check_connections_whole, parse_ndjson
from wssniff_kit.runner import run_cases
from wssniff_kit.traffic import echo_traffic, echo_upstream

SEGMENT = re.compile(r"_(\d{5})_(\d{8}T\d{6}Z)\.ndjson$")


def traffic(port, connections=6, messages=12, pause=0.02, first=0):
    """`connections` sessions at once, started a little apart so they overlap unevenly; text
    messages of ~300 bytes."""
    echo_traffic(port, connections, messages, pause, first=first, filler=280, stagger=0.03)


def fresh_output(ctx, suffix=""):
    """ctx.output(), and no segments of an earlier run beside it."""
    output = ctx.output(suffix)
    for old in glob.glob(glob.escape(output[:-len(".ndjson")]) + "_*.ndjson"):
        os.unlink(old)
    return output


def segments_of(output):
    stem = output[:-len(".ndjson")]
    found = sorted(glob.glob(glob.escape(stem) + "_*.ndjson"))
    numbers = [int(SEGMENT.search(f).group(1)) for f in found]
    return found, numbers


def read(path):
    with open(path, "rb") as f:
        return parse_ndjson(f.read(), path)


def without_repeats(records):
    return [r for r in records if not r.get("repeat")]


def comparable(record):
    """A record without what differs between two runs of the same traffic: times, the run id,
    client ports, masks and the handshake's random key and its accept value."""
    out = {k: v for k, v in record.items()
           if k not in ("ts", "request_ts", "run", "client", "mask")}
    for field in ("request_headers", "response_headers"):
        if field in out:
            out[field] = [h for h in out[field]
                          if h[0].lower() not in ("sec-websocket-key", "sec-websocket-accept")]
    return out


def segments_stand_alone(ctx):
    """--rotate-size splits between records into 0600 segments numbered from 1; each begins
    with repeats of the handshakes of the connections open at that moment (and a first line no
    other segment has); the segments without repeats are, record for record, what a run
    without rotation writes for the same traffic; every connection is whole in their union."""
    echo = echo_upstream(ctx)
    output = fresh_output(ctx)
    proxy = ctx.proxy(echo.port, output, ["--rotate-size", "4KiB"])
    traffic(proxy.port)
    proxy.wait_idle()
    # Idle: the writer flushes every 10 ms. A segment the last record filled must stay the last
    # one: rotating at a flush made an empty segment (no first line to tell it by).
    time.sleep(0.2)
    proxy.stop()
    check(not os.path.exists(output), "a rotating run also wrote the --output file itself")
    files, numbers = segments_of(output)
    check(len(files) >= 8, f"only {len(files)} segments of 4 KiB from ~60 KiB of records")
    check(numbers == list(range(1, len(files) + 1)), f"segment numbers {numbers}")

    union = []
    open_conns = set()
    first_lines = set()
    largest = 0
    for path in files:
        check(stat.S_IMODE(os.stat(path).st_mode) == 0o600, f"{path} is not mode 0600")
        with open(path, "rb") as f:
            data = f.read()
        check(data.endswith(b"\n"), f"{path} is empty or does not end between records")
        first = data.split(b"\n", 1)[0]
        check(first not in first_lines, f"{path} starts with the line another segment starts with")
        first_lines.add(first)
        records = parse_ndjson(data, path)
        number = int(SEGMENT.search(path).group(1))
        repeats = [r for r in records if r.get("repeat")]
        check([r["conn"] for r in repeats] == sorted(open_conns),
              f"{path}: repeats of conns {[r['conn'] for r in repeats]}, open were "
              f"{sorted(open_conns)}")
        check(records[:len(repeats)] == repeats, f"{path}: a repeat after the segment's start")
        check(all(r["segment"] == number and r["type"] == "handshake" for r in repeats),
              f"{path}: repeats not marked with segment {number}")
        for r in without_repeats(records):
            if r["type"] == "handshake":
                open_conns.add(r["conn"])
            elif r["type"] == "close":
                open_conns.discard(r["conn"])
        union += without_repeats(records)
        size = len(data)
        last = len(data.rstrip(b"\n").rsplit(b"\n", 1)[-1]) + 1
        check(size - last < 4096, f"{path}: {size} bytes, over 4 KiB before its last record")
        largest = max(largest, len(repeats))
    check(largest > 0, "no segment began while a connection was open: nothing repeated")
    check_connections_whole(union, "the union of the segments")

    # The same traffic without rotation: the same records (but times, client ports, masks).
    plain = ctx.output("-plain")
    proxy = ctx.proxy(echo.port, plain)
    traffic(proxy.port)
    proxy.wait_idle()
    proxy.stop()
    reference = read(plain)
    # Connections interleave as the scheduler had it: compared as multisets.
    check(sorted(map(repr, map(comparable, union))) ==
          sorted(map(repr, map(comparable, reference))),
          f"the segments hold other records than a run without rotation: {len(union)} against "
          f"{len(reference)}")


def keep_and_time(ctx):
    """--rotate-time starts a segment when the current one is old enough (between records) and
    --rotate-keep leaves only the newest N of this run's segments."""
    echo = echo_upstream(ctx)
    output = fresh_output(ctx)
    proxy = ctx.proxy(echo.port, output, ["--rotate-time", "1", "--rotate-keep", "2"])
    traffic(proxy.port, connections=2, messages=20, pause=0.2)  # about 4.5 s
    proxy.wait_idle()
    proxy.stop()
    files, numbers = segments_of(output)
    check(len(files) == 2, f"--rotate-keep 2 left {len(files)} segments: {files}")
    check(numbers[1] == numbers[0] + 1 and numbers[0] >= 3,
          f"segments {numbers}: a 4.5 s run with --rotate-time 1 writes at least 4")
    stamps = [time.mktime(time.strptime(SEGMENT.search(f).group(2), "%Y%m%dT%H%M%SZ"))
              for f in files]
    check(stamps[1] - stamps[0] >= 1, f"segments began less than a second apart: {files}")
    records = read(files[0])
    check(records[0].get("repeat") is True,
          f"{files[0]} began while both connections were open but starts with {records[0]}")


def sighup_reopens(ctx):
    """logrotate's way: the file is moved, SIGHUP makes the proxy open a new one at the path.
    `tail -F` following the path sees every line once; the two files together hold every
    connection whole; SIGHUP does not stop the proxy."""
    echo = echo_upstream(ctx)
    output = ctx.output("")
    moved = ctx.output("-moved")
    proxy = ctx.proxy(echo.port, output)
    collected = output + ".tail"
    with open(collected, "wb") as sink:
        tail = subprocess.Popen(["tail", "-F", "-n", "+1", "-s", "0.05", output], stdout=sink,
                                stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
    ctx.stack.callback(tail.kill)

    def tail_caught_up(expected_lines, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(collected, "rb") as f:
                if f.read().count(b"\n") >= expected_lines:
                    return
            time.sleep(0.05)
        check(False, f"tail -F did not see {expected_lines} lines")

    traffic(proxy.port, connections=3, messages=5)
    proxy.wait_idle()
    time.sleep(0.3)  # the writer flushes when the records pause
    before = read(output)
    tail_caught_up(len(before))
    os.rename(output, moved)
    proxy.process.send_signal(signal.SIGHUP)
    traffic(proxy.port, connections=3, messages=5, first=3)
    proxy.wait_idle()
    check(proxy.alive(), "SIGHUP stopped a proxy that writes to a file")
    proxy.stop()
    after = read(output)
    check(before == read(moved), "records reached the moved file after SIGHUP")
    check(len(after) > 0, "nothing was written to the reopened file")
    tail_caught_up(len(before) + len(after))
    time.sleep(0.3)
    tail.kill()
    with open(collected, "rb") as f:
        lines = f.read().splitlines()
    with open(moved, "rb") as f:
        want = f.read().splitlines()
    with open(output, "rb") as f:
        want += f.read().splitlines()
    check(lines == want, f"tail -F saw {len(lines)} lines, the files hold {len(want)} "
                         f"(each line once, in order)")
    check_connections_whole(before + after, "the moved and the reopened file")
    check(stat.S_IMODE(os.stat(output).st_mode) == 0o600, "the reopened file is not 0600")


def rsyslog_imfile(ctx):
    """rsyslog's imfile (Debian rsyslog), following the segments by a wildcard while the proxy
    writes them under load, forwards every line of every segment exactly once."""
    echo = echo_upstream(ctx)
    output = fresh_output(ctx)
    # A folder of its own per run: imfile's offsets and the pid file start empty.
    os.makedirs(os.path.join(ctx.records_dir, "rotation-files"), exist_ok=True)
    work = tempfile.mkdtemp(prefix="rsyslog-", dir=os.path.join(ctx.records_dir, "rotation-files"))
    ctx.stack.callback(shutil.rmtree, work, True)
    os.makedirs(os.path.join(work, "state"))
    collected = os.path.join(work, "collected.log")
    conf = os.path.join(work, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write(f'''global(workDirectory="{work}/state" maxMessageSize="64k")
module(load="imfile")
input(type="imfile" File="{output[:-len(".ndjson")]}_*.ndjson" Tag="wssniff")
template(name="line" type="string" string="%msg%\\n")
action(type="omfile" file="{collected}" template="line")
''')
    rsyslog = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(work, "pid")],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    ctx.stack.callback(rsyslog.kill)
    time.sleep(0.5)
    if rsyslog.poll() is not None:
        said, _ = rsyslog.communicate(timeout=5)
        check(False, f"rsyslogd did not start (exit {rsyslog.returncode}): {said!r}")

    proxy = ctx.proxy(echo.port, output, ["--rotate-size", "4KiB"])
    traffic(proxy.port, connections=6, messages=15)
    proxy.wait_idle()
    proxy.stop()
    files, _ = segments_of(output)
    check(len(files) >= 8, f"only {len(files)} segments")
    want = []
    for path in files:
        with open(path, "rb") as f:
            want += f.read().splitlines()

    deadline = time.monotonic() + 20
    got = []
    while time.monotonic() < deadline:
        if os.path.exists(collected):
            with open(collected, "rb") as f:
                got = f.read().splitlines()
            if len(got) >= len(want):
                break
        time.sleep(0.2)
    time.sleep(0.5)  # anything beyond the count would be a duplicate: let it arrive
    rsyslog.terminate()
    rsyslog.wait(10)
    with open(collected, "rb") as f:
        got = f.read().splitlines()
    # imfile reads the segments side by side: the order across files is its own.
    check(sorted(got) == sorted(want),
          f"rsyslog forwarded {len(got)} lines ({len(set(got))} distinct), the {len(files)} "
          f"segments hold {len(want)} ({len(set(want))} distinct)")
    check(len(set(want)) == len(want), "two segment lines are the same: a tailer could not "
                                       "tell them apart")


def usage(ctx):
    """Rotation needs a file; --rotate-keep needs a rotation; sizes and times are checked."""
    def refused(args, says):
        done = subprocess.run([ctx.wssniff, "proxy", "--upstream", "ws://127.0.0.1:9",
                               "--listen", "127.0.0.1:0"] + args, capture_output=True,
                              timeout=10, stdin=subprocess.DEVNULL)
        stderr = done.stderr.decode()
        check(done.returncode == 2 and len(stderr.strip().splitlines()) == 1 and says in stderr,
              f"{args}: exit {done.returncode}, stderr {stderr!r}")
    d = os.path.join(ctx.records_dir, "rotation-files")
    os.makedirs(d, exist_ok=True)
    target = os.path.join(d, "x.ndjson")
    refused(["--rotate-size", "1MiB"], "standard output cannot rotate")
    refused(["--rotate-time", "60", "-o", "-"], "standard output cannot rotate")
    refused(["--rotate-keep", "3", "-o", target], "needs --rotate-size or --rotate-time")
    refused(["--rotate-size", "10", "-o", target], "--rotate-size")
    refused(["--rotate-time", "0", "-o", target], "--rotate-time")
    check(not os.path.exists(target), "a refused start created the output")


CASES = [segments_stand_alone, keep_and_time, sighup_reopens, rsyslog_imfile, usage]

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, prefix="rotation"))

#!/usr/bin/python3
"""`wssniff diff` on archives recorded through `wssniff proxy` from real peers.

    run_diff.py CASE --wssniff BIN --node NODE --work DIR --records-dir DIR

A recording: the server (npm ws, scenario_server.js, or python3-websockets,
scenario_server.py; DIFF_CHANGE makes it drop, change or add a push, reorder two, or stamp a
time and a uuid on each) on an ephemeral port, `wssniff proxy` in front of it writing to a FIFO
that is copied to the archive, a python3-websockets client playing the scenario through the
proxy; once the close record is out the proxy gets SIGTERM. Each archive is also copied into
the records directory for the schema suite.

Cases:
  ws_same, python_same        the same scenario twice: exit 0, nothing written
  ws_changes, python_changes  drop, change and add against the baseline: exit 1 and exactly
                              the expected NDJSON differences
  learn                       two stamped baselines differ; --learn writes a mask; a third
                              stamped run compares equal with it
  epoch                       two pushes swapped: exit 1 strict, 0 with --order epoch
  junit                       a change as JUnit XML: well-formed, testsuite/testcase/failure
  trouble                     unreadable archive, malformed line, one archive: exit 2, one line
Every process started here is killed on the way out; the case has a time budget.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

import websockets

from wssniff_kit.processes import PYTHON, Deadline, Failure, FifoReader, Process

HERE = Path(__file__).resolve().parent
CASE_BUDGET_S = 60


class Recorder:
    def __init__(self, args, work, started):
        self.args = args
        self.work = work
        self.started = started
        self.count = 0

    def server_argv(self, kind):
        if kind == "ws":
            return [self.args.node, str(HERE / "scenario_server.js")]
        return [PYTHON, str(HERE / "scenario_server.py")]

    def record(self, kind, change="none", emit="frames"):
        """One run of the scenario through the proxy; returns the archive's path."""
        self.count += 1
        name = f"{self.args.case}-{self.count}-{kind}-{change}"
        archive = self.work / f"{name}.ndjson"
        fifo_path = self.work / f"{name}.fifo"
        os.mkfifo(fifo_path)
        fifo = FifoReader(fifo_path, archive)
        env_change = dict(os.environ, DIFF_CHANGE=change)
        server = subprocess_process("server", self.server_argv(kind), self.work, env_change)
        self.started.append(server)
        port = int(server.wait_line(r"listening (\d+)", 10).group(1))
        proxy = Process("wssniff proxy",
                        [self.args.wssniff, "proxy", "--listen", "127.0.0.1:0",
                         "--upstream", f"ws://127.0.0.1:{port}", "--output", str(fifo_path),
                         "--emit", emit],
                        self.work, watch="stderr")
        self.started.append(proxy)
        proxy_port = int(proxy.wait_line(r"listening on 127\.0\.0\.1:(\d+)", 10).group(1))
        asyncio.run(asyncio.wait_for(client(proxy_port), Deadline.within(10)))
        fifo.wait_for_close_record(10)
        proxy.proc.send_signal(signal.SIGTERM)
        if proxy.wait(10) != 0:
            raise Failure(f"proxy exited with status {proxy.proc.returncode}")
        fifo.finish(10)
        if server.wait(10) != 0:
            raise Failure(f"{kind} server exited with status {server.proc.returncode}: "
                          f"{server.output('stderr')}")
        shutil.copyfile(archive, Path(self.args.records_dir) / f"diff-{name}.ndjson")
        return archive


def subprocess_process(name, argv, work, env):
    saved = os.environ.copy()
    os.environ.clear()
    os.environ.update(env)
    try:
        return Process(name, argv, work)
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def client(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/feed", ping_interval=None,
                                  compression=None, open_timeout=5) as ws:
        await ws.send('{"op":"subscribe"}')
        while json.loads(await ws.recv()).get("op") != "done":
            pass
        await ws.send('{"op":"bye"}')
        await ws.recv()
        await ws.close(1000, "finished")


def diff(args, *argv):
    result = subprocess.run([args.wssniff, "diff", *map(str, argv)], capture_output=True,
                            text=True, timeout=Deadline.within(20))
    return result.returncode, result.stdout, result.stderr


def line_of(archive, kind, payload):
    """The line of the record of type `kind` whose text is `payload` (s2c)."""
    for number, line in enumerate(Path(archive).read_text().splitlines(), start=1):
        r = json.loads(line)
        if r["type"] == kind and r.get("dir") == "s2c" and r.get("text") == payload:
            return number
    raise Failure(f"{archive}: no {kind} record with text {payload}")


def check(ok, what):
    if not ok:
        raise Failure(what)


def check_equal(actual, expected, what):
    if actual != expected:
        raise Failure(f"{what}:\n  got      {actual!r}\n  expected {expected!r}")


def compact(value):
    return json.dumps(value, separators=(",", ":"))


def case_same(args, rec, kind):
    a = rec.record(kind)
    b = rec.record(kind)
    status, out, err = diff(args, a, b)
    check_equal((status, out, err), (0, "", ""), "diff of two unchanged runs")
    status, out, err = diff(args, a, b, "--format", "ndjson")
    check_equal((status, out, err), (0, "", ""), "ndjson diff of two unchanged runs")


def case_changes(args, rec, kind):
    emit = "frames" if kind == "ws" else "both"  # frames rebuilt into messages, or messages
    record_type = "frame" if emit == "frames" else "message"
    base = rec.record(kind, emit=emit)
    push2 = compact({"n": 2, "price": 99.25})
    base_line = line_of(base, record_type, push2)
    common = {"conn": 1, "conn_a": 1, "conn_b": 1, "part": "message"}

    changed = rec.record(kind, "change", emit=emit)
    expected = dict(common, change="changed", dir="s2c", index_a=1, index_b=1, field="payload",
                    pointer="/price", a=99.25, b=102, line_a=base_line,
                    line_b=line_of(changed, record_type, compact({"n": 2, "price": 102})))
    dropped = rec.record(kind, "drop", emit=emit)
    removed = dict(common, change="removed", dir="s2c", index_a=1, a={"n": 2, "price": 99.25},
                   line_a=base_line)
    extra = rec.record(kind, "add", emit=emit)
    added = dict(common, change="added", dir="s2c", index_b=2, b={"n": "extra"},
                 line_b=line_of(extra, record_type, compact({"n": "extra"})))
    for other, want, what in ((changed, expected, "change"), (dropped, removed, "drop"),
                              (extra, added, "add")):
        status, out, err = diff(args, base, other, "--format", "ndjson")
        check_equal(status, 1, f"{what}: exit status ({err})")
        check_equal(err, "", f"{what}: stderr")
        check_equal([json.loads(line) for line in out.splitlines()], [want],
                    f"{what}: differences")
        # Key order: as README documents the fields.
        check_equal(list(json.loads(out.splitlines()[0]).keys()), list(want.keys()),
                    f"{what}: field order")
    status, out, _ = diff(args, base, changed)
    check_equal((status, out), (1, "conn 1 s2c #1 /price: 99.25 → 102\n"), "text output")
    status, out, _ = diff(args, base, changed, "--ignore-json", "/*/price")
    check_equal(status, 1, "--ignore-json /*/price matches nothing at the top level")
    status, out, _ = diff(args, base, changed, "--ignore-json", "/price")
    check_equal((status, out), (0, ""), "--ignore-json /price")


def case_learn(args, rec):
    one = rec.record("ws", "stamp")
    two = rec.record("ws", "stamp")
    three = rec.record("ws", "stamp")
    status, out, _ = diff(args, one, two, "--format", "ndjson")
    check_equal(status, 1, "two stamped runs differ")
    pointers = sorted({json.loads(line)["pointer"] for line in out.splitlines()})
    check_equal(pointers, ["/id", "/ts"], "what differs between stamped runs")
    mask = rec.work / "mask.json"
    status, out, err = diff(args, "--learn", one, two, "-o", mask)
    check_equal((status, out), (0, ""), f"--learn ({err})")
    check_equal(err, "wssniff: diff --learn: 2 pointers masked\n", "--learn stderr")
    check_equal(json.loads(mask.read_text()),
                {"wssniff_mask": 1, "c2s": [],
                 "s2c": [{"pointer": "/id", "type": "string"},
                         {"pointer": "/ts", "type": "string"}]},
                "learned mask")
    status, out, err = diff(args, one, three, "--mask", mask)
    check_equal((status, out, err), (0, "", ""), "a third stamped run with the mask")
    # The mask hides values, not a real change.
    changed = rec.record("ws", "stamp,change")
    status, out, _ = diff(args, one, changed, "--mask", mask, "--format", "ndjson")
    check_equal(status, 1, "a change under the mask")
    got = [(d["part"], d["change"], d.get("pointer")) for d in map(json.loads, out.splitlines())]
    check_equal(got, [("message", "changed", "/price")], "differences under the mask")


def case_epoch(args, rec):
    base = rec.record("python")
    swapped = rec.record("python", "reorder")
    status, out, _ = diff(args, base, swapped, "--format", "ndjson")
    check_equal(status, 1, "strict order: swapped pushes differ")
    check(len(out.splitlines()) >= 1, "strict order reports the swap")
    status, out, err = diff(args, base, swapped, "--order", "epoch")
    check_equal((status, out, err), (0, "", ""), "--order epoch")
    dropped = rec.record("python", "drop")
    status, out, _ = diff(args, base, dropped, "--order", "epoch", "--format", "ndjson")
    check_equal(status, 1, "--order epoch still sees a dropped push")
    check_equal([(d["change"], d.get("a")) for d in map(json.loads, out.splitlines())],
                [("removed", {"n": 2, "price": 99.25})], "dropped push under --order epoch")


def case_junit(args, rec):
    base = rec.record("ws")
    changed = rec.record("ws", "change")
    status, out, err = diff(args, base, changed, "--format", "junit")
    check_equal((status, err), (1, ""), "junit exit status")
    root = ET.fromstring(out)  # raises on anything that is not well-formed XML
    check_equal(root.tag, "testsuites", "root element")
    suites = root.findall("testsuite")
    check_equal(len(suites), 1, "one testsuite")
    suite = suites[0]
    check_equal((suite.get("tests"), suite.get("failures"), suite.get("errors")),
                ("1", "1", "0"), "testsuite counts")
    cases = suite.findall("testcase")
    check_equal(len(cases), 1, "one testcase per connection")
    check_equal((cases[0].get("name"), cases[0].get("classname")),
                ("conn 1 /feed", "wssniff.diff"), "testcase names")
    failures = cases[0].findall("failure")
    check_equal(len(failures), 1, "one failure")
    check_equal(failures[0].get("message"), "1 difference", "failure message")
    check_equal(failures[0].text, "conn 1 s2c #1 /price: 99.25 → 102\n", "failure text")
    status, out, _ = diff(args, base, base, "--format", "junit")
    same = ET.fromstring(out)
    check_equal((status, same.find("testsuite").get("failures"),
                 same.find("testsuite/testcase/failure")), (0, "0", None), "junit, same")
    # Markup in payloads is escaped: the names and values below must survive a parser.
    tricky = rec.work / "tricky.ndjson"
    tricky.write_text(
        '{"type":"frame","conn":1,"dir":"s2c","seq":0,"offset":0,"fin":true,"rsv1":false,'
        '"rsv2":false,"rsv3":false,"opcode":1,"op":"text","masked":false,"len":9,'
        '"text":"<a&b]]>\\u0001"}\n')
    status, out, _ = diff(args, base, tricky, "--format", "junit")
    check_equal(status, 1, "junit with markup in payloads")
    body = ET.fromstring(out).find("testsuite/testcase/failure").text
    check("<a&b]]>" in body, f"escaped payload survives: {body!r}")


def case_trouble(args, rec):
    good = rec.work / "good.ndjson"
    good.write_text('{"type":"close","conn":1,"reason":"client_closed","bytes_c2s":0,'
                    '"bytes_s2c":0,"frames_c2s":0,"frames_s2c":0}\n')
    missing = rec.work / "missing.ndjson"
    status, out, err = diff(args, good, missing)
    check_equal((status, out), (2, ""), "unreadable archive")
    check(len(err.splitlines()) == 1 and str(missing) in err and "No such file" in err,
          f"one line naming the missing archive: {err!r}")
    bad = rec.work / "bad.ndjson"
    bad.write_text(good.read_text() + "\n" + '{"type":"frame","conn":1,"dir":"up"}\n')
    status, out, err = diff(args, good, bad)
    check_equal((status, out), (2, ""), "malformed line")
    check(len(err.splitlines()) == 1 and f"{bad}:3:" in err,
          f"one line naming the archive and line 3: {err!r}")
    (rec.work / "notjson.ndjson").write_text("{nope\n")
    status, _, err = diff(args, good, rec.work / "notjson.ndjson")
    check(status == 2 and "notjson.ndjson:1:" in err and len(err.splitlines()) == 1,
          f"a line that is not JSON: {status} {err!r}")
    status, _, err = diff(args, good)
    check(status == 2 and len(err.splitlines()) == 1, f"one archive: {status} {err!r}")
    status, _, err = diff(args, good, good, "--mask", missing)
    check(status == 2 and "mask" in err and len(err.splitlines()) == 1,
          f"unreadable mask: {status} {err!r}")
    status, _, err = diff(args, good, good, "--normalize", "(x=>y")
    check(status == 2 and len(err.splitlines()) == 1, f"bad --normalize: {status} {err!r}")


CASES = {
    "ws_same": lambda a, r: case_same(a, r, "ws"),
    "python_same": lambda a, r: case_same(a, r, "python"),
    "ws_changes": lambda a, r: case_changes(a, r, "ws"),
    "python_changes": lambda a, r: case_changes(a, r, "python"),
    "learn": case_learn,
    "epoch": case_epoch,
    "junit": case_junit,
    "trouble": case_trouble,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--wssniff", required=True)
    parser.add_argument("--node", default="node")
    parser.add_argument("--work", required=True)
    parser.add_argument("--records-dir", required=True)
    args = parser.parse_args()
    Deadline.start(CASE_BUDGET_S)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for old in Path(args.records_dir).glob(f"diff-{args.case}-*.ndjson"):
        old.unlink()
    started = []
    try:
        CASES[args.case](args, Recorder(args, work, started))
    except Exception as e:  # noqa: BLE001 - every failure is reported the same way
        if not isinstance(e, Failure):
            traceback.print_exc()
        print(f"FAIL {args.case}: {e}")
        return 1
    finally:
        for p in started:
            p.kill()
    print(f"PASS {args.case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

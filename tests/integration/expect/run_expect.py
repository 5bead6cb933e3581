#!/usr/bin/python3
"""`wssniff expect` on archives recorded through `wssniff proxy` from real peers.

    run_expect.py CASE --wssniff BIN --node NODE --work DIR --records-dir DIR

A recording: the trading server (python3-websockets, trading_server.py, or npm ws with
permessage-deflate, trading_server.js; TRADE_CHANGE=bad_id|swap changes what it sends) on an
ephemeral port, `wssniff proxy` in front of it writing an archive, a python3-websockets client
(subscribe with id 5, five messages read, close 1000); once the close record is written the
proxy gets SIGTERM. Each archive is also copied to the records directory for the schema suite.

Cases:
  python, ws    the issue's conversation matches (exit 0); pings kept and matched; any order
  bad_id        the ack's id differs from the bound one: exit 1, the exact failure lines
  swap          two pushes swapped: in-order spec fails, any_order matches
  junit         JUnit XML read back (matched and not), the failure text inside
  trouble       bad specs (one line naming the spec and the JSON location), unreadable
                archive, missing connection: exit 2
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import websockets

from wssniff_kit.processes import PYTHON, Deadline, Failure, Process
from wssniff_kit.proxy import Proxy

HERE = Path(__file__).resolve().parent
SCHEMA = json.loads((HERE.parent.parent.parent / "schemas" / "expectation.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
CASE_BUDGET_S = 60

SPEC = {
    "wssniff_expect": 1,
    "name": "trading",
    "steps": [
        {"dir": "c2s", "op": "text", "json": {"op": "subscribe"}, "bind": {"id": "/id"}},
        {"dir": "s2c", "json": {"op": "ack"}, "equal": {"/id": "id"}},
        {"dir": "s2c", "json": {"type": "trade"}, "min": 1},
        {"dir": "s2c", "text": "stats"},
        {"dir": "s2c", "text": "motd"},
        {"dir": "c2s", "op": "close", "close_code": 1000, "close_reason": "done"},
    ],
}


def check(ok, what):
    if not ok:
        raise Failure(what)


def check_equal(actual, expected, what):
    if actual != expected:
        raise Failure(f"{what}:\n  got      {actual!r}\n  expected {expected!r}")


async def client(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/trades", ping_interval=None,
                                  open_timeout=5) as ws:
        await ws.send('{"op":"subscribe","id":5}')
        for _ in range(5):
            await ws.recv()
        await ws.close(1000, "done")


class Recorder:
    def __init__(self, args, work, started):
        self.args = args
        self.work = work
        self.started = started
        self.count = 0

    def record(self, kind, change="none"):
        self.count += 1
        name = f"{self.args.case}-{self.count}-{kind}-{change}"
        archive = self.work / f"{name}.ndjson"
        argv = ([self.args.node, str(HERE / "trading_server.js")] if kind == "ws"
                else [PYTHON, str(HERE / "trading_server.py")])
        saved = os.environ.copy()
        os.environ["TRADE_CHANGE"] = change
        try:
            server = Process("server", argv, self.work)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.started.append(server)
        port = int(server.wait_line(r"listening (\d+)", 10).group(1))
        proxy = Proxy(self.args.wssniff, port, output=str(archive))
        try:
            asyncio.run(asyncio.wait_for(client(proxy.port), Deadline.within(10)))
            deadline = time.monotonic() + 10
            while '"type":"close"' not in archive.read_text():
                check(time.monotonic() < deadline, "no close record within 10 s")
                time.sleep(0.02)
        finally:
            code = proxy.stop()
        check_equal(code, 0, "proxy exit status")
        if server.wait(10) != 0:
            raise Failure(f"{kind} server exited {server.proc.returncode}: "
                          f"{server.output('stderr')}")
        shutil.copyfile(archive, Path(self.args.records_dir) / f"expect-{name}.ndjson")
        return archive

    def spec(self, name, value, schema_valid=True):
        """Writes a spec; every spec the tests use whole is also checked against
        schemas/expectation.schema.json (`schema_valid` False: one the schema must refuse)."""
        if not isinstance(value, str):
            errors = list(VALIDATOR.iter_errors(value))
            if schema_valid and errors:
                raise Failure(f"spec {name} does not meet the schema: {errors[0].message}")
            if not schema_valid and not errors:
                raise Failure(f"spec {name} meets the schema, which should refuse it")
        path = self.work / f"{name}.json"
        path.write_text(json.dumps(value, indent=2) if not isinstance(value, str) else value)
        return path


def expect(args, *argv):
    result = subprocess.run([args.wssniff, "expect", *map(str, argv)], capture_output=True,
                            text=True, timeout=Deadline.within(20))
    return result.returncode, result.stdout, result.stderr


def case_matched(args, rec, kind):
    archive = rec.record(kind)
    status, out, err = expect(args, archive, "--spec", rec.spec("spec", SPEC))
    check_equal((status, out, err), (0, "conn 1: matched\n", ""), "the issue's conversation")
    # Pings kept: the server's ping, then the client's pong somewhere among the pushes (when
    # the client reads the ping decides where).
    pings = {"ignore_pings": False, "extra": "forbid", "steps": [
        {"type": "message", "dir": "c2s", "op": "text"},
        {"dir": "s2c", "op": "ping"},
        {"any_order": [{"dir": "c2s", "op": "pong"},
                       {"dir": "s2c", "json": {"op": "ack"}},
                       {"dir": "s2c", "regex": "^\\{\"type\":\"trade\"", "min": 2, "max": 2},
                       {"dir": "s2c", "op": "text", "min": 2, "max": 2}]},
        {"any_order": [{"dir": "c2s", "op": "close"}, {"dir": "s2c", "op": "close"}]},
    ]}
    status, _, err = expect(args, archive, "--spec", rec.spec("pings", pings))
    check_equal((status, err), (0, ""), "pings kept")
    # Everything, nothing left over: handshake, messages, both close frames, the close record.
    whole = {"extra": "forbid", "steps": [
        {"type": "handshake", "status": 101},
        {"dir": "c2s", "json": {"id": 5}},
        {"dir": "s2c", "min": 4, "max": 4},
        {"dir": "s2c", "text": "motd"},
        {"any_order": [{"dir": "c2s", "op": "close", "close_code": 1000},
                       {"dir": "s2c", "op": "close", "close_code": 1000}]},
        {"type": "close", "reason": "server_closed"},  # the server ends TCP first
    ]}
    status, _, err = expect(args, archive, "--spec", rec.spec("whole", whole), "--conn", "1")
    check_equal((status, err), (0, ""), "the whole connection, extra forbidden")
    # The same conversation frame by frame (deflate in the ws case: payloads inflated).
    frames = dict(SPEC, unit="frames")
    status, _, err = expect(args, archive, "--spec", rec.spec("frames", frames))
    check_equal((status, err), (0, ""), "unit frames")


def case_bad_id(args, rec):
    archive = rec.record("python", "bad_id")
    status, out, err = expect(args, archive, "--spec", rec.spec("spec", SPEC))
    check_equal((status, out), (1, ""), "bad id: status and stdout")
    lines = err.splitlines()
    check_equal(lines[0], "wssniff: expect: conn 1: expectation not met: step 2 of 6 not matched",
                "first line")
    check_equal(lines[1:9], [
        "  step  expected                                   actual",
        "  1  c2s text json {\"op\":\"subscribe\"} bind id=/id  c2s #0",
        "> 2  s2c json {\"op\":\"ack\"} /id==$id                not matched",
        "  3  s2c json {\"type\":\"trade\"} (at least 1)",
        "  4  s2c \"stats\"",
        "  5  s2c \"motd\"",
        "  6  c2s close 1000 \"done\"",
        "closest candidate s2c #0: /id was 7, expected 5 (bound at c2s #0)",
    ], "the expected steps beside the records, the closest candidate")
    check_equal(lines[9:13], [
        "records around it (8 in the stream):",
        "    c2s #0 text {\"id\":5,\"op\":\"subscribe\"}",
        "  > s2c #0 text {\"id\":7,\"op\":\"ack\"}",
        "    s2c #1 text {\"price\":101.5,\"type\":\"trade\"}",
    ], "the records around it")


def case_swap(args, rec):
    archive = rec.record("ws", "swap")
    status, _, err = expect(args, archive, "--spec", rec.spec("spec", SPEC))
    check_equal(status, 1, "swapped pushes, in-order spec")
    check("  4  s2c \"stats\"                                   s2c #4\n"
          "> 5  s2c \"motd\"                                    not matched\n" in err and
          "closest candidate s2c #5: payload was a close frame 1000, expected \"motd\"\n" in err
          and "    s2c #3 text \"motd\"\n" in err, f"the step and candidate: {err}")
    any_order = json.loads(json.dumps(SPEC))
    any_order["steps"][3:5] = [{"any_order": [{"text": "stats"}, {"text": "motd"}]}]
    status, _, err = expect(args, archive, "--spec", rec.spec("any", any_order))
    check_equal((status, err), (0, ""), "swapped pushes, any order")


def case_junit(args, rec):
    good = rec.record("python")
    bad = rec.record("python", "bad_id")
    spec = rec.spec("spec", SPEC)
    status, out, err = expect(args, good, "--spec", spec, "--format", "junit")
    check_equal((status, err), (0, ""), "junit, matched")
    root = ET.fromstring(out)
    suite = root.find("testsuite")
    check_equal((suite.get("name"), suite.get("tests"), suite.get("failures")),
                ("trading", "1", "0"), "junit suite, matched")
    check_equal(suite.find("testcase").get("name"), "conn 1 /trades", "testcase name")
    check(suite.find("testcase/failure") is None, "no failure when matched")
    status, out, err = expect(args, bad, "--spec", spec, "--format", "junit")
    check_equal((status, err), (1, ""), "junit, not matched")
    suite = ET.fromstring(out).find("testsuite")
    check_equal(suite.get("failures"), "1", "one failure")
    failure = suite.find("testcase/failure")
    check_equal(failure.get("message"), "expectation not met: step 2 of 6 not matched",
                "failure message")
    check("closest candidate s2c #0: /id was 7, expected 5 (bound at c2s #0)\n" in failure.text,
          f"failure text: {failure.text!r}")


def case_trouble(args, rec):
    archive = rec.work / "one.ndjson"
    archive.write_text('{"type":"close","conn":1,"reason":"client_closed","bytes_c2s":0,'
                       '"bytes_s2c":0,"frames_c2s":0,"frames_s2c":0}\n')

    def one_line(argv, contains, what):
        status, out, err = expect(args, *argv)
        check(status == 2 and out == "" and len(err.splitlines()) == 1 and contains in err,
              f"{what}: status {status}, stdout {out!r}, stderr {err!r}")

    # The schema cannot compare min with max: this one meets it, and only wssniff refuses it.
    bad = rec.spec("bad", {"steps": [{"dir": "c2s"}, {"dir": "s2c", "min": 2, "max": 1}]})
    one_line([archive, "--spec", bad], f"wssniff: expect: {bad}: /steps/1/max: max is below min",
             "max below min")
    typo = rec.spec("typo", {"steps": [{"dir": "c2s", "jsno": {}}]}, schema_valid=False)
    one_line([archive, "--spec", typo], f"{typo}: /steps/0/jsno: unknown member \"jsno\"",
             "unknown member")
    unbound = rec.spec("unbound", {"steps": [{"equal": {"/id": "id"}}]})
    one_line([archive, "--spec", unbound],
             f"{unbound}: /steps/0/equal/~1id: \"id\" is not bound by an earlier step", "unbound")
    broken = rec.spec("broken", '{"steps": [')
    one_line([archive, "--spec", broken], f"{broken}: (document): not JSON: parse error at line 1",
             "not JSON")
    one_line([archive, "--spec", rec.work / "nope.json"], "cannot read spec", "missing spec")
    good = rec.spec("good", {"steps": [{"type": "close"}]})
    one_line([rec.work / "missing.ndjson", "--spec", good], "missing.ndjson", "missing archive")
    one_line([archive, "--spec", good, "--conn", "9"], "no connection 9", "no such connection")
    one_line([archive], "--spec", "no --spec")
    status, _, _ = expect(args, archive, "--spec", good)
    check_equal(status, 0, "the good spec on the close record")


CASES = {
    "python": lambda a, r: case_matched(a, r, "python"),
    "ws": lambda a, r: case_matched(a, r, "ws"),
    "bad_id": case_bad_id,
    "swap": case_swap,
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
    for old in Path(args.records_dir).glob(f"expect-{args.case}-*.ndjson"):
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

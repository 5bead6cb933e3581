#!/usr/bin/python3
"""Autobahn-style conformance matrix through `wssniff proxy`.

    driver.py run --role client|server --peer NAME --wssniff PATH [--full] [--results FILE]
                  [--records-out FILE] [--work DIR] ...
    driver.py report RESULTS... --out DIR

`run` plays every case of cases.py against one real peer: with --role client the driver is the
WebSocket client and the peer an echo server; with --role server the driver is the server and
the peer a client (JSON-lines protocol, see peers.py). Each case runs twice, directly and through
one wssniff proxy (with a recording tap beside the peer), and gets three verdicts:

  differential  what the peer did (echoes, pongs, close code, how the connection ended, the
                client peer's own report) is the same with and without wssniff;
  bytes         SHA-256 of the bytes each side sent equals that of what the other received;
  records       wssniff's records match an independent reading of the forwarded bytes
                (wire.py): every frame with opcode, flags, length and payload (inflated where
                compressed), every protocol error with its code and offset, in order.

Exit status 1 when a verdict fails. `report` merges result files into reports/conformance/
(index.md, index.html).
"""

import argparse
import hashlib
import json
import os
import shutil
import socket
import sys
import threading
import time

from wssniff_kit.heads import rewrite_host
from wssniff_kit.proxy import Proxy
from wssniff_kit.records import brief
from wssniff_kit.sockets import LOOPBACK
from wssniff_kit.wire import first_difference

import cases as case_table
import peers as peer_table
import report
import wire
from conversation import Conversation
from tap import Tap

MAX_PAYLOAD = 1024 * 1024  # wssniff's default --max-payload


def case_path(case):
    return f"/conformance/{case.id}"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def compact(records):
    """Expected records with payload hex replaced by its SHA-256 (memory, for 16 MiB cases)."""
    out = []
    for r in records:
        r = dict(r)
        if "hex" in r:
            r["hex_sha256"] = sha(r.pop("hex").encode())
        out.append(r)
    return out


# --- one case, one way ----------------------------------------------------------------------

def run_client_role(case, port, authority):
    sock = socket.create_connection((LOOPBACK, port), timeout=10)
    conv = Conversation(case, "client", sock)
    conv.client_handshake(authority, case_path(case))
    if case.deflate is not None and conv.negotiated is None:
        sock.close()
        return conv, "the server did not accept permessage-deflate"
    conv.play()
    return conv, None


def run_server_role(case, listener, client, url_port):
    deflate = case.deflate is not None
    client.connect(f"ws://{LOOPBACK}:{url_port}{case_path(case)}", deflate, case.timeout + 5)
    listener.settimeout(20)
    try:
        sock, _ = listener.accept()
    except socket.timeout:
        report_line = client.report(5)
        raise ConnectionError(f"the client peer did not connect: {report_line}")
    conv = Conversation(case, "server", sock)
    path, na = conv.server_handshake()
    if path != case_path(case):
        raise ConnectionError(f"the client asked for {path}, expected {case_path(case)}")
    if na:
        conv.play()
        client.report(case.timeout + 10)
        return conv, na, None
    conv.play()
    peer_report = client.report(case.timeout + 10)
    if peer_report is None:
        peer_report = {"error": "no report line from the client peer"}
    return conv, None, peer_report


# --- verdicts -------------------------------------------------------------------------------

def outcome_for_comparison(outcome):
    return {k: v for k, v in outcome.items() if k != "notes"}


# Direct runs of a case whose outcome differed through wssniff, at most.
RESAMPLES = 4


def differential(direct, proxied, samples=None):
    """(verdict, detail, explained). The outcome through wssniff must equal the direct one;
    where a peer's outcome varies from run to run without wssniff (a browser failing the
    connection while bytes are in flight ends it with FIN or RST as the timing falls), each
    differing field must take, in some direct run, the value it took through wssniff."""
    a, b = outcome_for_comparison(direct), outcome_for_comparison(proxied)
    if a == b:
        return True, "same outcome", True
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    diffs = "; ".join(f"{k}: direct {str(a.get(k))[:160]} / proxy {str(b.get(k))[:160]}"
                      for k in keys)
    seen = [outcome_for_comparison(s) for s in samples or []]
    unexplained = [k for k in keys if not any(s.get(k) == b.get(k) for s in seen)]
    if samples and not unexplained:
        return True, (f"peer varies without wssniff too ({len(samples) + 1} direct runs): "
                      f"{diffs}"), True
    return False, diffs + (f" (also not seen in {len(samples)} more direct runs)"
                           if samples else ""), False


def same_bytes(sent, received, what, reset):
    if sha(sent) == sha(received):
        return None
    if reset and sent.startswith(received):
        return f"{what}: {len(received)} of {len(sent)} bytes arrived (connection reset)" \
               "\x00prefix"
    at = first_difference(received, sent)
    return (f"{what}: SHA-256 differs (sent {len(sent)} bytes, received {len(received)}); "
            f"first difference at byte {at}: sent {bytes(sent[at:at + 16])!r}, received "
            f"{bytes(received[at:at + 16])!r}")


def bytes_verdict(role, conv, tap_conn, tap_port, upstream_authority):
    """client role: driver -> wssniff -> tap -> server peer; server role: client peer -> tap ->
    wssniff -> driver. wssniff sets the request's Host to its upstream's authority."""
    if tap_conn is None:
        return False, "the tap saw no connection for this case"
    reset = tap_conn.reset or "tcp: reset" in conv.outcome["notes"]
    if role == "client":
        pairs = [(rewrite_host(bytes(conv.rec.sent), f"{LOOPBACK}:{tap_port}"),
                  bytes(tap_conn.c2s), "client->server"),
                 (bytes(tap_conn.s2c), bytes(conv.rec.received), "server->client")]
    else:
        pairs = [(rewrite_host(bytes(tap_conn.c2s), upstream_authority),
                  bytes(conv.rec.received), "client->server"),
                 (bytes(conv.rec.sent), bytes(tap_conn.s2c), "server->client")]
    problems = [p for p in (same_bytes(s, r, w, reset) for s, r, w in pairs) if p]
    hard = [p for p in problems if not p.endswith("\x00prefix")]
    if hard:
        return False, "; ".join(hard)
    if problems:
        return True, "; ".join(p[:-7] for p in problems)
    return True, "SHA-256 equal both ways"


def records_expectation(role, conv, tap_conn, close_record):
    """What wssniff read each way: the sender's bytes, as far as wssniff's close record counts
    them. The count itself must lie between what the far side received and what was sent (a
    reset can stop the relay between its read and its write)."""
    if role == "client":
        c2s_sent, c2s_far = bytes(conv.rec.sent), len(tap_conn.c2s)
        s2c_sent, s2c_far = bytes(tap_conn.s2c), len(conv.rec.received)
    else:
        c2s_sent, c2s_far = bytes(tap_conn.c2s), len(conv.rec.received)
        s2c_sent, s2c_far = bytes(conv.rec.sent), len(tap_conn.s2c)
    problems = []
    cuts = []
    for direction, sent, far in (("c2s", c2s_sent, c2s_far), ("s2c", s2c_sent, s2c_far)):
        counted = (close_record or {}).get(f"bytes_{direction}")
        if not isinstance(counted, int) or not far <= counted <= len(sent):
            problems.append(f"close record bytes_{direction} {counted}: the far side received "
                            f"{far} of {len(sent)} bytes sent")
            counted = far
        cuts.append(sent[:counted])
    deflate, c2s_records, s2c_records = wire.expected_records(cuts[0], cuts[1], MAX_PAYLOAD)
    # The case's own violations, judged on everything the driver sent.
    direction = "c2s" if role == "client" else "s2c"
    driver_errors = {r["code"] for r in wire.expected_direction(
        conv.intended, direction, deflate is not None, False, MAX_PAYLOAD, False)
        if r["type"] == "error"}
    return {"deflate": deflate, "c2s": compact(c2s_records), "s2c": compact(s2c_records),
            "problems": problems, "driver_errors": driver_errors}


def check_record(got, want):
    for key, value in want.items():
        if key == "hex_sha256":
            if "hex" not in got or sha(got["hex"].encode()) != value:
                return f"payload differs ({len(got.get('hex', '')) // 2} bytes recorded)"
            continue
        if got.get(key) != value:
            return f"{key} is {str(got.get(key))[:80]}, expected {str(value)[:80]}"
    if got.get("type") == "frame":
        for key in ("truncated", "compressed", "close_code"):
            if key in got and key not in want:
                return f"unexpected field {key}"
    return None


def records_verdict(case, expect, mine):
    handshakes = [r for r in mine if r.get("type") == "handshake"]
    if len(handshakes) != 1:
        return False, f"{len(handshakes)} handshake records for {case_path(case)}"
    h = handshakes[0]
    problems = list(expect["problems"])
    if h.get("status") != 101:
        problems.append(f"handshake status {h.get('status')}")
    want_deflate = expect["deflate"] is not None
    if (h.get("deflate") is not None) != want_deflate:
        problems.append(f"handshake deflate {h.get('deflate')}, the response said "
                        f"{expect['deflate']}")
    for direction in ("c2s", "s2c"):
        got = [r for r in mine if r.get("type") in ("frame", "error") and r.get("dir") == direction]
        want = expect[direction]
        for i in range(max(len(got), len(want))):
            if i >= len(got):
                problems.append(f"{direction}: missing {want[i]['type']} #{i}: "
                                f"{json.dumps(want[i])[:200]}")
                break
            if i >= len(want):
                problems.append(f"{direction}: unexpected {got[i]['type']} #{i}: "
                                f"{brief(got[i])[:200]}")
                break
            problem = check_record(got[i], want[i])
            if problem:
                problems.append(f"{direction} {want[i]['type']} #{i} "
                                f"({want[i].get('code') or want[i].get('op')}): {problem}")
                break
    closes = [r for r in mine if r.get("type") == "close"]
    if len(closes) != 1:
        problems.append(f"{len(closes)} close records")
    # The case must be what it says: its own frames make exactly the violations it names.
    codes = expect["driver_errors"]
    for code in case.violates:
        if code not in codes:
            problems.append(f"case defect: the model expects no {code} for the driver's frames")
    if not case.violates and codes:
        problems.append(f"case defect: unexpected violations {sorted(codes)} in the driver's "
                        "frames")
    if problems:
        return False, "; ".join(problems)
    n = sum(1 for d in ("c2s", "s2c") for r in expect[d] if r["type"] == "frame")
    e = sorted({r["code"] for d in ("c2s", "s2c") for r in expect[d] if r["type"] == "error"})
    return True, f"{n} frames" + (f", errors {', '.join(e)}" if e else "")


# --- one peer, every case -------------------------------------------------------------------

def run_matrix(options):
    cases = [c for c in case_table.all_cases(options.full)
             if not options.cases or any(c.id == p or c.id.startswith(p + ".")
                                         for p in options.cases)]
    role, peer = options.role, options.peer
    os.makedirs(options.work, exist_ok=True)
    log_path = os.path.join(options.work, f"{role}-{peer}-peer.log")
    results = {"role": role, "peer": peer, "full": options.full, "cases": [],
               "started": time.time(), "unavailable": None}
    missing = peer_table.peer_available(peer, "server" if role == "client" else "client",
                                        options)
    if missing:
        results["unavailable"] = missing
        return results
    na_deflate = peer_table.NO_DEFLATE.get(peer)
    todo = [c for c in cases if not (na_deflate and c.deflate is not None)]
    entries = {c.id: {"id": c.id, "category": c.category, "description": c.description,
                      "violates": list(c.violates), "na": None, "direct": None, "proxy": None,
                      "verdicts": {}} for c in cases}
    for c in cases:
        if na_deflate and c.deflate is not None:
            entries[c.id]["na"] = na_deflate

    def one_pass(via_proxy, subset=None):
        run_cases = todo if subset is None else [c for c in todo if c.id in subset]
        server = client = listener = tap = proxy = None
        try:
            if role == "client":
                server = peer_table.ServerPeer(peer, options, log_path)
                target = server.port
                if via_proxy:
                    tap = Tap(server.port)
                    proxy = start_proxy(options, tap.port, f"{role}-{peer}")
                    target = proxy.port
                for case in run_cases:
                    entry = entries[case.id]
                    if entry["na"]:
                        continue
                    try:
                        conv, na = run_client_role(case, target, f"{LOOPBACK}:{target}")
                    except (OSError, ConnectionError) as e:
                        entry["verdicts"]["error" if not via_proxy else "proxy_error"] = str(e)
                        conv, na = None, None
                    if na:
                        entry["na"] = na
                    if conv is not None and not na:
                        finish_run(case, entry, conv, via_proxy, tap, None, proxy)
            else:
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind((LOOPBACK, 0))
                listener.listen(16)
                driver_port = listener.getsockname()[1]
                client = peer_table.ClientPeer(peer, options, log_path)
                url_port = driver_port
                if via_proxy:
                    proxy = start_proxy(options, driver_port, f"{role}-{peer}")
                    tap = Tap(proxy.port)
                    url_port = tap.port
                for case in run_cases:
                    entry = entries[case.id]
                    if entry["na"]:
                        continue
                    try:
                        conv, na, peer_report = run_server_role(case, listener, client, url_port)
                    except (OSError, ConnectionError) as e:
                        entry["verdicts"]["error" if not via_proxy else "proxy_error"] = str(e)
                        continue
                    if na:
                        entry["na"] = na
                        continue
                    conv.outcome["client_report"] = normalise_report(peer_report)
                    finish_run(case, entry, conv, via_proxy, tap, f"{LOOPBACK}:{driver_port}",
                               proxy)
            if proxy is not None:
                proxy.wait_idle(20)
                code = proxy.stop(10)
                proxy.live.thread.join(10)
                if code != 0:
                    raise RuntimeError(f"wssniff exited {code}: {proxy.stderr_text()[-500:]}")
        finally:
            for thing in (client, server):
                if thing is not None:
                    thing.stop()
            if listener is not None:
                listener.close()
            if tap is not None:
                tap.close()
            if proxy is not None and proxy.alive():
                proxy.stop(5)

    t0 = time.monotonic()
    one_pass(False)
    t1 = time.monotonic()
    one_pass(True)
    t2 = time.monotonic()
    # A peer whose outcome differs between the two runs is run directly again: what it does
    # without wssniff too is its own variation, not wssniff's doing (see differential()).
    differing = {c.id for c in todo if entries[c.id]["direct"] and entries[c.id]["proxy"] and
                 not differential(entries[c.id]["direct"], entries[c.id]["proxy"])[0]}
    for _ in range(RESAMPLES if differing else 0):
        one_pass(False, differing)
        differing = {i for i in differing
                     if not differential(entries[i]["direct"], entries[i]["proxy"],
                                         entries[i].get("direct_samples"))[2]}
        if not differing:
            break
    results["seconds_direct"] = round(t1 - t0, 2)
    results["seconds_proxy"] = round(t2 - t1, 2)
    results["seconds_resampling"] = round(time.monotonic() - t2, 2)
    if options.records_out:
        shutil.copyfile(os.path.join(options.work, f"{role}-{peer}.ndjson"), options.records_out)
    for case in todo:
        entry = entries[case.id]
        if entry["na"]:
            continue
        v = entry["verdicts"]
        if "error" in v or "proxy_error" in v:
            for name in ("differential", "bytes", "records"):
                v.setdefault(name, [False, v.get("error") or v.get("proxy_error")])
            continue
        ok, detail, explained = differential(entry["direct"], entry["proxy"],
                                             entry.get("direct_samples"))
        v["differential"] = [ok, detail]
        if explained and not differential(entry["direct"], entry["proxy"])[0]:
            entry["quirk"] = detail
    results["cases"] = [entries[c.id] for c in cases]
    return results


def normalise_report(r):
    if not isinstance(r, dict):
        return {"error": "no report"}
    keys = ("opened", "messages", "close_code", "close_reason", "clean", "error")
    return {k: r.get(k) for k in keys}


def finish_run(case, entry, conv, via_proxy, tap, upstream_authority, proxy):
    outcome = conv.outcome
    if not via_proxy and entry["direct"] is not None:
        entry.setdefault("direct_samples", []).append(outcome)
        return
    entry["proxy" if via_proxy else "direct"] = outcome
    if not via_proxy:
        return
    path = case_path(case)
    tap_conn = tap.find(path, 10)
    entry["verdicts"]["bytes"] = list(bytes_verdict(conv.role, conv, tap_conn, tap.port,
                                                    upstream_authority))
    mine = proxy.live.connection(path, 10)
    proxy.live.forget(path)
    if tap_conn is None:
        entry["verdicts"]["records"] = [False, "the tap saw no connection for this case"]
        return
    tap.forget(tap_conn)
    close = next((r for r in mine if r.get("type") == "close"), None)
    expect = records_expectation(conv.role, conv, tap_conn, close)
    entry["verdicts"]["records"] = list(records_verdict(case, expect, mine))


class LiveRecords:
    """wssniff's NDJSON read from its stdout as it is written (a pipe is flushed record by
    record), so that each case is judged as soon as its connection is gone; every line is also
    kept in a file for the schema suite."""

    def __init__(self, proxy, path):
        self.proxy = proxy
        self.path = path
        self.by_conn = {}
        self.conn_of = {}
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        with open(self.path, "wb") as out:
            for line in self.proxy.stdout:
                out.write(line)
                record = json.loads(line)
                with self.changed:
                    self.by_conn.setdefault(record.get("conn"), []).append(record)
                    if record.get("type") == "handshake":
                        self.conn_of[record.get("target")] = record.get("conn")
                    self.changed.notify_all()

    def connection(self, target, timeout):
        """The records of the connection that asked for `target`, once its close record is in
        (or whatever there is after `timeout`)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                conn = self.conn_of.get(target)
                records = self.by_conn.get(conn, []) if conn is not None else []
                if records and records[-1].get("type") == "close":
                    return list(records)
                left = deadline - time.monotonic()
                if left <= 0:
                    return list(records)
                self.changed.wait(left)

    def forget(self, target):
        with self.lock:
            conn = self.conn_of.pop(target, None)
            self.by_conn.pop(conn, None)


def start_proxy(options, upstream_port, name):
    proxy = Proxy(options.wssniff, upstream_port, output=None, args=["--payload", "hex"])
    proxy.live = LiveRecords(proxy, os.path.join(options.work, f"{name}.ndjson"))
    return proxy


def summary_line(results):
    counts = {"pass": 0, "fail": 0, "na": 0}
    for c in results["cases"]:
        if c["na"]:
            counts["na"] += 1
        elif all(c["verdicts"].get(k, [False])[0] for k in ("differential", "bytes", "records")):
            counts["pass"] += 1
        else:
            counts["fail"] += 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--role", choices=["client", "server"], required=True,
                     help="the driver's role")
    run.add_argument("--peer", required=True, choices=["ws", "websockets", "websocketpp",
                                                        "chromium"])
    run.add_argument("--wssniff", required=True)
    run.add_argument("--node", default="node")
    run.add_argument("--websocketpp-peer", default=None)
    run.add_argument("--full", action="store_true")
    run.add_argument("--cases", nargs="*", help="case ids or id prefixes (default: all)")
    run.add_argument("--work", default="conformance-work")
    run.add_argument("--results", help="write the results (JSON) here")
    run.add_argument("--records-out", help="copy wssniff's records here")
    run.add_argument("--report", help="also write a report for this run into this folder")
    rep = sub.add_parser("report")
    rep.add_argument("results", nargs="+")
    rep.add_argument("--out", required=True)
    rep.add_argument("--title", default="wssniff conformance")
    options = parser.parse_args()
    if options.command == "report":
        runs = [json.load(open(p)) for p in options.results]
        report.write(runs, options.out, options.title)
        print(f"report: {os.path.join(options.out, 'index.html')}")
        return 0
    options.wssniff = os.path.abspath(options.wssniff)
    results = run_matrix(options)
    if results["unavailable"]:
        print(f"{options.role} role against {options.peer}: unavailable: "
              f"{results['unavailable']}", flush=True)
        if options.results:
            with open(options.results, "w") as f:
                json.dump(results, f)
        return 1
    counts = summary_line(results)
    failed = []
    for c in results["cases"]:
        if c["na"]:
            continue
        bad = [k for k in ("differential", "bytes", "records")
               if not c["verdicts"].get(k, [False])[0]]
        if bad:
            failed.append(c)
            for k in bad:
                print(f"FAIL {c['id']} {k}: {c['verdicts'].get(k, [False, 'not judged'])[1]}",
                      flush=True)
    if options.results:
        with open(options.results, "w") as f:
            json.dump(results, f)
    if options.report:
        report.write([results], options.report, "wssniff conformance")
    print(f"driver as {options.role}, peer {options.peer}: {counts['pass']} cases pass all three "
          f"verdicts, {counts['fail']} fail, {counts['na']} not applicable "
          f"(direct {results['seconds_direct']} s, through wssniff "
          f"{results['seconds_proxy']} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Real peers through `wssniff proxy` with TLS on either leg, checked against the same
conversation in plain text.

    run_tls_case.py CASE --wssniff BIN --node NODE --records-out FILE --work DIR --validate PY
                    --schema FILE

A case is a pair of peers (npm ws with an https server, python3-websockets with an ssl context)
and the legs that speak TLS: `plain` (neither), `tls_client` (client -> proxy, --tls-cert),
`tls_upstream` (proxy -> a wss:// upstream, --ca-file) or `tls_both`. Certificates are made for
the run (certs.py). Each case runs the conversation twice, with its TLS legs and all in plain
text, and checks:
  - everything ../peers/run_case.py checks: each side received what the other sent, and the
    records match the traffic (frames, payloads, close, byte counts the peers saw);
  - the handshake record's `tls` names exactly the TLS legs, with what they negotiated and the
    upstream's certificate;
  - the records equal those of the plain conversation, but for what differs between any two
    runs (times, ports, masking keys, Sec-WebSocket-Key/Accept, Date) and the `tls` details.
The records of both runs go to the records directory (FILE and FILE with -plain).
"""

import argparse
import json
import signal
import subprocess
import sys
import os
import random
import traceback
from pathlib import Path

from wssniff_kit.conversations import (CASE_TIMEOUT_S, NO_DEFLATE, PEER_TIMEOUT_S, PY_PLAIN,
                                       STARTUP_TIMEOUT_S, STOP_TIMEOUT_S, WS_PLAIN, check_case,
                                       make_plan)
from wssniff_kit.processes import PYTHON, Checker, Deadline, Failure, FifoReader, Process

import certs

HERE = Path(__file__).resolve().parent
PEERS_DIR = HERE.parent / "peers"

PEERS = {
    # closer, ping and subprotocol vary between the pairs, as in run_case.py.
    "ws": dict(server=WS_PLAIN, client=WS_PLAIN, closer="client", ping=True),
    "python": dict(server=PY_PLAIN, client=PY_PLAIN, closer="server", ping=True,
                   subprotocol="chat.v1"),
    "ws_client_python_server": dict(server=PY_PLAIN, client=WS_PLAIN, closer="server",
                                    ping=False),
    "python_client_ws_server": dict(server=WS_PLAIN, client=PY_PLAIN, closer="client",
                                    ping=True),
}
LEGS = {
    "plain": (False, False),
    "tls_client": (True, False),
    "tls_upstream": (False, True),
    "tls_both": (True, True),
}
CASES = {f"{p}_{leg}": (p, leg) for p in PEERS for leg in LEGS}


def peer_argv(kind_and_option, role, plan_file, report_file, node, tls, paths, port=None):
    """tls: whether this peer's connection speaks TLS (the server serves it, the client
    verifies it against the test CA)."""
    kind, option = kind_and_option
    if kind == "ws":
        tls_json = "null"
        if tls:
            tls_json = json.dumps({"cert": paths["server.pem"], "key": paths["server.key"]}
                                  if role == "server" else {"ca": paths["ca.pem"]})
        argv = [node, str(PEERS_DIR / "ws_peer.js"), role, str(plan_file), str(report_file)]
        if port is not None:
            argv.append(str(port))
        return argv + [tls_json, json.dumps(option)]
    argv = [PYTHON, str(PEERS_DIR / "websockets_peer.py"), role, str(plan_file), str(report_file)]
    if port is not None:
        argv.append(str(port))
    if tls:
        argv += (["--cert", paths["server.pem"], "--key", paths["server.key"]]
                 if role == "server" else ["--ca", paths["ca.pem"]])
    return argv + ["--compression", option]


def converse(args, case, plan, work, records_out, tls_client, tls_upstream, paths):
    """One run: server peer, proxy, client peer; returns what the checks need."""
    work.mkdir(parents=True, exist_ok=True)
    for old in work.iterdir():
        if old.is_file() or old.is_fifo():
            old.unlink()
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(plan))
    if records_out.exists():
        records_out.unlink()
    started = []
    try:
        server = Process("server peer", peer_argv(case["server"], "server", plan_file,
                                                     work / "server.json", args.node,
                                                     tls_upstream, paths), work)
        started.append(server)
        server_port = int(server.wait_line(r"listening (\d+)", STARTUP_TIMEOUT_S).group(1))
        output = work / "records.fifo"
        os.mkfifo(output)
        fifo = FifoReader(output, records_out)
        scheme = "wss" if tls_upstream else "ws"
        argv = [args.wssniff, "proxy", "--listen", "127.0.0.1:0",
                "--upstream", f"{scheme}://127.0.0.1:{server_port}", "--output", str(output)]
        if tls_upstream:
            argv += ["--ca-file", paths["ca.pem"]]
        if tls_client:
            argv += ["--tls-cert", paths["server.pem"], "--tls-key", paths["server.key"]]
        proxy = Process("wssniff proxy", argv, work, watch="stderr")
        started.append(proxy)
        proxy_port = int(proxy.wait_line(r"listening on 127\.0\.0\.1:(\d+)",
                                         STARTUP_TIMEOUT_S).group(1))
        client = Process("client peer", peer_argv(case["client"], "client", plan_file,
                                                     work / "client.json", args.node, tls_client,
                                                     paths, proxy_port), work)
        started.append(client)
        for peer in (client, server):
            status = peer.wait(PEER_TIMEOUT_S + 5)
            if status != 0:
                raise Failure(f"{peer.name} exited with status {status}")
        fifo.wait_for_close_record(STOP_TIMEOUT_S)
        proxy.proc.send_signal(signal.SIGTERM)
        proxy_status = proxy.wait(STOP_TIMEOUT_S)
        fifo.finish(STOP_TIMEOUT_S)
        return dict(
            proxy_status=proxy_status,
            proxy_stdout=proxy.output("stdout"),
            proxy_stderr=proxy.output("stderr"),
            ports={"server": server_port, "proxy": proxy_port},
            client=json.loads((work / "client.json").read_text()),
            server=json.loads((work / "server.json").read_text()),
            records=[json.loads(line) for line in records_out.read_bytes().splitlines()],
        )
    except Exception:
        for p in started:
            print(f"--- {p.name}: {' '.join(p.argv)}", file=sys.stderr)
            print(f"stdout:\n{p.output('stdout')}stderr:\n{p.output('stderr')}", file=sys.stderr)
        raise
    finally:
        for p in reversed(started):
            p.kill()


# Header values that differ between any two runs of the same conversation.
PER_RUN_HEADERS = {"host", "sec-websocket-key", "sec-websocket-accept", "date"}


def comparable(records):
    """The records per direction (the two directions interleave differently in every run),
    without what differs between two runs of one conversation: times, addresses, masking
    keys, per-run header values, which FIN came first, the `tls` details and the run id."""
    out = {}
    for r in records:
        r = {k: v for k, v in r.items()
             if k not in ("ts", "request_ts", "run", "client", "upstream", "mask", "tls")}
        if r["type"] == "close":
            # Both ends of a closing handshake send their FIN at once (ws does): which one the
            # proxy sees first varies between any two runs, plain or not. check_case accepts
            # either.
            r.pop("reason")
        for field in ("request_headers", "response_headers"):
            if field in r:
                r[field] = [[n, "(per run)" if n.lower() in PER_RUN_HEADERS else v]
                            for n, v in r[field]]
        out.setdefault(f"{r['type']} {r.get('dir', '')}".strip(), []).append(r)
    return out


def compare_runs(check, tls_records, plain_records):
    a, b = comparable(tls_records), comparable(plain_records)
    check.equal(sorted(a), sorted(b), "record kinds, TLS vs plain")
    for kind in sorted(set(a) & set(b)):
        if not check.equal(len(a[kind]), len(b[kind]), f"{kind} records, TLS vs plain"):
            continue
        for i, (x, y) in enumerate(zip(a[kind], b[kind])):
            if not check.equal(x, y, f"{kind} record {i}, TLS vs plain"):
                break  # the first difference says enough


def check_tls(check, handshake, tls_client, tls_upstream):
    tls = handshake.get("tls")
    if not (tls_client or tls_upstream):
        check.expect(tls is None, f"a plain connection's handshake has tls: {tls}")
        return
    if not check.expect(isinstance(tls, dict), "the handshake record has no tls object"):
        return
    check.equal(sorted(tls), sorted((["client"] if tls_client else []) +
                                    (["upstream"] if tls_upstream else [])), "tls legs")
    for leg in ("client", "upstream"):
        if leg in tls:
            # Both peers and the proxy run on OpenSSL 3 here: TLS 1.3 everywhere.
            check.equal(tls[leg]["version"], "TLSv1.3", f"tls.{leg}.version")
            check.expect(tls[leg]["cipher"].startswith("TLS_"), f"tls.{leg}.cipher "
                         f"{tls[leg]['cipher']!r} is not a TLS 1.3 suite")
    if "upstream" in tls:
        up = tls["upstream"]
        check.equal(up["subject"], "CN=localhost", "tls.upstream.subject")
        check.equal(up["issuer"], "CN=wssniff test CA", "tls.upstream.issuer")
        check.equal(up["verified"], True, "tls.upstream.verified")
        check.equal(up["server_name"], None, "tls.upstream.server_name for an IP address")


def validate(args, path, check):
    v = subprocess.run([PYTHON, args.validate, "--schema", args.schema, str(path)],
                       capture_output=True, text=True, timeout=max(1.0, Deadline.within(60)))
    check.equal(v.returncode, 0, f"schema validation of {path}: {v.stdout}{v.stderr}")


def run(args):
    Deadline.start(CASE_TIMEOUT_S)
    peers, leg = CASES[args.case]
    tls_client, tls_upstream = LEGS[leg]
    case = dict(PEERS[peers], expected_deflate=NO_DEFLATE)
    work = Path(args.work)
    paths = certs.make(work / "certs")
    plan = make_plan(case, random.Random(f"wssniff tls {peers}"))
    records_out = Path(args.records_out)
    check = Checker()
    try:
        got = converse(args, case, plan, work / "tls", records_out, tls_client, tls_upstream,
                       paths)
        runs = [("", got)]
        if tls_client or tls_upstream:
            plain_out = records_out.with_name(records_out.stem + "-plain.ndjson")
            runs.append(("plain run: ", converse(args, case, plan, work / "plain", plain_out,
                                                 False, False, paths)))
        for label, r in runs:
            sub = Checker()
            sub.equal(r["proxy_status"], 0, "proxy exit status after SIGTERM")
            sub.equal(r["proxy_stdout"], "", "proxy stdout with --output")
            sub.equal(r["proxy_stderr"], f"listening on 127.0.0.1:{r['ports']['proxy']}\n",
                      "proxy stderr")
            check_case(args.case, case, plan, r["records"], r["client"], r["server"],
                          r["ports"], sub)
            check.problems += [label + p for p in sub.problems]
        check_tls(check, got["records"][0] if got["records"] else {}, tls_client, tls_upstream)
        if len(runs) == 2:
            compare_runs(check, got["records"], runs[1][1]["records"])
            check_tls(check, runs[1][1]["records"][0], False, False)
            validate(args, records_out.with_name(records_out.stem + "-plain.ndjson"), check)
        validate(args, records_out, check)
        if check.problems:
            raise Failure("\n".join(["records or traffic do not match:"] + check.problems))
        last = got["records"][-1]
        print(f"{args.case}: {len(got['records'])} records, bytes c2s {last['bytes_c2s']}, "
              f"s2c {last['bytes_s2c']}, equal to the plain run: ok")
        return 0
    except Exception as e:
        if not isinstance(e, Failure):
            traceback.print_exc()
        print(f"FAIL {args.case}: {e}", file=sys.stderr)
        return 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--wssniff", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--records-out", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--validate", required=True)
    parser.add_argument("--schema", required=True)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())

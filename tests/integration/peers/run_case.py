#!/usr/bin/python3
"""Runs real WebSocket peers through the `wssniff proxy` binary and checks both the traffic and
the records.

    run_case.py CASE --wssniff BIN --node NODE --records-out FILE --work DIR --validate PY
                --schema FILE

One case: start the server peer (npm ws or python3-websockets) on an ephemeral port, start
`wssniff proxy --listen 127.0.0.1:0 --upstream ws://127.0.0.1:PORT --output ...` in front of it,
run the client peer against the proxy, then stop the proxy with SIGTERM. Then check:
  - each side received exactly what the other sent (message types and bytes, in order);
  - the records: one handshake (status, addresses, Host, subprotocol, negotiated deflate), the
    frames of each direction (seq, offset, flags, ops, fragments, payloads equal to what was
    sent, inflated under permessage-deflate), the close frames, and the close record (reason,
    frame counts, and byte counts equal to what the peers' sockets read and wrote);
  - the proxy exits 0 after SIGTERM, having written nothing to stdout and only its
    `listening on` line to stderr;
  - every record validates against the schema.
The records are written to FILE (in the records directory the schema suite validates).

Every wait has a deadline, and every process started here is killed on the way out, whatever
happened.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import traceback
from pathlib import Path

from wssniff_kit.conversations import (CASE_TIMEOUT_S, NO_DEFLATE, PEER_TIMEOUT_S, PY_DEFLATE,
                                       PY_PLAIN, STARTUP_TIMEOUT_S, STOP_TIMEOUT_S, WS_DEFLATE,
                                       WS_PLAIN, check_case, deflate, make_plan)
from wssniff_kit.processes import PYTHON, Checker, Deadline, Failure, FifoReader, Process

HERE = Path(__file__).resolve().parent


# expected_deflate: the `deflate` the handshake record must show, known from how each library
# negotiates (ws drops a bare client_max_window_bits offer unless configured; python3-websockets
# answers server_max_window_bits=12 and client_max_window_bits=12).
CASES = {
    "ws_plain": dict(server=WS_PLAIN, client=WS_PLAIN, closer="client", ping=True,
                     expected_deflate=NO_DEFLATE),
    "ws_deflate": dict(server=WS_DEFLATE, client=WS_DEFLATE, closer="client", ping=True,
                       expected_deflate=deflate()),
    "ws_deflate_no_context_takeover": dict(
        server=("ws", {"threshold": 0, "serverNoContextTakeover": True,
                       "clientNoContextTakeover": True}),
        client=WS_DEFLATE, closer="server", ping=False,
        expected_deflate=deflate(snct=True, cnct=True)),
    "ws_deflate_window_bits": dict(
        server=("ws", {"threshold": 0, "serverMaxWindowBits": 10, "clientMaxWindowBits": 11}),
        client=WS_DEFLATE, closer="client", ping=False, emit="both",
        expected_deflate=deflate(smwb=10, cmwb=11)),
    "python_plain": dict(server=PY_PLAIN, client=PY_PLAIN, closer="server", ping=True,
                         subprotocol="chat.v1", expected_deflate=NO_DEFLATE),
    "python_deflate": dict(server=PY_DEFLATE, client=PY_DEFLATE, closer="client", ping=False,
                           emit="both", expected_deflate=deflate(smwb=12, cmwb=12)),
    "python_client_ws_server": dict(server=WS_PLAIN, client=PY_PLAIN, closer="client",
                                    ping=True, subprotocol="chat.v1",
                                    expected_deflate=NO_DEFLATE),
    "python_client_ws_server_deflate": dict(server=WS_DEFLATE, client=PY_DEFLATE,
                                            closer="server", ping=False,
                                            expected_deflate=deflate()),
    "ws_client_python_server": dict(server=PY_PLAIN, client=WS_PLAIN, closer="server",
                                    ping=True, expected_deflate=NO_DEFLATE),
    "ws_client_python_server_deflate": dict(server=PY_DEFLATE, client=WS_DEFLATE,
                                            closer="client", ping=True,
                                            expected_deflate=deflate(smwb=12, cmwb=12)),
    # Every payload as base64 and a message record per message.
    "ws_messages_base64": dict(server=WS_PLAIN, client=WS_PLAIN, closer="client", ping=False,
                               emit="both", payload="base64", expected_deflate=NO_DEFLATE),
    # The server sees the Host header the client sent to the proxy.
    "python_host_header_keep": dict(server=PY_PLAIN, client=PY_PLAIN, closer="client",
                                    ping=False, host_header="keep",
                                    expected_deflate=NO_DEFLATE),
    # SIGTERM with the connection open: close record `shutdown`, output to a regular file.
    "ws_shutdown_with_open_connection": dict(server=WS_PLAIN, client=WS_PLAIN, closer="none",
                                             ping=False, expected_deflate=NO_DEFLATE),
}

# RFC 7692 window sizes from 9 to 15 in both directions (ws cannot compress with 8), two of them
# also without context takeover: each inflater has to honour what the server's 101 settled.
for _bits in range(9, 16):
    CASES[f"ws_deflate_window_bits_{_bits}"] = dict(
        server=("ws", {"threshold": 0, "serverMaxWindowBits": _bits,
                       "clientMaxWindowBits": _bits}),
        client=WS_DEFLATE, closer="client", ping=False,
        expected_deflate=deflate(smwb=_bits, cmwb=_bits))
for _bits in (9, 12):
    CASES[f"ws_deflate_window_bits_{_bits}_no_context_takeover"] = dict(
        server=("ws", {"threshold": 0, "serverMaxWindowBits": _bits,
                       "clientMaxWindowBits": _bits, "serverNoContextTakeover": True,
                       "clientNoContextTakeover": True}),
        client=WS_DEFLATE, closer="server", ping=False,
        expected_deflate=deflate(snct=True, cnct=True, smwb=_bits, cmwb=_bits))


def peer_argv(kind_and_option, role, plan_file, report_file, node, port=None):
    kind, option = kind_and_option
    if kind == "ws":
        argv = [node, str(HERE / "ws_peer.js"), role, str(plan_file), str(report_file)]
        if port is not None:
            argv.append(str(port))
        return argv + ["null", json.dumps(option)]  # null: plain ws://, no TLS
    argv = [PYTHON, str(HERE / "websockets_peer.py"), role, str(plan_file), str(report_file)]
    if port is not None:
        argv.append(str(port))
    return argv + ["--compression", option]


# --- one run -----------------------------------------------------------------------------------

def run(args):
    Deadline.start(CASE_TIMEOUT_S)
    case = CASES[args.case]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    for old in work.iterdir():
        if old.is_file() or old.is_fifo():
            old.unlink()
    rng = random.Random(f"wssniff {args.case}")
    plan = make_plan(case, rng)
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(plan))
    records_out = Path(args.records_out)
    if records_out.exists():
        records_out.unlink()
    shutdown = case["closer"] == "none"

    started = []
    fifo = None
    try:
        server = Process("server peer", peer_argv(case["server"], "server", plan_file,
                                                  work / "server.json", args.node), work)
        started.append(server)
        server_port = int(server.wait_line(r"listening (\d+)", STARTUP_TIMEOUT_S).group(1))

        if shutdown:
            output = records_out  # a regular file, flushed when the proxy exits
        else:
            output = work / "records.fifo"
            os.mkfifo(output)
            fifo = FifoReader(output, records_out)
        argv = [args.wssniff, "proxy", "--listen", "127.0.0.1:0",
                "--upstream", f"ws://127.0.0.1:{server_port}", "--output", str(output)]
        argv += ["--emit", case.get("emit", "frames"), "--payload", case.get("payload", "auto")]
        if case.get("host_header"):
            argv += ["--host-header", case["host_header"]]
        proxy = Process("wssniff proxy", argv, work, watch="stderr")
        started.append(proxy)
        proxy_port = int(proxy.wait_line(r"listening on 127\.0\.0\.1:(\d+)",
                                         STARTUP_TIMEOUT_S).group(1))

        client = Process("client peer", peer_argv(case["client"], "client", plan_file,
                                                  work / "client.json", args.node, proxy_port),
                         work)
        started.append(client)

        if shutdown:
            client.wait_line("received all", PEER_TIMEOUT_S)
            server.wait_line("received all", PEER_TIMEOUT_S)
        else:
            for peer in (client, server):
                status = peer.wait(PEER_TIMEOUT_S + 5)
                if status != 0:
                    raise Failure(f"{peer.name} exited with status {status}")
            # The proxy has both ends' EOF to process before the close record exists; SIGTERM
            # before that would turn it into a `shutdown`.
            fifo.wait_for_close_record(STOP_TIMEOUT_S)

        proxy.proc.send_signal(signal.SIGTERM)
        proxy_status = proxy.wait(STOP_TIMEOUT_S)
        if shutdown:
            for peer in (client, server):
                status = peer.wait(PEER_TIMEOUT_S)
                if status != 0:
                    raise Failure(f"{peer.name} exited with status {status}")
        if fifo:
            fifo.finish(STOP_TIMEOUT_S)

        check = Checker()
        check.equal(proxy_status, 0, "proxy exit status after SIGTERM")
        check.equal(proxy.output("stdout"), "", "proxy stdout with --output")
        check.equal(proxy.output("stderr"), f"listening on 127.0.0.1:{proxy_port}\n",
                    "proxy stderr")
        client_report = json.loads((work / "client.json").read_text())
        server_report = json.loads((work / "server.json").read_text())
        records = [json.loads(line) for line in records_out.read_bytes().splitlines()]
        check_case(args.case, case, plan, records, client_report, server_report,
                   {"server": server_port, "proxy": proxy_port}, check)

        validation = subprocess.run([PYTHON, args.validate, "--schema", args.schema,
                                     str(records_out)], capture_output=True, text=True,
                                    timeout=max(1.0, Deadline.within(60)))
        check.equal(validation.returncode, 0,
                    f"schema validation of {records_out}: {validation.stdout}{validation.stderr}")
        if check.problems:
            raise Failure("\n".join(["records or traffic do not match:"] + check.problems))
        print(f"{args.case}: {len(records)} records, "
              f"{len(plan['c2s'])} messages c2s, {len(plan['s2c'])} s2c, "
              f"bytes c2s {records[-1]['bytes_c2s']}, s2c {records[-1]['bytes_s2c']}: ok")
        return 0
    except Exception as e:  # any failure: report it with what every process printed
        if not isinstance(e, Failure):
            traceback.print_exc()
        print(f"FAIL {args.case}: {e}", file=sys.stderr)
        for p in started:
            print(f"--- {p.name}: {' '.join(p.argv)}", file=sys.stderr)
            print(f"stdout:\n{p.output('stdout')}stderr:\n{p.output('stderr')}", file=sys.stderr)
        return 1
    finally:
        for p in reversed(started):
            p.kill()


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

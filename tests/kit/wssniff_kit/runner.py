"""The main of a raw-socket test script: one case per run, chosen on the command line, within a
time budget, ending in one PASS or FAIL line.

    SCRIPT.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

A case is a function of a Context, which names its records file, starts its proxy and
upstream, and stops whatever it started when the case ends, passed or not.
"""

import argparse
import contextlib
import os
import signal
import sys
import time

from wssniff_kit.checks import CheckFailed, check
from wssniff_kit.processes import Process
from wssniff_kit.proxy import Proxy
from wssniff_kit.sockets import Upstream

def run_within_budget(name, budget, body):
    """Runs body() with SIGALRM as its time budget and says PASS or FAIL [name] with the time it
    took (a failed check on stderr); returns the exit status."""

    def out_of_time(signum, frame_):
        raise CheckFailed(f"{name} did not finish within its {budget:g} s budget")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, budget)
    started = time.monotonic()
    try:
        body()
    except CheckFailed as failure:
        signal.setitimer(signal.ITIMER_REAL, 0)
        print(f"FAIL [{name}] after {time.monotonic() - started:.2f} s: {failure}",
              file=sys.stderr, flush=True)
        return 1
    signal.setitimer(signal.ITIMER_REAL, 0)
    print(f"PASS [{name}] in {time.monotonic() - started:.2f} s", flush=True)
    return 0


class Context:
    """What one case runs in: its records go to RECORDS_DIR/PREFIX-CASE[SUFFIX].ndjson (the
    schema suite validates them afterwards); what it starts is stopped when it ends."""

    def __init__(self, wssniff, records_dir, name, prefix="faults"):
        self.wssniff = wssniff
        self.records_dir = records_dir
        self.name = name
        self.prefix = prefix
        self.stack = contextlib.ExitStack()

    def output(self, suffix=""):
        path = os.path.join(self.records_dir, f"{self.prefix}-{self.name}{suffix}.ndjson")
        if os.path.exists(path):
            os.unlink(path)
        return path

    def proxy(self, upstream_port, output, args=(), open_files=None):
        proxy = Proxy(self.wssniff, upstream_port, output, args, open_files=open_files)
        self.stack.callback(proxy.stop)
        return proxy

    def recorded_session(self, server_port, suffix, client_argv, work, proxy_args=(),
                         timeout=30):
        """A client program through `wssniff proxy` (started with `proxy_args`) to the server
        on `server_port`, its records in RECORDS_DIR/PREFIX-CASE{suffix}.ndjson. The client's
        command line is client_argv(proxy_port), run in `work`; it must exit 0. Returns the
        records file once the proxy has stopped."""
        output = self.output(suffix)
        proxy = self.proxy(server_port, output, list(proxy_args))
        client = Process("client", client_argv(proxy.port), work)
        status = client.wait(timeout)
        check(status == 0, f"the recorded session failed (status {status}): "
                           f"{client.output('stderr')[-2000:]}")
        proxy.wait_idle()
        proxy.stop()
        return output

    def track(self, thing):
        self.stack.callback(thing.close)
        return thing

    def upstream(self):
        return self.track(Upstream())


def run_cases(doc, cases, prefix="faults"):
    """The main of a script of cases: `cases` are functions of a Context, chosen by name on the
    command line; records go to RECORDS_DIR/PREFIX-CASE*.ndjson. Returns the exit status."""
    by_name = {case.__name__: case for case in cases}
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("wssniff")
    parser.add_argument("records_dir")
    parser.add_argument("case", choices=sorted(by_name))
    parser.add_argument("--budget", type=float, default=85,
                        help="seconds before the case gives up (and stops its proxy)")
    args = parser.parse_args()
    os.makedirs(args.records_dir, exist_ok=True)
    ctx = Context(args.wssniff, args.records_dir, args.case, prefix)

    def run():
        with ctx.stack:
            by_name[args.case](ctx)

    return run_within_budget(args.case, args.budget, run)

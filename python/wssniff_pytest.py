"""pytest helpers for wssniff: the proxy in front of your WebSocket server, its records as they
stream, and expectations checked by `wssniff expect` (the same semantics as the command line
and the C++ matchers: this module does not match anything itself).

Use it as a plugin (`pytest -p wssniff_pytest`, or ``pytest_plugins = ["wssniff_pytest"]`` in the
top-level conftest.py; this folder on PYTHONPATH), then::

    def test_subscribe(wssniff):
        sniff = wssniff("ws://127.0.0.1:9000")          # wssniff proxy on a free port
        run_my_client(sniff.url + "/feed")              # point the client at the proxy
        sniff.wait_for(lambda rs: any(r["type"] == "close" for r in rs))
        sniff.expect_sequence({"steps": [
            {"dir": "c2s", "json": {"op": "subscribe"}, "bind": {"id": "/id"}},
            {"dir": "s2c", "json": {"op": "ack"}, "equal": {"/id": "id"}},
        ]})

The binary is $WSSNIFF, else `wssniff` on PATH. A failed test's report gets a section
"wssniff capture" with the capture file's path and its records.
"""

import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

__all__ = ["Sniffer", "wssniff", "wssniff_binary"]

_MAX_SECTION_LINES = 200


def wssniff_binary():
    """$WSSNIFF, else `wssniff` on PATH."""
    found = os.environ.get("WSSNIFF") or shutil.which("wssniff")
    if not found:
        raise RuntimeError("wssniff not found: set $WSSNIFF or put wssniff on PATH")
    return found


class Sniffer:
    """`wssniff proxy --listen 127.0.0.1:0 --upstream UPSTREAM --output FILE [ARGS]`, with its
    records read back as they are written."""

    def __init__(self, upstream, capture_path, args=(), binary=None, start_timeout=10):
        self.binary = binary or wssniff_binary()
        self.capture_path = Path(capture_path)
        self._records = []
        self._lock = threading.Condition()
        self._stopped = False
        argv = [self.binary, "proxy", "--listen", "127.0.0.1:0", "--upstream", upstream,
                "--output", str(self.capture_path), *args]
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)
        self.stderr_lines = []
        deadline = time.monotonic() + start_timeout
        self.port = None
        while self.port is None:
            line = self.process.stderr.readline()
            if not line:
                self.process.wait(5)
                raise RuntimeError(f"wssniff proxy did not start: {''.join(self.stderr_lines)}")
            self.stderr_lines.append(line)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
            elif time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("wssniff proxy: no 'listening on' line")
        self.url = f"ws://127.0.0.1:{self.port}"
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()
        self._tail = threading.Thread(target=self._follow, daemon=True)
        self._tail.start()

    def _read_stderr(self):
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    def _follow(self):
        """Reads the capture file as it grows; each complete line is one record."""
        pending = b""
        while not self.capture_path.exists():
            if self._stopped:
                return  # stopped before it wrote anything
            time.sleep(0.005)
        with open(self.capture_path, "rb") as f:
            while True:
                chunk = f.read(65536)
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    parsed = [json.loads(line) for line in lines if line.strip()]
                    if parsed:
                        with self._lock:
                            self._records.extend(parsed)
                            self._lock.notify_all()
                    continue
                if self._stopped and self.process.poll() is not None:
                    return
                time.sleep(0.005)

    @property
    def records(self):
        """The records so far (dicts, in the order written)."""
        with self._lock:
            return list(self._records)

    def wait_for(self, predicate, timeout=5.0):
        """Waits until predicate(records) is true; returns the records. Raises AssertionError
        (with the last records) when `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(list(self._records)):
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(json.dumps(r) for r in self._records[-10:])
                    raise AssertionError(
                        f"wssniff: condition not met within {timeout} s "
                        f"({len(self._records)} records, capture {self.capture_path}); "
                        f"the last ones:\n{tail}")
                self._lock.wait(min(left, 0.05))
            return list(self._records)

    def expect_sequence(self, spec, conn=None, timeout=5.0):
        """Runs `wssniff expect CAPTURE --spec SPEC` until it matches or `timeout` seconds
        pass. `spec` is a dict (the JSON form, schemas/expectation.schema.json) or a path.
        Raises AssertionError with wssniff's report when it does not match, ValueError for a
        spec wssniff cannot use."""
        if isinstance(spec, (str, Path)) and Path(spec).exists():
            spec_path = Path(spec)
        else:
            spec_path = self.capture_path.with_suffix(".expect.json")
            spec_path.write_text(json.dumps(spec, indent=2))
        argv = [self.binary, "expect", str(self.capture_path), "--spec", str(spec_path)]
        if conn is not None:
            argv += ["--conn", str(conn)]
        deadline = time.monotonic() + timeout
        while True:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            if result.returncode == 0:
                return
            if result.returncode != 1:
                raise ValueError(result.stderr.strip())
            if time.monotonic() >= deadline:
                raise AssertionError(f"{result.stderr}capture: {self.capture_path}")
            time.sleep(0.05)

    def stop(self, timeout=5.0):
        """SIGTERM, then the rest of the records read; returns the exit status."""
        self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if hasattr(self, "_tail"):
            self._tail.join(timeout)
        return self.process.returncode

    def capture_text(self, max_lines=_MAX_SECTION_LINES):
        try:
            lines = self.capture_path.read_text(errors="replace").splitlines()
        except OSError as e:
            return f"{self.capture_path}: {e}"
        shown = lines[:max_lines]
        more = f"\n... {len(lines) - max_lines} more lines" if len(lines) > max_lines else ""
        return f"{self.capture_path} ({len(lines)} records)\n" + "\n".join(shown) + more


@pytest.fixture
def wssniff(request, tmp_path):
    """A factory: wssniff(upstream, *args) starts a proxy in front of `upstream`
    (ws://HOST:PORT) and returns its Sniffer; every one is stopped after the test."""
    started = []
    request.node._wssniff_sniffers = started

    def start(upstream, *args):
        sniffer = Sniffer(upstream, tmp_path / f"wssniff-{len(started) + 1}.ndjson", args)
        started.append(sniffer)
        return sniffer

    yield start
    for sniffer in started:
        sniffer.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    sniffers = getattr(item, "_wssniff_sniffers", None)
    if report.when == "call" and report.failed and sniffers:
        for n, sniffer in enumerate(sniffers, start=1):
            report.sections.append((f"wssniff capture {n}", sniffer.capture_text()))

"""Child processes of a test: they die with it (PR_SET_PDEATHSIG), their output lines arrive on
a queue, and every wait takes the smaller of its own limit and what the test's Deadline leaves.

Used by the tests that run real peers (npm ws, python3-websockets) as programs of their own.
"""

import ctypes
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

# The Python running this test (CMake's Python3_EXECUTABLE, Debian's /usr/bin/python3 where it
# is there): it sees python3-websockets, so peers written in Python run under it too.
PYTHON = sys.executable

class Deadline:
    """The case's overall time budget: every wait takes the smaller of its own limit and
    what is left."""

    end = None

    @classmethod
    def start(cls, seconds):
        cls.end = time.monotonic() + seconds

    @classmethod
    def within(cls, seconds):
        if cls.end is None:  # no overall budget: the wait's own limit
            return seconds
        return max(0.0, min(seconds, cls.end - time.monotonic()))


def die_with_parent():
    # Should this script be killed (CTest's TIMEOUT), its children go too: PR_SET_PDEATHSIG.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


class Process:
    """A child whose stdout (or stderr) lines arrive on a queue; killed on cleanup."""

    def __init__(self, name, argv, work, watch="stdout"):
        self.name = name
        self.argv = argv
        self.lines = queue.Queue()
        self.captured = {"stdout": [], "stderr": []}
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, cwd=work,
                                     preexec_fn=die_with_parent)
        self.threads = []
        for stream_name in ("stdout", "stderr"):
            t = threading.Thread(target=self._pump,
                                 args=(stream_name, stream_name == watch), daemon=True)
            t.start()
            self.threads.append(t)

    def _pump(self, stream_name, watched):
        stream = getattr(self.proc, stream_name)
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            self.captured[stream_name].append(line)
            if watched:
                self.lines.put(line.rstrip("\n"))
        if watched:
            self.lines.put(None)

    def wait_line(self, pattern, timeout):
        timeout = Deadline.within(timeout)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise Failure(f"{self.name}: no line matching {pattern!r} within {timeout} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise Failure(f"{self.name}: exited before printing {pattern!r} "
                              f"(status {self.proc.wait(5)})")
            m = re.fullmatch(pattern, line)
            if m:
                return m

    def wait(self, timeout):
        timeout = Deadline.within(timeout)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure(f"{self.name}: still running after {timeout} s")
        for t in self.threads:
            t.join(5)
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def output(self, stream_name):
        return "".join(self.captured[stream_name])


class Failure(Exception):
    pass


class FifoReader:
    """Reads the proxy's --output FIFO as the proxy flushes it, so the test can wait for the
    close record before it sends SIGTERM (a regular file is only flushed at exit)."""

    def __init__(self, path, copy_to):
        self.path = path
        self.copy_to = copy_to
        self.lines = []
        self.changed = threading.Condition()
        self.done = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        with open(self.path, "rb") as fifo, open(self.copy_to, "wb") as out:
            for raw in iter(fifo.readline, b""):
                out.write(raw)
                out.flush()
                with self.changed:
                    self.lines.append(raw)
                    self.changed.notify_all()
        with self.changed:
            self.done = True
            self.changed.notify_all()

    def wait_for_close_record(self, timeout):
        timeout = Deadline.within(timeout)

        def seen():
            return any(b'"type":"close"' in line for line in self.lines)

        with self.changed:
            if not self.changed.wait_for(lambda: seen() or self.done, timeout) or not seen():
                raise Failure(f"no close record on the proxy's output within {timeout} s")

    def finish(self, timeout):
        self.thread.join(Deadline.within(timeout))
        if self.thread.is_alive():
            # The proxy never opened the FIFO: unblock the reader's open().
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
            except OSError:
                pass
            raise Failure("the proxy's output was never closed")


class Checker:
    def __init__(self):
        self.problems = []

    def expect(self, ok, what):
        if not ok:
            self.problems.append(what)
        return ok

    def equal(self, actual, expected, what):
        return self.expect(actual == expected,
                           f"{what}: got {clip(actual)}, expected {clip(expected)}")


def clip(value):
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + f"... ({len(text)} chars)"

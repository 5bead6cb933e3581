"""A line collector standing in for Vector's `socket` source or Fluent Bit's `tcp` input: a
TCP or unix stream listener that keeps every newline-terminated line it reads, and can go away
and come back as such a service does when it restarts.

Going down is a clean shutdown: the listening socket is closed (new connections are refused),
each open connection is half-closed and read on until the sender ends it, so that nothing the
sender wrote before it saw the shutdown is lost.
"""

import os
import selectors
import socket
import threading
import time

from wssniff_kit.checks import CheckFailed


class LineListener:
    def __init__(self, unix_path=None):
        self.unix_path = unix_path
        self.port = None
        self.lines = []        # every complete line, in arrival order, without the newline
        self.taken = 0         # lines handed out by take_lines() (and no longer in `lines`)
        self.partial = []      # bytes left without a newline when a connection ended
        self.connections = 0   # accepted so far
        self.failures = []
        self._lock = threading.Lock()
        self._want_down = False
        self._stop = False
        self._listening = None
        self._selector = selectors.DefaultSelector()
        self._conns = {}
        self._listen()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self):
        if self.unix_path:
            return f"unix://{self.unix_path}"
        return f"tcp://127.0.0.1:{self.port}"

    def _listen(self):
        if self.unix_path:
            if os.path.exists(self.unix_path):
                os.unlink(self.unix_path)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(self.unix_path)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.port or 0))
            self.port = s.getsockname()[1]
        s.listen(16)
        s.setblocking(False)
        self._listening = s
        self._selector.register(s, selectors.EVENT_READ, None)

    def _run(self):
        try:
            while not self._stop:
                if self._want_down and self._listening is not None:
                    # A clean departure: connections the kernel completed but nobody accepted
                    # would be reset with the listening socket, and what the sender already
                    # wrote into them lost (no plain stream can tell); take them first.
                    while self._accept():
                        pass
                    self._selector.unregister(self._listening)
                    self._listening.close()
                    self._listening = None
                    for c in self._conns:
                        try:
                            c.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                if not self._want_down and self._listening is None:
                    self._listen()
                for key, _ in self._selector.select(timeout=0.02):
                    if key.data is None:
                        self._accept()
                        continue
                    c = key.data
                    try:
                        data = c.recv(262144)
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        data = b""
                    held = self._conns[c]
                    if data:
                        held += data
                        cut = held.rfind(b"\n")
                        if cut >= 0:
                            complete = bytes(held[:cut]).split(b"\n")
                            del held[:cut + 1]
                            with self._lock:
                                self.lines.extend(complete)
                        continue
                    if held:
                        self.partial.append(bytes(held))
                    self._selector.unregister(c)
                    c.close()
                    del self._conns[c]
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.failures.append(repr(e))

    def _accept(self):
        """Accepts one pending connection, if any; says whether there was one."""
        try:
            c, _ = self._listening.accept()
        except BlockingIOError:
            return False
        c.setblocking(False)
        with self._lock:
            self.connections += 1
        self._conns[c] = bytearray()
        self._selector.register(c, selectors.EVENT_READ, c)
        return True

    def down(self):
        """Refuse new connections and half-close the open ones (they are read until the sender
        ends them); returns once new connections are refused."""
        self._want_down = True
        deadline = time.monotonic() + 5
        while self._listening is not None:
            if time.monotonic() > deadline:
                raise CheckFailed("the listener did not stop listening within 5 s")
            time.sleep(0.005)

    def up(self):
        self._want_down = False
        deadline = time.monotonic() + 5
        while self._listening is None:
            if time.monotonic() > deadline:
                raise CheckFailed("the listener did not listen again within 5 s")
            time.sleep(0.005)

    def line_count(self):
        """Complete lines received so far, those taken included."""
        with self._lock:
            return self.taken + len(self.lines)

    def wait_lines(self, count, timeout):
        deadline = time.monotonic() + timeout
        while self.line_count() < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.line_count()

    def take_lines(self):
        """The complete lines received since the last call (without their newlines), no longer
        kept here: a long run writes them out as it goes."""
        with self._lock:
            taken, self.lines = self.lines, []
            self.taken += len(taken)
            return taken

    def data(self):
        """Everything received, as NDJSON bytes."""
        with self._lock:
            return b"".join(line + b"\n" for line in self.lines)

    def close(self):
        self._stop = True
        self._thread.join(5)
        for c in list(self._conns):
            c.close()
        if self._listening is not None:
            self._listening.close()
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)

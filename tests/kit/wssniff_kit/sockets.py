"""Raw TCP endpoints on 127.0.0.1 for driving the proxy byte by byte: a Peer that keeps (or
hashes) every byte each way, a listening Upstream the test drives itself, and small helpers.

Every wait has a deadline: a proxy that hangs makes a check fail with a message, never the
test hang.
"""

import hashlib
import selectors
import socket
import struct
import threading
import time

from wssniff_kit.checks import CheckFailed, check
from wssniff_kit.wire import check_same_bytes, parse_frame

LOOPBACK = "127.0.0.1"


class Peer:
    """One raw TCP endpoint. Keeps every byte it sent and received (`keep`), or only their
    SHA-256 and count (large transfers)."""

    def __init__(self, sock, name, keep=True):
        self.sock = sock
        self.name = name
        self.keep = keep
        self.sent = bytearray()
        self.received = bytearray()
        self.sent_hash = hashlib.sha256()
        self.received_hash = hashlib.sha256()
        self.sent_count = 0
        self.received_count = 0
        self.pending = bytearray()  # received, not yet taken by expect()/recv_frame()
        self.sock_port = sock.getsockname()[1]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def start_phase(self, keep):
        """Counts and hashes start again from here (a bulk transfer after the handshake)."""
        self.keep = keep
        self.sent, self.received = bytearray(), bytearray()
        self.sent_hash, self.received_hash = hashlib.sha256(), hashlib.sha256()
        self.sent_count = self.received_count = 0

    def note_sent(self, data):
        if self.keep:
            self.sent += data
        self.sent_hash.update(data)
        self.sent_count += len(data)

    def note_received(self, data):
        if self.keep:
            self.received += data
        self.received_hash.update(data)
        self.received_count += len(data)

    def send(self, data, one_byte=False, pause=0.0003, timeout=10):
        """sendall(), or each byte in a send() of its own with a short pause between."""
        self.sock.settimeout(timeout)
        data = bytes(data)
        if not one_byte:
            try:
                self.sock.sendall(data)
            except socket.timeout:
                raise CheckFailed(f"{self.name}: sending {len(data)} bytes did not finish in "
                                  f"{timeout} s")
            self.note_sent(data)
            return
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            self.note_sent(data[i:i + 1])
            time.sleep(pause)

    def read_some(self, deadline, size=262144):
        """Reads once; b'' on EOF. Raises ConnectionResetError on RST."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        self.sock.settimeout(left)
        data = self.sock.recv(size)
        self.note_received(data)
        return data

    def expect(self, data, timeout=5, what=None):
        """Reads exactly len(data) bytes and checks they are `data`."""
        data = bytes(data)
        deadline = time.monotonic() + timeout
        while len(self.pending) < len(data):
            try:
                chunk = self.read_some(deadline)
            except socket.timeout:
                raise CheckFailed(
                    f"{self.name}: {what or 'expected bytes'}: got {len(self.pending)} of "
                    f"{len(data)} bytes in {timeout} s; so far {bytes(self.pending[:80])!r}")
            except ConnectionResetError:
                raise CheckFailed(f"{self.name}: {what or 'expected bytes'}: connection reset "
                                  f"after {len(self.pending)} of {len(data)} bytes")
            if not chunk:
                raise CheckFailed(f"{self.name}: {what or 'expected bytes'}: EOF after "
                                  f"{len(self.pending)} of {len(data)} bytes: "
                                  f"{bytes(self.pending[:80])!r}")
            self.pending += chunk
        got = bytes(self.pending[:len(data)])
        del self.pending[:len(data)]
        check_same_bytes(got, data, f"{self.name}: {what or 'expected bytes'}")

    def read_head(self, timeout=5):
        """Reads up to and including the blank line that ends an HTTP head."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.pending:
            try:
                chunk = self.read_some(deadline)
            except socket.timeout:
                raise CheckFailed(f"{self.name}: no complete HTTP head in {timeout} s: "
                                  f"{bytes(self.pending[:200])!r}")
            check(chunk, f"{self.name}: EOF inside an HTTP head: {bytes(self.pending[:200])!r}")
            self.pending += chunk
        end = self.pending.index(b"\r\n\r\n") + 4
        head = bytes(self.pending[:end])
        del self.pending[:end]
        return head

    def recv_frame(self, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            parsed, size = parse_frame(self.pending)
            if parsed is not None:
                del self.pending[:size]
                return parsed
            try:
                chunk = self.read_some(deadline)
            except socket.timeout:
                raise CheckFailed(f"{self.name}: no complete frame in {timeout} s "
                                  f"({len(self.pending)} bytes pending)")
            check(chunk, f"{self.name}: EOF before a complete frame "
                         f"({len(self.pending)} bytes pending)")
            self.pending += chunk

    def expect_eof(self, timeout=5, what="EOF"):
        """The peer's FIN arrives within `timeout` and nothing more came before it."""
        deadline = time.monotonic() + timeout
        check(not self.pending, f"{self.name}: unexpected bytes before {what}: "
                                f"{bytes(self.pending[:80])!r}")
        try:
            chunk = self.read_some(deadline)
        except socket.timeout:
            raise CheckFailed(f"{self.name}: no {what} within {timeout} s")
        except ConnectionResetError:
            raise CheckFailed(f"{self.name}: connection reset where a clean {what} was expected")
        check(not chunk, f"{self.name}: {len(chunk)} unexpected bytes instead of {what}: "
                         f"{chunk[:80]!r}")

    def wait_closed(self, timeout=2):
        """EOF or reset within `timeout`, whatever unread bytes come first. Returns how it
        ended and how long it took."""
        start = time.monotonic()
        deadline = start + timeout
        while True:
            try:
                chunk = self.read_some(deadline)
            except socket.timeout:
                raise CheckFailed(f"{self.name}: connection neither closed nor reset within "
                                  f"{timeout} s")
            except (ConnectionResetError, BrokenPipeError):
                return "reset", time.monotonic() - start
            if not chunk:
                return "eof", time.monotonic() - start
            self.pending += chunk

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def reset(self):
        """Closes with SO_LINGER 0: the kernel sends RST instead of FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def exchange(client, events, size=65536):
    """One selector event of a non-blocking client that has a `peer` (Peer), an `outbox` and an
    `inbox`: sends what the outbox holds, then reads once. Returns what was read, also added to
    the inbox (b"" at EOF, None when nothing came); a reset raises ConnectionResetError or
    BrokenPipeError."""
    if events & selectors.EVENT_WRITE and client.outbox:
        try:
            n = client.peer.sock.send(client.outbox)
        except BlockingIOError:
            n = 0
        client.peer.note_sent(bytes(client.outbox[:n]))
        del client.outbox[:n]
    if not events & selectors.EVENT_READ:
        return None
    try:
        data = client.peer.sock.recv(size)
    except BlockingIOError:
        return None
    if data:
        client.peer.note_received(data)
        client.inbox += data
    return data


def connect(port, name, keep=True, timeout=5):
    sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
    return Peer(sock, name, keep)


class Upstream:
    """A listening socket standing in for the WebSocket server; the test accepts and drives
    each connection itself."""

    def __init__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(1024)
        self.port = self.listener.getsockname()[1]
        self.authority = f"{LOOPBACK}:{self.port}"

    def accept(self, name="upstream", keep=True, timeout=5):
        self.listener.settimeout(timeout)
        try:
            sock, _ = self.listener.accept()
        except socket.timeout:
            raise CheckFailed(f"the proxy did not connect to the upstream within {timeout} s")
        return Peer(sock, name, keep)

    def close(self):
        self.listener.close()


def unused_port():
    """A port nothing listens on, held bound (not listening) so that nothing else takes it
    while the test runs: connecting to it is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    return sock, sock.getsockname()[1]


def kernel_queues(ports):
    """Bytes the kernel holds in the TCP connections on 127.0.0.1 that have one of `ports` at
    either end, from /proc/net/tcp: each socket's unacknowledged or unsent bytes plus its
    received, unread ones (ss's Send-Q and Recv-Q). Counts every process's sockets, the proxy's
    among them, so a test can tell what the kernel buffers from what the proxy itself holds."""
    total = 0
    with open("/proc/net/tcp") as table:
        next(table)  # the heading
        for line in table:
            fields = line.split()
            local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
            if state != "01":  # ESTABLISHED; listeners and closing sockets hold no stream
                continue
            if int(local.split(":")[1], 16) in ports or int(remote.split(":")[1], 16) in ports:
                tx_queue, rx_queue = queues.split(":")
                total += int(tx_queue, 16) + int(rx_queue, 16)
    return total


def in_background(function, *args):
    """Runs function(*args) on a thread; join() re-raises its exception."""
    outcome = {}

    def run():
        try:
            function(*args)
        except BaseException as e:
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join(timeout=30):
        thread.join(timeout)
        check(not thread.is_alive(), f"{function.__name__} did not finish within {timeout} s")
        if "error" in outcome:
            raise outcome["error"]

    return join

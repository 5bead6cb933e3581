"""Raw-socket peers for driving the real `wssniff proxy` binary byte by byte.

Everything here talks to 127.0.0.1 only and every wait has a deadline: a proxy that hangs makes
a check fail with a message, never the test hang. The frames and heads are built by hand (no
WebSocket library) so that a test can send exactly the bytes it means, valid or not, in the
writes it chooses.
"""

import base64
import ctypes
import hashlib
import json
import os
import selectors
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

LOOPBACK = "127.0.0.1"

# How far above its starting size the proxy's resident memory may stay once every connection is
# gone. By design it keeps up to 64 spare 64 KiB read buffers (4 MiB) for the next connections,
# and glibc keeps freed heap that sits below live blocks instead of returning it; the other
# 4 MiB are for that. A leak of a few kB per connection still shows after hundreds of them.
# WSSNIFF_RSS_FACTOR (set by CMake) scales it under a sanitizer, as for the ceilings.
RSS_SETTLE_KB = int(8 * 1024 * float(os.environ.get("WSSNIFF_RSS_FACTOR", "1")))
# After many connections were open at once, glibc also keeps the heap they needed: measured
# +10 MiB after 500 at once, and up to +27 MiB after a dozen such waves, while malloc_stats()
# showed 0.4 MiB in use (no leak). That is up to ~55 KiB per connection of peak concurrency;
# cases with many connections open at once add this per connection to RSS_SETTLE_KB.
RETAINED_KB_PER_PEAK_CONNECTION = int(64 * float(os.environ.get("WSSNIFF_RSS_FACTOR", "1")))
# RFC 6455 §1.3
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
OP_NAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


class CheckFailed(AssertionError):
    pass


def check(condition, what):
    if not condition:
        raise CheckFailed(what)


def log(text):
    print(text, flush=True)


# --- bytes ----------------------------------------------------------------------------------

def sha256(data):
    return hashlib.sha256(data).hexdigest()


def first_difference(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n if len(a) != len(b) else None


def check_same_bytes(received, sent, what):
    """SHA-256 equality, with the first differing offset to say where it broke."""
    if sha256(received) == sha256(sent):
        return
    at = first_difference(received, sent)
    raise CheckFailed(
        f"{what}: SHA-256 differs (received {len(received)} bytes sha256 {sha256(received)[:16]}, "
        f"sent {len(sent)} bytes sha256 {sha256(sent)[:16]}); first difference at byte {at}: "
        f"received {bytes(received[at:at + 24])!r}, sent {bytes(sent[at:at + 24])!r}")


def apply_mask(payload, key):
    if not payload:
        return b""
    n = len(payload)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def frame_header(opcode, length, *, fin=True, rsv=0, mask=None, length64=False,
                 length16=False):
    """`length64` / `length16`: that length encoding whatever the length (RFC 6455 §5.2 asks
    for the shortest; a longer one is what a hostile sender may use)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if mask is not None else 0
    if length < 126 and not length64 and not length16:
        header = bytes([first, mask_bit | length])
    elif length < 65536 and not length64:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", length)
    return header + (mask if mask is not None else b"")


def frame(opcode, payload=b"", *, fin=True, rsv=0, mask=None, length64=False, length16=False):
    """One RFC 6455 frame; `mask` (4 bytes) makes it a client frame."""
    header = frame_header(opcode, len(payload), fin=fin, rsv=rsv, mask=mask, length64=length64,
                          length16=length16)
    return header + (apply_mask(payload, mask) if mask is not None else bytes(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


def mask_key(n):
    """A distinct, reproducible masking key per frame."""
    return hashlib.sha256(b"mask %d" % n).digest()[:4]


def parse_frame(buffer):
    """(frame dict, size) for the first complete frame in `buffer`, or (None, 0)."""
    if len(buffer) < 2:
        return None, 0
    b0, b1 = buffer[0], buffer[1]
    length = b1 & 0x7F
    pos = 2
    if length == 126:
        if len(buffer) < 4:
            return None, 0
        length = struct.unpack_from("!H", buffer, 2)[0]
        pos = 4
    elif length == 127:
        if len(buffer) < 10:
            return None, 0
        length = struct.unpack_from("!Q", buffer, 2)[0]
        pos = 10
    key = None
    if b1 & 0x80:
        if len(buffer) < pos + 4:
            return None, 0
        key = bytes(buffer[pos:pos + 4])
        pos += 4
    if len(buffer) < pos + length:
        return None, 0
    payload = bytes(buffer[pos:pos + length])
    if key is not None:
        payload = apply_mask(payload, key)
    return {"fin": bool(b0 & 0x80), "rsv": (b0 >> 4) & 7, "opcode": b0 & 0x0F,
            "masked": key is not None, "payload": payload}, pos + length


# --- HTTP heads -----------------------------------------------------------------------------

def websocket_key(n):
    return base64.b64encode(hashlib.sha256(b"key %d" % n).digest()[:16])


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key + WEBSOCKET_GUID).digest())


def upgrade_request(host, key, target="/chat", extra=()):
    lines = [b"GET " + target.encode() + b" HTTP/1.1",
             b"Host: " + host.encode(),
             b"Upgrade: websocket",
             b"Connection: Upgrade",
             b"Sec-WebSocket-Key: " + key,
             b"Sec-WebSocket-Version: 13"]
    lines += [name.encode() + b": " + value.encode() for name, value in extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def upgrade_response(key, extra=()):
    lines = [b"HTTP/1.1 101 Switching Protocols",
             b"Upgrade: websocket",
             b"Connection: Upgrade",
             b"Sec-WebSocket-Accept: " + accept_for(key)]
    lines += [name.encode() + b": " + value.encode() for name, value in extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def take_upgrade_response(inbox, key, who):
    """The response head at the front of `inbox`, taken off it and checked to be a 101 that
    answers `key`; None while it is incomplete."""
    end = inbox.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(inbox[:end + 4])
    del inbox[:end + 4]
    check(head.startswith(b"HTTP/1.1 101 ") and accept_for(key) in head,
          f"{who}: not a 101 for its key: {head[:200]!r}")
    return head


def rewrite_host(request, authority):
    """What the proxy forwards by default (--host-header upstream): the value of the first Host
    line becomes the upstream authority; its name, the spaces around the value and every other
    byte stay as the client sent them."""
    head_end = request.index(b"\r\n\r\n") + 4
    head, rest = request[:head_end], request[head_end:]
    lines = head.split(b"\r\n")
    for i in range(1, len(lines)):
        if lines[i].lower().startswith(b"host:"):
            name, _, value = lines[i].partition(b":")
            leading = value[: len(value) - len(value.lstrip(b" \t"))]
            trailing = value[len(value.rstrip(b" \t")):]
            lines[i] = name + b":" + leading + authority.encode() + trailing
            break
    return b"\r\n".join(lines) + rest


def header_key(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return value.strip()
    return None


# --- peers ----------------------------------------------------------------------------------

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


# --- the proxy under test -------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # Should this test be killed (CTest's timeout), its proxy must not outlive it.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Proxy:
    """`wssniff proxy` as a child process. Records go to `output` (--output) or, when it is
    None, to a pipe on its stdout that the test reads (or does not) itself."""

    def __init__(self, wssniff, upstream_port, output=None, args=(), start_timeout=10,
                 open_files=None):
        self.output = output

        def prepare_child():
            _die_with_parent()
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

        command = [wssniff, "proxy", "--listen", f"{LOOPBACK}:0",
                   "--upstream", f"ws://{LOOPBACK}:{upstream_port}"]
        if output is not None:
            command += ["--output", output]
        command += list(args)
        log("+ " + " ".join(command))
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                        preexec_fn=prepare_child,
                                        stdout=subprocess.PIPE if output is None
                                        else subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        self.pid = self.process.pid
        self.stdout = self.process.stdout
        self.stderr_lines = []
        self._listening = threading.Event()
        self.port = None
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()
        if not self._listening.wait(start_timeout):
            self.stop()
            raise CheckFailed(f"no 'listening on HOST:PORT' on the proxy's stderr within "
                              f"{start_timeout} s; stderr: {self.stderr_text()!r}")
        check(self.port is not None, f"bad listening line: {self.stderr_text()!r}")
        self.exit_code = None
        # What the idle proxy holds: every case ends by checking it is back to this.
        self.baseline_fds = self.open_fds()
        self.baseline_rss_kb = self.rss_kb()

    def _read_stderr(self):
        for raw in self.process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stderr_lines.append(line)
            if self.port is None and line.startswith("listening on "):
                host, _, port = line[len("listening on "):].rpartition(":")
                if host == LOOPBACK and port.isdigit():
                    self.port = int(port)
                self._listening.set()
        self._listening.set()

    def stderr_text(self):
        return "\n".join(self.stderr_lines)

    def alive(self):
        return self.process.poll() is None

    def rss_kb(self):
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def cpu_seconds(self):
        """User plus system CPU time the proxy has used so far."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def open_fds(self):
        """Every descriptor the proxy holds, by what it points at (None once it has exited)."""
        fds = []
        try:
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                try:
                    fds.append(os.readlink(f"/proc/{self.pid}/fd/{fd}"))
                except OSError:
                    pass  # closed meanwhile
        except OSError:
            return None
        return sorted(fds)

    def check_no_leaks(self, timeout=5, rss_tolerance_kb=None, what="after the traffic"):
        """The proxy is back to what it held when it started: the same descriptors, exactly,
        and resident memory within `rss_tolerance_kb` of its starting size. Returns the RSS
        growth in kB."""
        if rss_tolerance_kb is None:
            rss_tolerance_kb = RSS_SETTLE_KB
        deadline = time.monotonic() + timeout
        while True:
            fds = self.open_fds()
            check(fds is not None and self.alive(),
                  f"the proxy exited while checking for leaks (exit {self.process.poll()}); "
                  f"stderr: {self.stderr_text()!r}")
            if len(fds) == len(self.baseline_fds):
                break
            if time.monotonic() > deadline:
                extra = sorted(set(fds) - set(self.baseline_fds))
                raise CheckFailed(f"{what}: the proxy holds {len(fds)} descriptors, "
                                  f"{len(self.baseline_fds)} when it started; new: {extra[:10]}")
            time.sleep(0.02)
        rss = self.rss_kb()
        grown = rss - self.baseline_rss_kb
        log(f"{what}: {len(fds)} descriptors as at start; RSS {rss} kB, "
            f"{grown:+d} kB since start (tolerance {rss_tolerance_kb} kB)")
        check(grown <= rss_tolerance_kb,
              f"{what}: the proxy's RSS is {rss} kB, {grown} kB more than at start "
              f"({self.baseline_rss_kb} kB); tolerance {rss_tolerance_kb} kB")
        return grown

    def open_sockets(self):
        """Sockets the proxy holds: its listener, and two per connection pair until the pair is
        torn down."""
        count = 0
        try:
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                try:
                    if os.readlink(f"/proc/{self.pid}/fd/{fd}").startswith("socket:"):
                        count += 1
                except OSError:
                    pass  # closed meanwhile
        except OSError:
            return None
        return count

    def accept_backlog(self):
        """Connections the kernel has completed on the proxy's listening socket that the proxy
        has not accepted yet (for a listening socket, /proc/net/tcp's rx_queue is that count)."""
        with open("/proc/net/tcp") as table:
            for line in table.readlines()[1:]:
                fields = line.split()
                local, state, queues = fields[1], fields[3], fields[4]
                if state == "0A" and int(local.split(":")[1], 16) == self.port:
                    return int(queues.split(":")[1], 16)
        raise CheckFailed(f"no listening socket on port {self.port} in /proc/net/tcp")

    def wait_accepted(self, timeout=10, what="the listen backlog accepted"):
        """Until the proxy has accepted every connection waiting on its listening socket."""
        deadline = time.monotonic() + timeout
        while self.accept_backlog() > 0:
            check(self.alive(), f"the proxy exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise CheckFailed(f"{what}: {self.accept_backlog()} connections still wait "
                                  f"after {timeout} s")
            time.sleep(0.01)

    def wait_idle(self, timeout=10, what="connections torn down"):
        """Until the proxy holds no connection's sockets any more: its close records are
        written then, so a later SIGTERM cannot turn them into `shutdown`."""
        deadline = time.monotonic() + timeout
        while True:
            sockets = self.open_sockets()
            check(sockets is not None and self.alive(),
                  f"the proxy exited while waiting for {what} (exit {self.process.poll()}); "
                  f"stderr: {self.stderr_text()!r}")
            if sockets <= 1:
                return
            if time.monotonic() > deadline:
                raise CheckFailed(f"{what}: the proxy still holds {sockets - 1} connection "
                                  f"sockets after {timeout} s")
            time.sleep(0.01)

    def terminate(self, timeout=5):
        """SIGTERM; returns (exit code, seconds to exit), or (None, timeout) when it did not
        exit in time (it is killed then)."""
        if self.process.poll() is not None:
            self.exit_code = self.process.returncode
            return self.exit_code, 0.0
        start = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.process.wait(timeout)
            return self.exit_code, time.monotonic() - start
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            return None, timeout

    def stop(self, timeout=5):
        """Always safe; returns the exit code (None: it had to be killed)."""
        code, _ = self.terminate(timeout)
        self._stderr_reader.join(5)
        return code

    def check_clean_exit(self, timeout=5, leaks=True):
        """SIGTERM with no connection open: exit 0. First (`leaks`), the descriptors and memory
        the traffic took must have been given back."""
        if leaks:
            self.check_no_leaks()
        code, took = self.terminate(timeout)
        self._stderr_reader.join(5)
        check(code is not None, f"the proxy did not exit within {timeout} s of SIGTERM")
        check(code == 0, f"the proxy exited {code} on SIGTERM; stderr: {self.stderr_text()!r}")
        return took

    def records(self):
        with open(self.output, "rb") as f:
            return parse_ndjson(f.read(), self.output)


class RssMonitor:
    """Samples the proxy's VmRSS until stopped; `peak_kb` is the largest sample. With
    `descriptors`, `history` keeps every sample as (seconds since start, RSS kB, open
    descriptors)."""

    def __init__(self, proxy, interval=0.05, descriptors=False):
        self.proxy = proxy
        self.interval = interval
        self.descriptors = descriptors
        self.peak_kb = 0
        self.samples = 0
        self.history = []
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            rss = self.proxy.rss_kb()
            fds = self.proxy.open_fds() if self.descriptors else None
            if rss is not None and (fds is not None or not self.descriptors):
                self.peak_kb = max(self.peak_kb, rss)
                self.samples += 1
                if self.descriptors:
                    self.history.append((time.monotonic() - self.started, rss, len(fds)))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(5)


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


# --- records --------------------------------------------------------------------------------

def parse_ndjson(data, where="records"):
    """Records as the contract promises them: complete lines of JSON objects, the whole output
    valid UTF-8, and no string that only escapes make (a lone surrogate \\ud800 is valid JSON
    but no Unicode text)."""
    check(not data or data.endswith(b"\n"), f"{where}: the last line is incomplete: "
                                            f"{data[-120:]!r}")
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckFailed(f"{where}: not valid UTF-8 at byte {e.start}: "
                          f"{bytes(data[max(0, e.start - 60):e.start + 20])!r}")
    records = []
    for number, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            value = json.loads(line)
        except ValueError as e:
            raise CheckFailed(f"{where}: line {number} is not JSON ({e}): {line[:200]!r}")
        check(isinstance(value, dict), f"{where}: line {number} is not an object")
        bad = lone_surrogate(value)
        check(bad is None, f"{where}: line {number} holds a string that is not Unicode text: "
                           f"{bad!r}")
        records.append(value)
    return records


def lone_surrogate(value):
    """The first string in `value` that cannot be encoded as UTF-8, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value[:80]
    elif isinstance(value, dict):
        for k, v in value.items():
            found = lone_surrogate(k) or lone_surrogate(v)
            if found:
                return found
    elif isinstance(value, list):
        for v in value:
            found = lone_surrogate(v)
            if found:
                return found
    return None


def sample_for_schema(full_path, sample_path, lines=2000):
    """The first and last `lines` records of a large dump, for the schema suite (which checks
    about 2,500 records a second): the case itself has parsed and checked every record, and
    the ends hold every kind of record the run wrote. The full dump is removed."""
    with open(full_path, "rb") as f:
        all_lines = f.read().split(b"\n")[:-1]
    kept = all_lines if len(all_lines) <= 2 * lines else all_lines[:lines] + all_lines[-lines:]
    with open(sample_path, "wb") as f:
        f.write(b"".join(line + b"\n" for line in kept))
    os.unlink(full_path)
    log(f"{len(kept)} of {len(all_lines)} records kept for the schema suite")


def of_type(records, kind, conn=None, direction=None):
    return [r for r in records if r.get("type") == kind and (conn is None or r.get("conn") == conn)
            and (direction is None or r.get("dir") == direction)]


def without_ts(record):
    return {k: v for k, v in record.items() if k != "ts"}


def brief(record):
    text = json.dumps(without_ts(record))
    return text if len(text) <= 300 else text[:300] + "..."


def check_fields(record, expected, what):
    # The messages are built only on failure: cases check 100,000 records this way.
    for key, value in expected.items():
        if key not in record:
            raise CheckFailed(f"{what}: no field {key!r} in {brief(record)}")
        if record[key] != value:
            raise CheckFailed(f"{what}: {key} is {str(record[key])[:120]!r}, expected "
                              f"{str(value)[:120]!r} in {brief(record)}")


class Side:
    """Builds the frames one side sends after the handshake, and what the records should say
    about them (default payload mode `auto`)."""

    def __init__(self, direction):
        self.direction = direction
        self.offset = 0
        self.frames = []  # expected frame records (the fields checked)
        self.errors = []  # expected error records

    def frame(self, opcode, payload=b"", *, fin=True, rsv=0, length64=False, length16=False,
              errors=(), text=None, cut=None):
        """The frame's bytes (client frames masked). `errors`: (code, offset within the
        frame's bytes) the decoder must report. `text`: whether the record shows the payload
        as text (default: a text frame with valid UTF-8). `cut`: send only this many payload
        bytes; the stream then ends inside the frame."""
        payload = bytes(payload)
        mask = mask_key(len(self.frames) + 1) if self.direction == "c2s" else None
        raw = frame(opcode, payload, fin=fin, rsv=rsv, mask=mask, length64=length64,
                    length16=length16)
        shown = payload
        if cut is not None:
            raw = raw[:len(raw) - len(payload) + cut]
            shown = payload[:cut]
            errors = list(errors) + [("stream_ended_mid_frame", 0)]
        expected = {"type": "frame", "dir": self.direction, "seq": len(self.frames),
                    "offset": self.offset, "fin": fin, "rsv1": bool(rsv & 4),
                    "rsv2": bool(rsv & 2), "rsv3": bool(rsv & 1), "opcode": opcode,
                    "op": OP_NAMES.get(opcode, "reserved"), "masked": mask is not None,
                    "len": len(payload)}
        if mask is not None:
            expected["mask"] = mask.hex()
        if text is None:
            text = opcode == OP_TEXT and valid_utf8(payload)
        if text:
            expected["text"] = shown.decode("utf-8")
        else:
            expected["hex"] = shown.hex()
        if cut is not None:
            expected["truncated"] = True
        if opcode == OP_CLOSE and len(payload) >= 2:
            expected["close_code"] = struct.unpack("!H", payload[:2])[0]
            if valid_utf8(payload[2:]):
                # An invalid reason is shown with replacement characters; the case checks it.
                expected["close_reason"] = payload[2:].decode("utf-8")
        self.frames.append(expected)
        for code, at in errors:
            self.errors.append({"type": "error", "code": code, "dir": self.direction,
                                "offset": self.offset + at, "fatal": False})
        self.offset += len(raw)
        return raw


def valid_utf8(data):
    try:
        bytes(data).decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def check_frames(records, conn, side):
    got = of_type(records, "frame", conn, side.direction)
    check(len(got) == len(side.frames),
          f"conn {conn} {side.direction}: {len(got)} frame records, expected "
          f"{len(side.frames)}: {[brief(r)[:160] for r in got]}")
    for record, expected in zip(got, side.frames):
        check_fields(record, expected, f"conn {conn} {side.direction} frame")
        if "truncated" not in expected and "truncated" in record:
            raise CheckFailed(f"conn {conn} {side.direction} frame seq {expected['seq']} says "
                              f"truncated: {brief(record)}")


def check_errors(records, conn, expected):
    got = sorted(((r.get("dir", ""), r.get("offset", -1), r.get("code")) for r in
                  of_type(records, "error", conn)))
    want = sorted(((e["dir"], e["offset"], e["code"]) for e in expected))
    check(got == want, f"conn {conn}: error records (dir, offset, code) {got}, expected {want}")
    for r in of_type(records, "error", conn):
        check(r.get("fatal") is False, f"conn {conn}: error is fatal: {brief(r)}")


def one_close(records, conn):
    closes = of_type(records, "close", conn)
    check(len(closes) == 1, f"conn {conn}: {len(closes)} close records, expected 1: "
                            f"{[brief(r) for r in closes]}")
    check([r for r in records if r.get("conn") == conn][-1] is closes[0],
          f"conn {conn}: the close record is not the connection's last")
    return closes[0]


# --- an echoing upstream for many connections -----------------------------------------------

class EchoUpstream:
    """A WebSocket server on one selector thread: answers each upgrade with a 101 and echoes
    every frame unmasked with its FIN and opcode; answers a close frame with its echo and then
    closes (it closes first). Keeps per connection, keyed by Sec-WebSocket-Key, the SHA-256 and
    count of the bytes each way, and with `keep` the bytes themselves.

    `deflate`: accepts an offer of permessage-deflate and echoes RSV bits too, so that a
    compressed stream echoed in order is a valid stream for the other direction."""

    def __init__(self, keep=True, deflate=False):
        self.keep = keep
        self.deflate = deflate
        self.upstream = Upstream()
        self.port = self.upstream.port
        self.authority = self.upstream.authority
        self.listener = self.upstream.listener
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.connections = {}  # key -> state
        self.lock = threading.Lock()
        self.failures = []
        self._wake_r, self._wake_w = socket.socketpair()
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    class _State:
        def __init__(self, sock, keep):
            self.sock = sock
            self.key = None
            self.inbox = bytearray()
            self.outbox = bytearray()
            self.received = bytearray() if keep else None
            self.sent = bytearray() if keep else None
            self.received_hash = hashlib.sha256()
            self.sent_hash = hashlib.sha256()
            self.received_count = self.sent_count = 0
            self.closing = False  # close frame answered: close once the outbox is empty
            # None while open; then "eof" or "reset" (the proxy ended it), or
            # "closed after the close handshake" (this side closed, as servers do)
            self.ended = None

        def note_received(self, data):
            if self.received is not None:
                self.received += data
            self.received_hash.update(data)
            self.received_count += len(data)

        def note_sent(self, data):
            if self.sent is not None:
                self.sent += data
            self.sent_hash.update(data)
            self.sent_count += len(data)

    def _run(self):
        try:
            while not self._stop:
                for key, events in self.selector.select(timeout=0.5):
                    if key.data == "wake":
                        self._wake_r.recv(64)
                    elif key.data is None:
                        self._accept()
                    else:
                        self._service(key.data, events)
        except Exception as e:  # reported by the test, which fails on it
            self.failures.append(f"echo upstream crashed: {e!r}")

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.selector.register(sock, selectors.EVENT_READ, self._State(sock, self.keep))

    def _finish(self, state, how):
        self.selector.unregister(state.sock)
        state.sock.close()
        state.ended = how

    def _service(self, state, events):
        if events & selectors.EVENT_READ and not state.closing:
            try:
                data = state.sock.recv(262144)
            except ConnectionResetError:
                self._finish(state, "reset")
                return
            except BlockingIOError:
                data = None
            if data == b"":
                self._finish(state, "eof")
                return
            if data:
                state.note_received(data)
                state.inbox += data
                self._consume(state)
        if state.outbox:
            try:
                n = state.sock.send(state.outbox)
            except BlockingIOError:
                n = 0
            except (ConnectionResetError, BrokenPipeError):
                self._finish(state, "reset")
                return
            state.note_sent(state.outbox[:n])
            del state.outbox[:n]
        if state.closing and not state.outbox:
            self._finish(state, "closed after the close handshake")
            return
        self.selector.modify(state.sock, selectors.EVENT_READ |
                             (selectors.EVENT_WRITE if state.outbox else 0), state)

    def _consume(self, state):
        if state.key is None:
            end = state.inbox.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(state.inbox[:end + 4])
            del state.inbox[:end + 4]
            state.key = header_key(head)
            with self.lock:
                self.connections[state.key] = state
            offered = self.deflate and b"permessage-deflate" in head
            state.outbox += upgrade_response(
                state.key, [("Sec-WebSocket-Extensions", "permessage-deflate")] if offered else [])
        while not state.closing:
            parsed, size = parse_frame(state.inbox)
            if parsed is None:
                return
            del state.inbox[:size]
            if not parsed["masked"]:
                self.failures.append(f"upstream conn {state.key}: unmasked client frame")
            state.outbox += frame(parsed["opcode"], parsed["payload"], fin=parsed["fin"],
                                  rsv=parsed["rsv"] if self.deflate else 0)
            if parsed["opcode"] == OP_CLOSE:
                state.closing = True

    def close(self):
        self._stop = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self.thread.join(5)
        for key in list(self.selector.get_map().values()):
            try:
                key.fileobj.close()
            except OSError:
                pass
        self.selector.close()
        self._wake_w.close()

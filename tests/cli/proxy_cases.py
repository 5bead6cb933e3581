#!/usr/bin/python3
"""Command-line cases that need a running proxy: a raw-socket upstream and client on loopback.

    proxy_cases.py CASE WSSNIFF WORK_DIR

Each case is bounded in time, prints what failed, and exits 1 if anything did.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

TIMEOUT_S = 10

REQUEST = ("GET /chat?room=1 HTTP/1.1\r\nHost: proxy.local\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n").encode()
RESPONSE = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n").encode()
# A masked client text frame, "Hello" (RFC 6455 §5.7).
HELLO = bytes([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])

failures = []


def fail(message):
    failures.append(message)
    print(f"FAIL: {message}", file=sys.stderr)


def read_until(sock, end, limit=65536):
    data = b""
    while end not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


class Upstream:
    """Accepts one connection, takes the upgrade request, answers 101, then keeps what arrives."""

    def __init__(self, family=socket.AF_INET, host="127.0.0.1"):
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.settimeout(TIMEOUT_S)
        self.listener.bind((host, 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.head = b""
        self.frame = b""
        self.conn = None
        self.framed = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            self.conn, _ = self.listener.accept()
            self.conn.settimeout(TIMEOUT_S)
            self.head = read_until(self.conn, b"\r\n\r\n")
            self.conn.sendall(RESPONSE)
            self.frame = read_exactly(self.conn, len(HELLO))
        except OSError as e:
            print(f"upstream: {e}", file=sys.stderr)
        finally:
            self.framed.set()

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


class Proxy:
    def __init__(self, wssniff, args, output, ignore_hangup=False):
        def child_signals():
            # The test decides what SIGHUP does in the proxy, whatever this process inherited.
            signal.signal(signal.SIGHUP, signal.SIG_IGN if ignore_hangup else signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)

        self.output = output
        self.proc = subprocess.Popen([wssniff, "proxy", "--listen", "127.0.0.1:0", "--output",
                                      output, *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=child_signals)
        self.port = None
        timer = threading.Timer(TIMEOUT_S, self.proc.kill)
        timer.start()
        line = self.proc.stderr.readline().decode()
        timer.cancel()
        if not line.startswith("listening on 127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError(f"the proxy did not start: {line!r} {self.proc.stderr.read()!r}")
        self.port = int(line.rsplit(":", 1)[1])

    def connect(self):
        client = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT_S)
        client.sendall(REQUEST)
        return client

    def signal(self, signum):
        self.proc.send_signal(signum)

    def wait(self):
        try:
            self.stdout, err = self.proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            fail("the proxy did not exit")
            return None, ""
        return self.proc.returncode, err.decode()

    def records(self):
        if self.output == "-":
            return [json.loads(line) for line in self.stdout.decode("utf-8").splitlines()]
        with open(self.output, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def upgraded_connection(proxy, upstream):
    """A client through the proxy, upgraded, its first frame arrived upstream."""
    client = proxy.connect()
    response = read_until(client, b"\r\n\r\n")
    if not response.startswith(b"HTTP/1.1 101"):
        fail(f"the client got {response[:200]!r}, not the 101")
    client.sendall(HELLO)
    if not upstream.framed.wait(TIMEOUT_S) or upstream.frame != HELLO:
        fail(f"the upstream got {upstream.frame!r}, not the client's frame")
    return client


def ipv6_session(wssniff, work):
    """Through the proxy to an upstream on [::1]: what the upstream saw, and the records."""
    try:
        upstream = Upstream(socket.AF_INET6, "::1")
    except OSError as e:
        print(f"no IPv6 loopback here ({e}); nothing to test", file=sys.stderr)
        sys.exit(77)
    proxy = Proxy(wssniff, ["--upstream", f"ws://[::1]:{upstream.port}/"],
                  os.path.join(work, "records.ndjson"))
    try:
        client = upgraded_connection(proxy, upstream)
        client.close()
        upstream.close()
        time.sleep(0.2)
        proxy.signal(signal.SIGTERM)
        status, err = proxy.wait()
        if status != 0:
            fail(f"proxy exit status {status}: {err}")
        return upstream, proxy.records()
    finally:
        proxy.kill()


def case_proxy_ipv6_host_header(wssniff, work):
    # Issue 19, item 11: the Host the upstream sees is its authority, the IPv6 address in brackets.
    upstream, _ = ipv6_session(wssniff, work)
    hosts = [line for line in upstream.head.split(b"\r\n") if line.lower().startswith(b"host:")]
    expected = f"Host: [::1]:{upstream.port}".encode()
    if hosts != [expected]:
        fail(f"the upstream saw {hosts!r}, expected [{expected!r}]")


def case_proxy_ipv6_upstream_record(wssniff, work):
    # Item 11: the records name the upstream as [::1]:PORT, as they name the client.
    upstream, records = ipv6_session(wssniff, work)
    handshakes = [r for r in records if r["type"] == "handshake"]
    if len(handshakes) != 1:
        fail(f"{len(handshakes)} handshake records: {records}")
    for r in handshakes:
        if r.get("upstream") != f"[::1]:{upstream.port}":
            fail(f"handshake upstream {r.get('upstream')!r}, expected '[::1]:{upstream.port}'")


def case_proxy_sighup(wssniff, work):
    # Item 16: writing to standard output, SIGHUP (the terminal has gone) stops the proxy as
    # SIGTERM does: close records with reason shutdown for the open connections, flushed,
    # exit 0. (With --output FILE it reopens the file instead: below, and
    # tests/integration/rotation.)
    upstream = Upstream()
    proxy = Proxy(wssniff, ["--upstream", f"ws://127.0.0.1:{upstream.port}"], "-")
    try:
        client = upgraded_connection(proxy, upstream)
        time.sleep(0.2)  # the frame's record is written
        proxy.signal(signal.SIGHUP)
        status, err = proxy.wait()
        if status != 0:
            fail(f"proxy exit status {status} after SIGHUP (negative: killed by that signal); "
                 f"stderr {err!r}")
        if status is not None:
            records = proxy.records()
            closes = [r for r in records if r["type"] == "close"]
            if [c.get("reason") for c in closes] != ["shutdown"]:
                fail(f"close records {closes}, expected one with reason shutdown")
            if not any(r["type"] == "frame" and r.get("text") == "Hello" for r in records):
                fail(f"no record of the client's frame: {records}")
        client.close()
    finally:
        proxy.kill()
        upstream.close()

    # Writing to a file, SIGHUP reopens it (logrotate's postrotate) and the proxy goes on.
    upstream = Upstream()
    records_file = os.path.join(work, "records-reopened.ndjson")
    proxy = Proxy(wssniff, ["--upstream", f"ws://127.0.0.1:{upstream.port}"], records_file)
    try:
        proxy.signal(signal.SIGHUP)
        time.sleep(0.5)
        if proxy.proc.poll() is not None:
            fail(f"with --output, SIGHUP stopped the proxy (exit {proxy.proc.returncode})")
        client = upgraded_connection(proxy, upstream)
        client.close()
        time.sleep(0.3)
        proxy.signal(signal.SIGTERM)
        status, err = proxy.wait()
        if status != 0:
            fail(f"proxy exit status {status} after SIGHUP then SIGTERM: {err!r}")
        if not any(r["type"] == "frame" and r.get("text") == "Hello" for r in proxy.records()):
            fail("the reopened file lacks the frame sent after SIGHUP")
    finally:
        proxy.kill()
        upstream.close()

    # Started with SIGHUP ignored (nohup): it stays ignored.
    proxy = Proxy(wssniff, ["--upstream", "ws://127.0.0.1:1"],
                  os.path.join(work, "records-nohup.ndjson"), ignore_hangup=True)
    try:
        proxy.signal(signal.SIGHUP)
        time.sleep(0.5)
        if proxy.proc.poll() is not None:
            fail(f"under nohup, SIGHUP stopped the proxy (exit {proxy.proc.returncode})")
        proxy.signal(signal.SIGTERM)
        status, err = proxy.wait()
        if status != 0:
            fail(f"proxy exit status {status} after SIGTERM: {err!r}")
    finally:
        proxy.kill()


def case_proxy_listen_port_zero(wssniff, work):
    # Item 6: a listen port of 0 is never the upstream's (the port is picked among free ones),
    # even with the same host.
    upstream = Upstream()
    proxy = Proxy(wssniff, ["--upstream", f"ws://127.0.0.1:{upstream.port}"],
                  os.path.join(work, "records.ndjson"))
    try:
        client = upgraded_connection(proxy, upstream)
        client.close()
        proxy.signal(signal.SIGTERM)
        status, err = proxy.wait()
        if status != 0:
            fail(f"proxy exit status {status}: {err!r}")
    finally:
        proxy.kill()
        upstream.close()


def main():
    name, wssniff, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    case = globals().get(f"case_{name}")
    if case is None:
        fail(f"unknown case {name}")
    else:
        try:
            case(wssniff, work)
        except (OSError, RuntimeError, ValueError) as e:
            fail(f"{type(e).__name__}: {e}")
    if failures:
        print(f"{name}: {len(failures)} checks failed", file=sys.stderr)
        return 1
    print(f"{name}: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

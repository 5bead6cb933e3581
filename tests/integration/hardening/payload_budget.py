#!/usr/bin/python3
"""Issue 19 item 2: payload held for unfinished frames is bounded by --payload-budget.

A tiny raw-socket upstream answers every upgrade with a 101; N clients (300 by default) each
send one text frame whose last byte never comes, then go quiet. First plain (a 1 MiB frame
minus its last byte), then with permessage-deflate negotiated and --emit both (~1 KB
compressed frames that inflate to 1 MiB each, minus their last byte). The proxy's RSS, read
from /proc/PID/status once every byte has been forwarded, must stay under the budget plus a
fixed allowance:

  per connection 96 KiB: the c2s decoder's 16 KiB unmasking buffer, two zlib inflate states
  with their 32 KiB windows (~40 KiB each, with permessage-deflate), sockets, the session and
  the handshake's strings; and 16 MiB for the allocator's arenas and the relay's read buffers
  (pooled, 64 KiB each while data flows). Measured: 8 MiB over a 32 MiB budget plain, 18 MiB
  with deflate and --emit both, for 300 connections.

With the budget switched off (or on a binary without it), RSS grows by about 1 MiB per
connection plain and 2 MiB with deflate and --emit both, so the test fails. Loopback only,
stdlib only, bounded in time. Prints PASS or FAIL; exits non-zero on failure.

Usage: payload_budget.py WSSNIFF [--clients N] [--budget MIB] [--no-budget-flag]
"""

import argparse
import base64
import hashlib
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MIB = 1024 * 1024
# The allowances are the program's own overhead; under a sanitizer, whose shadow memory and
# quarantine are not the program's, they are scaled by WSSNIFF_RSS_FACTOR (set by CMake,
# cmake/sanitizers.cmake); the budget itself is never scaled.
RSS_FACTOR = float(os.environ.get("WSSNIFF_RSS_FACTOR", "1"))
PER_CONNECTION_ALLOWANCE = int(96 * 1024 * RSS_FACTOR)
FIXED_ALLOWANCE = int(16 * MIB * RSS_FACTOR)
TIME_LIMIT = 240  # seconds, the whole test


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Upstream(threading.Thread):
    """Answers each upgrade request with a 101 (echoing permessage-deflate when offered),
    then reads and counts what arrives."""

    def __init__(self):
        super().__init__(daemon=True)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1024)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.received = 0  # bytes after the request heads
        self.lock = threading.Lock()
        self.stopping = False

    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, None)
        heads = {}
        while not self.stopping:
            for key, _ in sel.select(0.2):
                if key.data is None:
                    conn, _ = self.listener.accept()
                    conn.setblocking(False)
                    heads[conn] = b""
                    sel.register(conn, selectors.EVENT_READ, "conn")
                    continue
                conn = key.fileobj
                try:
                    data = conn.recv(1 << 20)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(conn)
                    conn.close()
                    heads.pop(conn, None)
                    continue
                if conn in heads and heads[conn] is not None:
                    head = heads[conn] + data
                    end = head.find(b"\r\n\r\n")
                    if end < 0:
                        heads[conn] = head
                        continue
                    heads[conn] = None
                    self.answer(conn, head[: end + 4])
                    data = head[end + 4 :]
                with self.lock:
                    self.received += len(data)

    @staticmethod
    def answer(conn, head):
        key = b""
        deflate = False
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
            if name.strip().lower() == b"sec-websocket-extensions" and b"permessage-deflate" in value:
                deflate = True
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        response = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n")
        if deflate:
            response += b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
        conn.setblocking(True)
        conn.sendall(response + b"\r\n")
        conn.setblocking(False)


def masked_frame_header(length, first=0x81, mask=b"\x01\x02\x03\x04"):
    return bytes([first, 0x80 | 127]) + struct.pack(">Q", length) + mask if length > 0xFFFF \
        else bytes([first, 0x80 | 126]) + struct.pack(">H", length) + mask


def mask_bytes(data, mask=b"\x01\x02\x03\x04"):
    whole = (mask * (len(data) // 4 + 1))[: len(data)]
    return bytes(a ^ b for a, b in zip(data, whole)) if len(data) < 4096 else \
        (int.from_bytes(data, "big") ^ int.from_bytes(whole, "big")).to_bytes(len(data), "big")


def stalled_frame(deflate):
    """A masked text frame minus its last byte, and how many bytes that is."""
    text = (b"wssniff payload budget " * 50000)[:MIB]
    if deflate:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        payload = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)
        payload = payload[:-4]  # RFC 7692: the 00 00 ff ff tail is not sent
        frame = masked_frame_header(len(payload), first=0xC1) + mask_bytes(payload)
    else:
        frame = masked_frame_header(len(text)) + mask_bytes(text)
    return frame[:-1]


def run(wssniff, clients, budget_mib, budget_flag, deflate):
    upstream = Upstream()
    upstream.start()
    command = [wssniff, "proxy", "--upstream", f"ws://127.0.0.1:{upstream.port}",
               "--listen", "127.0.0.1:0", "--output", "/dev/null"]
    if budget_flag:
        command += ["--payload-budget", f"{budget_mib}MiB"]
    if deflate:
        command += ["--emit", "both"]
    proxy = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    sockets = []
    try:
        line = proxy.stderr.readline()
        if "listening on" not in line:
            raise RuntimeError(f"proxy did not start: {line.strip()}")
        port = int(line.strip().rsplit(":", 1)[1])
        time.sleep(0.2)
        before = rss_bytes(proxy.pid)
        frame = stalled_frame(deflate)
        request = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   b"Sec-WebSocket-Version: 13\r\n")
        if deflate:
            request += b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
        request += b"\r\n"
        for _ in range(clients):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError("proxy closed during the handshake")
                answer += chunk
            if b" 101 " not in answer.split(b"\r\n", 1)[0]:
                raise RuntimeError(f"no 101: {answer[:80]!r}")
            s.sendall(frame)
            sockets.append(s)
        # Every byte forwarded means every byte was given to the session (the tee follows
        # the write).
        expected = clients * len(frame)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with upstream.lock:
                if upstream.received >= expected:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"upstream got {upstream.received} of {expected} bytes")
        time.sleep(0.5)
        grown = rss_bytes(proxy.pid) - before
        limit = budget_mib * MIB + clients * PER_CONNECTION_ALLOWANCE + FIXED_ALLOWANCE
        mode = "deflate, --emit both" if deflate else "plain"
        print(f"{mode}: {clients} stalled frames of {len(frame)} bytes; RSS grew "
              f"{grown / MIB:.1f} MiB (limit {limit / MIB:.1f} MiB)")
        return grown <= limit
    finally:
        for s in sockets:
            s.close()
        proxy.send_signal(signal.SIGTERM)
        try:
            proxy.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()
        upstream.stopping = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wssniff")
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--budget", type=int, default=32, help="MiB")
    parser.add_argument("--no-budget-flag", action="store_true",
                        help="for a binary without --payload-budget")
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, lambda *_: (print("FAIL: out of time"), os._exit(1)))
    signal.alarm(TIME_LIMIT)
    ok = True
    for deflate in (False, True):
        try:
            ok = run(args.wssniff, args.clients, args.budget, not args.no_budget_flag,
                     deflate) and ok
        except (OSError, RuntimeError) as e:
            print(f"error: {e}")
            ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

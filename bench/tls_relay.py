#!/usr/bin/python3
"""Relay throughput of `wssniff proxy`, plain and with TLS on either leg, in one run.

    bench/tls_relay.py WSSNIFF [MIB]        (default 256 MiB per measurement)

A client sends one masked binary frame of MIB MiB (64 KiB writes) through the proxy to a
server that reads and counts; the time runs from the first payload byte sent to the last one
received. Peers are Python's ssl (OpenSSL) sockets in threads, so their own TLS costs are in
the TLS figures too: the ratio is what a user would see, not the proxy's alone. Certificates
come from tests/integration/tls/certs.py. Prints one Markdown table row per combination, best
of three.
"""

import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration" / "tls"))
import certs  # noqa: E402

CHUNK = 64 * 1024
RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(4096)
        if not piece:
            raise RuntimeError("closed during the head")
        data += piece
    return data.split(b"\r\n\r\n", 1)[1]


def server(listener, context, total, done):
    conn, _ = listener.accept()
    if context:
        conn = context.wrap_socket(conn, server_side=True)
    got = len(read_head(conn))
    conn.sendall(RESPONSE)
    while got < total:
        piece = conn.recv(1 << 20)
        if not piece:
            break
        got += len(piece)
    done["at"] = time.perf_counter()
    done["bytes"] = got
    conn.close()


def measure(wssniff, paths, tls_client, tls_upstream, size):
    listener = socket.create_server(("127.0.0.1", 0))
    up_port = listener.getsockname()[1]
    server_ctx = None
    if tls_upstream:
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(paths["server.pem"], paths["server.key"])
    header = struct.pack("!BBQ", 0x82, 0x80 | 127, size) + b"\x00\x00\x00\x00"  # zero key
    total = len(header) + size
    done = {}
    t = threading.Thread(target=server, args=(listener, server_ctx, total, done))
    t.start()
    argv = [wssniff, "proxy", "--listen", "127.0.0.1:0", "--payload", "none",
            "--output", os.devnull,
            "--upstream", f"{'wss' if tls_upstream else 'ws'}://127.0.0.1:{up_port}"]
    if tls_upstream:
        argv += ["--ca-file", paths["ca.pem"]]
    if tls_client:
        argv += ["--tls-cert", paths["server.pem"], "--tls-key", paths["server.key"]]
    proxy = subprocess.Popen(argv, stderr=subprocess.PIPE)
    try:
        port = int(proxy.stderr.readline().decode().rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port))
        if tls_client:
            sock = ssl.create_default_context(cafile=paths["ca.pem"]).wrap_socket(
                sock, server_hostname="127.0.0.1")
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        read_head(sock)
        payload = b"\x00" * CHUNK
        start = time.perf_counter()
        sock.sendall(header)
        sent = 0
        while sent < size:
            n = min(CHUNK, size - sent)
            sock.sendall(payload[:n])
            sent += n
        t.join()
        sock.close()
        if done.get("bytes") != total:
            raise RuntimeError(f"the server got {done.get('bytes')} of {total} bytes")
        return size / (done["at"] - start)
    finally:
        proxy.terminate()
        proxy.wait()
        listener.close()


def main():
    wssniff = sys.argv[1]
    size = int(sys.argv[2] if len(sys.argv) > 2 else 256) << 20
    with tempfile.TemporaryDirectory() as d:
        paths = certs.make(d)
        rates = {}
        print("| client leg | upstream leg | MiB/s (best of 3) | vs plain |")
        print("|---|---|---:|---:|")
        for tls_client, tls_upstream in ((False, False), (True, False), (False, True),
                                         (True, True)):
            rate = max(measure(wssniff, paths, tls_client, tls_upstream, size)
                       for _ in range(3))
            rates[(tls_client, tls_upstream)] = rate
            print(f"| {'TLS' if tls_client else 'plain'} | {'TLS' if tls_upstream else 'plain'} "
                  f"| {rate / (1 << 20):.0f} | {rate / rates[(False, False)]:.2f} |", flush=True)


if __name__ == "__main__":
    main()

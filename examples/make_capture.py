#!/usr/bin/env python3
"""Writes examples/chat.c2s and examples/chat.s2c: the two byte streams of a short WebSocket
session (RFC 6455), as a proxy would have forwarded them. Regenerate with
    python3 examples/make_capture.py
The masks are fixed so the files are reproducible."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def frame(opcode, payload, fin=True, mask=None):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


M = [bytes.fromhex(h) for h in ("37fa213d", "0a1b2c3d", "deadbeef", "01020304", "a5a5a5a5", "11223344")]

c2s = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: 127.0.0.1:9000\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"Authorization: Bearer s3cr3t-t0ken\r\n"
    b"\r\n"
)
c2s += frame(1, b"Hello", mask=M[0])
c2s += frame(1, "héllo wörld ✓".encode(), mask=M[1])
c2s += frame(2, bytes(range(8)), mask=M[2])
c2s += frame(1, b"frag-", fin=False, mask=M[3])
c2s += frame(9, b"are you there?", mask=M[4])
c2s += frame(0, b"mented", fin=True, mask=M[5])
c2s += frame(8, struct.pack("!H", 1000) + b"bye", mask=M[0])

s2c = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)
s2c += frame(1, b"Hello")
s2c += frame(1, "héllo wörld ✓".encode())
s2c += frame(2, bytes(range(8)))
s2c += frame(10, b"are you there?")
s2c += frame(1, b"x" * 70000)
s2c += frame(8, struct.pack("!H", 1000) + b"bye")

with open(os.path.join(here, "chat.c2s"), "wb") as f:
    f.write(c2s)
with open(os.path.join(here, "chat.s2c"), "wb") as f:
    f.write(s2c)

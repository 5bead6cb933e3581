"""RFC 6455 / RFC 7692 bytes built by hand: opcodes, frame headers, masks, close payloads,
a frame parser, and the comparisons tests make of byte streams.

No WebSocket library: a test sends exactly the bytes it means, valid or not.
"""

import hashlib
import struct
import zlib

from wssniff_kit.checks import CheckFailed, check

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
OP_NAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


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


def valid_utf8(data):
    try:
        bytes(data).decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def raw_deflate(data):
    """A sender's compressor (RFC 7692 §7.2.1): raw DEFLATE, flushed, the 00 00 ff ff tail
    removed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    check(out.endswith(b"\x00\x00\xff\xff"), "sync flush ends in 00 00 ff ff")
    return out[:-4]

"""The conformance cases, as data: what the driver sends, in which writes, and what it is about.

Numbering follows the Autobahn test suite's categories (1 framing, 2 pings and pongs, 3 reserved
bits, 4 reserved opcodes, 5 fragmentation, 6 UTF-8, 7 close handling, 9 large messages, 10
auto-fragmentation, 12/13 permessage-deflate). A case is a list of steps the driver plays in its
role (masked as client, unmasked as server); consecutive frames go out in one write unless the
case chops them. After its steps the driver waits for what a conforming peer returns (echoes,
pongs, or the peer's close), then closes normally unless the case closed already.

`violates` names the error codes the case's own frames must make wssniff report (checked against
the wire model, so a case cannot silently stop testing what its description says).
"""

import random
from dataclasses import dataclass, field

from wssniff_kit.wire import (OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
                              close_payload)


@dataclass
class Frame:
    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0


@dataclass
class Message:
    """A data message under permessage-deflate: compressed with the negotiated parameters
    (RSV1 on its first frame), split into `fragments` frames of the compressed data."""
    opcode: int
    payload: bytes
    fragments: int = 1


@dataclass
class Pause:
    seconds: float


@dataclass
class Settle:
    """Wait until the peer has answered everything sent so far (echoes, pongs), so that what
    follows cannot overtake those answers inside the peer (a browser's page echoes on its own
    schedule): the case's outcome then depends on the peer alone, not on timing."""
    timeout: float = 5.0


SETTLE = Settle()


@dataclass
class Case:
    id: str
    description: str
    steps: list
    chop: tuple = None        # (smallest, largest) write size: frames go out in random chunks
    violates: tuple = ()
    deflate: dict = None      # permessage-deflate offer (client role) / answer (server role)
    full_only: bool = False   # only with --full
    closes: bool = False      # the steps end with the driver's own close frame
    timeout: float = 5.0

    @property
    def category(self):
        return self.id.split(".")[0]


def text(s):
    return Frame(OP_TEXT, s.encode("utf-8") if isinstance(s, str) else s)


def binary(b):
    return Frame(OP_BINARY, b)


def pattern(n, seed=0):
    """Deterministic bytes that do not compress to nothing."""
    rng = random.Random(seed)
    return bytes(rng.getrandbits(8) for _ in range(n)) if n < 4096 else \
        rng.randbytes(n)


def ascii_text(n):
    unit = b"Hello, wssniff! * "
    return (unit * (n // len(unit) + 1))[:n]


LOREM = (b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
         b"incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
         b"exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. ")


def compressible(n, k=0):
    data = (LOREM * (n // len(LOREM) + 2))[k % len(LOREM):]
    return data[:n]


def fragments(opcode, payload, size):
    """`payload` in frames of `size` bytes (the last one shorter), as one message."""
    chunks = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    return [Frame(opcode if i == 0 else OP_CONTINUATION, c, fin=i == len(chunks) - 1)
            for i, c in enumerate(chunks)]


def all_cases(full):
    cases = []

    def add(*args, **kwargs):
        c = Case(*args, **kwargs)
        if full or not c.full_only:
            cases.append(c)

    # --- 1 framing ------------------------------------------------------------------------
    lengths = [0, 125, 126, 127, 128, 65535, 65536]
    for i, n in enumerate(lengths, 1):
        add(f"1.1.{i}", f"text message, payload {n} bytes", [text(ascii_text(n))])
    for i, n in enumerate(lengths, 1):
        add(f"1.2.{i}", f"binary message, payload {n} bytes", [binary(pattern(n, i))])
    for i, (n, chop) in enumerate([(65535, (1, 997)), (65536, (1, 100)), (125, (1, 3)),
                                   (126, (1, 1))], 1):
        add(f"1.3.{i}", f"text message of {n} bytes, written in random chunks of "
                        f"{chop[0]}-{chop[1]} bytes", [text(ascii_text(n))], chop=chop)
        add(f"1.4.{i}", f"binary message of {n} bytes, written in random chunks of "
                        f"{chop[0]}-{chop[1]} bytes", [binary(pattern(n, 40 + i))], chop=chop)

    # --- 2 pings and pongs ----------------------------------------------------------------
    add("2.1", "ping without payload", [Frame(OP_PING)])
    add("2.2", "ping with a short text payload", [Frame(OP_PING, b"Hello, wssniff!")])
    add("2.3", "ping with a binary payload", [Frame(OP_PING, bytes([0, 0xff, 0xfe, 0xfd, 0x80]))])
    add("2.4", "ping with a 125-byte payload (the largest allowed)", [Frame(OP_PING, pattern(125, 4))])
    add("2.5", "ping with a 126-byte payload (too long for a control frame)",
        [Frame(OP_PING, pattern(126, 5))], violates=("control_frame_too_long",))
    add("2.6", "ping with a 125-byte payload, written in 1-2 byte chunks",
        [Frame(OP_PING, pattern(125, 6))], chop=(1, 2))
    add("2.7", "unsolicited pong without payload", [Frame(OP_PONG)])
    add("2.8", "unsolicited pong with payload", [Frame(OP_PONG, b"unsolicited pong payload")])
    add("2.9", "unsolicited pong, then a ping", [Frame(OP_PONG, b"pong"), Frame(OP_PING, b"ping")])
    add("2.10", "ten pings in one write", [Frame(OP_PING, b"ping %d" % i) for i in range(10)])
    add("2.11", "ten pings, written in random chunks of 1-5 bytes",
        [Frame(OP_PING, b"ping %d" % i) for i in range(10)], chop=(1, 5))

    # --- 3 reserved bits ------------------------------------------------------------------
    add("3.1", "text frame with RSV3 (1) set", [text("hello"), SETTLE, Frame(OP_TEXT, b"rsv", rsv=1)],
        violates=("reserved_bits",))
    add("3.2", "text with RSV2 (2) set after a valid text message",
        [text("hello"), SETTLE, Frame(OP_TEXT, b"rsv", rsv=2), Frame(OP_PING, b"after")],
        violates=("reserved_bits",))
    add("3.3", "text with RSV2+RSV3 (3) set, written byte by byte",
        [text("hello"), SETTLE, Frame(OP_TEXT, b"rsv", rsv=3), Frame(OP_PING, b"after")], chop=(1, 1),
        violates=("reserved_bits",))
    add("3.4", "text with RSV1 (4) set, no extension negotiated",
        [text("hello"), SETTLE, Frame(OP_TEXT, b"rsv", rsv=4), Frame(OP_PING, b"after")],
        violates=("reserved_bits",))
    add("3.5", "binary with RSV1+RSV3 (5) set", [Frame(OP_BINARY, pattern(8, 35), rsv=5)],
        violates=("reserved_bits",))
    add("3.6", "ping with RSV1+RSV2 (6) set", [Frame(OP_PING, b"ping", rsv=6)],
        violates=("reserved_bits",))
    add("3.7", "close with all RSV bits (7) set", [Frame(OP_CLOSE, close_payload(1000), rsv=7)],
        violates=("reserved_bits",), closes=True)

    # --- 4 reserved opcodes ---------------------------------------------------------------
    for i, op in enumerate([3, 4, 5, 6, 7], 1):
        add(f"4.1.{i}", f"reserved non-control opcode {op} between a text and a ping",
            [text("hello"), SETTLE, Frame(op, b"reserved" if i % 2 else b""),
             Frame(OP_PING, b"after")],
            violates=("reserved_opcode",))
    for i, op in enumerate([11, 12, 13, 14, 15], 1):
        add(f"4.2.{i}", f"reserved control opcode {op} between a text and a ping",
            [text("hello"), SETTLE, Frame(op, b"reserved" if i % 2 else b""),
             Frame(OP_PING, b"after")],
            violates=("reserved_opcode",))

    # --- 5 fragmentation ------------------------------------------------------------------
    add("5.1", "ping in two fragments", [Frame(OP_PING, b"frag", fin=False),
                                         Frame(OP_CONTINUATION, b"ment")],
        violates=("control_frame_fragmented",))
    add("5.2", "pong in two fragments", [Frame(OP_PONG, b"frag", fin=False),
                                         Frame(OP_CONTINUATION, b"ment")],
        violates=("control_frame_fragmented",))
    add("5.3", "text message in two fragments", fragments(OP_TEXT, b"fragment1fragment2", 9))
    add("5.4", "text message in two fragments, written byte by byte",
        fragments(OP_TEXT, b"fragment1fragment2", 9), chop=(1, 1))
    add("5.5", "text message in two fragments with a pause between them",
        [Frame(OP_TEXT, b"fragment1", fin=False), Pause(0.05),
         Frame(OP_CONTINUATION, b"fragment2")])
    add("5.6", "text message in two fragments, a ping between them",
        [Frame(OP_TEXT, b"fragment1", fin=False), Frame(OP_PING, b"between"),
         Frame(OP_CONTINUATION, b"fragment2")])
    add("5.7", "fragments with a ping between, written in 1-3 byte chunks",
        [Frame(OP_TEXT, b"fragment1", fin=False), Frame(OP_PING, b"between"),
         Frame(OP_CONTINUATION, b"fragment2")], chop=(1, 3))
    add("5.8", "text message in two fragments, an unsolicited pong between them",
        [Frame(OP_TEXT, b"fragment1", fin=False), Frame(OP_PONG, b"between"),
         Frame(OP_CONTINUATION, b"fragment2")])
    add("5.9", "continuation (FIN set) without a message to continue",
        [Frame(OP_CONTINUATION, b"orphan"), text("after")],
        violates=("unexpected_continuation",))
    add("5.10", "continuation (FIN clear) without a message to continue",
        [Frame(OP_CONTINUATION, b"orphan", fin=False), text("after")],
        violates=("unexpected_continuation",))
    add("5.11", "orphan continuations, written byte by byte",
        [Frame(OP_CONTINUATION, b"orphan", fin=False), Frame(OP_CONTINUATION, b"fin")],
        chop=(1, 1), violates=("unexpected_continuation",))
    add("5.12", "new text frame inside a fragmented text message",
        [Frame(OP_TEXT, b"fragment1", fin=False), Frame(OP_TEXT, b"fragment2"),
         Frame(OP_CONTINUATION, b"fragment3")], violates=("expected_continuation",))
    add("5.13", "new binary frame inside a fragmented binary message",
        [Frame(OP_BINARY, b"\x01\x02", fin=False), Frame(OP_BINARY, b"\x03\x04")],
        violates=("expected_continuation",))
    add("5.14", "text message in 100 one-byte fragments", fragments(OP_TEXT, ascii_text(100), 1))
    add("5.15", "binary message with empty first and last fragments",
        [Frame(OP_BINARY, b"", fin=False), Frame(OP_CONTINUATION, b"\x00middle\xff", fin=False),
         Frame(OP_CONTINUATION, b"")])
    add("5.16", "two fragmented messages, pings and pongs between every fragment",
        [Frame(OP_TEXT, b"a", fin=False), Frame(OP_PING, b"1"), Frame(OP_CONTINUATION, b"b"),
         Frame(OP_BINARY, b"c", fin=False), Frame(OP_PONG, b"2"), Frame(OP_PING, b"3"),
         Frame(OP_CONTINUATION, b"d", fin=False), Frame(OP_CONTINUATION, b"e")])

    # --- 6 UTF-8 --------------------------------------------------------------------------
    add_utf8_cases(add)

    # --- 7 close --------------------------------------------------------------------------
    add("7.1.1", "text message, then close 1000", [text("hello"),
                                                   Frame(OP_CLOSE, close_payload(1000))],
        closes=True)
    add("7.1.2", "close without payload", [Frame(OP_CLOSE)], closes=True)
    add("7.1.3", "close, then a ping", [Frame(OP_CLOSE, close_payload(1000)),
                                        Frame(OP_PING, b"after close")],
        closes=True, violates=("frame_after_close",))
    add("7.1.4", "close, then a text message", [Frame(OP_CLOSE, close_payload(1000)),
                                                text("after close")],
        closes=True, violates=("frame_after_close",))
    add("7.1.5", "fragment, close, then the last fragment",
        [Frame(OP_TEXT, b"frag", fin=False), Frame(OP_CLOSE, close_payload(1000)),
         Frame(OP_CONTINUATION, b"ment")], closes=True, violates=("frame_after_close",))
    add("7.1.6", "a 256 KiB message, then a ping and a close in one write",
        [text(ascii_text(256 * 1024)), SETTLE, Frame(OP_PING, b"ping"),
         Frame(OP_CLOSE, close_payload(1000))], closes=True)
    add("7.3.1", "close with a 1-byte payload", [Frame(OP_CLOSE, b"\x03")], closes=True,
        violates=("close_payload_one_byte",))
    add("7.3.2", "close 1000 with an empty reason", [Frame(OP_CLOSE, close_payload(1000))],
        closes=True)
    add("7.3.3", "close 1000 with a short reason", [Frame(OP_CLOSE, close_payload(1000, b"bye"))],
        closes=True)
    add("7.3.4", "close 1000 with a 123-byte reason (the largest)",
        [Frame(OP_CLOSE, close_payload(1000, b"*" * 123))], closes=True)
    add("7.3.5", "close 1000 with a 124-byte reason (payload too long)",
        [Frame(OP_CLOSE, close_payload(1000, b"*" * 124))], closes=True,
        violates=("control_frame_too_long",))
    add("7.3.6", "close 1000 with an invalid UTF-8 reason",
        [Frame(OP_CLOSE, close_payload(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
                                             b"\xed\xa0\x80edited"))],
        closes=True, violates=("invalid_close_reason",))
    add("7.3.7", "close 1000 with a multi-byte UTF-8 reason",
        [Frame(OP_CLOSE, close_payload(1000, "Σ bye ok ✓ 🌍".encode()))], closes=True)
    for i, code in enumerate([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999],
                             1):
        add(f"7.7.{i}", f"close with valid code {code}", [Frame(OP_CLOSE, close_payload(code))],
            closes=True)
    for i, code in enumerate([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000], 1):
        add(f"7.9.{i}", f"close with invalid code {code}", [Frame(OP_CLOSE, close_payload(code))],
            closes=True, violates=("invalid_close_code",))

    # --- 9 large messages -----------------------------------------------------------------
    sizes = [64 * 1024, 256 * 1024, 1024 * 1024] + [4 << 20, 8 << 20, 16 << 20]
    for i, n in enumerate(sizes, 1):
        big = n > 1 << 20
        add(f"9.1.{i}", f"text message of {n // 1024} KiB", [text(ascii_text(n))],
            full_only=big or n == 256 * 1024, timeout=30 if big else 10)
        add(f"9.2.{i}", f"binary message of {n // 1024} KiB", [binary(pattern(n, 90 + i))],
            full_only=big, timeout=30 if big else 10)
    for i, frag in enumerate([64, 256, 1024, 4096, 16384, 65536, 262144, 1 << 20], 1):
        n = 4 << 20 if full else 1 << 20
        reduced = frag in (1024, 65536)
        add(f"9.3.{i}", f"text message of {n >> 20} MiB in frames of {frag} bytes",
            fragments(OP_TEXT, ascii_text(n), frag), full_only=not reduced, timeout=30)
        add(f"9.4.{i}", f"binary message of {n >> 20} MiB in frames of {frag} bytes",
            fragments(OP_BINARY, pattern(n, 94), frag), full_only=not reduced, timeout=30)
    add("9.5.1", "1 MiB binary message, written in chunks of 1-64 KiB",
        [binary(pattern(1 << 20, 95))], chop=(1024, 65536), timeout=10)
    add("9.5.2", "16 MiB binary message, written in chunks of 1-64 KiB",
        [binary(pattern(16 << 20, 96))], chop=(1024, 65536), full_only=True, timeout=30)

    # --- 10 auto-fragmentation ------------------------------------------------------------
    add("10.1.1", "64 KiB text message auto-fragmented into frames of 1300 bytes",
        fragments(OP_TEXT, ascii_text(65536), 1300))
    add("10.1.2", "64 KiB binary message auto-fragmented into frames of 1300 bytes, each "
                  "frame in its own write",
        fragments(OP_BINARY, pattern(65536, 102), 1300), chop=(1306, 1306))

    add_deflate_cases(add, full)
    return cases


def add_utf8_cases(add):
    hello = "Hello-µ@ßöäüàá-UTF-8!!".encode()
    kosme = "κόσμε".encode()
    add("6.1.1", "empty text message", [text(b"")])
    add("6.1.2", "text message of empty fragments", [Frame(OP_TEXT, b"", fin=False),
                                                     Frame(OP_CONTINUATION, b"", fin=False),
                                                     Frame(OP_CONTINUATION, b"")])
    add("6.2.1", "valid multi-byte UTF-8 in one frame", [text(hello)])
    add("6.2.2", "valid multi-byte UTF-8, one frame per byte (code points split across "
                 "frames)", fragments(OP_TEXT, hello, 1))
    add("6.2.3", "valid multi-byte UTF-8 in one frame written byte by byte (code points "
                 "split across TCP writes)", [text(hello)], chop=(1, 1))
    add("6.2.4", "κόσμε split in every code point's middle across frames",
        fragments(OP_TEXT, kosme, 3))
    add("6.2.5", "4-byte code points split 1+3, 2+2, 3+1 across frames",
        [Frame(OP_TEXT, b"\xf0", fin=False), Frame(OP_CONTINUATION, b"\x9f\x8c\x8d\xf0\x9f",
                                                    fin=False),
         Frame(OP_CONTINUATION, b"\x8c\x8d\xf0\x9f\x8c", fin=False),
         Frame(OP_CONTINUATION, b"\x8d")])
    # Markus Kuhn's UTF-8 decoder capability and stress test, rewritten as byte sequences.
    sequences = [
        ("first possible sequence of each length", "\x00 \u0080 \u0800 \U00010000".encode(), True),
        ("last possible sequence of each length", "\x7f \u07ff \uffff \U0010ffff".encode(), True),
        ("other boundary conditions", "\ud7ff \ue000 \ufffd \U0010ffff".encode("utf-8",
                                                                              "surrogatepass"),
         True),
        ("beyond U+10FFFF: F4 90 80 80", b"\xf4\x90\x80\x80", False),
        ("5-byte sequence F8 88 80 80 80", b"\xf8\x88\x80\x80\x80", False),
        ("6-byte sequence FC 84 80 80 80 80", b"\xfc\x84\x80\x80\x80\x80", False),
        ("lone continuation byte 80", b"ab\x80cd", False),
        ("lone continuation byte BF", b"\xbf", False),
        ("continuation bytes 80 BF 80 BF", b"\x80\xbf\x80\xbf", False),
        ("all 64 continuation bytes", bytes(range(0x80, 0xC0)), False),
        ("lonely start bytes C0-DF each followed by a space",
         b"".join(bytes([b, 0x20]) for b in range(0xC0, 0xE0)), False),
        ("lonely start bytes E0-EF each followed by a space",
         b"".join(bytes([b, 0x20]) for b in range(0xE0, 0xF0)), False),
        ("lonely start bytes F0-F7 each followed by a space",
         b"".join(bytes([b, 0x20]) for b in range(0xF0, 0xF8)), False),
        ("2-byte sequence with its last byte missing (C2) at the end", b"abc\xc2", False),
        ("3-byte sequence with its last byte missing (E2 82) at the end", b"abc\xe2\x82", False),
        ("4-byte sequence with its last byte missing (F0 9F 8C) at the end", b"\xf0\x9f\x8c",
         False),
        ("truncated 3-byte sequence followed by ASCII", b"\xe2\x82abc", False),
        ("concatenated truncated sequences", b"\xc2\xe2\x82\xf0\x9f\x8c", False),
        ("impossible byte FE", b"\xfe", False),
        ("impossible byte FF", b"\xff", False),
        ("impossible bytes FE FE FF FF", b"\xfe\xfe\xff\xff", False),
        ("overlong slash C0 AF", b"\xc0\xaf", False),
        ("overlong slash E0 80 AF", b"\xe0\x80\xaf", False),
        ("overlong slash F0 80 80 AF", b"\xf0\x80\x80\xaf", False),
        ("maximum overlong C1 BF", b"\xc1\xbf", False),
        ("maximum overlong E0 9F BF", b"\xe0\x9f\xbf", False),
        ("maximum overlong F0 8F BF BF", b"\xf0\x8f\xbf\xbf", False),
        ("overlong NUL C0 80", b"\xc0\x80", False),
        ("overlong NUL E0 80 80", b"\xe0\x80\x80", False),
        ("single surrogate U+D800 (ED A0 80)", b"\xed\xa0\x80", False),
        ("single surrogate U+DB7F (ED AD BF)", b"\xed\xad\xbf", False),
        ("single surrogate U+DFFF (ED BF BF)", b"\xed\xbf\xbf", False),
        ("surrogate pair U+D800 U+DC00", b"\xed\xa0\x80\xed\xb0\x80", False),
        ("surrogate pair U+DBFF U+DFFF", b"\xed\xaf\xbf\xed\xbf\xbf", False),
        ("noncharacters U+FFFE U+FFFF (valid UTF-8)", b"\xef\xbf\xbe\xef\xbf\xbf", True),
        ("noncharacters U+FDD0 U+10FFFE (valid UTF-8)", b"\xef\xb7\x90\xf4\x8f\xbf\xbe", True),
        ("κόσμε followed by a surrogate", kosme + b"\xed\xa0\x80edited", False),
    ]
    for i, (what, data, valid) in enumerate(sequences, 1):
        violates = () if valid else ("invalid_utf8",)
        add(f"6.3.{i}", f"{what}: one frame", [text(data)], violates=violates)
        add(f"6.4.{i}", f"{what}: one frame per byte", fragments(OP_TEXT, data, 1)
            if data else [text(b"")], violates=violates)
    add("6.5.1", "invalid byte in the first fragment, then more valid fragments",
        [Frame(OP_TEXT, kosme + b"\xed\xa0\x80", fin=False),
         Frame(OP_CONTINUATION, b"edited", fin=False), Frame(OP_CONTINUATION, b"!")],
        violates=("invalid_utf8",))
    add("6.5.2", "invalid sequence split across two fragments",
        [Frame(OP_TEXT, kosme + b"\xed", fin=False), Frame(OP_CONTINUATION, b"\xa0\x80edited")],
        violates=("invalid_utf8",))
    add("6.5.3", "invalid text in one frame written byte by byte",
        [text(kosme + b"\xed\xa0\x80edited")], chop=(1, 1), violates=("invalid_utf8",))


def add_deflate_cases(add, full):
    count = 1000 if full else 50
    sizes = [16, 64, 256, 1024, 4096, 16384, 65536, 131072]
    reduced_sizes = {16, 1024, 16384}
    for i, n in enumerate(sizes, 1):
        add(f"12.1.{i}", f"{count} compressible text messages of {n} bytes",
            [Message(OP_TEXT, compressible(n, k)) for k in range(count)],
            deflate={}, full_only=n not in reduced_sizes, timeout=60 + count * n / 1e6)
        add(f"12.2.{i}", f"{count} random binary messages of {n} bytes",
            [Message(OP_BINARY, pattern(n, 1200 + k)) for k in range(count)],
            deflate={}, full_only=n not in reduced_sizes, timeout=60 + count * n / 1e6)
    add("12.3.1", f"{count} compressible messages of 4 KiB, each in 4 fragments",
        [Message(OP_TEXT, compressible(4096, k), fragments=4) for k in range(count)], deflate={})

    def mixed(k):
        n = [16, 300, 2000, 9000][k % 4]
        return Message(OP_TEXT if k % 2 else OP_BINARY, compressible(n, k))

    params = [("client_no_context_takeover", {"client_no_context_takeover": True}),
              ("server_no_context_takeover", {"server_no_context_takeover": True}),
              ("client_no_context_takeover and server_no_context_takeover",
               {"client_no_context_takeover": True, "server_no_context_takeover": True})]
    for bits in range(9, 16):
        params.append((f"client_max_window_bits={bits}", {"client_max_window_bits": bits}))
    for bits in range(9, 16):
        params.append((f"server_max_window_bits={bits}", {"server_max_window_bits": bits}))
    params.append(("both windows 9 bits, no context takeover",
                   {"client_max_window_bits": 9, "server_max_window_bits": 9,
                    "client_no_context_takeover": True, "server_no_context_takeover": True}))
    for i, (what, offer) in enumerate(params, 1):
        add(f"13.{i}", f"{count} messages of 16 B-9 KB under {what}",
            [mixed(k) for k in range(count)], deflate=offer, timeout=60)

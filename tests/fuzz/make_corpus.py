#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets, tests/fuzz/corpus/NAME/. Regenerate with
    python3 tests/fuzz/make_corpus.py
Each file is one input of NAME_fuzz (layout at the top of NAME_fuzz.cpp). For session: an options
byte, max_payload, the chunk sizes, the c2s length, then the c2s and s2c bytes of one connection.
http_head and extensions seeds include the heads of tests/golden/*.case; proxy_request seeds are
CONNECT and absolute-form requests a forward proxy meets; inflate seeds include
the RFC 7692 §7.2.3 examples. Masks are fixed so the files are reproducible. Files named crash-*
are inputs that once found a bug: those listed below are rewritten, any others (saved from a
fuzzing run) are kept."""
import glob
import os
import struct
import zlib

here = os.path.dirname(os.path.abspath(__file__))
corpus_dir = os.path.join(here, "corpus")
golden_dir = os.path.join(here, "..", "golden")

# Options byte (session_fuzz.cpp).
AUTO, TEXT, HEX, BASE64, NONE = range(5)
FRAMES, MESSAGES, BOTH = 0 << 3, 1 << 3, 2 << 3
NO_HANDSHAKE = 0x20
NO_REDACT = 0x40
SMALL_LIMITS = 0x80
DEFAULT_MAX_PAYLOAD = 0xFF


def fuzz_input(c2s, s2c, options=0, max_payload=DEFAULT_MAX_PAYLOAD, chunks=()):
    assert len(chunks) <= 16 and all(1 <= c <= 256 for c in chunks)
    assert len(c2s) <= 0xFFFF
    head = bytes([options, max_payload, len(chunks)]) + bytes(c - 1 for c in chunks)
    return head + struct.pack("<H", len(c2s)) + c2s + s2c


def frame(opcode, payload, fin=True, mask=None, rsv=0, length_bytes=None):
    """length_bytes forces the length encoding (0, 2 or 8 extra bytes), minimal or not."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if length_bytes is None:
        length_bytes = 0 if n < 126 else 2 if n < 65536 else 8
    if length_bytes == 0:
        head = struct.pack("!BB", b0, m | n)
    elif length_bytes == 2:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


M = [bytes.fromhex(h) for h in ("37fa213d", "0a1b2c3d", "deadbeef", "01020304")]


def masked(opcode, payload, i=0, **kw):
    return frame(opcode, payload, mask=M[i % len(M)], **kw)


def request(extra=b"", target=b"/chat"):
    return (
        b"GET " + target + b" HTTP/1.1\r\n"
        b"Host: example.test\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n" + extra + b"\r\n"
    )


def response(extra=b"", status=b"101 Switching Protocols"):
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" + extra + b"\r\n"
    )


def deflate(data):
    """RFC 7692 §7.2.1: raw deflate, sync flush, the trailing 00 00 ff ff removed."""
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


close_payload = struct.pack("!H", 1000) + b"bye"

seeds = {
    # The ordinary case: text, binary, close, both ways; whole, then one byte at a time.
    "chat": fuzz_input(
        request(b"Sec-WebSocket-Protocol: chat\r\nAuthorization: Bearer s3cr3t\r\n")
        + masked(1, b"Hello", 0) + masked(2, bytes(range(8)), 1) + masked(8, close_payload, 2),
        response(b"Sec-WebSocket-Protocol: chat\r\n")
        + frame(1, "héllo wörld ✓".encode()) + frame(8, close_payload)),
    "chat-chunks-3-7": fuzz_input(
        request() + masked(1, b"Hello", 0) + masked(1, "✓✓✓".encode(), 1),
        response() + frame(1, "✓ split across chunks".encode()),
        options=BOTH, chunks=(3, 7)),
    # A fragmented message with a ping between its frames (RFC 6455 §5.4).
    "fragmented-ping": fuzz_input(
        request() + masked(1, b"frag-", 0, fin=False) + masked(9, b"are you there?", 1)
        + masked(0, b"men", 2, fin=False) + masked(0, b"ted", 3),
        response() + frame(10, b"are you there?") + frame(2, b"\x00\x01", fin=False)
        + frame(0, b"\x02"),
        options=BOTH, chunks=(2, 5, 11)),
    # permessage-deflate: RSV1 on the first frame, a compressed message in two frames.
    "deflate": fuzz_input(
        request(b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
        + masked(1, deflate(b"Hello Hello Hello"), 0, rsv=4),
        response(b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover;"
                 b" client_max_window_bits=10\r\n")
        + frame(1, deflate(b"compressed reply")[:4], fin=False, rsv=4)
        + frame(0, deflate(b"compressed reply")[4:]),
        options=BOTH, chunks=(1, 4)),
    # A small compressed frame that inflates past the (small) message cap.
    "deflate-bomb": fuzz_input(
        request(b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
        + masked(2, deflate(bytes(100000)), 0, rsv=4),
        response(b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
        + frame(1, deflate(b"ab" * 5000), rsv=4),
        options=SMALL_LIMITS | BOTH, max_payload=32, chunks=(5, 64)),
    "deflate-bad-params": fuzz_input(
        request(b"Sec-WebSocket-Extensions: permessage-deflate\r\n") + masked(1, b"x", 0, rsv=4),
        response(b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7\r\n")
        + frame(1, b"y", rsv=4)),
    "unknown-extension-rsv": fuzz_input(
        request(b"Sec-WebSocket-Extensions: x-foo\r\n") + masked(1, b"a", 0, rsv=2),
        response(b"Sec-WebSocket-Extensions: x-foo; bar=\"1\"\r\n") + frame(2, b"b", rsv=7)),
    # UTF-8: invalid bytes, a character split across fragments, an overlong form, a surrogate.
    "bad-utf8": fuzz_input(
        request() + masked(1, b"\xff\xfe", 0) + masked(1, b"\xe2\x9c", 1, fin=False)
        + masked(0, b"\x93", 2) + masked(1, b"\xc0\xaf", 3),
        response() + frame(1, b"\xed\xa0\x80") + frame(8, struct.pack("!H", 1000) + b"\xff"),
        options=TEXT, chunks=(1,)),
    "bad-utf8-messages-hex": fuzz_input(
        request() + masked(1, b"ok\xf4\x90\x80\x80", 0),
        response() + frame(1, b"\xe2\x82", fin=False),
        options=MESSAGES | HEX),
    # Lengths: 16- and 64-bit, non-minimal, the top bit set, one that outruns the stream.
    "lengths": fuzz_input(
        request() + masked(2, bytes(200), 0) + masked(2, b"abc", 1, length_bytes=2)
        + masked(2, b"abcd", 2, length_bytes=8),
        response() + frame(2, bytes(300), length_bytes=8),
        options=BASE64, max_payload=16, chunks=(9, 1, 2)),
    "length-64-bit-huge": fuzz_input(
        request() + b"\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff" + M[0] + b"only a little",
        response() + b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01" + b"top bit set"),
    # Reserved opcodes, long and fragmented control frames, continuations out of place.
    "reserved-opcodes": fuzz_input(
        request() + masked(3, b"r", 0) + masked(11, b"", 1) + masked(9, bytes(126), 2)
        + masked(8, b"", 3, fin=False),
        response() + frame(0, b"lonely") + frame(1, b"a", fin=False) + frame(1, b"b")
        + frame(15, b"z")),
    # Masking in the wrong direction.
    "mask-direction": fuzz_input(
        request() + frame(1, b"unmasked"),
        response() + masked(1, b"masked", 1)),
    # Close frames: one-byte payload, a code that may not be sent, frames after close.
    "close-codes": fuzz_input(
        request() + masked(8, b"\x03", 0) + masked(1, b"after", 1),
        response() + frame(8, struct.pack("!H", 1005)) + frame(8, struct.pack("!H", 4999))
        + frame(9, b""),
        options=BOTH | HEX, chunks=(1, 2, 3)),
    "stream-ends-mid-frame": fuzz_input(
        request() + masked(1, b"cut here", 0)[:7],
        response() + frame(1, b"part", fin=False) + b"\x80"),
    # No handshake: both streams start at the first frame.
    "no-handshake": fuzz_input(
        masked(1, b"hi", 0) + masked(2, b"\x00", 1) + masked(8, close_payload, 2),
        frame(1, b"hello") + frame(8, close_payload),
        options=NO_HANDSHAKE | BOTH, chunks=(1,)),
    "no-handshake-truncated": fuzz_input(
        masked(1, b"hello", 0), frame(2, bytes(100)),
        options=NO_HANDSHAKE | TEXT, max_payload=0),
    # HTTP before the upgrade: a refused upgrade with a body, then one that succeeds.
    "refused-then-upgrade": fuzz_input(
        request() + request(target=b"/again") + masked(1, b"second try", 0),
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nnope!" + response()
        + frame(1, b"welcome"),
        chunks=(13, 1)),
    "continue-then-101": fuzz_input(
        request() + masked(1, b"early", 0),
        b"HTTP/1.1 100 Continue\r\n\r\n" + response() + frame(1, b"late")),
    "pipelined-http": fuzz_input(
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
        + b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
        + b"HTTP/1.1 204 No Content\r\n\r\n"
        + b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
        chunks=(4,)),
    "chunked-response": fuzz_input(
        b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "switch-not-websocket": fuzz_input(
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n\x81\x00",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n\x81\x00"),
    # Malformed and oversized heads; small limits make the bounds reachable.
    "malformed-head": fuzz_input(
        b"GET /\x00 HTTP/1.1\r\nHost a\r\n\r\n",
        b"HTTP/1.1 abc\r\n\r\n"),
    "small-limits": fuzz_input(
        request(b"X-Long: " + b"a" * 200 + b"\r\n"),
        response(), options=SMALL_LIMITS),
    # With no response, the client's frames are held waiting for it, past the small limit.
    "pending-overflow": fuzz_input(
        request() + masked(2, bytes(100), 0), b"",
        options=SMALL_LIMITS | NO_REDACT, chunks=(16,)),
    "cookies-unredacted": fuzz_input(
        request(b"Cookie: a=b\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n"),
        response(b"Set-Cookie: s=1\r\n"),
        options=NO_REDACT | NONE),
    "empty": b"",
    # Found by the fuzzer: this DEFLATE data inflates to f7 48 10, then fails ("invalid distance
    # too far back"). Fed whole, zlib produces the three bytes and the error in one call; fed a
    # byte at a time, the bytes come out in calls that succeed. The records must not depend on
    # which.
    "crash-inflate-output-before-corrupt-data": fuzz_input(
        request(b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
        + frame(1, bytes.fromhex("faee2100379b70395cbd5b"), mask=b"\0\0\0\0", rsv=4),
        response(b"Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        chunks=(1,)),
}


# --- golden cases: their heads seed the parsers' corpora ------------------------------------

def golden_streams():
    """{case name: (c2s bytes, s2c bytes)} as tests/unit/test_golden.cpp reads them: "| text"
    is text + CRLF, other lines hex, up to the expect: section."""
    streams = {}
    for path in sorted(glob.glob(os.path.join(golden_dir, "*.case"))):
        parts = {"c2s": b"", "s2c": b""}
        section = None
        with open(path, encoding="utf-8") as f:
            for line in f.read().split("\n"):
                if line in ("c2s:", "s2c:"):
                    section = line[:-1]
                elif line == "expect:":
                    break
                elif section is None or not line or line.startswith("#"):
                    continue
                elif line.startswith("|"):
                    parts[section] += line[2:].encode() + b"\r\n"
                else:
                    parts[section] += bytes.fromhex("".join(line.split()))
        streams[os.path.basename(path)[:-len(".case")]] = (parts["c2s"], parts["s2c"])
    return streams


def heads_of(stream):
    """The stream up to the end of its last HTTP head (the frames after it left out)."""
    end = stream.rfind(b"\r\n\r\n")
    return stream[:end + 4] if end >= 0 else b""


# --- http_head_fuzz: [options][size limit][k][k chunk sizes] stream ---------------------------

RESPONSES = 0x01
SMALL_HEAD_LIMIT = 0x02


def head_input(stream, options=0, limit=0, chunks=()):
    assert len(chunks) <= 16 and all(1 <= c <= 256 for c in chunks)
    return bytes([options, limit, len(chunks)]) + bytes(c - 1 for c in chunks) + stream


http_head_seeds = {
    "request": head_input(request(b"Sec-WebSocket-Extensions: permessage-deflate\r\n")),
    "response": head_input(response(), RESPONSES, chunks=(3, 1, 7)),
    "refused-then-101": head_input(
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\n" + response(),
        RESPONSES, chunks=(2,)),
    "continue-then-101": head_input(b"HTTP/1.1 100 Continue\r\n\r\n" + response(), RESPONSES),
    "empty-lines-before": head_input(b"\r\n\n\r\n" + request(), chunks=(1, 2)),
    "bare-lf": head_input(b"GET / HTTP/1.1\nHost: a\nX: y\n\n", chunks=(5,)),
    # obs-fold (RFC 9112 §5.2), including a continuation line of nothing but whitespace.
    "obs-fold": head_input(b"GET / HTTP/1.1\r\nX-Long: one\r\n two\r\n\t three\r\n"
                           b"X-Empty:\r\n \r\n\r\n", chunks=(4, 9)),
    "duplicates-and-lists": head_input(
        b"GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nconnection: close\r\n"
        b"Upgrade: websocket\r\n\r\n"),
    "status-no-reason": head_input(b"HTTP/1.1 101\r\n\r\n", RESPONSES),
    "status-bad-code": head_input(b"HTTP/1.1 10x Nope\r\n\r\n", RESPONSES),
    "space-before-colon": head_input(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
    "no-colon": head_input(b"GET / HTTP/1.1\r\nHost a\r\n\r\n"),
    "fold-first": head_input(b"GET / HTTP/1.1\r\n folded: a\r\n\r\n"),
    "tls-client-hello": head_input(bytes.fromhex("16030100a5010000a103035f")),
    "not-http-response": head_input(b"SSH-2.0-OpenSSH\r\n\r\n", RESPONSES),
    "over-small-limit": head_input(request(), SMALL_HEAD_LIMIT, limit=64, chunks=(16,)),
    "exactly-small-limit": head_input(b"GET / HTTP/1.1\r\n\r\n", SMALL_HEAD_LIMIT, limit=18),
    "zero-limit": head_input(b"GET / HTTP/1.1\r\n\r\n", SMALL_HEAD_LIMIT, limit=0),
    "truncated": head_input(b"GET / HTTP/1.1\r\nHost: a\r"),
}
for case, (c2s, s2c) in golden_streams().items():
    if heads_of(c2s):
        http_head_seeds[f"golden-{case}-c2s"] = head_input(heads_of(c2s), chunks=(7, 1))
    if heads_of(s2c):
        http_head_seeds[f"golden-{case}-s2c"] = head_input(heads_of(s2c), RESPONSES, chunks=(2,))


# --- proxy_request_fuzz: [options][size limit][k][k chunk sizes] stream -----------------------

PROXY_SMALL_LIMIT = 0x01


def proxy_input(stream, options=0, limit=0, chunks=()):
    assert len(chunks) <= 16 and all(1 <= c <= 256 for c in chunks)
    return bytes([options, limit, len(chunks)]) + bytes(c - 1 for c in chunks) + stream


proxy_request_seeds = {
    "connect": proxy_input(b"CONNECT echo.example:443 HTTP/1.1\r\nHost: echo.example:443\r\n"
                           b"Proxy-Authorization: Basic dTpw\r\n\r\n\x16\x03\x01", chunks=(5, 1)),
    "connect-v6": proxy_input(b"CONNECT [::1]:9000 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n"),
    "connect-no-port": proxy_input(b"CONNECT example.org HTTP/1.1\r\n\r\n"),
    "connect-port-zero": proxy_input(b"CONNECT example.org:0 HTTP/1.1\r\n\r\n"),
    "connect-v6-unbracketed": proxy_input(b"CONNECT ::1:80 HTTP/1.1\r\n\r\n"),
    "absolute-upgrade": proxy_input(
        b"GET http://chat.example:8080/room?x=1#top HTTP/1.1\r\nHost: chat.example:8080\r\n"
        b"Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic\r\n  folded\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\nfirst bytes", chunks=(3, 11)),
    "absolute-ws-scheme": proxy_input(b"GET ws://a/ HTTP/1.1\nUpgrade: WebSocket\n\n"),
    "absolute-query-only": proxy_input(b"GET http://a?q HTTP/1.1\r\n\r\n"),
    "absolute-userinfo": proxy_input(b"GET http://u:p@a/ HTTP/1.1\r\n\r\n"),
    "https-target": proxy_input(b"GET https://a/ HTTP/1.1\r\n\r\n"),
    "origin-form": proxy_input(b"GET /chat HTTP/1.1\r\nHost: a\r\n\r\n"),
    "empty-lines-before": proxy_input(b"\r\n\nGET http://a/ HTTP/1.1\r\n\r\n", chunks=(1,)),
    "tls-client-hello": proxy_input(bytes.fromhex("16030100a5010000a103035f")),
    "over-small-limit": proxy_input(b"CONNECT a:1 HTTP/1.1\r\nX: yyyyyyyy\r\n\r\n",
                                    PROXY_SMALL_LIMIT, limit=24, chunks=(4,)),
}


# --- extensions_fuzz: the header value itself ---------------------------------------------------

extensions_seeds = {
    # RFC 7692 §7.1 parameters, each alone and together.
    "plain": b"permessage-deflate",
    "server-no-context-takeover": b"permessage-deflate; server_no_context_takeover",
    "client-no-context-takeover": b"permessage-deflate; client_no_context_takeover",
    "window-bits": b"permessage-deflate; server_max_window_bits=10; client_max_window_bits=8",
    "quoted-window-bits": b'permessage-deflate; client_max_window_bits="15"',
    "client-bits-no-value": b"permessage-deflate; client_max_window_bits",
    "all": b"permessage-deflate;server_no_context_takeover;client_no_context_takeover;"
           b"server_max_window_bits=15;client_max_window_bits=9",
    # RFC 7692 §5.2 example offers, answered as a server might.
    "upper-case": b"PerMessage-Deflate; Server_Max_Window_Bits=12",
    "whitespace": b" permessage-deflate ;\tclient_max_window_bits = 11 , ",
    # Problems: bad values, duplicates, unknown parameters, accepted twice.
    "bits-7": b"permessage-deflate; server_max_window_bits=7",
    "bits-16": b"permessage-deflate; server_max_window_bits=16",
    "bits-leading-zero": b"permessage-deflate; server_max_window_bits=09",
    "bits-empty": b"permessage-deflate; server_max_window_bits=",
    "takeover-with-value": b"permessage-deflate; server_no_context_takeover=1",
    "given-twice": b"permessage-deflate; client_max_window_bits=9; client_max_window_bits=9",
    "unknown-parameter": b"permessage-deflate; x_bits=3",
    "empty-parameter": b"permessage-deflate;;",
    "accepted-twice": b"permessage-deflate, permessage-deflate",
    # Other extensions, with quoted strings that hide separators.
    "unknown-extension": b'x-foo; bar="a,b;c=d", permessage-deflate',
    "escaped-quote": b'x-foo; bar="a\\",b", permessage-deflate; server_max_window_bits="9"',
    "unterminated-quote": b'permessage-deflate; client_max_window_bits="1',
    "empty": b"",
    "commas": b",, ,",
}
for case, (c2s, s2c) in golden_streams().items():
    for line in heads_of(s2c).split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"sec-websocket-extensions":
            extensions_seeds[f"golden-{case}"] = value.strip()


# --- inflate_fuzz: [options][cap lo][cap hi][k][k chunk sizes] then (u16 length, bytes)* -------

NO_CONTEXT_TAKEOVER = 0x01
COMPRESS = 0x02
SMALL_CAP = 0x40


def window(bits):
    """The compress-mode options bits for a sender's window of `bits` (9-15)."""
    return ((bits - 9) % 7) << 2


def inflate_input(messages, options=0, cap=65536, chunks=()):
    assert len(chunks) <= 16 and all(1 <= c <= 256 for c in chunks)
    assert 1 <= cap <= (256 if options & SMALL_CAP else 65536)
    head = bytes([options]) + struct.pack("<H", cap - 1) + bytes([len(chunks)])
    head += bytes(c - 1 for c in chunks)
    return head + b"".join(struct.pack("<H", len(m)) + m for m in messages)


hello = bytes.fromhex("f248cdc9c90700")
inflate_seeds = {
    # RFC 7692 §7.2.3: one message; context takeover; a stored block; BFINAL; two blocks.
    "rfc7692-7.2.3.1": inflate_input([hello], chunks=(3, 4)),
    "rfc7692-7.2.3.2-takeover": inflate_input([hello, bytes.fromhex("f200110000")], chunks=(1,)),
    "rfc7692-7.2.3.2-no-takeover": inflate_input([hello, hello], NO_CONTEXT_TAKEOVER),
    "rfc7692-7.2.3.3-stored": inflate_input([bytes.fromhex("000500faff48656c6c6f00")]),
    "rfc7692-7.2.3.4-bfinal": inflate_input([bytes.fromhex("f348cdc9c9070000"), hello],
                                            chunks=(2,)),
    "rfc7692-7.2.3.5-two-blocks": inflate_input([bytes.fromhex("f24805000000ffffcac9c90700")]),
    # The harness compresses these (COMPRESS): text, a run that compresses well, past the cap.
    "compress-chat": inflate_input([b"Hello", b"Hello again", "héllo ✓".encode()],
                                   COMPRESS | window(15), chunks=(1, 5)),
    "compress-no-takeover-bits-9": inflate_input([b"abc" * 50, b"abc" * 50],
                                                 COMPRESS | NO_CONTEXT_TAKEOVER | window(9)),
    "compress-past-cap": inflate_input([bytes(5000)], COMPRESS | SMALL_CAP, cap=100,
                                       chunks=(1, 2, 3)),
    "compress-at-cap": inflate_input([b"x" * 256], COMPRESS | SMALL_CAP, cap=256),
    # Empty messages: the first flush gives 00 00 ff ff, later ones nothing to flush (one 00).
    "compress-empty-messages": inflate_input([b"", b"", b"x", b""], COMPRESS),
    # Already compressed: a bomb past a small cap, corrupt data after good output.
    "bomb": inflate_input([deflate(bytes(60000))], SMALL_CAP, cap=200, chunks=(4, 1)),
    "bomb-one-shot": inflate_input([deflate(b"ab" * 30000)], cap=1000),
    "output-before-corrupt-data": inflate_input([bytes.fromhex("faee2100379b70395cbd5b")],
                                                chunks=(1,)),
    "empty-messages": inflate_input([b"", b"", hello]),
    "garbage": inflate_input([b"\xff" * 16]),
}


corpora = {
    "session": seeds,
    "http_head": http_head_seeds,
    "proxy_request": proxy_request_seeds,
    "extensions": extensions_seeds,
    "inflate": inflate_seeds,
}


def main():
    for target, target_seeds in corpora.items():
        out_dir = os.path.join(corpus_dir, target)
        os.makedirs(out_dir, exist_ok=True)
        for name in os.listdir(out_dir):
            if not name.startswith("crash-") or name in target_seeds:
                os.remove(os.path.join(out_dir, name))
        for name, data in target_seeds.items():
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Byte-exact and fault tests of `wssniff proxy` with raw socket peers.

    fault_cases.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Each case runs its own upstream and its own proxy (records in RECORDS_DIR/faults-CASE*.ndjson,
which the schema suite validates afterwards), prints what it measured, and exits 0 when every
check held, 1 at the first one that did not (with what was expected and what came).
"""

import argparse
import contextlib
import fcntl
import os
import random
import re
import resource
import select
import selectors
import socket
import statistics
import struct
import sys
import threading
import zlib
import time

# The harness sits beside this file; no __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (LOOPBACK, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING,  # noqa: E402
                     OP_PONG, OP_TEXT, RETAINED_KB_PER_PEAK_CONNECTION, RSS_SETTLE_KB,
                     CheckFailed, EchoUpstream, Proxy, RssMonitor, Side, Upstream, accept_for,
                     apply_mask, brief, check, check_errors, check_fields, check_frames,
                     check_same_bytes, close_payload, connect, exchange, frame, frame_header, log,
                     mask_key, of_type, one_close, parse_frame, parse_ndjson, rewrite_host,
                     run_within_budget, sample_for_schema, sha256, take_upgrade_response,
                     unused_port, upgrade_request, upgrade_response, websocket_key, without_ts)

CASES = {}

# The proxy's resident memory must stay under this whatever the traffic: it keeps one buffer
# per direction and a bounded record queue. WSSNIFF_RSS_FACTOR (set by CMake, 1 in the plain
# build) scales it for a sanitizer's own memory: cmake/sanitizers.cmake.
RSS_LIMIT_KB = int(64 * 1024 * float(os.environ.get("WSSNIFF_RSS_FACTOR", "1")))


def case(function):
    CASES[function.__name__] = function
    return function


class Context:
    def __init__(self, wssniff, records_dir, name):
        self.wssniff = wssniff
        self.records_dir = records_dir
        self.name = name
        self.stack = contextlib.ExitStack()

    def output(self, suffix=""):
        path = os.path.join(self.records_dir, f"faults-{self.name}{suffix}.ndjson")
        if os.path.exists(path):
            os.unlink(path)
        return path

    def proxy(self, upstream_port, output, args=(), open_files=None):
        proxy = Proxy(self.wssniff, upstream_port, output, args, open_files=open_files)
        self.stack.callback(proxy.stop)
        return proxy

    def track(self, thing):
        self.stack.callback(thing.close)
        return thing

    def upstream(self):
        return self.track(Upstream())


def upgrade(ctx, proxy, upstream, n, *, keep_host=False, name=""):
    """One client upgraded through the proxy; returns (client, server, bytes of the request
    as forwarded, bytes of the response)."""
    client = ctx.track(connect(proxy.port, f"client{name}"))
    key = websocket_key(n)
    request = upgrade_request(f"{LOOPBACK}:{proxy.port}", key)
    client.send(request)
    server = ctx.track(upstream.accept(f"upstream{name}"))
    forwarded = request if keep_host else rewrite_host(request, upstream.authority)
    server.expect(forwarded, what="the upgrade request")
    response = upgrade_response(key)
    server.send(response)
    client.expect(response, what="the 101 response")
    return client, server, forwarded, response


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


def header_list(head):
    """[[name, value], ...] in wire order, as handshake records give them."""
    fields = []
    for line in head.split(b"\r\n")[1:]:
        if not line:
            break
        name, _, value = line.partition(b":")
        fields.append([name.decode(), value.strip(b" \t").decode()])
    return fields


def check_close(records, conn, reason, *, bytes_c2s=None, bytes_s2c=None, frames_c2s=None,
                frames_s2c=None):
    close = one_close(records, conn)
    expected = {"reason": reason}
    for field, value in (("bytes_c2s", bytes_c2s), ("bytes_s2c", bytes_s2c),
                         ("frames_c2s", frames_c2s), ("frames_s2c", frames_s2c)):
        if value is not None:
            expected[field] = value
    check_fields(close, expected, f"conn {conn} close record")
    return close


def check_unreachable(records, saying=""):
    """Connection 1 never reached the upstream: one fatal upstream_unreachable error whose
    message says `saying`, no handshake or frame record, and a close record that says so."""
    check_only_conns(records, [1])
    errors = of_type(records, "error", 1)
    check([e.get("code") for e in errors] == ["upstream_unreachable"],
          f"error records {[brief(e) for e in errors]}, expected one upstream_unreachable")
    check(errors[0].get("fatal") is True and saying in errors[0].get("message", ""),
          f"upstream_unreachable is not fatal or does not say {saying!r}: {brief(errors[0])}")
    check(not of_type(records, "handshake", 1), "a handshake record without an upstream")
    check(not of_type(records, "frame"), "frame records although no upstream was reached")
    check_close(records, 1, "upstream_unreachable", frames_c2s=0, frames_s2c=0)


def check_only_conns(records, conns):
    seen = {r.get("conn") for r in records}
    check(seen <= set(conns), f"records of connections {sorted(seen - set(conns))} that the "
                              f"test never opened")


# --- 1 and 2: byte-exact exchanges ----------------------------------------------------------

def send_step(peer, raw, one_byte):
    """One write, or one byte per write. Of a long frame only the header and the first payload
    bytes go out a byte at a time (70 K one-byte segments would take the kernel tens of
    seconds); the header is what must arrive in pieces."""
    if one_byte and len(raw) > 1024:
        peer.send(raw[:32], one_byte=True)
        peer.send(raw[32:])
    else:
        peer.send(raw, one_byte)


def scripted_exchange(ctx, upstream, output, *, keep_host=False, one_byte=False):
    """Heads pipelined with frames, valid and invalid frames both ways, then the close
    handshake with the server closing first. Every step waits until the other side has
    received all of it, so the records' order does not depend on timing."""
    proxy = ctx.proxy(upstream.port, output, ["--host-header", "keep"] if keep_host else [])
    client = ctx.track(connect(proxy.port, "client"))
    c2s, s2c = Side("c2s"), Side("s2c")
    key = websocket_key(1)
    # The client names the proxy by a name of another length than the upstream's authority,
    # and spells the field its own way: the rewrite must change the value alone.
    request = upgrade_request("wssniff.example.test:8080", key, target="/chat?room=7",
                              extra=[("Origin", "http://example.test"),
                                     ("Sec-WebSocket-Protocol", "chat, superchat"),
                                     ("User-Agent", "wssniff-faults/1")])
    request = request.replace(b"\r\nHost: ", b"\r\nhost:  ", 1)
    forwarded_request = request if keep_host else rewrite_host(request, upstream.authority)
    payload_size = 70 * 1024  # 64-bit length

    # The head and two frames in one write: wssniff holds the frames back from decoding until
    # the response says the upgrade happened.
    step = [c2s.frame(OP_TEXT, b"hello"),
            c2s.frame(OP_BINARY, bytes(range(256)) + b"\x00" * 44)]
    client.send(request + b"".join(step), one_byte)
    server = ctx.track(upstream.accept())
    server.expect(forwarded_request + b"".join(step),
                  what="the upgrade request and the frames pipelined with it")

    response = upgrade_response(key, extra=[("Sec-WebSocket-Protocol", "chat")])
    step = [s2c.frame(OP_TEXT, "welcome \u2713".encode()),
            s2c.frame(OP_PING, b"are you there")]
    server.send(response + b"".join(step), one_byte)
    client.expect(response + b"".join(step),
                  what="the 101 response and the frames pipelined with it")

    rng = random.Random(1)
    step = [c2s.frame(OP_PONG, b"are you there"),
            # RFC 6455 §5.2: opcodes 3-7 are reserved
            c2s.frame(0x3, b"reserved", errors=[("reserved_opcode", 0)]),
            # 0xFF never appears in UTF-8; header 2 + mask 4, then "ab"
            c2s.frame(OP_TEXT, b"ab\xffcd", errors=[("invalid_utf8", 6 + 2)]),
            c2s.frame(OP_BINARY, rng.randbytes(payload_size)),
            c2s.frame(OP_TEXT, b"frag", fin=False),
            c2s.frame(OP_CONTINUATION, b"ment \xe2\x9c\x93", text=True)]
    for raw in step:
        send_step(client, raw, one_byte)
    server.expect(b"".join(step), timeout=10, what="the client's second batch of frames")

    step = [s2c.frame(0xB, b"x", errors=[("reserved_opcode", 0)]),
            s2c.frame(OP_TEXT, b"\xfe!", errors=[("invalid_utf8", 2)]),
            s2c.frame(OP_BINARY, rng.randbytes(payload_size))]
    for raw in step:
        send_step(server, raw, one_byte)
    client.expect(b"".join(step), timeout=10, what="the server's second batch of frames")

    step = c2s.frame(OP_CLOSE, close_payload(1000, b"bye"))
    client.send(step, one_byte)
    server.expect(step, what="the client's close frame")
    step = s2c.frame(OP_CLOSE, close_payload(1000, b"bye"))
    server.send(step, one_byte)
    server.shutdown_write()
    client.expect(step, what="the server's close frame")
    client.expect_eof(what="EOF after the server's close")
    client.close()
    server.expect_eof(what="EOF after the client's close")
    server.close()
    proxy.wait_idle()
    proxy.check_clean_exit()

    check_same_bytes(client.received, server.sent, "client received vs upstream sent")
    check_same_bytes(server.received, forwarded_request + client.sent[len(request):],
                     "upstream received vs client sent" +
                     ("" if keep_host else " (Host rewritten)"))
    if keep_host:
        check_same_bytes(server.received, client.sent, "upstream received vs client sent")
    log(f"bytes c2s {len(server.received)} sha256 {sha256(server.received)[:16]}, "
        f"s2c {len(client.received)} sha256 {sha256(client.received)[:16]}: identical")

    records = proxy.records()
    check_only_conns(records, [1])
    handshakes = of_type(records, "handshake", 1)
    check(len(handshakes) == 1, f"{len(handshakes)} handshake records, expected 1")
    check_fields(handshakes[0], {
        "method": "GET", "target": "/chat?room=7", "status": 101,
        "client": f"{LOOPBACK}:{client.sock_port}",
        "upstream": upstream.authority, "subprotocol": "chat",
        "request_headers": header_list(forwarded_request),
        "response_headers": header_list(response)}, "handshake record")
    check(records[0] is handshakes[0], f"the first record is not the handshake: {brief(records[0])}")
    check_frames(records, 1, c2s)
    check_frames(records, 1, s2c)
    check_errors(records, 1, c2s.errors + s2c.errors)
    check_close(records, 1, "server_closed", bytes_c2s=len(server.received),
                bytes_s2c=len(client.received), frames_c2s=len(c2s.frames),
                frames_s2c=len(s2c.frames))
    return records, client


@case
def byte_exact_pipelined(ctx):
    records, client = scripted_exchange(ctx, ctx.upstream(), ctx.output())
    host = [v for n, v in of_type(records, "handshake")[0]["request_headers"] if n == "Host"]
    log(f"{len(records)} records; Host as forwarded: {host}")


@case
def byte_exact_pipelined_keep(ctx):
    records, client = scripted_exchange(ctx, ctx.upstream(), ctx.output(), keep_host=True)
    log(f"{len(records)} records")


def comparable(records):
    """Records without what differs between two runs: timestamps and the client's port."""
    out = []
    for r in records:
        r = without_ts(r)
        if r.get("type") == "handshake":
            r["client"] = "<client>"
        out.append(r)
    return out


@case
def one_byte_writes(ctx):
    # One upstream for both runs, so Host and `upstream` are the same in both.
    upstream = ctx.upstream()
    started = time.monotonic()
    bulk, _ = scripted_exchange(ctx, upstream, ctx.output("-bulk"))
    bulk_took = time.monotonic() - started
    started = time.monotonic()
    trickled, _ = scripted_exchange(ctx, upstream, ctx.output(), one_byte=True)
    log(f"bulk run {bulk_took:.2f} s, one-byte run {time.monotonic() - started:.2f} s")
    a, b = comparable(bulk), comparable(trickled)
    for i, (x, y) in enumerate(zip(a, b)):
        check(x == y, f"record {i} differs:\n  bulk:     {x}\n  one-byte: {y}")
    check(len(a) == len(b), f"bulk run wrote {len(a)} records, one-byte run {len(b)}")
    log(f"{len(a)} records identical (ts and client port aside)")


# --- 3: half-close --------------------------------------------------------------------------

def half_close(ctx, closing):
    """`closing` ("client" or "server") sends its last frames and shuts down its writing; the
    other side must see EOF at once and can still send 300 KB back through the proxy."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output())
    client, server, request, response = upgrade(ctx, proxy, upstream, 1)
    c2s, s2c = Side("c2s"), Side("s2c")
    if closing == "client":
        closer, closer_side, other_peer, other_side = client, c2s, server, s2c
        last, code, reply_reason, seed = b"last words", 1000, b"done too", 3
        closer_reason = b"done"
    else:
        closer, closer_side, other_peer, other_side = server, s2c, client, c2s
        last, code, reply_reason, seed = b"going away", 1001, b"bye too", 4
        closer_reason = b"bye"
    other = "server" if closing == "client" else "client"
    sent = closer_side.frame(OP_TEXT, last) + closer_side.frame(OP_CLOSE,
                                                                close_payload(code, closer_reason))
    closer.send(sent)
    closer.shutdown_write()
    other_peer.expect(sent, what=f"the {closing}'s frames before its half-close")
    started = time.monotonic()
    other_peer.expect_eof(timeout=2, what=f"EOF passed on from the {closing}'s half-close")
    log(f"{other} saw the {closing}'s FIN after {time.monotonic() - started:.3f} s")

    rng = random.Random(seed)
    reply = (other_side.frame(OP_TEXT, b"still here") +
             other_side.frame(OP_BINARY, rng.randbytes(300 * 1024)) +
             other_side.frame(OP_CLOSE, close_payload(code, reply_reason)))
    join = in_background(other_peer.send, reply)
    closer.expect(reply, timeout=10, what=f"the {other}'s frames after the {closing}'s half-close")
    join()
    other_peer.close()
    closer.expect_eof(what=f"EOF after the {other} closed")
    closer.close()
    proxy.wait_idle()
    proxy.check_clean_exit()

    check_same_bytes(client.received, server.sent, "client received vs upstream sent")
    check_same_bytes(server.received, request + client.sent[len(request):],
                     "upstream received vs client sent")
    records = proxy.records()
    check_only_conns(records, [1])
    check_frames(records, 1, c2s)
    check_frames(records, 1, s2c)
    check_errors(records, 1, [])
    check_close(records, 1, f"{closing}_closed", bytes_c2s=len(server.received),
                bytes_s2c=len(client.received),
                frames_c2s=2 if closing == "client" else 3,
                frames_s2c=3 if closing == "client" else 2)


@case
def half_close_client(ctx):
    half_close(ctx, "client")


@case
def half_close_server(ctx):
    half_close(ctx, "server")


# --- 4: reset in the middle of a frame ------------------------------------------------------

def reset_mid_frame(ctx, resetting):
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output())
    client, server, request, response = upgrade(ctx, proxy, upstream, 1)
    sides = {"c2s": Side("c2s"), "s2c": Side("s2c")}
    direction = "c2s" if resetting == "client" else "s2c"
    side = sides[direction]
    sender, receiver = (client, server) if resetting == "client" else (server, client)
    rng = random.Random(5)
    partial = (side.frame(OP_TEXT, b"complete") +
               side.frame(OP_BINARY, rng.randbytes(1000), cut=500))
    sender.send(partial)
    # Only once the half frame has been forwarded is it certain to be in the records.
    receiver.expect(partial, what="the complete frame and the first half of the next")
    sender.reset()
    how, took = receiver.wait_closed(timeout=2)
    log(f"the {'upstream' if resetting == 'client' else 'client'} saw {how} {took:.3f} s after "
        f"the {resetting}'s RST")
    receiver.close()
    proxy.wait_idle()
    proxy.check_clean_exit()

    check_same_bytes(server.received, request + client.sent[len(request):],
                     "upstream received vs client sent")
    check_same_bytes(client.received, server.sent, "client received vs upstream sent")
    records = proxy.records()
    check_only_conns(records, [1])
    check_frames(records, 1, sides["c2s"])
    check_frames(records, 1, sides["s2c"])
    check_errors(records, 1, side.errors)
    check_close(records, 1, f"{resetting}_reset", bytes_c2s=len(server.received),
                bytes_s2c=len(client.received), frames_c2s=len(sides["c2s"].frames),
                frames_s2c=len(sides["s2c"].frames))


@case
def reset_client_mid_frame(ctx):
    reset_mid_frame(ctx, "client")


@case
def reset_server_mid_frame(ctx):
    reset_mid_frame(ctx, "server")


# --- 4b: a reset side's last bytes, still unread when the proxy's write to it fails ---------

SIOCOUTQ = 0x5411  # linux/sockios.h: bytes in a socket's send queue not yet acknowledged


def fill_path(peer, side, limit=64 << 20, quiet=0.5):
    """Sends frames of `side` until nothing more is taken for `quiet` seconds: the path to a
    peer that does not read is full, up to this sender's own send queue."""
    peer.sock.setblocking(False)
    pending = b""
    last_progress = time.monotonic()
    while time.monotonic() - last_progress < quiet:
        check(peer.sent_count < limit, f"{peer.name}: {limit} bytes sent and the path to a peer "
                                       f"that does not read is still not full")
        if not pending:
            pending = side.frame(OP_BINARY, bytes([peer.sent_count % 251]) * 16384)
        try:
            n = peer.sock.send(pending)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        peer.note_sent(pending[:n])
        pending = pending[n:]
        last_progress = time.monotonic()


def unacknowledged(sock, timeout=3):
    """Bytes of `sock`'s send queue the other end has not acknowledged, once steady (a delayed
    ACK can trail the data)."""
    deadline = time.monotonic() + timeout
    before = None
    while True:
        now = struct.unpack("i", fcntl.ioctl(sock.fileno(), SIOCOUTQ, b"\0" * 4))[0]
        if now == before or time.monotonic() > deadline:
            return now
        before = now
        time.sleep(0.2)


def reset_with_unread_bytes(ctx, resetting):
    """`resetting` fills the path to the other side, which does not read, then resets. The proxy
    learns of the reset only when it writes the other side's next frame to it; the bytes that
    side had sent before its reset are still in the proxy's hands (its read buffer, its socket)
    and must all reach the other side before the reset is passed on."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output())
    client, server, request, response = upgrade(ctx, proxy, upstream, 1)
    if resetting == "server":
        resetter, other, flood, answer = server, client, Side("s2c"), Side("c2s")
    else:
        resetter, other, flood, answer = client, server, Side("c2s"), Side("s2c")
    for peer in (client, server):
        peer.start_phase(keep=True)
    fill_path(resetter, flood)
    # What the proxy's side of the connection took; the rest is in the resetter's send queue,
    # which its RST throws away.
    delivered = resetter.sent_count - unacknowledged(resetter.sock)
    log(f"the {resetting} sent {resetter.sent_count} bytes before the path filled; "
        f"{delivered} of them reached the proxy")
    resetter.reset()
    time.sleep(0.1)
    other.send(answer.frame(OP_PING, b"still there?"))
    time.sleep(0.3)  # the proxy's write of the ping to the reset side fails meanwhile
    how, took = other.wait_closed(timeout=10)
    got = bytes(other.pending)
    log(f"the other side read {len(got)} bytes, then {how} ({took:.3f} s)")
    check(len(got) == delivered, f"the other side received {len(got)} of the {delivered} bytes "
                                 f"the {resetting} had sent before its reset")
    check_same_bytes(got, resetter.sent[:delivered], f"received vs what the {resetting} sent")
    check(how == "reset", f"the {resetting}'s reset was passed on as {how}")
    other.close()
    proxy.wait_idle()
    proxy.check_clean_exit()

    records = proxy.records()
    check_only_conns(records, [1])
    # The ping met the reset side's socket already reset: none of it was forwarded.
    counts = ({"bytes_s2c": len(response) + delivered, "bytes_c2s": len(request)}
              if resetting == "server"
              else {"bytes_c2s": len(request) + delivered, "bytes_s2c": len(response)})
    check_close(records, 1, f"{resetting}_reset", **counts)


@case
def reset_with_unread_bytes_client(ctx):
    reset_with_unread_bytes(ctx, "client")


@case
def reset_with_unread_bytes_server(ctx):
    reset_with_unread_bytes(ctx, "server")


# --- 5, 6: the upstream is not there, or leaves at once -------------------------------------

@case
def upstream_down(ctx):
    # Bound but not listening: connecting to it is refused, and nothing else can take it.
    holder, port = unused_port()
    ctx.track(holder)
    proxy = ctx.proxy(port, ctx.output())
    client = ctx.track(connect(proxy.port, "client"))
    client.send(upgrade_request(f"{LOOPBACK}:{proxy.port}", websocket_key(1)))
    started = time.monotonic()
    head = client.read_head(timeout=10)
    log(f"response after {time.monotonic() - started:.3f} s: {head.splitlines()[0]!r}")
    check(head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"),
          f"expected an HTTP/1.1 502 Bad Gateway response, got {head[:200]!r}")
    length = re.search(rb"\r\ncontent-length:[ \t]*(\d+)\r\n", head, re.IGNORECASE)
    check(length, f"the 502 response has no Content-Length: {head!r}")
    how, _ = client.wait_closed(timeout=5)
    body = bytes(client.pending)
    check(how == "eof", f"the connection was reset after the 502 head ({len(body)} body bytes "
                        f"read): the client may lose the response")
    check(len(body) == int(length.group(1)),
          f"the 502 body has {len(body)} bytes, Content-Length says {int(length.group(1))}: "
          f"{body[:200]!r}")
    client.close()
    proxy.wait_idle()
    proxy.check_clean_exit()

    check_unreachable(proxy.records())


@case
def upstream_closes_after_101(ctx):
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output())
    client = ctx.track(connect(proxy.port, "client"))
    key = websocket_key(1)
    request = upgrade_request(f"{LOOPBACK}:{proxy.port}", key)
    client.send(request)
    server = ctx.track(upstream.accept())
    forwarded = rewrite_host(request, upstream.authority)
    server.expect(forwarded, what="the upgrade request")
    response = upgrade_response(key)
    server.send(response)
    server.close()
    client.expect(response, what="the 101 response")
    started = time.monotonic()
    client.expect_eof(timeout=2, what="EOF after the upstream closed")
    log(f"client saw EOF {time.monotonic() - started:.3f} s after the 101")
    client.close()
    proxy.wait_idle()
    proxy.check_clean_exit()

    records = proxy.records()
    check_only_conns(records, [1])
    handshakes = of_type(records, "handshake", 1)
    check(len(handshakes) == 1 and handshakes[0].get("status") == 101,
          f"expected one handshake record with status 101: {[brief(h) for h in handshakes]}")
    check_errors(records, 1, [])
    check_close(records, 1, "server_closed", bytes_c2s=len(forwarded),
                bytes_s2c=len(response), frames_c2s=0, frames_s2c=0)



# --- permessage-deflate bombs and corrupt streams through the proxy --------------------------

def raw_deflate(data):
    """A sender's compressor (RFC 7692 §7.2.1): raw DEFLATE, flushed, the 00 00 ff ff tail
    removed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    check(out.endswith(b"\x00\x00\xff\xff"), "sync flush ends in 00 00 ff ff")
    return out[:-4]


def deflate_upgrade(ctx, proxy, upstream):
    client = ctx.track(connect(proxy.port, "client"))
    key = websocket_key(1)
    extension = [("Sec-WebSocket-Extensions", "permessage-deflate")]
    request = upgrade_request(f"{LOOPBACK}:{proxy.port}", key, extra=extension)
    client.send(request)
    server = ctx.track(upstream.accept())
    forwarded = rewrite_host(request, upstream.authority)
    server.expect(forwarded, what="the upgrade request")
    response = upgrade_response(key, extra=extension)
    server.send(response)
    client.expect(response, what="the 101 response")
    return client, server, forwarded, response


@case
def deflate_bomb(ctx):
    """256 MiB of zeros in about 250 KiB of DEFLATE: the proxy forwards every compressed byte,
    stops inflating at --max-message with an error record, keeps its memory flat, and goes on
    recording frames."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output(), ["--max-message", "16MiB"])
    client, server, forwarded, response = deflate_upgrade(ctx, proxy, upstream)
    rss = RssMonitor(proxy)
    bomb = raw_deflate(bytes(256 * 1024 * 1024))
    log(f"bomb: {len(bomb)} compressed bytes")
    sent = frame(2, bomb, rsv=4) + frame(1, b"after the bomb")
    receive = in_background(client.expect, sent, 30, "the bomb and the frame after it")
    server.send(sent)
    receive()
    client.send(frame(8, close_payload(1000), mask=mask_key(1)))
    server.close()
    client.close()
    proxy.wait_idle()
    rss.stop()
    log(f"proxy RSS peak {rss.peak_kb} kB over {rss.samples} samples")
    check(rss.peak_kb < RSS_LIMIT_KB, f"proxy RSS peaked at {rss.peak_kb} kB")
    proxy.check_clean_exit()

    records = proxy.records()
    check_errors(records, 1, [{"dir": "s2c", "offset": 0, "code": "inflate_limit"}])
    frames = of_type(records, "frame", 1, "s2c")
    check(len(frames) == 2, f"two server frames: {[brief(f) for f in frames]}")
    check(frames[0].get("len") == len(bomb) and frames[0].get("compressed") is True,
          f"the bomb's record: {brief(frames[0])}")
    check(frames[0].get("data_len", 0) <= 16 * 1024 * 1024, f"inflated past the cap: {brief(frames[0])}")
    check(frames[1].get("text") == "after the bomb", f"the frame after: {brief(frames[1])}")
    close = one_close(records, 1)
    check(close.get("bytes_s2c") == len(response) + len(sent) and
          close.get("bytes_c2s") == len(forwarded) + 8, f"byte counts: {brief(close)}")


@case
def deflate_corrupt_stream(ctx):
    """A compressed message that does not inflate, then more: bytes forwarded unchanged, one
    inflate_failed error, frame headers still recorded."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output())
    client, server, forwarded, response = deflate_upgrade(ctx, proxy, upstream)
    good = raw_deflate(b"hello")
    sent = (frame(1, b"\xff\xff\xff\xff\xff\xff", rsv=4) + frame(1, good, rsv=4) +
            frame(2, b"\x01\x02"))
    server.send(sent)
    client.expect(sent, what="the corrupt stream, unchanged")
    client.close()
    server.close()
    proxy.wait_idle()
    proxy.check_clean_exit()
    records = proxy.records()
    check_errors(records, 1, [{"dir": "s2c", "offset": 0, "code": "inflate_failed"}])
    frames = of_type(records, "frame", 1, "s2c")
    check([f.get("len") for f in frames] == [6, len(good), 2], f"frames: {[brief(f) for f in frames]}")
    check(frames[1].get("hex") == good.hex(), f"after the failure, payloads as sent: {brief(frames[1])}")


@case
def fd_exhaustion(ctx):
    """Out of file descriptors, the acceptor backs off instead of spinning or crashing, and
    accepts again once descriptors are free."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output(), open_files=48)
    # The upstream accepts whatever reaches it during the flood and holds it open, so each
    # connection keeps its two descriptors until the test lets go.
    stop_draining = threading.Event()
    holding = threading.Event()
    holding.set()
    held = []

    def drain():
        upstream.listener.settimeout(0.1)
        while not stop_draining.is_set():
            try:
                sock, _ = upstream.listener.accept()
            except (socket.timeout, OSError):
                continue
            if holding.is_set():
                held.append(sock)
            else:
                sock.close()  # the flood is over: whatever still comes through is let go

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    clients = []
    try:
        for i in range(80):  # far more than 48 descriptors allow (two per connection)
            clients.append(socket.create_connection((LOOPBACK, proxy.port), timeout=5))
        time.sleep(0.5)
        before = proxy.cpu_seconds()
        time.sleep(2.0)
        spent = proxy.cpu_seconds() - before
        log(f"proxy CPU while out of descriptors: {spent:.3f} s in 2 s")
        check(proxy.alive(), "the proxy died when it ran out of descriptors")
        check(spent < 0.5, f"the acceptor spins: {spent:.2f} s of CPU in 2 s")
        # Past the limit, a connection that cannot get a socket to the upstream is answered,
        # not dropped: a 502 naming the cause (and, should accept() itself fail, the acceptor
        # backs off and warns instead of spinning).
        refused = 0
        waiting = selectors.DefaultSelector()
        for c in clients:
            try:
                c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                waiting.register(c, selectors.EVENT_READ)
            except OSError:
                pass
        answers_until = time.monotonic() + 1.0
        while waiting.get_map() and time.monotonic() < answers_until:
            for key, _ in waiting.select(timeout=0.1):
                waiting.unregister(key.fileobj)
                try:
                    answer = key.fileobj.recv(4096)
                except OSError:
                    continue
                if answer.startswith(b"HTTP/1.1 502 Bad Gateway"):
                    check(b"Too many open files" in answer, f"the 502 names the cause: {answer!r}")
                    refused += 1
        waiting.close()
        log(f"{len(held)} connections reached the upstream, {refused} clients got a 502")
        check(refused > 0 or any("cannot accept" in line for line in proxy.stderr_lines),
              "nothing showed the descriptor limit: no 502, no warning")
        check(len(held) + refused <= len(clients), "more answers than clients")
        accept_failed = any("cannot accept" in line for line in proxy.stderr_lines)
        log(f"accept() failed and the acceptor backed off: {accept_failed}")
    finally:
        for c in clients:
            c.close()
        holding.clear()
        for sock in held:
            sock.close()
    log(f"the upstream saw {len(held)} connections during the flood")
    # Clients the acceptor left waiting in the backlog are accepted now that descriptors are
    # free (their requests reach the upstream, which closes them): the recovery below must not
    # meet them.
    proxy.wait_accepted(timeout=20, what="the flood's clients left in the backlog")
    proxy.wait_idle(timeout=20, what="the flood's connections torn down")
    stop_draining.set()
    drainer.join(5)
    # Descriptors are free again: a client gets through end to end.
    client, server, forwarded, response = upgrade(ctx, proxy, upstream, 1)
    message = frame(1, b"after the flood", mask=mask_key(1))
    client.send(message)
    server.expect(message, what="a frame after the flood")
    client.close()
    server.close()
    proxy.wait_idle()
    proxy.check_clean_exit()

# --- 7: a client that stops reading ---------------------------------------------------------

class Pinger:
    """Round trips of small text messages through one connection, timed, until stopped; the
    upstream's echo runs on the same thread."""

    def __init__(self, client, server):
        self.client, self.server = client, server
        self.round_trips = []  # (when, seconds)
        self.stopped = threading.Event()
        self.join = in_background(self._run)

    def _run(self):
        n = 0
        while not self.stopped.is_set():
            payload = f"ping {n}".encode()
            started = time.monotonic()
            self.client.send(frame(OP_TEXT, payload, mask=mask_key(n)))
            got = self.server.recv_frame(timeout=5)
            check(got["payload"] == payload and got["opcode"] == OP_TEXT,
                  f"upstream got {got} for ping {n}")
            self.server.send(frame(OP_TEXT, payload))
            echoed = self.client.recv_frame(timeout=5)
            check(echoed["payload"] == payload, f"client got {echoed} for ping {n}")
            self.round_trips.append((started, time.monotonic() - started))
            n += 1
            self.stopped.wait(0.02)

    def stop(self):
        self.stopped.set()
        self.join()

    def between(self, start, end):
        return [t for when, t in self.round_trips if start <= when < end]


def wait_stalled(progress, quiet=1.0, timeout=15, what="transfer"):
    """Waits until progress() has not moved for `quiet` seconds; returns its value."""
    deadline = time.monotonic() + timeout
    last, since = progress(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = progress()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
    raise CheckFailed(f"{what} never stalled within {timeout} s (at {last} bytes): no "
                      f"backpressure")


def describe_rtts(rtts):
    if not rtts:
        return "none"
    return (f"{len(rtts)} round trips, median {statistics.median(rtts) * 1000:.1f} ms, "
            f"max {max(rtts) * 1000:.1f} ms")


@case
def slow_consumer(ctx):
    upstream = ctx.upstream()
    # Payloads are not what this is about; hex of 200 MB would dwarf the traffic.
    proxy = ctx.proxy(upstream.port, ctx.output(), ["--payload", "none"])
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    reader, blaster, request_a, response_a = upgrade(ctx, proxy, upstream, 1, name=" A")
    client_b, server_b, _, _ = upgrade(ctx, proxy, upstream, 2, name=" B")
    reader.start_phase(keep=False)
    blaster.start_phase(keep=False)

    frame_size, frames = 64 * 1024, 3200  # 200 MiB
    block = random.Random(7).randbytes(1 << 20)

    def blast():
        header = frame_header(OP_BINARY, frame_size)
        for i in range(frames):
            start = (i * 40503) % (len(block) - frame_size)
            blaster.send(header + block[start:start + frame_size], timeout=60)
        blaster.shutdown_write()

    pinger = Pinger(client_b, server_b)
    ctx.stack.callback(pinger.stopped.set)
    started = time.monotonic()
    join_blast = in_background(blast)
    stalled_at = wait_stalled(lambda: blaster.sent_count, what="the upstream's sending")
    stall_began = time.monotonic()
    time.sleep(1.5)
    check(blaster.sent_count == stalled_at,
          f"the upstream went on sending ({blaster.sent_count - stalled_at} bytes) while the "
          f"client read nothing")
    stall_ended = time.monotonic()
    total = frames * (frame_size + len(frame_header(OP_BINARY, frame_size)))
    log(f"upstream blocked after sending {stalled_at / 2**20:.1f} MiB of {total / 2**20:.0f} MiB "
        f"({stall_began - started:.2f} s); proxy RSS peak so far {rss.peak_kb / 1024:.1f} MiB")
    check(stalled_at < total // 2, f"the upstream sent {stalled_at} of {total} bytes before "
                                   f"blocking: the proxy buffers far too much")

    deadline = time.monotonic() + 45
    while True:
        try:
            chunk = reader.read_some(deadline)
        except socket.timeout:
            raise CheckFailed(f"client A read only {reader.received_count} of {total} bytes "
                              f"within 45 s")
        if not chunk:
            break
    drained = time.monotonic()
    join_blast(10)
    pinger.stop()
    rss.stop()
    log(f"client A read {reader.received_count / 2**20:.1f} MiB in {drained - stall_ended:.2f} s "
        f"after it resumed")
    check(reader.received_count == total == blaster.sent_count,
          f"client A received {reader.received_count} bytes, upstream sent "
          f"{blaster.sent_count}, expected {total}")
    check(reader.received_hash.hexdigest() == blaster.sent_hash.hexdigest(),
          "client A's bytes differ from what the upstream sent (SHA-256)")
    stalled_rtts = pinger.between(stall_began, stall_ended)
    all_rtts = [t for _, t in pinger.round_trips]
    log(f"connection B while A was stalled: {describe_rtts(stalled_rtts)}; "
        f"over the whole run: {describe_rtts(all_rtts)}")
    log(f"proxy RSS peak {rss.peak_kb / 1024:.1f} MiB over {rss.samples} samples")
    check(rss.peak_kb < RSS_LIMIT_KB, f"proxy RSS reached {rss.peak_kb} kB, limit "
                                      f"{RSS_LIMIT_KB} kB")
    check(len(stalled_rtts) >= 20, f"connection B made only {len(stalled_rtts)} round trips in "
                                   f"the {stall_ended - stall_began:.1f} s A was stalled")
    # Generous bounds: the machine may be busy; a connection stuck behind A would take
    # seconds.
    check(statistics.median(stalled_rtts) < 0.05,
          f"connection B's round trips took {statistics.median(stalled_rtts) * 1000:.0f} ms "
          f"(median) while A was stalled")
    check(max(stalled_rtts) < 0.5, f"connection B's round trips took up to "
                                   f"{max(stalled_rtts) * 1000:.0f} ms while A was stalled")
    check(max(all_rtts) < 1.0, f"connection B's round trips took up to "
                               f"{max(all_rtts) * 1000:.0f} ms while A was draining")

    reader.close()
    blaster.expect_eof(what="EOF after client A closed")
    blaster.close()
    pings = len(pinger.round_trips)
    client_b.close()
    server_b.expect_eof(what="EOF after client B closed")
    server_b.close()
    proxy.wait_idle()
    proxy.check_clean_exit()

    records = proxy.records()
    check_only_conns(records, [1, 2])
    frames_a = of_type(records, "frame", 1, "s2c")
    check([f.get("seq") for f in frames_a] == list(range(frames)),
          f"conn 1 has {len(frames_a)} s2c frame records, expected seq 0..{frames - 1}")
    check(all(f.get("len") == frame_size and f.get("op") == "binary" for f in frames_a),
          "conn 1 frame records with the wrong length or opcode")
    check_errors(records, 1, [])
    check_errors(records, 2, [])
    check_close(records, 1, "server_closed", bytes_c2s=len(request_a),
                bytes_s2c=len(response_a) + total, frames_c2s=0, frames_s2c=frames)
    check_close(records, 2, "client_closed", frames_c2s=pings, frames_s2c=pings)


# --- 8: SIGTERM with connections open -------------------------------------------------------

@case
def sigterm_open_connections(ctx):
    echo = ctx.track(EchoUpstream())
    proxy = ctx.proxy(echo.port, ctx.output())
    clients = []
    for n in range(1, 4):
        client = ctx.track(connect(proxy.port, f"client {n}"))
        key = websocket_key(n)
        client.send(upgrade_request(f"{LOOPBACK}:{proxy.port}", key))
        head = client.read_head()
        check(head.startswith(b"HTTP/1.1 101 ") and accept_for(key) in head,
              f"client {n}: not a 101 for its key: {head!r}")
        message = f"hello from {n}".encode()
        client.send(frame(OP_TEXT, message, mask=mask_key(n)))
        echoed = client.recv_frame()
        check(echoed["payload"] == message, f"client {n}: echo {echoed}, expected {message!r}")
        clients.append(client)

    code, took = proxy.terminate(timeout=5)
    log(f"proxy exit {code} {took:.3f} s after SIGTERM with 3 connections open")
    check(code is not None, "the proxy did not exit within 5 s of SIGTERM")
    check(code == 0, f"the proxy exited {code} on SIGTERM; stderr: {proxy.stderr_text()!r}")
    for n, client in enumerate(clients, 1):
        how, after = client.wait_closed(timeout=2)
        check(not client.pending, f"client {n}: unexpected bytes at shutdown: "
                                  f"{bytes(client.pending)!r}")
        log(f"client {n}: {how}")

    records = proxy.records()
    check_only_conns(records, [1, 2, 3])
    closes = of_type(records, "close")
    check(sorted(c.get("conn") for c in closes) == [1, 2, 3],
          f"close records for connections {[c.get('conn') for c in closes]}, expected 1, 2, 3")
    for n in (1, 2, 3):
        check_close(records, n, "shutdown", frames_c2s=1, frames_s2c=1)
        check(len(of_type(records, "handshake", n)) == 1, f"conn {n}: no handshake record")


# --- 9: many connections at once ------------------------------------------------------------

def raise_open_files(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    check(soft == resource.RLIM_INFINITY or soft >= needed,
          f"RLIMIT_NOFILE is {soft} and cannot be raised to {needed}")


class EchoClient:
    """One client of concurrent_500: upgrade, ten messages each echoed, the close handshake,
    then the server's FIN."""

    messages = 10

    def __init__(self, index, peer, proxy_port):
        self.index = index
        self.peer = peer
        self.key = websocket_key(1000 + index)
        self.outbox = bytearray(upgrade_request(f"{LOOPBACK}:{proxy_port}", self.key))
        self.inbox = bytearray()
        self.phase = "upgrading"
        self.sent_messages = 0

    def message(self, j):
        return f"connection {self.index} message {j} ".encode() + b"x" * (37 * j)

    def queue(self, opcode, payload):
        self.outbox += frame(opcode, payload, mask=mask_key(self.index * 100 + self.sent_messages))
        self.sent_messages += 1

    def on_bytes(self):
        if self.phase == "upgrading":
            if take_upgrade_response(self.inbox, self.key, f"client {self.index}") is None:
                return
            self.phase = "messaging"
            self.queue(OP_TEXT, self.message(0))
        while self.phase in ("messaging", "closing"):
            parsed, size = parse_frame(self.inbox)
            if parsed is None:
                return
            del self.inbox[:size]
            if self.phase == "closing":
                check(parsed["opcode"] == OP_CLOSE and parsed["payload"] == close_payload(1000),
                      f"client {self.index}: expected the close echo, got {parsed}")
                self.phase = "awaiting_eof"
                continue
            j = self.sent_messages - 1
            check(parsed["opcode"] == OP_TEXT and not parsed["masked"] and
                  parsed["payload"] == self.message(j),
                  f"client {self.index}: echo of message {j} is {parsed}")
            if self.sent_messages < self.messages:
                self.queue(OP_TEXT, self.message(self.sent_messages))
            else:
                self.queue(OP_CLOSE, close_payload(1000))
                self.phase = "closing"
        check(not self.inbox, f"client {self.index}: bytes after the close frame: "
                              f"{bytes(self.inbox[:80])!r}")


def run_clients(clients, timeout):
    selector = selectors.DefaultSelector()
    for c in clients:
        c.peer.sock.setblocking(False)
        selector.register(c.peer.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    open_count = len(clients)
    deadline = time.monotonic() + timeout
    while open_count:
        check(time.monotonic() < deadline,
              f"{open_count} of {len(clients)} connections unfinished after {timeout} s; "
              f"phases: {sorted({c.phase for c in clients if c.phase != 'done'})}")
        for key, events in selector.select(timeout=0.5):
            c = key.data
            try:
                data = exchange(c, events)
            except ConnectionResetError:
                raise CheckFailed(f"client {c.index}: connection reset in phase {c.phase}")
            if data == b"":
                check(c.phase == "awaiting_eof", f"client {c.index}: EOF in phase {c.phase}")
                selector.unregister(c.peer.sock)
                c.peer.sock.close()
                c.phase = "done"
                open_count -= 1
                continue
            if data:
                c.on_bytes()
            selector.modify(c.peer.sock, selectors.EVENT_READ |
                            (selectors.EVENT_WRITE if c.outbox else 0), c)
    selector.close()


@case
def concurrent_500(ctx):
    count = 500
    # Each pair is a client socket and an upstream socket here, and two in the proxy, which
    # inherits the limit.
    raise_open_files(2 * count + 256)
    echo = ctx.track(EchoUpstream())
    proxy = ctx.proxy(echo.port, ctx.output())
    started = time.monotonic()
    clients = []
    for i in range(count):
        clients.append(EchoClient(i, ctx.track(connect(proxy.port, f"client {i}")), proxy.port))
    connected = time.monotonic()
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    run_clients(clients, timeout=60)
    finished = time.monotonic()
    rss.stop()
    log(f"{count} connections opened in {connected - started:.2f} s, all exchanges done "
        f"{finished - connected:.2f} s later; proxy RSS peak {rss.peak_kb / 1024:.1f} MiB")
    proxy.wait_idle(timeout=20)
    check(not echo.failures, f"upstream: {echo.failures[:5]}")
    check(len(echo.connections) == count, f"the upstream saw {len(echo.connections)} upgrades, "
                                          f"expected {count}")
    by_port = {}
    for c in clients:
        state = echo.connections.get(c.key)
        check(state is not None, f"client {c.index}: its upgrade never reached the upstream")
        check(state.ended == "closed after the close handshake",
              f"client {c.index}: upstream side ended by {state.ended}")
        check_same_bytes(c.peer.received, state.sent,
                         f"client {c.index}: received vs upstream sent")
        check_same_bytes(state.received, rewrite_host(bytes(c.peer.sent), echo.authority),
                         f"client {c.index}: upstream received vs client sent (Host rewritten)")
        by_port[c.peer.sock_port] = (c, state)
    # The allocator keeps the heap the 500 open connections needed (see harness).
    proxy.check_no_leaks(rss_tolerance_kb=RSS_SETTLE_KB + count * RETAINED_KB_PER_PEAK_CONNECTION)
    proxy.check_clean_exit(leaks=False)

    records = proxy.records()
    handshakes = of_type(records, "handshake")
    closes = of_type(records, "close")
    check(sorted(h.get("conn") for h in handshakes) == list(range(1, count + 1)),
          f"{len(handshakes)} handshake records; conns are not 1..{count} each once")
    check(sorted(c.get("conn") for c in closes) == list(range(1, count + 1)),
          f"{len(closes)} close records; conns are not 1..{count} each once")
    check_only_conns(records, range(1, count + 1))
    check(not of_type(records, "error"), f"error records: "
                                         f"{[brief(e) for e in of_type(records, 'error')[:5]]}")
    closes_by_conn = {c["conn"]: c for c in closes}
    for h in handshakes:
        check(h.get("status") == 101, f"conn {h['conn']}: status {h.get('status')}")
        port = int(h.get("client", ":0").rpartition(":")[2])
        check(port in by_port, f"conn {h['conn']}: client {h.get('client')} is none of ours")
        c, state = by_port.pop(port)
        check_fields(closes_by_conn[h["conn"]], {
            "reason": "server_closed", "bytes_c2s": len(state.received),
            "bytes_s2c": len(state.sent), "frames_c2s": EchoClient.messages + 1,
            "frames_s2c": EchoClient.messages + 1}, f"conn {h['conn']} close record")
    frames = of_type(records, "frame")
    check(len(frames) == count * 2 * (EchoClient.messages + 1),
          f"{len(frames)} frame records, expected {count * 2 * (EchoClient.messages + 1)}")
    log(f"{len(records)} records: {count} handshakes, {len(frames)} frames, {count} closes")


# --- 10: a consumer of the records that stops reading ---------------------------------------

class Drain:
    """Reads the proxy's stdout to EOF on a thread."""

    def __init__(self, stream):
        self.data = bytearray()
        self.join = in_background(self._run, stream)

    def _run(self, stream):
        while True:
            chunk = os.read(stream.fileno(), 1 << 16)
            if not chunk:
                return
            self.data += chunk


def output_traffic(ctx, drop):
    upstream = ctx.upstream()
    args = ["--queue", "256", "--max-payload", "32"] + (["--drop-when-behind"] if drop else [])
    proxy = ctx.proxy(upstream.port, None, args)
    ctx.stack.callback(proxy.stdout.close)
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    client, server, request, response = upgrade(ctx, proxy, upstream, 1)
    client.start_phase(keep=False)
    server.start_phase(keep=False)

    payload_size, frames = 16 * 1024, 8000  # 125 MiB
    rng = random.Random(10)
    prebuilt = [frame(OP_BINARY, rng.randbytes(payload_size), mask=mask_key(k))
                for k in range(64)]
    total = frames * len(prebuilt[0])

    def send_all():
        for k in range(frames):
            client.send(prebuilt[k % len(prebuilt)], timeout=60)
        client.shutdown_write()

    def receive_all():
        deadline = time.monotonic() + 85
        while server.read_some(deadline):
            pass

    started = time.monotonic()
    join_send = in_background(send_all)
    join_receive = in_background(receive_all)
    return (proxy, rss, client, server, request, response, frames, total, started, join_send,
            join_receive)


def parse_records_output(ctx, data):
    with open(ctx.output(), "wb") as f:
        f.write(data)
    return parse_ndjson(bytes(data), "the proxy's stdout")


@case
def stopped_output_consumer(ctx):
    (proxy, rss, client, server, request, response, frames, total, started, join_send,
     join_receive) = output_traffic(ctx, drop=False)
    received_at_stall = wait_stalled(lambda: server.received_count,
                                     what="forwarding with the records unread")
    sent_at_stall = wait_stalled(lambda: client.sent_count, quiet=0.5,
                                 what="the client's sending with the records unread")
    stalled = time.monotonic()
    time.sleep(1.0)
    check(server.received_count == received_at_stall,
          f"forwarding went on ({server.received_count - received_at_stall} bytes) with the "
          f"records output full")
    log(f"with stdout unread: upstream got {received_at_stall / 2**20:.1f} MiB, client blocked "
        f"after {sent_at_stall / 2**20:.1f} MiB of {total / 2**20:.0f} MiB "
        f"({stalled - started:.2f} s); RSS peak {rss.peak_kb / 1024:.1f} MiB")
    check(sent_at_stall < total, "the client sent everything: its sends never blocked")

    drain = Drain(proxy.stdout)
    join_send(40)
    join_receive(40)
    done = time.monotonic()
    rss.stop()
    log(f"after draining began, the rest arrived in {done - stalled - 1.0:.2f} s; "
        f"RSS peak {rss.peak_kb / 1024:.1f} MiB")
    check(server.received_count == total == client.sent_count,
          f"upstream received {server.received_count} bytes, client sent {client.sent_count}, "
          f"expected {total}")
    check(server.received_hash.hexdigest() == client.sent_hash.hexdigest(),
          "the upstream's bytes differ from what the client sent (SHA-256)")
    server.close()
    client.expect_eof(what="EOF after the upstream closed")
    client.close()
    proxy.wait_idle()
    proxy.check_clean_exit()
    drain.join(10)
    check(rss.peak_kb < RSS_LIMIT_KB, f"proxy RSS reached {rss.peak_kb} kB, limit "
                                      f"{RSS_LIMIT_KB} kB")

    records = parse_records_output(ctx, drain.data)
    check_only_conns(records, [1])
    got = of_type(records, "frame", 1, "c2s")
    check([f.get("seq") for f in got] == list(range(frames)),
          f"{len(got)} c2s frame records, expected seq 0..{frames - 1} (lossless)")
    check(all(f.get("truncated") is True and len(f.get("hex", "")) == 64 for f in got),
          "frame records without their first 32 payload bytes or truncated: true")
    check_errors(records, 1, [])
    check_close(records, 1, "client_closed", bytes_c2s=len(request) + total,
                bytes_s2c=len(response), frames_c2s=frames, frames_s2c=0)
    log(f"{len(records)} records, none lost")


@case
def stopped_output_consumer_drop(ctx):
    (proxy, rss, client, server, request, response, frames, total, started, join_send,
     join_receive) = output_traffic(ctx, drop=True)
    join_send(40)
    join_receive(40)
    forwarded = time.monotonic()
    log(f"with stdout unread: {total / 2**20:.0f} MiB forwarded in {forwarded - started:.2f} s "
        f"({total / 2**20 / (forwarded - started):.0f} MiB/s); RSS peak "
        f"{rss.peak_kb / 1024:.1f} MiB")
    check(server.received_count == total == client.sent_count,
          f"upstream received {server.received_count} bytes, client sent {client.sent_count}, "
          f"expected {total}")
    check(server.received_hash.hexdigest() == client.sent_hash.hexdigest(),
          "the upstream's bytes differ from what the client sent (SHA-256)")
    server.close()
    client.expect_eof(what="EOF after the upstream closed")
    client.close()
    # Torn down while nobody reads the records: the close record cannot block either.
    proxy.wait_idle()
    rss.stop()
    check(rss.peak_kb < RSS_LIMIT_KB, f"proxy RSS reached {rss.peak_kb} kB, limit "
                                      f"{RSS_LIMIT_KB} kB")

    drain = Drain(proxy.stdout)
    proxy.check_clean_exit()
    drain.join(10)
    records = parse_records_output(ctx, drain.data)
    check_only_conns(records, [1])
    dropped_errors = [e for e in of_type(records, "error", 1) if e.get("code") == "records_dropped"]
    check(dropped_errors, f"no records_dropped error although the output was never read while "
                          f"{frames} frames passed; {len(records)} records written")
    dropped = 0
    for e in dropped_errors:
        count = re.search(r"(\d+) of this connection's records", e.get("message", ""))
        check(count, f"records_dropped does not say how many: {brief(e)}")
        dropped += int(count.group(1))
    present = [r for r in records if r not in dropped_errors]
    check_errors([r for r in records if r not in dropped_errors], 1, [])
    got = of_type(present, "frame", 1)
    expected_total = 1 + frames + 1  # handshake, frames, close
    log(f"{len(got)} of {frames} frame records written, {dropped} records reported dropped "
        f"in {len(dropped_errors)} error record(s)")
    check(len(got) < frames, "no frame record was dropped")
    check(len(present) + dropped == expected_total,
          f"{len(present)} records written + {dropped} reported dropped != {expected_total}")
    seqs = [f.get("seq") for f in got]
    check(seqs == sorted(set(seqs)), "frame records out of order or repeated")


# --- the upstream accepts, then stalls -------------------------------------------------------

def check_no_errors(records, conn):
    errors = of_type(records, "error", conn)
    check(not errors, f"conn {conn}: unexpected error records: {[brief(e) for e in errors]}")


def check_fatal_error(records, conn, direction, code, offset=None, detail=None):
    """Exactly one error record for the connection: fatal, this code and direction, at
    `offset` (None: the record has none, as for HTTP heads)."""
    errors = of_type(records, "error", conn)
    check(len(errors) == 1, f"conn {conn}: {len(errors)} error records, expected one {code}: "
                            f"{[brief(e) for e in errors]}")
    e = errors[0]
    check_fields(e, {"code": code, "dir": direction, "fatal": True}, f"conn {conn} error")
    if offset is None:
        check("offset" not in e, f"conn {conn}: an HTTP head error with an offset: {brief(e)}")
    else:
        check(e.get("offset") == offset, f"conn {conn}: error offset {e.get('offset')}, "
                                         f"expected {offset}: {brief(e)}")
    if detail is not None:
        check(detail in e.get("message", ""), f"conn {conn}: the message does not say "
                                              f"{detail!r}: {brief(e)}")
    return e


@case
def upstream_stalls_handshake(ctx):
    """The upstream accepts and reads the upgrade request, then answers nothing (conn 1) or
    half a response head (conn 2). At --handshake-timeout the proxy closes both sides: conn 1's
    client gets a 504 of the proxy's own that says why, conn 2's client what the upstream sent
    and then EOF (a response had begun); the records say `timeout`, with no handshake record
    (no response head completed) and no error."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output(), ["--handshake-timeout", "1"])
    half_head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    pairs = []
    for n, stall_with in ((1, b""), (2, half_head)):
        started = time.monotonic()
        client = ctx.track(connect(proxy.port, f"client {n}"))
        request = upgrade_request(f"{LOOPBACK}:{proxy.port}", websocket_key(n))
        client.send(request)
        server = ctx.track(upstream.accept(f"upstream {n}"))
        forwarded = rewrite_host(request, upstream.authority)
        server.expect(forwarded, what="the upgrade request")
        if stall_with:
            server.send(stall_with)
            client.expect(stall_with, what="the start of the response head")
        how, _ = client.wait_closed(timeout=5)
        took = time.monotonic() - started
        log(f"conn {n}: the client saw {how} {took:.3f} s after connecting")
        check(how == "eof", f"conn {n}: the client's connection was reset, not closed")
        if stall_with:
            check(not client.pending, f"conn {n}: bytes of the proxy's own after the timeout: "
                                      f"{bytes(client.pending)!r}")
        else:
            body = (f"wssniff: upstream {LOOPBACK}:{upstream.port} sent no response within the "
                    f"handshake timeout (1000 ms)\n").encode()
            answer = (b"HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain; "
                      b"charset=utf-8\r\nContent-Length: " + str(len(body)).encode() +
                      b"\r\nConnection: close\r\n\r\n" + body)
            check_same_bytes(bytes(client.pending), answer, f"conn {n}: the proxy's answer")
        check(0.9 <= took <= 3.0, f"conn {n}: closed {took:.2f} s after accept, "
                                  f"--handshake-timeout is 1 s")
        how, _ = server.wait_closed(timeout=2)
        check(how == "eof", f"conn {n}: the upstream's connection was reset, not closed")
        pairs.append((forwarded, stall_with))
        client.close()
        server.close()
    proxy.wait_idle()
    proxy.check_clean_exit()
    records = proxy.records()
    check_only_conns(records, [1, 2])
    for n, (forwarded, stall_with) in enumerate(pairs, 1):
        check(not of_type(records, "handshake", n), f"conn {n}: a handshake record although no "
                                                    f"response head completed")
        check_no_errors(records, n)
        check_close(records, n, "timeout", bytes_c2s=len(forwarded), bytes_s2c=len(stall_with),
                    frames_c2s=0, frames_s2c=0)


@case
def handshake_timeout_spares_upgraded(ctx):
    """An upgraded connection outlives --handshake-timeout, sniffing or forward-only
    (--emit none, which never sees the upgrade and so must not time it)."""
    upstream = ctx.upstream()
    for n, args in ((1, []), (2, ["--emit", "none"])):
        output = ctx.output(f"-{n}")
        proxy = ctx.proxy(upstream.port, output, ["--handshake-timeout", "1"] + args)
        client, server, request, response = upgrade(ctx, proxy, upstream, n, name=f" {n}")
        time.sleep(1.5)
        c2s, s2c = Side("c2s"), Side("s2c")
        hello = c2s.frame(OP_TEXT, b"after the handshake timeout")
        client.send(hello)
        server.expect(hello, what=f"proxy {n}: a frame sent 1.5 s after the upgrade")
        bye = s2c.frame(OP_CLOSE, close_payload(1000))
        server.send(bye)
        client.expect(bye, what=f"proxy {n}: the server's close")
        server.shutdown_write()
        client.expect_eof(what=f"proxy {n}: EOF after the server's close")
        client.close()
        server.expect_eof(what=f"proxy {n}: EOF after the client's close")
        server.close()
        proxy.wait_idle()
        proxy.check_clean_exit()
        records = proxy.records()
        if args:
            check(records == [], f"proxy {n} (--emit none) wrote records: {records[:2]}")
        else:
            check_close(records, 1, "server_closed", bytes_c2s=len(server.received),
                        bytes_s2c=len(client.received))


@case
def output_reader_gone(ctx):
    """Nobody reads the records any more (the reader of the proxy's stdout closed it, as
    `| head -1` does): the proxy says so on stderr at once, keeps forwarding every byte, and
    on SIGTERM exits 1 saying the records were not all written."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, None)
    proxy.stdout.close()
    client, server, request, response = upgrade(ctx, proxy, upstream, 1)
    started = time.monotonic()
    expected = "wssniff: cannot write records: Broken pipe; still forwarding, records are lost"
    while expected not in proxy.stderr_lines and time.monotonic() - started < 5:
        time.sleep(0.01)
    check(expected in proxy.stderr_lines, f"no {expected!r} on stderr within 5 s of the "
                                          f"handshake; stderr: {proxy.stderr_text()!r}")
    log(f"stderr said so {time.monotonic() - started:.3f} s after the handshake")
    c2s, s2c = Side("c2s"), Side("s2c")
    for k in range(50):
        data = c2s.frame(OP_TEXT, f"message {k}".encode())
        client.send(data)
        server.expect(data, what=f"client frame {k} after the output failed")
        data = s2c.frame(OP_BINARY, bytes([k]) * 3000)
        server.send(data)
        client.expect(data, what=f"server frame {k} after the output failed")
    client.close()
    server.wait_closed()
    server.close()
    proxy.wait_idle()
    proxy.check_no_leaks()
    code, _ = proxy.terminate()
    proxy._stderr_reader.join(5)
    lines = proxy.stderr_lines
    check(code == 1, f"exit code {code} after SIGTERM with lost records, expected 1; "
                     f"stderr: {proxy.stderr_text()!r}")
    check(lines.count(expected) == 1, f"the failure was said {lines.count(expected)} times")
    check(lines[-1] == "wssniff: cannot write records: Broken pipe",
          f"last stderr line {lines[-1]!r}")


@case
def upstream_connect_stalls(ctx):
    """The upstream's listen queue is full, so its kernel drops the proxy's SYNs and connect()
    never completes: at --connect-timeout the client gets a 502 that says so, and the records
    an upstream_unreachable error and close."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ctx.track(listener)
    listener.bind((LOOPBACK, 0))
    listener.listen(0)  # room for one connection that nobody accepts
    port = listener.getsockname()[1]
    filler = ctx.track(socket.create_connection((LOOPBACK, port), timeout=2))
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ctx.track(probe)
    probe.settimeout(0.3)
    try:
        probe.connect((LOOPBACK, port))
        raise CheckFailed("the upstream's listen queue is not full: a connect still completes")
    except socket.timeout:
        pass  # as intended: connects to this upstream now hang
    filler.setblocking(True)

    proxy = ctx.proxy(port, ctx.output(), ["--connect-timeout", "1"])
    client = ctx.track(connect(proxy.port, "client"))
    started = time.monotonic()
    client.send(upgrade_request(f"{LOOPBACK}:{proxy.port}", websocket_key(1)))
    head = client.read_head(timeout=5)
    took = time.monotonic() - started
    log(f"response after {took:.3f} s: {head.splitlines()[0]!r}")
    check(head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), f"expected a 502: {head[:200]!r}")
    check(0.9 <= took <= 3.0, f"the 502 came {took:.2f} s after the request, "
                              f"--connect-timeout is 1 s")
    how, _ = client.wait_closed(timeout=5)
    body = bytes(client.pending)
    check(how == "eof", "the 502 ended in a reset")
    check(b"timed out" in body, f"the 502 body does not say the connect timed out: {body!r}")
    client.close()
    proxy.wait_idle()
    proxy.check_clean_exit()
    check_unreachable(proxy.records(), saying="timed out")


# --- a reader that stops, then reads slowly, on each side ------------------------------------

def stopped_reader(ctx, stopping):
    """`stopping` ("client" or "server") stops reading while the other side sends 32 MiB to it,
    then reads slowly, then at full speed. Meanwhile it keeps sending small messages the other
    way through the same connection: that direction must not wait for the stalled one. The
    proxy's memory stays flat and every byte arrives unchanged."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output(), ["--payload", "none"])
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    client, server, request, response = upgrade(ctx, proxy, upstream, 1)
    reader, blaster = (client, server) if stopping == "client" else (server, client)
    reader_dir = "c2s" if stopping == "client" else "s2c"  # the direction that keeps flowing
    blast_dir = "s2c" if stopping == "client" else "c2s"
    for peer in (client, server):
        peer.start_phase(keep=False)
        # Two threads use each socket from here on: one timeout for the whole run, never
        # changed, and reads only after select() says there is data.
        peer.sock.settimeout(30)

    # Twice what the kernel may buffer on the way (the sender's, the proxy's two and the
    # receiver's socket buffers: about 20 MiB on loopback), so a stall is seen well before the
    # end.
    frame_size, frames = 64 * 1024, 1024  # 64 MiB
    rng = random.Random(11)
    masked = blast_dir == "c2s"
    prebuilt = [frame(OP_BINARY, rng.randbytes(frame_size),
                      mask=mask_key(k) if masked else None) for k in range(16)]
    total = sum(len(prebuilt[k % len(prebuilt)]) for k in range(frames))

    def blast():
        for k in range(frames):
            data = prebuilt[k % len(prebuilt)]
            blaster.sock.sendall(data)
            blaster.note_sent(data)

    pings_sent = {}  # n -> when sent
    pings_seen = {}  # n -> when it arrived
    stop_pings = threading.Event()

    def send_pings():
        n = 0
        while not stop_pings.is_set():
            data = frame(OP_TEXT, f"ping {n}".encode(),
                         mask=mask_key(n) if reader_dir == "c2s" else None)
            pings_sent[n] = time.monotonic()
            reader.sock.sendall(data)
            reader.note_sent(data)
            n += 1
            stop_pings.wait(0.02)

    def receive_pings():
        inbox = bytearray()
        deadline = time.monotonic() + 60
        while len(pings_seen) < len(pings_sent) or not stop_pings.is_set():
            check(time.monotonic() < deadline, "pings still missing after 60 s")
            ready, _, _ = select.select([blaster.sock], [], [], 0.05)
            if not ready:
                continue
            data = blaster.sock.recv(65536)
            check(data, f"the {blast_dir} sender got EOF while waiting for pings")
            blaster.note_received(data)
            inbox += data
            while True:
                parsed, size = parse_frame(inbox)
                if parsed is None:
                    break
                del inbox[:size]
                n = int(parsed["payload"].split()[1])
                pings_seen[n] = time.monotonic()

    started = time.monotonic()
    join_blast = in_background(blast)
    join_ping_sender = in_background(send_pings)
    join_ping_receiver = in_background(receive_pings)

    stalled_at = wait_stalled(lambda: blaster.sent_count, what=f"the {blast_dir} sending")
    stall_began = time.monotonic()
    time.sleep(1.0)
    check(blaster.sent_count == stalled_at, f"the {blast_dir} sender went on "
                                            f"({blaster.sent_count - stalled_at} bytes) while "
                                            f"the {stopping} read nothing")
    check(stalled_at < total // 2, f"{stalled_at} of {total} bytes sent before blocking: the "
                                   f"proxy buffers far too much")
    log(f"the {blast_dir} sender blocked after {stalled_at / 2**20:.1f} MiB of "
        f"{total / 2**20:.0f} MiB ({stall_began - started:.2f} s)")

    def read_available(limit, deadline):
        ready, _, _ = select.select([reader.sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return 0
        data = reader.sock.recv(limit)
        check(data, f"the {stopping} got EOF before all {total} bytes")
        reader.note_received(data)
        return len(data)

    # A slow reader: 16 KiB every 10 ms, for a second and then until the sender has moved on
    # (at most 10 s): the kernel's buffers on both legs, autotuned to megabytes, have to drain
    # far enough before a window opens back to the sender, which under a sanitizer on a loaded
    # machine can take longer than the first second.
    slow_began = time.monotonic()
    while time.monotonic() - slow_began < 1.0 or (blaster.sent_count == stalled_at and
                                                  time.monotonic() - slow_began < 10.0):
        read_available(16 * 1024, time.monotonic() + 0.5)
        time.sleep(0.01)
    slow_ended = time.monotonic()
    check(blaster.sent_count > stalled_at, f"the {blast_dir} sender did not move on while the "
                                           f"{stopping} read slowly")
    log(f"reading slowly for {slow_ended - slow_began:.2f} s: {stopping} read "
        f"{reader.received_count / 2**20:.2f} MiB, the sender moved on by "
        f"{(blaster.sent_count - stalled_at) / 2**20:.2f} MiB")
    deadline = time.monotonic() + 30
    while reader.received_count < total:
        check(time.monotonic() < deadline, f"the {stopping} read {reader.received_count} of "
                                           f"{total} bytes in 30 s")
        read_available(262144, deadline)
    join_blast(10)
    stop_pings.set()
    join_ping_sender(10)
    join_ping_receiver(10)
    rss.stop()

    check(reader.received_count == total == blaster.sent_count,
          f"the {stopping} received {reader.received_count} bytes, sent {blaster.sent_count}")
    check(reader.received_hash.hexdigest() == blaster.sent_hash.hexdigest(),
          f"the {stopping}'s bytes differ from what was sent (SHA-256)")
    check(blaster.received_hash.hexdigest() == reader.sent_hash.hexdigest(),
          f"the {blast_dir} sender's pings differ from what was sent (SHA-256)")
    during = [pings_seen[n] - pings_sent[n] for n in pings_sent
              if stall_began <= pings_sent[n] < slow_ended]
    everything = [pings_seen[n] - pings_sent[n] for n in pings_sent]
    log(f"{reader_dir} while {blast_dir} was stalled or slow: {describe_rtts(during)}; "
        f"over the whole run: {describe_rtts(everything)}; "
        f"proxy RSS peak {rss.peak_kb / 1024:.1f} MiB")
    check(len(during) >= 40, f"only {len(during)} {reader_dir} messages in the "
                             f"{slow_ended - stall_began:.1f} s of stall and slow reading")
    check(statistics.median(during) < 0.05, f"{reader_dir} messages took "
                                            f"{statistics.median(during) * 1000:.0f} ms "
                                            f"(median) while {blast_dir} was stalled")
    check(max(everything) < 0.5, f"a {reader_dir} message took {max(everything) * 1000:.0f} ms")
    check(rss.peak_kb < RSS_LIMIT_KB, f"proxy RSS reached {rss.peak_kb} kB, limit "
                                      f"{RSS_LIMIT_KB} kB")

    pings = len(pings_sent)
    reader.close()
    blaster.expect_eof(what=f"EOF after the {stopping} closed")
    blaster.close()
    proxy.wait_idle()
    proxy.check_clean_exit()
    records = proxy.records()
    check_only_conns(records, [1])
    check_no_errors(records, 1)
    blast_frames = of_type(records, "frame", 1, blast_dir)
    check([f.get("seq") for f in blast_frames] == list(range(frames)),
          f"{len(blast_frames)} {blast_dir} frame records, expected seq 0..{frames - 1}")
    ping_frames = of_type(records, "frame", 1, reader_dir)
    check(len(ping_frames) == pings, f"{len(ping_frames)} {reader_dir} frame records for "
                                     f"{pings} messages")
    counts = {blast_dir: frames, reader_dir: pings}
    sizes = {blast_dir: total, reader_dir: reader.sent_count}
    check_close(records, 1, f"{stopping}_closed",
                bytes_c2s=len(request) + sizes["c2s"], bytes_s2c=len(response) + sizes["s2c"],
                frames_c2s=counts["c2s"], frames_s2c=counts["s2c"])


@case
def stopped_reader_client(ctx):
    stopped_reader(ctx, "client")


@case
def stopped_reader_server(ctx):
    stopped_reader(ctx, "server")


# --- SIGTERM while traffic flows --------------------------------------------------------------

class LoadClient:
    """Upgrades, then keeps four binary messages in flight until the proxy closes it."""

    def __init__(self, index, peer, proxy_port):
        self.index = index
        self.peer = peer
        self.key = websocket_key(5000 + index)
        self.outbox = bytearray(upgrade_request(f"{LOOPBACK}:{proxy_port}", self.key))
        self.inbox = bytearray()
        self.upgraded = False
        self.in_flight = 0
        self.sent_messages = 0
        self.ended = None
        self.rng = random.Random(index)

    def queue(self):
        payload = self.rng.randbytes(self.rng.randrange(1, 8192))
        self.outbox += frame(OP_BINARY, payload, mask=mask_key(self.index * 7919 +
                                                               self.sent_messages))
        self.sent_messages += 1
        self.in_flight += 1

    def on_bytes(self):
        if not self.upgraded:
            if take_upgrade_response(self.inbox, self.key, f"load client {self.index}") is None:
                return
            self.upgraded = True
        while True:
            parsed, size = parse_frame(self.inbox)
            if parsed is None:
                break
            del self.inbox[:size]
            self.in_flight -= 1
        while self.in_flight < 4:
            self.queue()


def drive_load(clients, deadline):
    """Runs the clients until each has seen its connection end (EOF or reset) or `deadline`."""
    selector = selectors.DefaultSelector()
    for c in clients:
        c.peer.sock.setblocking(False)
        selector.register(c.peer.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    running = len(clients)
    while running and time.monotonic() < deadline:
        for key, events in selector.select(timeout=0.1):
            c = key.data
            data = None
            try:
                data = exchange(c, events)
                if data == b"":
                    c.ended = "eof"
            except (ConnectionResetError, BrokenPipeError):
                c.ended = "reset"
            if c.ended:
                selector.unregister(c.peer.sock)
                running -= 1
                continue
            if data:
                c.on_bytes()
            selector.modify(c.peer.sock, selectors.EVENT_READ |
                            (selectors.EVENT_WRITE if c.outbox else 0), c)
    selector.close()
    return running


@case
def sigterm_under_load(ctx):
    """SIGTERM while 40 connections each have messages in flight both ways: exit 0 at once,
    every connection ends for its client and has exactly one close record (`shutdown`), its
    last; frame records are whole sequences that match the close record's counts; a frame cut
    by the shutdown is marked truncated with stream_ended_mid_frame, nothing else is an error;
    the NDJSON is complete and valid UTF-8."""
    count = 40
    echo = ctx.track(EchoUpstream())
    proxy = ctx.proxy(echo.port, ctx.output(), ["--max-payload", "64"])
    clients = [LoadClient(i, ctx.track(connect(proxy.port, f"load client {i}")), proxy.port)
               for i in range(count)]
    outcome = {}

    def run():
        outcome["unfinished"] = drive_load(clients, time.monotonic() + 20)

    join = in_background(run)
    deadline = time.monotonic() + 10
    while not all(c.upgraded for c in clients):
        check(time.monotonic() < deadline, f"{sum(c.upgraded for c in clients)} of {count} "
                                           f"clients upgraded in 10 s")
        time.sleep(0.05)
    time.sleep(1.0)
    messages_before = sum(c.sent_messages for c in clients)
    code, took = proxy.terminate(timeout=5)
    log(f"proxy exit {code} {took:.3f} s after SIGTERM with {count} busy connections "
        f"({messages_before} messages sent so far)")
    check(code is not None, "the proxy did not exit within 5 s of SIGTERM")
    check(code == 0, f"the proxy exited {code} on SIGTERM; stderr: {proxy.stderr_text()!r}")
    join(20)
    check(outcome["unfinished"] == 0, f"{outcome['unfinished']} clients never saw their "
                                      f"connection end")
    check(messages_before >= count * 10, f"only {messages_before} messages before SIGTERM: "
                                         f"no load")
    check(not echo.failures, f"upstream: {echo.failures[:5]}")
    ended = {}
    for c in clients:
        ended[c.ended] = ended.get(c.ended, 0) + 1
    log(f"clients saw: {ended}")

    records = proxy.records()
    check_only_conns(records, range(1, count + 1))
    handshakes = of_type(records, "handshake")
    check(sorted(h.get("conn") for h in handshakes) == list(range(1, count + 1)),
          f"{len(handshakes)} handshake records; conns are not 1..{count} each once")
    by_port = {c.peer.sock_port: c for c in clients}
    truncated = 0
    for h in handshakes:
        conn = h["conn"]
        c = by_port.get(int(h.get("client", ":0").rpartition(":")[2]))
        check(c is not None, f"conn {conn}: client {h.get('client')} is none of ours")
        close = check_close(records, conn, "shutdown")
        state = echo.connections.get(c.key)
        check(state is not None, f"conn {conn}: the upstream never saw its upgrade")
        sent = rewrite_host(bytes(c.peer.sent), echo.authority)
        # What reached each side is what the other sent, cut where the shutdown came; the
        # close record counts what the proxy read, at least what it delivered.
        check(sent.startswith(bytes(state.received)), f"conn {conn}: the upstream received "
                                                      f"bytes the client did not send")
        check(bytes(state.sent).startswith(bytes(c.peer.received)),
              f"conn {conn}: the client received bytes the upstream did not send")
        check(len(state.received) <= close["bytes_c2s"] <= len(sent),
              f"conn {conn}: bytes_c2s {close['bytes_c2s']}, upstream got "
              f"{len(state.received)}, client sent {len(sent)}")
        check(len(c.peer.received) <= close["bytes_s2c"] <= len(state.sent),
              f"conn {conn}: bytes_s2c {close['bytes_s2c']}, client got "
              f"{len(c.peer.received)}, upstream sent {len(state.sent)}")
        for direction in ("c2s", "s2c"):
            frames = of_type(records, "frame", conn, direction)
            check([f.get("seq") for f in frames] == list(range(len(frames))),
                  f"conn {conn} {direction}: frame seqs are not 0..{len(frames) - 1}")
            check(len(frames) == close[f"frames_{direction}"],
                  f"conn {conn} {direction}: {len(frames)} frame records, close record says "
                  f"{close[f'frames_{direction}']}")
            errors = of_type(records, "error", conn, direction)
            codes = [e.get("code") for e in errors]
            check(codes in ([], ["stream_ended_mid_frame"]),
                  f"conn {conn} {direction}: errors {[brief(e) for e in errors]}")
            if codes:
                check(errors[0].get("fatal") is False and frames and
                      frames[-1].get("truncated") is True and
                      errors[0].get("offset") == frames[-1].get("offset"),
                      f"conn {conn} {direction}: stream_ended_mid_frame "
                      f"{brief(errors[0])} does not match the last frame record "
                      f"{brief(frames[-1]) if frames else None}")
                truncated += 1
            else:
                check(not frames or "truncated" not in frames[-1] or
                      frames[-1].get("len", 0) > 64,
                      f"conn {conn} {direction}: last frame truncated without an error")
        check(len(of_type(records, "frame", conn)) >= 2, f"conn {conn}: no traffic recorded")
    log(f"{len(records)} records; {truncated} directions cut mid-frame by the shutdown")


# --- hostile frames -----------------------------------------------------------------------

def open_pair(ctx, args=(), n=1, output=None):
    """An upstream, a proxy and one upgraded connection; returns them and how many bytes the
    client's request had (its bytes after that are frames)."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, output or ctx.output(), list(args))
    client, server, forwarded, response = upgrade(ctx, proxy, upstream, n)
    return proxy, client, server, forwarded, response, len(client.sent)


def check_forwarded(client, server, forwarded, request_size):
    check_same_bytes(client.received, server.sent, "client received vs upstream sent")
    check_same_bytes(server.received, forwarded + client.sent[request_size:],
                     "upstream received vs client sent (Host rewritten)")


def close_pair(proxy, client, server):
    """The client closes first; the upstream sees EOF and closes; the proxy lets both go."""
    client.close()
    server.expect_eof(what="EOF after the client closed")
    server.close()
    proxy.wait_idle()
    proxy.check_clean_exit()


@case
def length_top_bit_set(ctx):
    """64-bit lengths with the most significant bit set (2^63 from the server, 2^64-1 from the
    client, RFC 6455 §5.2): one fatal length_top_bit_set per direction at the frame's offset;
    the bytes after it are still forwarded unchanged, and no longer decoded."""
    proxy, client, server, forwarded, response, request_size = open_pair(ctx)
    c2s, s2c = Side("c2s"), Side("s2c")
    after = frame(OP_TEXT, b"not decoded any more")
    sent = s2c.frame(OP_TEXT, b"before")
    bad_s2c_at = s2c.offset
    sent += bytes([0x82, 127]) + (1 << 63).to_bytes(8, "big") + b"payload that never ends"
    server.send(sent)
    client.expect(sent, what="the frames up to the bad length")
    server.send(after)
    client.expect(after, what="the frame after the bad length")
    sent = c2s.frame(OP_TEXT, b"before")
    bad_c2s_at = c2s.offset
    sent += (bytes([0x82, 0x80 | 127]) + (2**64 - 1).to_bytes(8, "big") + mask_key(99) +
             b"payload that never ends")
    client.send(sent)
    server.expect(sent, what="the client's frames up to the bad length")
    masked_after = frame(OP_TEXT, b"not decoded any more", mask=mask_key(100))
    client.send(masked_after)
    server.expect(masked_after, what="the client's frame after the bad length")
    close_pair(proxy, client, server)
    check_forwarded(client, server, forwarded, request_size)

    records = proxy.records()
    check_only_conns(records, [1])
    check_frames(records, 1, c2s)
    check_frames(records, 1, s2c)
    errors = sorted(((e.get("dir"), e.get("offset"), e.get("code"), e.get("fatal"))
                     for e in of_type(records, "error", 1)))
    check(errors == [("c2s", bad_c2s_at, "length_top_bit_set", True),
                     ("s2c", bad_s2c_at, "length_top_bit_set", True)],
          f"error records {errors}")
    check_close(records, 1, "client_closed", bytes_c2s=len(server.received),
                bytes_s2c=len(client.received), frames_c2s=1, frames_s2c=1)


@case
def length_63_bits_cut(ctx):
    """A frame that declares 2^63-1 payload bytes (the largest legal length) and ends after
    1000 of them, each way: no allocation follows the claim; at the end of the stream the frame
    record says len 9223372036854775807 and truncated, with the 1000 bytes, beside a
    stream_ended_mid_frame error."""
    proxy, client, server, forwarded, response, request_size = open_pair(ctx)
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    largest = 2**63 - 1
    rng = random.Random(63)
    payload_s2c, payload_c2s = rng.randbytes(1000), rng.randbytes(1000)
    key = mask_key(63)
    s2c_bytes = bytes([0x82, 127]) + largest.to_bytes(8, "big") + payload_s2c
    c2s_bytes = (bytes([0x82, 0x80 | 127]) + largest.to_bytes(8, "big") + key +
                 apply_mask(payload_c2s, key))
    server.send(s2c_bytes)
    client.expect(s2c_bytes, what="the server's endless frame")
    client.send(c2s_bytes)
    server.expect(c2s_bytes, what="the client's endless frame")
    server.shutdown_write()
    client.expect_eof(what="EOF from the server")
    client.close()
    server.expect_eof(what="EOF from the client")
    server.close()
    proxy.wait_idle()
    rss.stop()
    proxy.check_clean_exit()
    check_forwarded(client, server, forwarded, request_size)
    log(f"proxy RSS peak {rss.peak_kb / 1024:.1f} MiB")
    check(rss.peak_kb < RSS_LIMIT_KB, f"proxy RSS reached {rss.peak_kb} kB")

    records = proxy.records()
    check_only_conns(records, [1])
    for direction, payload, mask in (("s2c", payload_s2c, None), ("c2s", payload_c2s, key)):
        frames = of_type(records, "frame", 1, direction)
        check(len(frames) == 1, f"{direction}: {len(frames)} frame records, expected 1")
        expected = {"seq": 0, "offset": 0, "fin": True, "opcode": OP_BINARY, "op": "binary",
                    "len": largest, "masked": mask is not None, "hex": payload.hex(),
                    "truncated": True}
        if mask is not None:
            expected["mask"] = key.hex()
        check_fields(frames[0], expected, f"{direction} frame record")
    check_errors(records, 1, [{"dir": "s2c", "offset": 0, "code": "stream_ended_mid_frame"},
                              {"dir": "c2s", "offset": 0, "code": "stream_ended_mid_frame"}])
    check_close(records, 1, "server_closed", bytes_c2s=len(server.received),
                bytes_s2c=len(client.received), frames_c2s=1, frames_s2c=1)


@case
def non_minimal_lengths(ctx):
    """Lengths in a longer encoding than needed (RFC 6455 §5.2: "the minimal number of bytes
    MUST be used"), data and control frames, each way: a non-fatal non_minimal_length at each
    frame, the frames still decoded, the bytes unchanged."""
    proxy, client, server, forwarded, response, request_size = open_pair(ctx)
    c2s, s2c = Side("c2s"), Side("s2c")
    for side, peer, other in ((c2s, client, server), (s2c, server, client)):
        nm = [("non_minimal_length", 0)]
        sent = (side.frame(OP_TEXT, b"", length16=True, errors=nm) +
                side.frame(OP_TEXT, b"short", length16=True, errors=nm) +
                side.frame(OP_BINARY, bytes(range(125)), length16=True, errors=nm) +
                side.frame(OP_BINARY, bytes(200), length64=True, errors=nm) +
                side.frame(OP_BINARY, bytes(65535), length64=True, errors=nm) +
                side.frame(OP_PING, b"p", length16=True, errors=nm) +
                side.frame(OP_TEXT, b"minimal"))
        peer.send(sent)
        other.expect(sent, what=f"{side.direction} frames with long length encodings")
    close_pair(proxy, client, server)
    check_forwarded(client, server, forwarded, request_size)
    records = proxy.records()
    check_frames(records, 1, c2s)
    check_frames(records, 1, s2c)
    check_errors(records, 1, c2s.errors + s2c.errors)
    check_close(records, 1, "client_closed", frames_c2s=7, frames_s2c=7)


@case
def fragments_100k(ctx):
    """A text message in 100,000 one-byte masked fragments and never a FIN, with message
    records on: 100,000 frame records, memory flat (nothing accumulates past --max-payload),
    and at the end of the stream one stream_ended_mid_message."""
    count = 100_000
    # A short record queue: the 8192 records the default lets wait would leave glibc holding
    # ~10 MiB after they are written, enough to hide a leak of ~100 bytes per frame.
    full = ctx.output() + ".full"
    proxy, client, server, forwarded, response, request_size = open_pair(
        ctx, ["--emit", "both", "--max-payload", "4KiB", "--queue", "256"], output=full)
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    c2s = Side("c2s")
    chunks = [c2s.frame(OP_TEXT, b"a", fin=False)]
    for i in range(1, count):
        chunks.append(c2s.frame(OP_CONTINUATION, b"a", fin=False, text=True))
    sent = b"".join(chunks)
    started = time.monotonic()
    join = in_background(client.send, sent, False, 0.0003, 30)
    server.expect(sent, timeout=30, what="the 100,000 fragments")
    join()
    client.shutdown_write()
    server.expect_eof(what="EOF after the fragments")
    server.close()
    client.expect_eof(what="EOF from the server")
    client.close()
    proxy.wait_idle(timeout=20)
    rss.stop()
    log(f"{count} fragments ({len(sent)} bytes) through in {time.monotonic() - started:.2f} s; "
        f"proxy RSS peak {rss.peak_kb / 1024:.1f} MiB")
    check(rss.peak_kb < RSS_LIMIT_KB, f"proxy RSS reached {rss.peak_kb} kB")
    proxy.check_clean_exit()
    check_forwarded(client, server, forwarded, request_size)
    records = proxy.records()
    check_frames(records, 1, c2s)
    check(not of_type(records, "message", 1), "a message record for a message never finished")
    check_errors(records, 1, [{"dir": "c2s", "offset": c2s.offset,
                               "code": "stream_ended_mid_message"}])
    check_close(records, 1, "client_closed", bytes_c2s=len(server.received),
                frames_c2s=count, frames_s2c=0)
    sample_for_schema(full, ctx.output())


@case
def invalid_utf8(ctx):
    """Invalid UTF-8 wherever text may be, each way: overlong, surrogate and past-U+10FFFF
    sequences, a message ending inside a character, an invalid byte in a later fragment, a
    character split validly across fragments (no error), and a close reason. Each error at the
    byte RFC 6455 §8.1 would fail on; records stay valid UTF-8 (payloads as hex, reasons with
    U+FFFD)."""
    proxy, client, server, forwarded, response, request_size = open_pair(ctx, ["--emit", "both"])
    sides = {"c2s": Side("c2s"), "s2c": Side("s2c")}
    messages = {"c2s": [], "s2c": []}  # expected message records (op, field, value)
    for direction, peer, other in (("c2s", client, server), ("s2c", server, client)):
        side = sides[direction]
        hs = 6 if direction == "c2s" else 2  # header with and without the masking key
        sent = (side.frame(OP_TEXT, b"ab\xc0\xafcd", errors=[("invalid_utf8", hs + 2)]) +
                side.frame(OP_TEXT, b"\xed\xa0\x80", errors=[("invalid_utf8", hs + 1)]) +
                side.frame(OP_TEXT, b"\xf4\x90\x80\x80", errors=[("invalid_utf8", hs + 1)]) +
                side.frame(OP_TEXT, b"ab\xe2\x82", errors=[("invalid_utf8", hs + 4)]) +
                side.frame(OP_TEXT, b"\xe2\x82", fin=False) +
                side.frame(OP_CONTINUATION, b"(", text=True, errors=[("invalid_utf8", hs)]) +
                side.frame(OP_TEXT, b"\xe2", fin=False) +
                side.frame(OP_CONTINUATION, b"\x82\xac"))
        messages[direction] = [("hex", b"ab\xc0\xafcd".hex()), ("hex", "eda080"),
                               ("hex", "f4908080"), ("hex", b"ab\xe2\x82".hex()),
                               ("hex", b"\xe2\x82(".hex()), ("text", "\u20ac")]
        close_at = side.offset
        sent += side.frame(OP_CLOSE, close_payload(1000, b"bye \xff\xfe"),
                           errors=[("invalid_close_reason", 0)])
        peer.send(sent)
        other.expect(sent, what=f"{direction} frames with invalid UTF-8")
        side.close_at = close_at
    server.shutdown_write()
    client.expect_eof(what="EOF after the server's close frame")
    close_pair(proxy, client, server)
    check_forwarded(client, server, forwarded, request_size)

    records = proxy.records()
    check_only_conns(records, [1])
    for direction, side in sides.items():
        check_frames(records, 1, side)
        close_frame = [f for f in of_type(records, "frame", 1, direction)
                       if f.get("op") == "close"]
        check(len(close_frame) == 1 and close_frame[0].get("close_code") == 1000,
              f"{direction}: close frame record {[brief(f) for f in close_frame]}")
        reason = close_frame[0].get("close_reason", "")
        check(reason.startswith("bye ") and "\ufffd" in reason,
              f"{direction}: the invalid close reason is shown as {reason!r}, expected 'bye ' "
              f"and U+FFFD")
        got = [("text", m["text"]) if "text" in m else ("hex", m.get("hex"))
               for m in of_type(records, "message", 1, direction)]
        check(got == messages[direction], f"{direction}: message records {got}, expected "
                                          f"{messages[direction]}")
    check_errors(records, 1, sides["c2s"].errors + sides["s2c"].errors)
    check_close(records, 1, "server_closed", frames_c2s=len(sides["c2s"].frames),
                frames_s2c=len(sides["s2c"].frames))


def frame_data(record):
    """A frame or message record's payload bytes, from whichever field holds them."""
    if "text" in record:
        return record["text"].encode("utf-8")
    return bytes.fromhex(record.get("hex", ""))


@case
def deflate_across_fragments(ctx):
    """permessage-deflate with context takeover, messages split across fragments (RSV1 on the
    first only, RFC 7692 §6.1). Server: a message in three fragments, one that refers back to
    it, one whose inflated text is not UTF-8, one whose second fragment does not inflate, then
    one more (shown as sent from then on). Client: a 16 MiB bomb in eight fragments against
    --max-message 3MiB, then one more. Errors at the fragment where each went wrong, bytes
    unchanged."""
    upstream = ctx.upstream()
    limit = 3 * 1024 * 1024
    proxy = ctx.proxy(upstream.port, ctx.output(), ["--emit", "both", "--max-message", "3MiB"])
    client, server, forwarded, response = deflate_upgrade(ctx, proxy, upstream)
    request_size = len(client.sent)
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)

    def compressed(data, keep_tail=False):
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return out if keep_tail else out[:-4]

    def split(data, parts):
        step = -(-len(data) // parts)
        return [data[i:i + step] for i in range(0, len(data), step)]

    text = b"the quick brown fox jumps over the lazy dog; " * 40
    s2c = Side("s2c")
    sent = b""
    first = split(compressed(text), 3)
    sent += s2c.frame(OP_TEXT, first[0], fin=False, rsv=4, text=False)
    sent += s2c.frame(OP_CONTINUATION, first[1], fin=False, text=False)
    sent += s2c.frame(OP_CONTINUATION, first[2], text=False)
    second = split(compressed(text), 2)  # mostly back-references into the first
    sent += s2c.frame(OP_TEXT, second[0], fin=False, rsv=4, text=False)
    sent += s2c.frame(OP_CONTINUATION, second[1], text=False)
    bad_text_at = s2c.offset
    sent += s2c.frame(OP_TEXT, compressed(b"caf\xc3 ok \xff"), rsv=4, text=False)
    sent += s2c.frame(OP_TEXT, compressed(b"part one ", keep_tail=True), fin=False, rsv=4,
                      text=False)
    corrupt_at = s2c.offset
    # After the sync flush a block header starts: BFINAL 1, BTYPE 11 is reserved.
    sent += s2c.frame(OP_CONTINUATION, b"\xff\xff\xff\xff", text=False)
    later = raw_deflate(b"later")
    later_at = s2c.offset
    sent += s2c.frame(OP_TEXT, later, rsv=4, text=False)
    server.send(sent)
    client.expect(sent, what="the server's compressed fragments")

    bomb = split(raw_deflate(bytes(16 * 1024 * 1024)), 8)
    # Where the cap is crossed: zlib gives all it can for the input it has, in wssniff as here.
    inflater = zlib.decompressobj(-15)
    produced, crossing = 0, None
    for i, part in enumerate(bomb):
        produced += len(inflater.decompress(part))
        if crossing is None and produced > limit:
            crossing = i
    check(crossing is not None and crossing > 0, f"the bomb crosses the cap at fragment "
                                                 f"{crossing}: not across fragments")
    c2s = Side("c2s")
    sent = b""
    bomb_at = []
    for i, part in enumerate(bomb):
        bomb_at.append(c2s.offset)
        sent += c2s.frame(OP_BINARY if i == 0 else OP_CONTINUATION, part,
                          fin=i == len(bomb) - 1, rsv=4 if i == 0 else 0)
    after_bomb = raw_deflate(b"after the bomb")
    sent += c2s.frame(OP_TEXT, after_bomb, rsv=4, text=False)
    client.send(sent)
    server.expect(sent, timeout=10, what="the client's compressed bomb")
    close_pair(proxy, client, server)
    rss.stop()
    check_forwarded(client, server, forwarded, request_size)
    log(f"bomb crosses --max-message at fragment {crossing}; proxy RSS peak "
        f"{rss.peak_kb / 1024:.1f} MiB")
    check(rss.peak_kb < RSS_LIMIT_KB, f"proxy RSS reached {rss.peak_kb} kB")

    records = proxy.records()
    check_only_conns(records, [1])
    check_errors(records, 1, [
        {"dir": "s2c", "offset": bad_text_at, "code": "invalid_utf8"},
        {"dir": "s2c", "offset": corrupt_at, "code": "inflate_failed"},
        {"dir": "c2s", "offset": bomb_at[crossing], "code": "inflate_limit"}])
    frames = of_type(records, "frame", 1, "s2c")
    check(len(frames) == len(s2c.frames), f"{len(frames)} s2c frame records, expected "
                                          f"{len(s2c.frames)}")
    for record, expected in zip(frames, s2c.frames):
        check_fields(record, {k: expected[k] for k in ("seq", "offset", "fin", "rsv1", "opcode",
                                                       "len")}, "s2c frame record")
    for i in range(8):
        check(frames[i].get("compressed") is True, f"s2c frame {i} not marked compressed: "
                                                   f"{brief(frames[i])}")
    check(b"".join(frame_data(f) for f in frames[0:3]) == text,
          "the first message's fragments do not inflate to its text")
    check(b"".join(frame_data(f) for f in frames[3:5]) == text,
          "the second message (context takeover) does not inflate to the same text")
    check(frame_data(frames[6]) == b"part one ", f"the fragment before the corrupt one: "
                                                 f"{brief(frames[6])}")
    check(frames[7].get("data_len") == 0, f"the corrupt fragment shows inflated data: "
                                          f"{brief(frames[7])}")
    check(frames[8].get("compressed") is not True and frame_data(frames[8]) == later,
          f"after inflate_failed, payloads are not shown as sent: {brief(frames[8])}")
    check(frames[8].get("offset") == later_at, "the frame after the failure is misplaced")
    got = [(m.get("compressed"), frame_data(m)) for m in of_type(records, "message", 1, "s2c")]
    check(got[:2] == [(True, text), (True, text)], f"s2c message records: {got[:2]}")
    check(got[2] == (True, b"caf\xc3 ok \xff"), f"the invalid text message: {got[2]}")
    check(got[-1] == (False, later), f"the message after the failure: {got[-1]}")
    c2s_frames = of_type(records, "frame", 1, "c2s")
    check(len(c2s_frames) == 9, f"{len(c2s_frames)} c2s frame records, expected 9")
    check(sum(f.get("data_len", 0) for f in c2s_frames[:8]) <= limit,
          "the bomb's fragments inflated past --max-message")
    check(c2s_frames[8].get("compressed") is not True and frame_data(c2s_frames[8]) ==
          after_bomb, f"after inflate_limit, payloads are not shown as sent: "
                      f"{brief(c2s_frames[8])}")
    check_close(records, 1, "client_closed", frames_c2s=9, frames_s2c=len(s2c.frames))


# --- absurd handshake heads -------------------------------------------------------------------

def head_exchange(ctx, proxy, upstream, n, request, response, *, forwarded=None, c2s_after=b"",
                  s2c_after=b""):
    """One connection: the client's request (`forwarded`: as the upstream must receive it,
    default unchanged), the upstream's response, then raw bytes each way, then the client
    closes. Every byte is checked where it arrives."""
    client = ctx.track(connect(proxy.port, f"client {n}"))
    join = in_background(client.send, request)
    server = ctx.track(upstream.accept(f"upstream {n}"))
    forwarded = request if forwarded is None else forwarded
    server.expect(forwarded, timeout=10, what=f"conn {n}: the request")
    join()
    join = in_background(server.send, response)
    client.expect(response, timeout=10, what=f"conn {n}: the response")
    join()
    if c2s_after:
        client.send(c2s_after)
        server.expect(c2s_after, what=f"conn {n}: the client's bytes after the heads")
    if s2c_after:
        server.send(s2c_after)
        client.expect(s2c_after, what=f"conn {n}: the server's bytes after the heads")
    client.close()
    server.expect_eof(what=f"conn {n}: EOF after the client closed")
    server.close()
    proxy.wait_idle()
    return len(forwarded) + len(c2s_after), len(response) + len(s2c_after)


def after_upgrade(n):
    """A frame each way, as they would follow a 101."""
    return (frame(OP_TEXT, b"hello %d" % n, mask=mask_key(n)), frame(OP_TEXT, b"hi %d" % n))


def check_undecoded(records, conn, bytes_c2s, bytes_s2c, reason="client_closed"):
    """A connection whose heads could not be read: no handshake or frame record, whatever
    bytes followed; the close record counts every byte."""
    check(not of_type(records, "handshake", conn), f"conn {conn}: a handshake record")
    check(not of_type(records, "frame", conn), f"conn {conn}: frame records although no "
                                               f"upgrade was seen")
    check_close(records, conn, reason, bytes_c2s=bytes_c2s, bytes_s2c=bytes_s2c, frames_c2s=0,
                frames_s2c=0)


@case
def head_too_large(ctx):
    """HTTP heads past the 64 KiB limit: a request with a 32 MiB header line (conn 1) and a
    response with a 100 KiB one (conn 2). Each: one fatal head_too_large for its direction,
    every byte forwarded unchanged (the oversized request keeps its Host: nothing rewrites what
    cannot be parsed), and the proxy's memory does not follow the head's size."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output())
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    key = websocket_key(1)
    request = upgrade_request(f"{LOOPBACK}:{proxy.port}", key,
                              extra=[("X-Padding", "p" * (32 * 1024 * 1024))])
    c2s_after, s2c_after = after_upgrade(1)
    sizes1 = head_exchange(ctx, proxy, upstream, 1, request, upgrade_response(key),
                           c2s_after=c2s_after, s2c_after=s2c_after)
    key = websocket_key(2)
    request = upgrade_request(f"{LOOPBACK}:{proxy.port}", key)
    c2s_after, s2c_after = after_upgrade(2)
    sizes2 = head_exchange(ctx, proxy, upstream, 2, request,
                           upgrade_response(key, extra=[("X-Padding", "p" * 100 * 1024)]),
                           forwarded=rewrite_host(request, upstream.authority),
                           c2s_after=c2s_after, s2c_after=s2c_after)
    rss.stop()
    grown = rss.peak_kb - proxy.baseline_rss_kb
    log(f"proxy RSS peak {rss.peak_kb / 1024:.1f} MiB, {grown / 1024:.1f} MiB over its start, "
        f"while a 32 MiB head went through")
    check(grown < 16 * 1024, f"the proxy's RSS grew by {grown} kB while a 32 MiB head went "
                             f"through: it holds the head")
    proxy.check_clean_exit()
    records = proxy.records()
    check_only_conns(records, [1, 2])
    check_fatal_error(records, 1, "c2s", "head_too_large", detail="65536 bytes")
    check_undecoded(records, 1, *sizes1)
    check_fatal_error(records, 2, "s2c", "head_too_large", detail="65536 bytes")
    check_undecoded(records, 2, *sizes2)


@case
def many_headers(ctx):
    """4,000 request headers and 3,000 response headers, within the 64 KiB limit: no error; the
    handshake record lists every one in wire order; frames are decoded after it."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output())
    key = websocket_key(1)
    request = upgrade_request(f"{LOOPBACK}:{proxy.port}", key,
                              extra=[(f"X-H{i}", str(i)) for i in range(4000)])
    response = upgrade_response(key, extra=[(f"X-R{i}", str(i)) for i in range(3000)])
    check(len(request) < 65536 and len(response) < 65536, "heads past the limit")
    forwarded = rewrite_host(request, upstream.authority)
    c2s_after, s2c_after = after_upgrade(1)
    head_exchange(ctx, proxy, upstream, 1, request, response, forwarded=forwarded,
                  c2s_after=c2s_after, s2c_after=s2c_after)
    proxy.check_clean_exit()
    records = proxy.records()
    check_no_errors(records, 1)
    handshakes = of_type(records, "handshake", 1)
    check(len(handshakes) == 1, f"{len(handshakes)} handshake records")
    check_fields(handshakes[0], {"status": 101, "request_headers": header_list(forwarded),
                                 "response_headers": header_list(response)}, "handshake record")
    check(len(handshakes[0]["request_headers"]) == 4005, "not every request header listed")
    frames = of_type(records, "frame", 1)
    check([(f.get("dir"), f.get("text")) for f in frames] ==
          [("c2s", "hello 1"), ("s2c", "hi 1")], f"frames: {[brief(f) for f in frames]}")


@case
def malformed_heads(ctx):
    """Heads that are not HTTP/1.1 as RFC 9112 has it, one connection each; every byte is
    forwarded unchanged:
    1 a request header line without a colon; 2 the same in the response; 3 bytes before the
    request line; 4 empty lines before it (allowed, RFC 9112 §2.2: no error); 5 a byte before
    the status line; 6 a TLS ClientHello on the plain port. 1, 2, 3, 5, 6: one fatal
    malformed_head saying what was wrong, and nothing decoded after it."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output())
    authority = f"{LOOPBACK}:{proxy.port}"
    sizes = {}

    def request_for(n):
        return upgrade_request(authority, websocket_key(n))

    # 1: the head completes, so the rewriter's parser fails too and passes it on untouched.
    request = request_for(1).replace(b"\r\nUpgrade: websocket", b"\r\nUpgrade websocket")
    sizes[1] = head_exchange(ctx, proxy, upstream, 1, request,
                             upgrade_response(websocket_key(1)), c2s_after=after_upgrade(1)[0],
                             s2c_after=after_upgrade(1)[1])
    # 2
    request = request_for(2)
    response = upgrade_response(websocket_key(2)).replace(b"\r\nUpgrade: websocket",
                                                          b"\r\nUpgrade websocket")
    sizes[2] = head_exchange(ctx, proxy, upstream, 2, request, response,
                             forwarded=rewrite_host(request, upstream.authority),
                             c2s_after=after_upgrade(2)[0], s2c_after=after_upgrade(2)[1])
    # 3
    request = b"\x00\x01\x02" + request_for(3)
    sizes[3] = head_exchange(ctx, proxy, upstream, 3, request,
                             upgrade_response(websocket_key(3)), c2s_after=after_upgrade(3)[0],
                             s2c_after=after_upgrade(3)[1])
    # 4
    request = b"\r\n\r\n" + request_for(4)
    sizes[4] = head_exchange(ctx, proxy, upstream, 4, request,
                             upgrade_response(websocket_key(4)),
                             forwarded=b"\r\n\r\n" + rewrite_host(request_for(4),
                                                                  upstream.authority),
                             c2s_after=after_upgrade(4)[0], s2c_after=after_upgrade(4)[1])
    # 5
    request = request_for(5)
    sizes[5] = head_exchange(ctx, proxy, upstream, 5, request,
                             b"x" + upgrade_response(websocket_key(5)),
                             forwarded=rewrite_host(request, upstream.authority),
                             c2s_after=after_upgrade(5)[0], s2c_after=after_upgrade(5)[1])
    # 6: a TLS 1.2 ClientHello record header and the start of its body.
    hello = bytes.fromhex("16030100a5010000a10303") + bytes(32)
    # (the upstream answers nothing: a TLS alert would be a second malformed head)
    sizes[6] = head_exchange(ctx, proxy, upstream, 6, hello, b"")
    proxy.check_clean_exit()

    records = proxy.records()
    check_only_conns(records, range(1, 7))
    check_fatal_error(records, 1, "c2s", "malformed_head", detail="no colon")
    check_fatal_error(records, 2, "s2c", "malformed_head", detail="no colon")
    check_fatal_error(records, 3, "c2s", "malformed_head",
                      detail="does not start like an HTTP request")
    check_fatal_error(records, 5, "s2c", "malformed_head",
                      detail="does not start like an HTTP response")
    check_fatal_error(records, 6, "c2s", "malformed_head", detail="TLS handshake")
    for n in (1, 2, 3, 5, 6):
        check_undecoded(records, n, *sizes[n])
    check_no_errors(records, 4)
    handshakes = of_type(records, "handshake", 4)
    check(len(handshakes) == 1 and handshakes[0].get("status") == 101,
          f"conn 4: {[brief(h) for h in handshakes]}")
    check(len(of_type(records, "frame", 4)) == 2, "conn 4: frames after the upgrade not decoded")
    check_close(records, 4, "client_closed", bytes_c2s=sizes[4][0], bytes_s2c=sizes[4][1])


@case
def unusual_upgrades(ctx):
    """Heads a strict endpoint would refuse but that parse: wssniff records what happened and
    invents no error. 1 an HTTP/1.0 upgrade request refused with a 400 and a body (handshake
    record with status 400, nothing decoded); 2 an HTTP/1.0 upgrade request the server accepts
    (frames decoded); 3 a 101 without Upgrade and Connection headers (the server switched:
    frames decoded)."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output())
    authority = f"{LOOPBACK}:{proxy.port}"
    sizes = {}
    request = upgrade_request(authority, websocket_key(1)).replace(b" HTTP/1.1\r\n",
                                                                   b" HTTP/1.0\r\n", 1)
    body = b"version not supported\n"
    refusal = (b"HTTP/1.0 400 Bad Request\r\nContent-Length: " + str(len(body)).encode() +
               b"\r\n\r\n" + body)
    sizes[1] = head_exchange(ctx, proxy, upstream, 1, request, refusal,
                             forwarded=rewrite_host(request, upstream.authority))
    request = upgrade_request(authority, websocket_key(2)).replace(b" HTTP/1.1\r\n",
                                                                   b" HTTP/1.0\r\n", 1)
    sizes[2] = head_exchange(ctx, proxy, upstream, 2, request,
                             upgrade_response(websocket_key(2)),
                             forwarded=rewrite_host(request, upstream.authority),
                             c2s_after=after_upgrade(2)[0], s2c_after=after_upgrade(2)[1])
    request = upgrade_request(authority, websocket_key(3))
    bare = (b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: " +
            accept_for(websocket_key(3)) + b"\r\n\r\n")
    sizes[3] = head_exchange(ctx, proxy, upstream, 3, request, bare,
                             forwarded=rewrite_host(request, upstream.authority),
                             c2s_after=after_upgrade(3)[0], s2c_after=after_upgrade(3)[1])
    proxy.check_clean_exit()
    records = proxy.records()
    check_only_conns(records, [1, 2, 3])
    for n, status, frames in ((1, 400, 0), (2, 101, 2), (3, 101, 2)):
        check_no_errors(records, n)
        handshakes = of_type(records, "handshake", n)
        check(len(handshakes) == 1 and handshakes[0].get("status") == status,
              f"conn {n}: handshake records {[brief(h) for h in handshakes]}, expected one "
              f"with status {status}")
        got = of_type(records, "frame", n)
        check(len(got) == frames, f"conn {n}: {len(got)} frame records, expected {frames}")
        check_close(records, n, "client_closed", bytes_c2s=sizes[n][0], bytes_s2c=sizes[n][1])


@case
def bad_extension_params(ctx):
    """Responses that accept permessage-deflate with parameters RFC 7692 §7.1 does not allow.
    Each: a handshake record with the header as sent and no deflate parameters, one non-fatal
    invalid_extension_params; RSV1 frames then draw no reserved_bits error but are shown as
    sent, not inflated. Last, a valid response for contrast: parameters recorded, inflated."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output())
    authority = f"{LOOPBACK}:{proxy.port}"
    bad = ["permessage-deflate; server_max_window_bits=7",
           "permessage-deflate; client_max_window_bits=16",
           "permessage-deflate; server_max_window_bits=010",
           "permessage-deflate; server_no_context_takeover=1",
           "permessage-deflate; x_unknown_param",
           "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
           "permessage-deflate, permessage-deflate"]
    good = "permessage-deflate; client_max_window_bits=10; server_no_context_takeover"
    compressed = raw_deflate(b"hello")
    offer = [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]
    for n, value in enumerate(bad + [good], 1):
        key = websocket_key(n)
        request = upgrade_request(authority, key, extra=offer)
        response = upgrade_response(key, extra=[("Sec-WebSocket-Extensions", value)])
        head_exchange(ctx, proxy, upstream, n, request, response,
                      forwarded=rewrite_host(request, upstream.authority),
                      c2s_after=frame(OP_TEXT, compressed, rsv=4, mask=mask_key(n)),
                      s2c_after=frame(OP_TEXT, compressed, rsv=4))
    proxy.check_clean_exit()
    records = proxy.records()
    check_only_conns(records, range(1, len(bad) + 2))
    for n, value in enumerate(bad + [good], 1):
        handshakes = of_type(records, "handshake", n)
        check(len(handshakes) == 1, f"conn {n}: {len(handshakes)} handshake records")
        frames = of_type(records, "frame", n)
        check(len(frames) == 2, f"conn {n}: {len(frames)} frame records")
        if value == good:
            check_no_errors(records, n)
            check_fields(handshakes[0], {"extensions": value, "deflate": {
                "server_no_context_takeover": True, "client_no_context_takeover": False,
                "server_max_window_bits": 15, "client_max_window_bits": 10}},
                f"conn {n} handshake")
            for f in frames:
                check(f.get("compressed") is True and f.get("text") == "hello",
                      f"conn {n}: not inflated: {brief(f)}")
            continue
        errors = of_type(records, "error", n)
        check([(e.get("code"), e.get("dir"), e.get("fatal"), "offset" in e) for e in errors] ==
              [("invalid_extension_params", "s2c", False, False)],
              f"conn {n} ({value!r}): errors {[brief(e) for e in errors]}, expected one "
              f"non-fatal invalid_extension_params")
        check_fields(handshakes[0], {"extensions": value, "deflate": None}, f"conn {n} handshake")
        for f in frames:
            check(f.get("rsv1") is True and f.get("compressed") is not True and
                  f.get("hex") == compressed.hex(),
                  f"conn {n}: an RSV1 frame is not shown as sent: {brief(f)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("wssniff")
    parser.add_argument("records_dir")
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--budget", type=float, default=85,
                        help="seconds before the case gives up (and stops its proxy)")
    args = parser.parse_args()
    os.makedirs(args.records_dir, exist_ok=True)

    ctx = Context(args.wssniff, args.records_dir, args.case)

    def run():
        with ctx.stack:
            CASES[args.case](ctx)

    return run_within_budget(args.case, args.budget, run)


if __name__ == "__main__":
    sys.exit(main())

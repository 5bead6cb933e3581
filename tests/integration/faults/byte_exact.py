#!/usr/bin/python3
"""Byte-exact exchanges through `wssniff proxy`: pipelined heads and frames in one write, with
the Host rewritten and kept, and the same conversation one byte per write.

    byte_exact.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Each case runs its own upstream and its own proxy (records in RECORDS_DIR/faults-CASE*.ndjson,
which the schema suite validates afterwards) and ends in one PASS or FAIL line
(wssniff_kit.runner). Cases: byte_exact_pipelined, byte_exact_pipelined_keep, one_byte_writes.
"""

import random
import sys
import time

from wssniff_kit.checks import check, log
from wssniff_kit.heads import (header_list, rewrite_host, upgrade_request, upgrade_response,
                               websocket_key)
from wssniff_kit.records import (Side, brief, check_close, check_errors, check_fields,
                                 check_frames, check_only_conns, of_type, without_ts)
from wssniff_kit.runner import run_cases
from wssniff_kit.sockets import LOOPBACK, connect
from wssniff_kit.wire import (OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
                              check_same_bytes, close_payload, sha256)


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


def byte_exact_pipelined(ctx):
    records, client = scripted_exchange(ctx, ctx.upstream(), ctx.output())
    host = [v for n, v in of_type(records, "handshake")[0]["request_headers"] if n == "Host"]
    log(f"{len(records)} records; Host as forwarded: {host}")


def byte_exact_pipelined_keep(ctx):
    records, client = scripted_exchange(ctx, ctx.upstream(), ctx.output(), keep_host=True)
    log(f"{len(records)} records")


def comparable(records):
    """Records without what differs between two runs: timestamps, the run id and the client's
    port."""
    out = []
    for r in records:
        r = without_ts(r)
        r.pop("run", None)
        if r.get("type") == "handshake":
            r["client"] = "<client>"
        out.append(r)
    return out


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


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, [byte_exact_pipelined, byte_exact_pipelined_keep, one_byte_writes]))

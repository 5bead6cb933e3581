#!/usr/bin/python3
"""Half-close each way: a side that shuts down its writing half still receives everything the
other sends, and the proxy passes the FIN on.

    half_close.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Each case runs its own upstream and its own proxy (records in RECORDS_DIR/faults-CASE*.ndjson,
which the schema suite validates afterwards) and ends in one PASS or FAIL line
(wssniff_kit.runner). Cases: half_close_client, half_close_server.
"""

import random
import sys
import time

from wssniff_kit.checks import log
from wssniff_kit.pairs import upgrade
from wssniff_kit.records import Side, check_close, check_errors, check_frames, check_only_conns
from wssniff_kit.runner import run_cases
from wssniff_kit.sockets import in_background
from wssniff_kit.wire import OP_BINARY, OP_CLOSE, OP_TEXT, check_same_bytes, close_payload


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


def half_close_client(ctx):
    half_close(ctx, "client")


def half_close_server(ctx):
    half_close(ctx, "server")


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, [half_close_client, half_close_server]))

#!/usr/bin/python3
"""Resets: a side that resets in the middle of a frame, and a side that resets with its last
bytes still unread by the proxy (they must all arrive before the reset is passed on).

    resets.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Each case runs its own upstream and its own proxy (records in RECORDS_DIR/faults-CASE*.ndjson,
which the schema suite validates afterwards) and ends in one PASS or FAIL line
(wssniff_kit.runner). Cases: reset_client_mid_frame, reset_server_mid_frame,
reset_with_unread_bytes_client, reset_with_unread_bytes_server.
"""

import fcntl
import random
import struct
import sys
import time

from wssniff_kit.checks import check, log
from wssniff_kit.pairs import upgrade
from wssniff_kit.records import Side, check_close, check_errors, check_frames, check_only_conns
from wssniff_kit.runner import run_cases
from wssniff_kit.wire import OP_BINARY, OP_PING, OP_TEXT, check_same_bytes


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


def reset_client_mid_frame(ctx):
    reset_mid_frame(ctx, "client")


def reset_server_mid_frame(ctx):
    reset_mid_frame(ctx, "server")


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


def reset_with_unread_bytes_client(ctx):
    reset_with_unread_bytes(ctx, "client")


def reset_with_unread_bytes_server(ctx):
    reset_with_unread_bytes(ctx, "server")


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, [reset_client_mid_frame, reset_server_mid_frame,
                                 reset_with_unread_bytes_client, reset_with_unread_bytes_server]))

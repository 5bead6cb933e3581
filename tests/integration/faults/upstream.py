#!/usr/bin/python3
"""The upstream misbehaving: not there, gone right after its 101, accepting and then stalling
the handshake, never accepting the connect.

    upstream.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Each case runs its own upstream and its own proxy (records in RECORDS_DIR/faults-CASE*.ndjson,
which the schema suite validates afterwards) and ends in one PASS or FAIL line
(wssniff_kit.runner). Cases: upstream_down, upstream_closes_after_101, upstream_stalls_handshake,
handshake_timeout_spares_upgraded, upstream_connect_stalls.
"""

import re
import socket
import sys
import time

from wssniff_kit.checks import CheckFailed, check, log
from wssniff_kit.heads import rewrite_host, upgrade_request, upgrade_response, websocket_key
from wssniff_kit.pairs import upgrade
from wssniff_kit.records import (Side, brief, check_close, check_errors, check_no_errors,
                                 check_only_conns, check_unreachable, of_type)
from wssniff_kit.runner import run_cases
from wssniff_kit.sockets import LOOPBACK, connect, unused_port
from wssniff_kit.wire import OP_CLOSE, OP_TEXT, check_same_bytes, close_payload


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


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, [upstream_down, upstream_closes_after_101,
                                 upstream_stalls_handshake, handshake_timeout_spares_upgraded,
                                 upstream_connect_stalls]))

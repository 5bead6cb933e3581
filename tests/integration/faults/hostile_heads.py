#!/usr/bin/python3
"""Absurd handshake heads: too large, too many headers, malformed, unusual upgrades, bad
extension parameters.

    hostile_heads.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Each case runs its own upstream and its own proxy (records in RECORDS_DIR/faults-CASE*.ndjson,
which the schema suite validates afterwards) and ends in one PASS or FAIL line
(wssniff_kit.runner). Cases: head_too_large, many_headers, malformed_heads, unusual_upgrades,
bad_extension_params.
"""

import sys

from wssniff_kit.checks import check, log
from wssniff_kit.heads import (accept_for, header_list, rewrite_host, upgrade_request,
                               upgrade_response, websocket_key)
from wssniff_kit.proxy import RssMonitor
from wssniff_kit.records import (brief, check_close, check_fatal_error, check_fields,
                                 check_no_errors, check_only_conns, of_type)
from wssniff_kit.runner import run_cases
from wssniff_kit.sockets import LOOPBACK, connect, in_background
from wssniff_kit.wire import OP_TEXT, frame, mask_key, raw_deflate


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


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, [head_too_large, many_headers, malformed_heads, unusual_upgrades,
                                 bad_extension_params]))

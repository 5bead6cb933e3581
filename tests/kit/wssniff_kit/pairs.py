"""A client and an upstream connected through the proxy under test: the upgrade, opening and
closing such a pair, and checking what crossed it.
"""

import time

from wssniff_kit.checks import CheckFailed
from wssniff_kit.heads import rewrite_host, upgrade_request, upgrade_response, websocket_key
from wssniff_kit.sockets import LOOPBACK, connect
from wssniff_kit.wire import check_same_bytes

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

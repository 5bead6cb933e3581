#!/usr/bin/python3
"""Resource limits: the proxy out of file descriptors, and 500 connections at once.

    limits.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Each case runs its own upstream and its own proxy (records in RECORDS_DIR/faults-CASE*.ndjson,
which the schema suite validates afterwards) and ends in one PASS or FAIL line
(wssniff_kit.runner). Cases: fd_exhaustion, concurrent_500.
"""

import resource
import selectors
import socket
import sys
import threading
import time

from wssniff_kit.checks import CheckFailed, check, log
from wssniff_kit.echo import EchoUpstream
from wssniff_kit.heads import rewrite_host, take_upgrade_response, upgrade_request, websocket_key
from wssniff_kit.pairs import upgrade
from wssniff_kit.proxy import RETAINED_KB_PER_PEAK_CONNECTION, RSS_SETTLE_KB, RssMonitor
from wssniff_kit.records import brief, check_fields, check_only_conns, of_type
from wssniff_kit.runner import run_cases
from wssniff_kit.sockets import LOOPBACK, connect, exchange
from wssniff_kit.wire import (OP_CLOSE, OP_TEXT, check_same_bytes, close_payload, frame, mask_key,
                              parse_frame)


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


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, [fd_exhaustion, concurrent_500]))

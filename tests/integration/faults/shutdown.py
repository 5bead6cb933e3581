#!/usr/bin/python3
"""SIGTERM with connections open, idle and under load.

    shutdown.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Each case runs its own upstream and its own proxy (records in RECORDS_DIR/faults-CASE*.ndjson,
which the schema suite validates afterwards) and ends in one PASS or FAIL line
(wssniff_kit.runner). Cases: sigterm_open_connections, sigterm_under_load.
"""

import random
import selectors
import sys
import time

from wssniff_kit.checks import check, log
from wssniff_kit.echo import EchoUpstream
from wssniff_kit.heads import (accept_for, rewrite_host, take_upgrade_response, upgrade_request,
                               websocket_key)
from wssniff_kit.records import brief, check_close, check_only_conns, of_type
from wssniff_kit.runner import run_cases
from wssniff_kit.sockets import LOOPBACK, connect, exchange, in_background
from wssniff_kit.wire import OP_BINARY, OP_TEXT, frame, mask_key, parse_frame


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


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, [sigterm_open_connections, sigterm_under_load]))

#!/usr/bin/python3
"""`--filter` and `--conn-filter` through `wssniff proxy`, and their errors in every command:

    filter_cases.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Real peers (npm ws and python3-websockets servers, a python3-websockets client) and raw
sockets (byte-exact) through the proxy. Records go to RECORDS_DIR/filter-CASE*.ndjson (the
schema suite validates them). Cases: see CASES below.
"""

import asyncio
import json
import os
import subprocess
import sys

import websockets

from wssniff_kit.checks import check, log
from wssniff_kit.pairs import check_forwarded, close_pair, open_pair
from wssniff_kit.processes import Process
from wssniff_kit.records import of_type
from wssniff_kit.wire import close_payload, frame, mask_key

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.path.join(HERE, "..", "replay")
PYTHON = "/usr/bin/python3"
CHAT_ONLY = r"hs.target matches /^\/ws\/chat/"


def start_server(ctx, kind):
    """The replay tests' echo server (greets each connection with {"hello":"welcome"})."""
    os.environ["REPLAY_DEFLATE"] = "0"
    os.environ["REPLAY_TLS_CERT"] = ""
    os.environ["REPLAY_TLS_KEY"] = ""
    if kind == "ws":
        argv = [os.environ.get("WSSNIFF_NODE") or "node", os.path.join(REPLAY, "ws_server.js")]
    else:
        argv = [PYTHON, os.path.join(REPLAY, "websockets_server.py")]
    server = Process(f"{kind} server", argv, REPLAY)
    ctx.stack.callback(server.kill)
    return int(server.wait_line(r"listening (\d+)", 20).group(1))


# What each connection sends and must get back unchanged: text, JSON, 200 KB of binary.
MESSAGES = ["hello", json.dumps({"type": "trade", "price": 150}), bytes(range(256)) * 800]


async def converse(port, target):
    async with websockets.connect(f"ws://127.0.0.1:{port}{target}", ping_interval=None,
                                  max_size=None, compression=None) as ws:
        greeting = await ws.recv()
        check(greeting == '{"hello":"welcome"}', f"{target}: greeting {greeting!r}")
        for message in MESSAGES:
            await ws.send(message)
            echoed = await ws.recv()
            check(echoed == message, f"{target}: {len(message)}-unit message came back "
                                     f"different ({len(echoed)} units)")
        await ws.close(1000, "done")


def conn_filter_with(ctx, kind):
    port = start_server(ctx, kind)
    output = ctx.output()
    proxy = ctx.proxy(port, output, ["--conn-filter", CHAT_ONLY, "--emit", "both"])
    # One after the other, so that conn 1 is the chat and conn 2 the feed.
    asyncio.run(converse(proxy.port, "/ws/chat?room=1"))
    asyncio.run(converse(proxy.port, "/ws/feed"))
    proxy.wait_idle()
    proxy.stop()
    records = proxy.records()
    chat = [r for r in records if r["conn"] == 1]
    feed = [r for r in records if r["conn"] == 2]
    check([r["type"] for r in chat[:1]] == ["handshake"], f"the chat's first record: {chat[:1]}")
    check(len(of_type(chat, "message")) == 2 * len(MESSAGES) + 1,
          f"the chat's messages: {len(of_type(chat, 'message'))}")
    check([r["type"] for r in feed] == ["close"], f"the feed's records: {feed}")
    close = feed[0]
    # Every byte the feed's sockets carried is counted, though none was decoded: at least the
    # 200 KB each way, and exactly what the chat's close says for the same conversation but
    # for the request's target ("/ws/feed" is 7 bytes shorter than "/ws/chat?room=1").
    chat_close = of_type(chat, "close")[0]
    check(close["bytes_c2s"] == chat_close["bytes_c2s"] - 7,
          f"feed bytes_c2s {close['bytes_c2s']}, chat {chat_close['bytes_c2s']}")
    check(close["bytes_s2c"] == chat_close["bytes_s2c"],
          f"feed bytes_s2c {close['bytes_s2c']}, chat {chat_close['bytes_s2c']}")
    check(close["reason"] in ("client_closed", "server_closed"), f"feed close: {close}")


def conn_filter_ws_server(ctx):
    """npm ws server, python3-websockets client: the rejected connection's messages come back
    whole, and it writes nothing but its close record."""
    conn_filter_with(ctx, "ws")


def conn_filter_websockets_server(ctx):
    """The same against a python3-websockets server."""
    conn_filter_with(ctx, "websockets")


def conn_filter_bytes_exact(ctx):
    """Raw sockets: a rejected connection's bytes arrive exactly, frames in both directions
    (masked, fragmented, a 70000-byte one, invalid UTF-8 that a decoder would report), and its
    only record is its close, counting every byte."""
    proxy, client, server, forwarded, response, request_size = open_pair(
        ctx, ["--conn-filter", 'hs.target == "/elsewhere"'])
    payload = bytes(i % 251 for i in range(70000))
    client.send(frame(0x1, b"hel", fin=False, mask=mask_key(1)) +
                frame(0x9, b"p", mask=mask_key(2)) +
                frame(0x0, b"lo", mask=mask_key(3)))
    server.expect(frame(0x1, b"hel", fin=False, mask=mask_key(1)) +
                  frame(0x9, b"p", mask=mask_key(2)) + frame(0x0, b"lo", mask=mask_key(3)))
    server.send(frame(0x2, payload, length64=True) + frame(0x1, b"\xff\xfe"))
    client.expect(frame(0x2, payload, length64=True) + frame(0x1, b"\xff\xfe"))
    client.send(frame(0x8, close_payload(1000, b"bye"), mask=mask_key(4)))
    server.expect(frame(0x8, close_payload(1000, b"bye"), mask=mask_key(4)))
    server.send(frame(0x8, close_payload(1000)))
    client.expect(frame(0x8, close_payload(1000)))
    check_forwarded(client, server, forwarded, request_size)
    close_pair(proxy, client, server)
    records = proxy.records()
    check([r["type"] for r in records] == ["close"], f"records: {records}")
    check(records[0]["bytes_c2s"] == len(server.received),
          f"bytes_c2s {records[0]['bytes_c2s']}, upstream received {len(server.received)}")
    check(records[0]["bytes_s2c"] == len(client.received),
          f"bytes_s2c {records[0]['bytes_s2c']}, client received {len(client.received)}")


def filter_in_proxy(ctx):
    """--filter keeps the matching records only; the bytes are forwarded whatever it says."""
    expression = ('type in {"error","close"} or '
                  '(dir == "s2c" and json.type == "trade" and json.price > 100)')
    proxy, client, server, forwarded, response, request_size = open_pair(
        ctx, ["--filter", expression])
    pushes = [{"type": "trade", "price": 50}, {"type": "quote", "price": 500},
              {"type": "trade", "price": 101.5}, {"type": "trade"}]
    for push in pushes:
        data = frame(0x1, json.dumps(push).encode())
        server.send(data)
        client.expect(data)
    client.send(frame(0x1, b'{"type":"trade","price":1000}', mask=mask_key(5)))
    server.expect(frame(0x1, b'{"type":"trade","price":1000}', mask=mask_key(5)))
    client.send(frame(0x3, b"", mask=mask_key(6)))  # a reserved opcode: an error record
    server.expect(frame(0x3, b"", mask=mask_key(6)))
    check_forwarded(client, server, forwarded, request_size)
    close_pair(proxy, client, server)
    records = proxy.records()
    kept = [(r["type"], r.get("text"), r.get("code")) for r in records]
    check(kept == [("frame", '{"type": "trade", "price": 101.5}', None),
                   ("error", None, "reserved_opcode"), ("close", None, None)],
          f"records kept: {kept}")


def filter_in_replay(ctx):
    """replay --filter writes only what it selects, from a replay that ran whole."""
    port = start_server(ctx, "ws")
    archive = ctx.output("-recorded")
    proxy = ctx.proxy(port, archive, ["--payload", "base64", "--emit", "both"])
    asyncio.run(converse(proxy.port, "/ws/chat"))
    proxy.wait_idle()
    proxy.stop()
    output = ctx.output("-replayed")
    expression = 'type == "close" or (type == "message" and dir == "s2c")'
    argv = [ctx.wssniff, "replay", archive, "--upstream", f"ws://127.0.0.1:{port}", "-o", output,
            "--emit", "both", "--filter", expression]
    log("+ " + " ".join(argv))
    done = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    check(done.returncode == 0, f"replay exit {done.returncode}: {done.stderr!r}")
    with open(output) as f:
        records = [json.loads(line) for line in f]
    kinds = [(r["type"], r.get("dir")) for r in records]
    # The greeting and the three echoes, then the close.
    check(kinds == [("message", "s2c")] * 4 + [("close", None)], f"replayed records: {kinds}")


BAD = 'type == "error" and len >'


def bad_expressions(ctx):
    """Every command refuses a bad expression at start, before opening anything: exit 2, the
    problem with its column, the expression and a caret under the problem."""
    output = ctx.output("-never")
    commands = [
        ["proxy", "--upstream", "ws://127.0.0.1:9", "--listen", "127.0.0.1:0"],
        ["decode", "--c2s", "/nonexistent.c2s", "--s2c", "/nonexistent.s2c"],
        ["replay", "/nonexistent.ndjson", "--upstream", "ws://127.0.0.1:9"],
        ["demo"],
    ]
    for command in commands:
        for option in ("--filter", "--conn-filter"):
            argv = [ctx.wssniff] + command + [option, BAD, "-o", output]
            log("+ " + " ".join(argv))
            done = subprocess.run(argv, capture_output=True, timeout=20,
                                  stdin=subprocess.DEVNULL)
            lines = done.stderr.decode().splitlines()
            check(done.returncode == 2, f"{command[0]} {option}: exit {done.returncode}, "
                                        f"stderr {lines}")
            check(lines == [f"wssniff: {option}: expected a value (string, number, true or "
                            f"false) after '>', got the end (column 26)",
                            f"  {BAD}", " " * 27 + "^"],
                  f"{command[0]} {option}: stderr {lines}")
            check(not os.path.exists(output), f"{command[0]}: {output} was created")
    done = subprocess.run([ctx.wssniff, "proxy", "--upstream", "ws://127.0.0.1:9", "--emit",
                           "none", "--filter", "fin"], capture_output=True, timeout=20)
    check(done.returncode == 2 and b"--emit none" in done.stderr,
          f"--filter with --emit none: exit {done.returncode}, {done.stderr!r}")


CASES = [conn_filter_ws_server, conn_filter_websockets_server, conn_filter_bytes_exact,
         filter_in_proxy, filter_in_replay, bad_expressions]

if __name__ == "__main__":
    from wssniff_kit.runner import run_cases
    sys.exit(run_cases(__doc__, CASES, prefix="filter"))

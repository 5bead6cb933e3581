#!/usr/bin/python3
"""One side of a WebSocket conversation on Debian's python3-websockets, as run_case.py
plans it, over TLS or not.

    websockets_peer.py server PLAN REPORT [--cert FILE --key FILE] [--compression ...]
    websockets_peer.py client PLAN REPORT PORT [--ca FILE] [--compression ...]

The server prints "listening PORT". With --cert/--key it serves wss://; with --ca the client
connects with wss:// and verifies the certificate against that CA.

Same contract as ws_peer.js: send this side's messages, keep what arrives, print "received all"
once this side has its share, close when the plan makes this side the closer, and write REPORT
(JSON, payloads base64) when the connection is gone.

Run it with /usr/bin/python3: the python3 first on PATH may not see Debian's packages.
"""

import argparse
import asyncio
import base64
import json
import ssl
import sys

import websockets
from websockets.legacy.client import WebSocketClientProtocol
from websockets.legacy.server import WebSocketServerProtocol


class ByteCounting:
    """Counts the bytes the transport reads and is given to write, heads included (over TLS,
    the decrypted bytes, as the proxy counts them)."""

    def connection_made(self, transport):
        self.bytes_read = 0
        self.bytes_written = 0
        write = transport.write

        def counted_write(data):
            self.bytes_written += len(data)
            write(data)

        transport.write = counted_write
        super().connection_made(transport)

    def data_received(self, data):
        self.bytes_read += len(data)
        super().data_received(data)


class CountingServerProtocol(ByteCounting, WebSocketServerProtocol):
    pass


class CountingClientProtocol(ByteCounting, WebSocketClientProtocol):
    pass


def fragments_of(message):
    data = base64.b64decode(message["data"])
    # python3-websockets closes a fragmented message with an empty final frame of its own; the
    # plan lists it, so it is not sent here.
    *sizes, final = message["fragments"]
    if final != 0:
        raise ValueError(f"fragments {message['fragments']} do not end with the empty frame")
    pieces = []
    at = 0
    for size in sizes:
        pieces.append(data[at : at + size])
        at += size
    # Text fragments go out as str: run_case.py splits text only at character boundaries
    # for this peer.
    return [p.decode("utf-8") for p in pieces] if message["type"] == "text" else pieces


def payload_of(message):
    data = base64.b64decode(message["data"])
    return data.decode("utf-8") if message["type"] == "text" else data


async def converse(ws, role, plan, report):
    outgoing = plan["c2s"] if role == "client" else plan["s2c"]
    expected = len(plan["s2c"] if role == "client" else plan["c2s"])

    async def send_all():
        if role == "client" and plan["ping"]:
            pong = await ws.ping(base64.b64decode(plan["ping"]))
            pong.add_done_callback(lambda _: report["pongs"].append(plan["ping"]))
        for m in outgoing:
            await ws.send(fragments_of(m) if m["fragments"] else payload_of(m))

    sender = asyncio.create_task(send_all())
    try:
        while len(report["received"]) < expected:
            m = await ws.recv()
            kind, data = ("text", m.encode("utf-8")) if isinstance(m, str) else ("binary", m)
            report["received"].append({"type": kind, "data": base64.b64encode(data).decode()})
        await sender
        if role == "client" and plan["ping"]:
            while not report["pongs"]:
                await asyncio.sleep(0.01)
        print("received all", flush=True)
        if plan["closer"] == role:
            await ws.close(plan["close_code"], plan["close_reason"])
    except websockets.ConnectionClosed:
        pass
    await ws.wait_closed()
    sender.cancel()
    report["close"] = {"code": ws.close_code, "reason": ws.close_reason}
    report["bytes_read"] = ws.bytes_read
    report["bytes_written"] = ws.bytes_written
    report["protocol"] = ws.subprotocol


def new_report(role):
    return {
        "role": role,
        "received": [],
        "pongs": [],
        "close": None,
        "bytes_read": None,
        "bytes_written": None,
        "local_port": None,
        "host": None,
        "offered_extensions": None,
        "extensions": None,
        "protocol": None,
    }


# Keepalive pings would add frames the plan does not know about; the scripts bound the time.
COMMON = dict(ping_interval=None, max_size=None, close_timeout=10)


async def serve(plan, report, compression, tls):
    finished = asyncio.get_running_loop().create_future()

    async def handler(ws):
        if finished.done():
            raise RuntimeError("a second connection arrived")
        report["host"] = ws.request_headers.get("Host")
        report["offered_extensions"] = ws.request_headers.get("Sec-WebSocket-Extensions")
        report["local_port"] = ws.local_address[1]
        try:
            await converse(ws, "server", plan, report)
            finished.set_result(None)
        except Exception as e:  # reported to the waiting side, not swallowed
            finished.set_exception(e)

    async with websockets.serve(
        handler,
        "127.0.0.1",
        0,
        compression=compression,
        subprotocols=[plan["subprotocol"]] if plan["subprotocol"] else None,
        create_protocol=CountingServerProtocol,
        ssl=tls,
        **COMMON,
    ) as server:
        print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
        await finished


async def connect(plan, report, port, compression, tls):
    ws = await websockets.connect(
        f"{'wss' if tls else 'ws'}://127.0.0.1:{port}{plan['path']}",
        ssl=tls,
        compression=compression,
        subprotocols=[plan["subprotocol"]] if plan["subprotocol"] else None,
        create_protocol=CountingClientProtocol,
        open_timeout=10,
        **COMMON,
    )
    report["local_port"] = ws.local_address[1]
    report["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions")
    await converse(ws, "client", plan, report)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("plan")
    parser.add_argument("report")
    parser.add_argument("port", nargs="?", type=int)
    parser.add_argument("--compression", choices=["none", "deflate"], default="none")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ca")
    args = parser.parse_args()
    tls = None
    if args.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)
    elif args.ca:
        tls = ssl.create_default_context(cafile=args.ca)
    with open(args.plan, encoding="utf-8") as f:
        plan = json.load(f)
    compression = None if args.compression == "none" else "deflate"
    report = new_report(args.role)
    if args.role == "server":
        work = serve(plan, report, compression, tls)
    else:
        work = connect(plan, report, args.port, compression, tls)
    try:
        asyncio.run(asyncio.wait_for(work, plan["peer_timeout_ms"] / 1000))
    except asyncio.TimeoutError:
        sys.exit(f"websockets_peer {args.role}: timed out")
    with open(args.report, "w", encoding="utf-8") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The trading server of the expect tests on Debian's python3-websockets (the same scenario as
trading_server.js): prints "listening PORT", serves one connection, exits.

The client sends {"op":"subscribe","id":N}; the server pings, answers {"op":"ack","id":N}
(N+2 with TRADE_CHANGE=bad_id), pushes two trades, then "stats" and "motd" (swapped with
TRADE_CHANGE=swap), and waits for the client's close."""

import asyncio
import json
import os

import websockets

CHANGE = os.environ.get("TRADE_CHANGE", "none")


async def main():
    finished = asyncio.get_running_loop().create_future()

    async def handler(ws):
        try:
            request = json.loads(await ws.recv())
            await ws.ping()
            answer = request["id"] + (2 if CHANGE == "bad_id" else 0)
            await ws.send(json.dumps({"op": "ack", "id": answer}, separators=(",", ":")))
            for price in (101.5, 101.75):
                await ws.send(json.dumps({"type": "trade", "price": price},
                                         separators=(",", ":")))
            tail = ["stats", "motd"]
            for text in reversed(tail) if CHANGE == "swap" else tail:
                await ws.send(text)
            await ws.wait_closed()
        finally:
            if not finished.done():
                finished.set_result(None)

    async with websockets.serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
        print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
        await finished


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(), 15))

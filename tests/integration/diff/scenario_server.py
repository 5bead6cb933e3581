#!/usr/bin/python3
"""The server of the diff tests on Debian's python3-websockets: the scenario of
scenario_server.js (see there), DIFF_CHANGE=none|drop|change|add|reorder|stamp (several with
commas). Prints "listening PORT", serves one connection, exits."""

import asyncio
import datetime
import json
import os
import uuid

import websockets

CHANGES = os.environ.get("DIFF_CHANGE", "none").split(",")


def pushes():
    items = [{"n": 1, "price": 101.5}, {"n": 2, "price": 99.25}, {"n": 3, "price": 100}]
    if "drop" in CHANGES:
        items = [items[0], items[2]]
    if "change" in CHANGES:
        items[1]["price"] = 102
    if "add" in CHANGES:
        items.insert(2, {"n": "extra"})
    if "reorder" in CHANGES:
        items = [items[0], items[2], items[1]]
    if "stamp" in CHANGES:
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        items = [dict(p, ts=now, id=str(uuid.uuid4())) for p in items]
    return items


async def main():
    finished = asyncio.get_running_loop().create_future()

    async def handler(ws):
        try:
            async for data in ws:
                m = json.loads(data)
                if m["op"] == "subscribe":
                    for p in pushes():
                        await ws.send(json.dumps(p, separators=(",", ":")))
                    await ws.send('{"op":"done"}')
                elif m["op"] == "bye":
                    await ws.send('{"op":"bye"}')
        finally:
            if not finished.done():
                finished.set_result(None)

    async with websockets.serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
        print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
        await finished


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(), 10))

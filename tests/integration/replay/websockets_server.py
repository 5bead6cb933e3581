#!/usr/bin/python3
"""The live server of the replay tests, on Debian's python3-websockets: the same behaviour as
ws_server.js (greeting, echo, "slow" answered by "late" 700 ms later). Prints "listening PORT".

    websockets_server.py            REPLAY_DEFLATE=1: permessage-deflate offered
                                    REPLAY_TLS_CERT, REPLAY_TLS_KEY: wss:// with that certificate
"""

import asyncio
import json
import os
import ssl
import sys

import websockets


async def handler(ws, path=None):
    await ws.send(json.dumps({"hello": "welcome"}, separators=(",", ":")))
    try:
        async for message in ws:
            if message == "slow":
                await asyncio.sleep(0.7)
                await ws.send("late")
            else:
                await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main():
    compression = "deflate" if os.environ.get("REPLAY_DEFLATE") == "1" else None
    tls = None
    if os.environ.get("REPLAY_TLS_CERT"):
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(os.environ["REPLAY_TLS_CERT"], os.environ["REPLAY_TLS_KEY"])
    async with websockets.serve(handler, "127.0.0.1", 0, compression=compression,
                                ssl=tls) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)

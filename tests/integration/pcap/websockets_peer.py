"""python3-websockets peer of the pcap tests: `server` echoes every message (prints
"listening PORT"); `client URL` plays the same conversation as ws_peer.js. PCAP_DEFLATE=1:
permessage-deflate offered/accepted."""

import asyncio
import os
import sys

import websockets

COMPRESSION = "deflate" if os.environ.get("PCAP_DEFLATE") == "1" else None


def conversation():
    big = bytes((i * 7 + (i >> 9)) & 0xFF for i in range(300000))
    return ["hello", "héllo wörld — こんにちは 🌍", bytes([0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF]),
            "x" * 70000, big, "bye"]


async def echo(ws, path=None):
    async for message in ws:
        await ws.send(message)


async def server():
    async with websockets.serve(echo, "127.0.0.1", 0, compression=COMPRESSION,
                                max_size=None) as s:
        port = s.sockets[0].getsockname()[1]
        print(f"listening {port}", flush=True)
        await asyncio.Future()


async def client(url):
    async with websockets.connect(url, compression=COMPRESSION, max_size=None) as ws:
        await (await ws.ping(b"are you there"))
        for message in conversation():
            await ws.send(message)
            echoed = await ws.recv()
            if echoed != message:
                sys.exit("echo differs")
        await ws.close(1000, "done")


if sys.argv[1] == "server":
    asyncio.run(server())
else:
    asyncio.run(client(sys.argv[2]))

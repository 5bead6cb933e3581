#!/usr/bin/python3
"""The client whose sessions the HAR tests record, on python3-websockets:

    har_client.py PORT [deflate]

Receives the greeting, sends UTF-8 text, binary, an empty text and an empty binary message, a
text message in two fragments and a ping, each answered by the echo server (har_server.js), and
closes with 1000 "done". Exit 0 when every echo came back.
"""

import asyncio
import sys

import websockets


async def main(port, deflate):
    uri = f"ws://127.0.0.1:{port}/chat?room=1&user=ann"
    async with websockets.connect(uri, compression="deflate" if deflate else None,
                                  extra_headers={"Authorization": "Bearer secret-token"},
                                  ping_interval=None, max_size=None) as ws:
        assert (await ws.recv()) == '{"hello":"welcome"}'
        for message in ["héllo wörld ✓", bytes([0, 1, 2, 255]), "", b"", "y" * 3000]:
            await ws.send(message)
            assert (await ws.recv()) == message
        await ws.send(["frag-", "mented"])  # one message in two frames
        assert (await ws.recv()) == "frag-mented"
        await (await ws.ping(b"p"))
        await ws.close(1000, "done")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), len(sys.argv) > 2 and sys.argv[2] == "deflate"))

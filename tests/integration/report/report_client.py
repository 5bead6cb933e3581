#!/usr/bin/python3
"""The client whose sessions the report tests record, on python3-websockets:

    report_client.py PORT

Two connections to the echo server (../har/har_server.js), one after the other:
  1. text, JSON text, binary, a payload that tries to break out of the report's <script>
     (XSS), a ping; closes with 1000 and a reason that is HTML too.
  2. 300 short text messages (more rows than the message table draws), a ping; closes 1000.
Exit 0 when every echo came back.
"""

import asyncio
import sys

import websockets

XSS = "</script><img src=x onerror=\"window.__pwned=1;alert(1)\"><script>window.__pwned=2</script>"


async def main(port):
    uri = f"ws://127.0.0.1:{port}/chat?room=report"
    async with websockets.connect(uri, ping_interval=None, max_size=None) as ws:
        assert (await ws.recv()) == '{"hello":"welcome"}'
        for message in ["héllo wörld", '{"a":1,"b":[1,2],"c":{"d":"e"}}', bytes([0, 1, 2, 255]),
                        XSS]:
            await ws.send(message)
            assert (await ws.recv()) == message
        await (await ws.ping(b"p1"))
        await ws.close(1000, "<b>bye</b>")
    async with websockets.connect(uri, ping_interval=None, max_size=None) as ws:
        assert (await ws.recv()) == '{"hello":"welcome"}'
        for i in range(300):
            await ws.send(f"n={i}")
            assert (await ws.recv()) == f"n={i}"
        await (await ws.ping(b"p2"))
        await ws.close(1000, "done")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))

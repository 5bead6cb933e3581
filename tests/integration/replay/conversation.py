#!/usr/bin/python3
"""The client whose session the replay tests record, on python3-websockets:

    conversation.py PORT [deflate]

Receives the greeting, sends "first", a binary message after 300 ms, a ping, a JSON text,
then "slow" (whose answer comes 700 ms later) and "after", and closes with 1000 "done".
Exit 0 when every answer came back as expected.
"""

import asyncio
import sys

import websockets


async def main(port, deflate):
    uri = f"ws://127.0.0.1:{port}/chat?room=1"
    async with websockets.connect(uri, compression="deflate" if deflate else None,
                                  extra_headers={"Authorization": "Bearer secret-token"},
                                  ping_interval=None) as ws:
        assert (await ws.recv()) == '{"hello":"welcome"}'
        await ws.send("first")
        assert (await ws.recv()) == "first"
        await asyncio.sleep(0.3)
        await ws.send(bytes([0, 1, 2, 255]))
        assert (await ws.recv()) == bytes([0, 1, 2, 255])
        await (await ws.ping(b"p"))
        await ws.send('{"a":1,"b":[1,2]}')
        assert (await ws.recv()) == '{"a":1,"b":[1,2]}'
        await ws.send("slow")
        assert (await ws.recv()) == "late"
        await ws.send("after")
        assert (await ws.recv()) == "after"
        await ws.close(1000, "done")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), len(sys.argv) > 2 and sys.argv[2] == "deflate"))

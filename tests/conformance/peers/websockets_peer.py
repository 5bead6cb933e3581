#!/usr/bin/python3
"""Debian's python3-websockets as a conformance peer.

    websockets_peer.py server    echo server on 127.0.0.1 (permessage-deflate accepted as
                                 offered), prints "listening PORT", exits at EOF on stdin
    websockets_peer.py client    the client peer protocol of driver.py: JSON lines in
                                 ({"url", "deflate", "timeout"}), one JSON line out each

Run it with /usr/bin/python3: the python3 first on PATH may not see Debian's packages.
"""

import asyncio
import hashlib
import json
import sys

import websockets

# The biggest case is 16 MiB; websockets' default limit is 1 MiB.
MAX_SIZE = 64 * 1024 * 1024


async def echo(ws, path=None):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def serve():
    # No keepalive pings: the driver's outcome must depend on the case alone.
    server = await websockets.serve(echo, "127.0.0.1", 0, max_size=MAX_SIZE,
                                    ping_interval=None, compression="deflate")
    port = server.sockets[0].getsockname()[1]
    print(f"listening {port}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


async def connect_once(request):
    report = {"opened": False, "messages": [], "close_code": None, "close_reason": None,
              "clean": False, "error": None}

    async def talk():
        async with websockets.connect(request["url"], max_size=MAX_SIZE, ping_interval=None,
                                      compression="deflate" if request["deflate"] else None,
                                      open_timeout=request["timeout"]) as ws:
            report["opened"] = True
            try:
                async for message in ws:
                    binary = isinstance(message, bytes)
                    data = message if binary else message.encode("utf-8")
                    report["messages"].append({"type": "binary" if binary else "text",
                                               "sha256": hashlib.sha256(data).hexdigest(),
                                               "len": len(data)})
                    await ws.send(message)
            except websockets.ConnectionClosed:
                pass
        return ws

    try:
        ws = await asyncio.wait_for(talk(), request["timeout"])
        received = ws.close_rcvd
        if received is not None and received.code not in (1005, 1006):
            report["close_code"] = received.code
            report["close_reason"] = received.reason
        report["clean"] = received is not None and ws.close_sent is not None
        if ws.close_sent is not None and ws.close_sent.code not in (1000, 1005):
            # websockets failed the connection itself (1002, 1007, ...).
            report["error"] = f"sent close {ws.close_sent.code}"
    except asyncio.TimeoutError:
        report["error"] = "timeout"
    except Exception as e:  # reported to the driver, which compares it
        report["error"] = f"{type(e).__name__}: {e}"
    return report


async def clients():
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        if not line.strip():
            continue
        report = await connect_once(json.loads(line))
        print(json.dumps(report), flush=True)


def main():
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role == "server":
        asyncio.run(serve())
    elif role == "client":
        asyncio.run(clients())
    else:
        print("usage: websockets_peer.py server|client", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

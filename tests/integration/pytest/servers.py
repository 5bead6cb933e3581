"""A python3-websockets server on a free port, in a thread of the test process: the trading
scenario (the client subscribes with an id; the server acks with the id, or another one when
told, and pushes two trades; it closes when the client does)."""

import asyncio
import json
import threading


class TradingServer:
    def __init__(self, ack_offset=0):
        self.ack_offset = ack_offset
        self.port = None
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("server did not start")
        self.url = f"ws://127.0.0.1:{self.port}"

    async def _handler(self, ws):
        request = json.loads(await ws.recv())
        await ws.send(json.dumps({"op": "ack", "id": request["id"] + self.ack_offset}))
        for price in (101.5, 101.75):
            await ws.send(json.dumps({"type": "trade", "price": price}))
        await ws.wait_closed()

    async def _serve(self):
        import websockets
        self._stop = asyncio.get_running_loop().create_future()
        async with websockets.serve(self._handler, "127.0.0.1", 0, ping_interval=None) as s:
            self.port = s.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop

    def _run(self):
        self._loop.run_until_complete(self._serve())

    def close(self):
        self._loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))
        self._thread.join(10)


async def trading_client(url, n=3):
    import websockets
    async with websockets.connect(url, ping_interval=None, open_timeout=5) as ws:
        await ws.send(json.dumps({"op": "subscribe", "id": 5}))
        for _ in range(n):
            await ws.recv()
        await ws.close(1000, "done")

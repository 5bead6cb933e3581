"""Echoed text conversations from python3-websockets clients through a proxy, for the cases that
need records to flow and to count them (rotation, network outputs, Kafka)."""

import asyncio

import websockets

from wssniff_kit.echo import EchoUpstream


def echo_upstream(ctx):
    """An EchoUpstream that keeps no bytes, closed when the case ends."""
    echo = EchoUpstream(keep=False)
    ctx.stack.callback(echo.close)
    return echo


async def echo_session(port, index, messages, pause, path="s", filler=200):
    """Connection `index` to ws://127.0.0.1:PORT/PATHINDEX: `messages` text messages ("conn I
    message N " and `filler` bytes), each echoed, `pause` s apart; closes 1000 "done". Frames
    each way: messages + 1 (the close)."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/{path}{index}", ping_interval=None,
                                  compression=None, open_timeout=20, close_timeout=20) as ws:
        for i in range(messages):
            text = f"conn {index} message {i} " + "z" * filler
            await ws.send(text)
            assert await ws.recv() == text
            await asyncio.sleep(pause)
        await ws.close(1000, "done")


def echo_traffic(port, connections, messages, pause=0.01, first=0, path="s", filler=200,
                 stagger=0.01):
    """Connections first .. first+connections-1 at once, started `stagger` s apart so that they
    overlap unevenly, to the end."""
    async def run():
        tasks = []
        for i in range(connections):
            tasks.append(asyncio.create_task(
                echo_session(port, first + i, messages, pause, path, filler)))
            await asyncio.sleep(stagger)
        await asyncio.gather(*tasks)
    asyncio.run(run())

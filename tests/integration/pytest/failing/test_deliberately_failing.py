"""Fails on purpose (run by test_wssniff_pytest.py in a subprocess): the server acks with
another id than the client's."""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from servers import TradingServer, trading_client  # noqa: E402


def test_ack_carries_the_id(wssniff):
    server = TradingServer(ack_offset=2)
    try:
        sniff = wssniff(server.url)
        asyncio.run(trading_client(sniff.url))
        sniff.expect_sequence({"steps": [
            {"dir": "c2s", "json": {"op": "subscribe"}, "bind": {"id": "/id"}},
            {"dir": "s2c", "json": {"op": "ack"}, "equal": {"/id": "id"}},
        ]}, timeout=0.2)
    finally:
        server.close()

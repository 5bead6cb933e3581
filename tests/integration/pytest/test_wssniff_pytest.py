"""python/wssniff_pytest.py against a python3-websockets server: the fixture, streamed records,
wait_for, expect_sequence passing and failing, and a deliberately failing test run in a
subprocess whose output is checked."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from servers import TradingServer, trading_client

SPEC = {"steps": [
    {"dir": "c2s", "op": "text", "json": {"op": "subscribe"}, "bind": {"id": "/id"}},
    {"dir": "s2c", "json": {"op": "ack"}, "equal": {"/id": "id"}},
    {"dir": "s2c", "json": {"type": "trade"}, "min": 2, "max": 2},
    {"dir": "c2s", "op": "close", "close_code": 1000},
]}


@pytest.fixture
def server():
    s = TradingServer()
    yield s
    s.close()


def test_records_stream_and_the_sequence_matches(wssniff, server):
    sniff = wssniff(server.url)
    assert sniff.url.startswith("ws://127.0.0.1:") and sniff.port != server.port
    asyncio.run(trading_client(sniff.url + "/feed"))
    records = sniff.wait_for(lambda rs: any(r["type"] == "close" for r in rs), timeout=5)
    assert records[0]["type"] == "handshake" and records[0]["target"] == "/feed"
    texts = [r["text"] for r in records if r.get("op") == "text" and r["dir"] == "s2c"]
    assert texts[0] == '{"op": "ack", "id": 5}'
    sniff.expect_sequence(SPEC)


def test_expect_sequence_fails_with_the_report(wssniff, server):
    sniff = wssniff(server.url)
    asyncio.run(trading_client(sniff.url))
    wrong = {"steps": SPEC["steps"][:1] + [{"dir": "s2c", "json": {"op": "nack"}}]}
    with pytest.raises(AssertionError) as failure:
        sniff.expect_sequence(wrong, timeout=0.2)
    text = str(failure.value)
    assert "expectation not met: step 2 of 2 not matched" in text
    assert 'closest candidate s2c #0: /op was "ack", expected "nack"' in text
    assert f"capture: {sniff.capture_path}" in text


def test_wait_for_times_out(wssniff, server):
    sniff = wssniff(server.url)
    with pytest.raises(AssertionError, match="condition not met within 0.2 s"):
        sniff.wait_for(lambda rs: len(rs) > 0, timeout=0.2)


def test_a_bad_spec_is_a_value_error(wssniff, server):
    sniff = wssniff(server.url)
    asyncio.run(trading_client(sniff.url))
    with pytest.raises(ValueError, match=r"/steps/0/dir: \"up\" is not a direction"):
        sniff.expect_sequence({"steps": [{"dir": "up"}]})


def test_a_failing_test_shows_the_report_and_the_capture():
    here = Path(__file__).resolve().parent
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "wssniff_pytest",
                             str(here / "failing" / "test_deliberately_failing.py")],
                            capture_output=True, text=True, timeout=60, cwd=here / "failing",
                            env=dict(os.environ))
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "1 failed" in out, out
    assert "AssertionError: wssniff: expect: conn 1: expectation not met: step 2 of 2 not matched" \
        in out, out
    assert "closest candidate s2c #0: /id was 7, expected 5 (bound at c2s #0)" in out, out
    assert "wssniff capture 1" in out and '"type":"handshake"' in out, out

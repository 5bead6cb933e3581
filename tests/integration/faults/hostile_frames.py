#!/usr/bin/python3
"""Hostile frames: lengths with the top bit set, cut 63-bit lengths, non-minimal lengths,
100,000 one-byte fragments, invalid UTF-8.

    hostile_frames.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Each case runs its own upstream and its own proxy (records in RECORDS_DIR/faults-CASE*.ndjson,
which the schema suite validates afterwards) and ends in one PASS or FAIL line
(wssniff_kit.runner). Cases: length_top_bit_set, length_63_bits_cut, non_minimal_lengths,
fragments_100k, invalid_utf8.
"""

import random
import sys
import time

from wssniff_kit.checks import check, log
from wssniff_kit.pairs import check_forwarded, close_pair, open_pair
from wssniff_kit.proxy import RssMonitor
from wssniff_kit.records import (Side, brief, check_close, check_errors, check_fields,
                                 check_frames, check_only_conns, of_type, sample_for_schema)
from wssniff_kit.runner import run_cases
from wssniff_kit.sockets import in_background
from wssniff_kit.wire import (OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_TEXT, apply_mask,
                              close_payload, frame, mask_key)


def length_top_bit_set(ctx):
    """64-bit lengths with the most significant bit set (2^63 from the server, 2^64-1 from the
    client, RFC 6455 §5.2): one fatal length_top_bit_set per direction at the frame's offset;
    the bytes after it are still forwarded unchanged, and no longer decoded."""
    proxy, client, server, forwarded, response, request_size = open_pair(ctx)
    c2s, s2c = Side("c2s"), Side("s2c")
    after = frame(OP_TEXT, b"not decoded any more")
    sent = s2c.frame(OP_TEXT, b"before")
    bad_s2c_at = s2c.offset
    sent += bytes([0x82, 127]) + (1 << 63).to_bytes(8, "big") + b"payload that never ends"
    server.send(sent)
    client.expect(sent, what="the frames up to the bad length")
    server.send(after)
    client.expect(after, what="the frame after the bad length")
    sent = c2s.frame(OP_TEXT, b"before")
    bad_c2s_at = c2s.offset
    sent += (bytes([0x82, 0x80 | 127]) + (2**64 - 1).to_bytes(8, "big") + mask_key(99) +
             b"payload that never ends")
    client.send(sent)
    server.expect(sent, what="the client's frames up to the bad length")
    masked_after = frame(OP_TEXT, b"not decoded any more", mask=mask_key(100))
    client.send(masked_after)
    server.expect(masked_after, what="the client's frame after the bad length")
    close_pair(proxy, client, server)
    check_forwarded(client, server, forwarded, request_size)

    records = proxy.records()
    check_only_conns(records, [1])
    check_frames(records, 1, c2s)
    check_frames(records, 1, s2c)
    errors = sorted(((e.get("dir"), e.get("offset"), e.get("code"), e.get("fatal"))
                     for e in of_type(records, "error", 1)))
    check(errors == [("c2s", bad_c2s_at, "length_top_bit_set", True),
                     ("s2c", bad_s2c_at, "length_top_bit_set", True)],
          f"error records {errors}")
    check_close(records, 1, "client_closed", bytes_c2s=len(server.received),
                bytes_s2c=len(client.received), frames_c2s=1, frames_s2c=1)


def length_63_bits_cut(ctx):
    """A frame that declares 2^63-1 payload bytes (the largest legal length) and ends after
    1000 of them, each way: no allocation follows the claim; at the end of the stream the frame
    record says len 9223372036854775807 and truncated, with the 1000 bytes, beside a
    stream_ended_mid_frame error."""
    proxy, client, server, forwarded, response, request_size = open_pair(ctx)
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    largest = 2**63 - 1
    rng = random.Random(63)
    payload_s2c, payload_c2s = rng.randbytes(1000), rng.randbytes(1000)
    key = mask_key(63)
    s2c_bytes = bytes([0x82, 127]) + largest.to_bytes(8, "big") + payload_s2c
    c2s_bytes = (bytes([0x82, 0x80 | 127]) + largest.to_bytes(8, "big") + key +
                 apply_mask(payload_c2s, key))
    server.send(s2c_bytes)
    client.expect(s2c_bytes, what="the server's endless frame")
    client.send(c2s_bytes)
    server.expect(c2s_bytes, what="the client's endless frame")
    server.shutdown_write()
    client.expect_eof(what="EOF from the server")
    client.close()
    server.expect_eof(what="EOF from the client")
    server.close()
    proxy.wait_idle()
    rss.stop()
    proxy.check_clean_exit()
    check_forwarded(client, server, forwarded, request_size)
    log(f"proxy RSS peak {rss.peak_kb / 1024:.1f} MiB")
    rss.check_ceiling()

    records = proxy.records()
    check_only_conns(records, [1])
    for direction, payload, mask in (("s2c", payload_s2c, None), ("c2s", payload_c2s, key)):
        frames = of_type(records, "frame", 1, direction)
        check(len(frames) == 1, f"{direction}: {len(frames)} frame records, expected 1")
        expected = {"seq": 0, "offset": 0, "fin": True, "opcode": OP_BINARY, "op": "binary",
                    "len": largest, "masked": mask is not None, "hex": payload.hex(),
                    "truncated": True}
        if mask is not None:
            expected["mask"] = key.hex()
        check_fields(frames[0], expected, f"{direction} frame record")
    check_errors(records, 1, [{"dir": "s2c", "offset": 0, "code": "stream_ended_mid_frame"},
                              {"dir": "c2s", "offset": 0, "code": "stream_ended_mid_frame"}])
    check_close(records, 1, "server_closed", bytes_c2s=len(server.received),
                bytes_s2c=len(client.received), frames_c2s=1, frames_s2c=1)


def non_minimal_lengths(ctx):
    """Lengths in a longer encoding than needed (RFC 6455 §5.2: "the minimal number of bytes
    MUST be used"), data and control frames, each way: a non-fatal non_minimal_length at each
    frame, the frames still decoded, the bytes unchanged."""
    proxy, client, server, forwarded, response, request_size = open_pair(ctx)
    c2s, s2c = Side("c2s"), Side("s2c")
    for side, peer, other in ((c2s, client, server), (s2c, server, client)):
        nm = [("non_minimal_length", 0)]
        sent = (side.frame(OP_TEXT, b"", length16=True, errors=nm) +
                side.frame(OP_TEXT, b"short", length16=True, errors=nm) +
                side.frame(OP_BINARY, bytes(range(125)), length16=True, errors=nm) +
                side.frame(OP_BINARY, bytes(200), length64=True, errors=nm) +
                side.frame(OP_BINARY, bytes(65535), length64=True, errors=nm) +
                side.frame(OP_PING, b"p", length16=True, errors=nm) +
                side.frame(OP_TEXT, b"minimal"))
        peer.send(sent)
        other.expect(sent, what=f"{side.direction} frames with long length encodings")
    close_pair(proxy, client, server)
    check_forwarded(client, server, forwarded, request_size)
    records = proxy.records()
    check_frames(records, 1, c2s)
    check_frames(records, 1, s2c)
    check_errors(records, 1, c2s.errors + s2c.errors)
    check_close(records, 1, "client_closed", frames_c2s=7, frames_s2c=7)


def fragments_100k(ctx):
    """A text message in 100,000 one-byte masked fragments and never a FIN, with message
    records on: 100,000 frame records, memory flat (nothing accumulates past --max-payload),
    and at the end of the stream one stream_ended_mid_message."""
    count = 100_000
    # A short record queue: the 8192 records the default lets wait would leave glibc holding
    # ~10 MiB after they are written, enough to hide a leak of ~100 bytes per frame.
    full = ctx.output() + ".full"
    proxy, client, server, forwarded, response, request_size = open_pair(
        ctx, ["--emit", "both", "--max-payload", "4KiB", "--queue", "256"], output=full)
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    c2s = Side("c2s")
    chunks = [c2s.frame(OP_TEXT, b"a", fin=False)]
    for i in range(1, count):
        chunks.append(c2s.frame(OP_CONTINUATION, b"a", fin=False, text=True))
    sent = b"".join(chunks)
    started = time.monotonic()
    join = in_background(client.send, sent, False, 0.0003, 30)
    server.expect(sent, timeout=30, what="the 100,000 fragments")
    join()
    client.shutdown_write()
    server.expect_eof(what="EOF after the fragments")
    server.close()
    client.expect_eof(what="EOF from the server")
    client.close()
    proxy.wait_idle(timeout=20)
    rss.stop()
    log(f"{count} fragments ({len(sent)} bytes) through in {time.monotonic() - started:.2f} s; "
        f"proxy RSS peak {rss.peak_kb / 1024:.1f} MiB")
    rss.check_ceiling()
    proxy.check_clean_exit()
    check_forwarded(client, server, forwarded, request_size)
    records = proxy.records()
    check_frames(records, 1, c2s)
    # The message never finished: it is said once, as an error and as a message record cut
    # short (truncated) with the fragments that did arrive, after the error.
    messages = of_type(records, "message", 1)
    check(len(messages) == 1, f"{len(messages)} message records for the one cut message")
    cut = messages[0]
    check(cut["dir"] == "c2s" and cut["frames"] == count and cut["len"] == count
          and cut.get("truncated") is True,
          f"the cut message record: {brief(cut)}")
    errors = [r for r in of_type(records, "error", 1) if r["code"] == "stream_ended_mid_message"]
    check(len(errors) == 1 and records.index(errors[0]) < records.index(cut),
          "stream_ended_mid_message before the cut message record")
    check_errors(records, 1, [{"dir": "c2s", "offset": c2s.offset,
                               "code": "stream_ended_mid_message"}])
    check_close(records, 1, "client_closed", bytes_c2s=len(server.received),
                frames_c2s=count, frames_s2c=0)
    sample_for_schema(full, ctx.output())


def invalid_utf8(ctx):
    """Invalid UTF-8 wherever text may be, each way: overlong, surrogate and past-U+10FFFF
    sequences, a message ending inside a character, an invalid byte in a later fragment, a
    character split validly across fragments (no error), and a close reason. Each error at the
    byte RFC 6455 §8.1 would fail on; records stay valid UTF-8 (payloads as hex, reasons with
    U+FFFD)."""
    proxy, client, server, forwarded, response, request_size = open_pair(ctx, ["--emit", "both"])
    sides = {"c2s": Side("c2s"), "s2c": Side("s2c")}
    messages = {"c2s": [], "s2c": []}  # expected message records (op, field, value)
    for direction, peer, other in (("c2s", client, server), ("s2c", server, client)):
        side = sides[direction]
        hs = 6 if direction == "c2s" else 2  # header with and without the masking key
        sent = (side.frame(OP_TEXT, b"ab\xc0\xafcd", errors=[("invalid_utf8", hs + 2)]) +
                side.frame(OP_TEXT, b"\xed\xa0\x80", errors=[("invalid_utf8", hs + 1)]) +
                side.frame(OP_TEXT, b"\xf4\x90\x80\x80", errors=[("invalid_utf8", hs + 1)]) +
                side.frame(OP_TEXT, b"ab\xe2\x82", errors=[("invalid_utf8", hs + 4)]) +
                side.frame(OP_TEXT, b"\xe2\x82", fin=False) +
                side.frame(OP_CONTINUATION, b"(", text=True, errors=[("invalid_utf8", hs)]) +
                side.frame(OP_TEXT, b"\xe2", fin=False) +
                side.frame(OP_CONTINUATION, b"\x82\xac"))
        messages[direction] = [("hex", b"ab\xc0\xafcd".hex()), ("hex", "eda080"),
                               ("hex", "f4908080"), ("hex", b"ab\xe2\x82".hex()),
                               ("hex", b"\xe2\x82(".hex()), ("text", "\u20ac")]
        close_at = side.offset
        sent += side.frame(OP_CLOSE, close_payload(1000, b"bye \xff\xfe"),
                           errors=[("invalid_close_reason", 0)])
        peer.send(sent)
        other.expect(sent, what=f"{direction} frames with invalid UTF-8")
        side.close_at = close_at
    server.shutdown_write()
    client.expect_eof(what="EOF after the server's close frame")
    close_pair(proxy, client, server)
    check_forwarded(client, server, forwarded, request_size)

    records = proxy.records()
    check_only_conns(records, [1])
    for direction, side in sides.items():
        check_frames(records, 1, side)
        close_frame = [f for f in of_type(records, "frame", 1, direction)
                       if f.get("op") == "close"]
        check(len(close_frame) == 1 and close_frame[0].get("close_code") == 1000,
              f"{direction}: close frame record {[brief(f) for f in close_frame]}")
        reason = close_frame[0].get("close_reason", "")
        check(reason.startswith("bye ") and "\ufffd" in reason,
              f"{direction}: the invalid close reason is shown as {reason!r}, expected 'bye ' "
              f"and U+FFFD")
        got = [("text", m["text"]) if "text" in m else ("hex", m.get("hex"))
               for m in of_type(records, "message", 1, direction)]
        check(got == messages[direction], f"{direction}: message records {got}, expected "
                                          f"{messages[direction]}")
    check_errors(records, 1, sides["c2s"].errors + sides["s2c"].errors)
    check_close(records, 1, "server_closed", frames_c2s=len(sides["c2s"].frames),
                frames_s2c=len(sides["s2c"].frames))


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, [length_top_bit_set, length_63_bits_cut, non_minimal_lengths,
                                 fragments_100k, invalid_utf8]))

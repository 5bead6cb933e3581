#!/usr/bin/python3
"""permessage-deflate through the proxy: a decompression bomb, a corrupt stream, and messages
compressed across fragments.

    deflate.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Each case runs its own upstream and its own proxy (records in RECORDS_DIR/faults-CASE*.ndjson,
which the schema suite validates afterwards) and ends in one PASS or FAIL line
(wssniff_kit.runner). Cases: deflate_bomb, deflate_corrupt_stream, deflate_across_fragments.
"""

import sys
import zlib

from wssniff_kit.checks import check, log
from wssniff_kit.heads import rewrite_host, upgrade_request, upgrade_response, websocket_key
from wssniff_kit.pairs import check_forwarded, close_pair
from wssniff_kit.proxy import RssMonitor
from wssniff_kit.records import (Side, brief, check_close, check_errors, check_fields,
                                 check_only_conns, of_type, one_close)
from wssniff_kit.runner import run_cases
from wssniff_kit.sockets import LOOPBACK, connect, in_background
from wssniff_kit.wire import (OP_BINARY, OP_CONTINUATION, OP_TEXT, close_payload, frame, mask_key,
                              raw_deflate)


def deflate_upgrade(ctx, proxy, upstream):
    client = ctx.track(connect(proxy.port, "client"))
    key = websocket_key(1)
    extension = [("Sec-WebSocket-Extensions", "permessage-deflate")]
    request = upgrade_request(f"{LOOPBACK}:{proxy.port}", key, extra=extension)
    client.send(request)
    server = ctx.track(upstream.accept())
    forwarded = rewrite_host(request, upstream.authority)
    server.expect(forwarded, what="the upgrade request")
    response = upgrade_response(key, extra=extension)
    server.send(response)
    client.expect(response, what="the 101 response")
    return client, server, forwarded, response


def deflate_bomb(ctx):
    """256 MiB of zeros in about 250 KiB of DEFLATE: the proxy forwards every compressed byte,
    stops inflating at --max-message with an error record, keeps its memory flat, and goes on
    recording frames."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output(), ["--max-message", "16MiB"])
    client, server, forwarded, response = deflate_upgrade(ctx, proxy, upstream)
    rss = RssMonitor(proxy)
    bomb = raw_deflate(bytes(256 * 1024 * 1024))
    log(f"bomb: {len(bomb)} compressed bytes")
    sent = frame(2, bomb, rsv=4) + frame(1, b"after the bomb")
    receive = in_background(client.expect, sent, 30, "the bomb and the frame after it")
    server.send(sent)
    receive()
    client.send(frame(8, close_payload(1000), mask=mask_key(1)))
    server.close()
    client.close()
    proxy.wait_idle()
    rss.stop()
    log(f"proxy RSS peak {rss.peak_kb} kB over {rss.samples} samples")
    rss.check_ceiling()
    proxy.check_clean_exit()

    records = proxy.records()
    check_errors(records, 1, [{"dir": "s2c", "offset": 0, "code": "inflate_limit"}])
    frames = of_type(records, "frame", 1, "s2c")
    check(len(frames) == 2, f"two server frames: {[brief(f) for f in frames]}")
    check(frames[0].get("len") == len(bomb) and frames[0].get("compressed") is True,
          f"the bomb's record: {brief(frames[0])}")
    check(frames[0].get("data_len", 0) <= 16 * 1024 * 1024, f"inflated past the cap: {brief(frames[0])}")
    check(frames[1].get("text") == "after the bomb", f"the frame after: {brief(frames[1])}")
    close = one_close(records, 1)
    check(close.get("bytes_s2c") == len(response) + len(sent) and
          close.get("bytes_c2s") == len(forwarded) + 8, f"byte counts: {brief(close)}")


def deflate_corrupt_stream(ctx):
    """A compressed message that does not inflate, then more: bytes forwarded unchanged, one
    inflate_failed error, frame headers still recorded."""
    upstream = ctx.upstream()
    proxy = ctx.proxy(upstream.port, ctx.output())
    client, server, forwarded, response = deflate_upgrade(ctx, proxy, upstream)
    good = raw_deflate(b"hello")
    sent = (frame(1, b"\xff\xff\xff\xff\xff\xff", rsv=4) + frame(1, good, rsv=4) +
            frame(2, b"\x01\x02"))
    server.send(sent)
    client.expect(sent, what="the corrupt stream, unchanged")
    client.close()
    server.close()
    proxy.wait_idle()
    proxy.check_clean_exit()
    records = proxy.records()
    check_errors(records, 1, [{"dir": "s2c", "offset": 0, "code": "inflate_failed"}])
    frames = of_type(records, "frame", 1, "s2c")
    check([f.get("len") for f in frames] == [6, len(good), 2], f"frames: {[brief(f) for f in frames]}")
    check(frames[1].get("hex") == good.hex(), f"after the failure, payloads as sent: {brief(frames[1])}")


def frame_data(record):
    """A frame or message record's payload bytes, from whichever field holds them."""
    if "text" in record:
        return record["text"].encode("utf-8")
    return bytes.fromhex(record.get("hex", ""))


def deflate_across_fragments(ctx):
    """permessage-deflate with context takeover, messages split across fragments (RSV1 on the
    first only, RFC 7692 §6.1). Server: a message in three fragments, one that refers back to
    it, one whose inflated text is not UTF-8, one whose second fragment does not inflate, then
    one more (shown as sent from then on). Client: a 16 MiB bomb in eight fragments against
    --max-message 3MiB, then one more. Errors at the fragment where each went wrong, bytes
    unchanged."""
    upstream = ctx.upstream()
    limit = 3 * 1024 * 1024
    proxy = ctx.proxy(upstream.port, ctx.output(), ["--emit", "both", "--max-message", "3MiB"])
    client, server, forwarded, response = deflate_upgrade(ctx, proxy, upstream)
    request_size = len(client.sent)
    rss = RssMonitor(proxy)
    ctx.stack.callback(rss.stop)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)

    def compressed(data, keep_tail=False):
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return out if keep_tail else out[:-4]

    def split(data, parts):
        step = -(-len(data) // parts)
        return [data[i:i + step] for i in range(0, len(data), step)]

    text = b"the quick brown fox jumps over the lazy dog; " * 40
    s2c = Side("s2c")
    sent = b""
    first = split(compressed(text), 3)
    sent += s2c.frame(OP_TEXT, first[0], fin=False, rsv=4, text=False)
    sent += s2c.frame(OP_CONTINUATION, first[1], fin=False, text=False)
    sent += s2c.frame(OP_CONTINUATION, first[2], text=False)
    second = split(compressed(text), 2)  # mostly back-references into the first
    sent += s2c.frame(OP_TEXT, second[0], fin=False, rsv=4, text=False)
    sent += s2c.frame(OP_CONTINUATION, second[1], text=False)
    bad_text_at = s2c.offset
    sent += s2c.frame(OP_TEXT, compressed(b"caf\xc3 ok \xff"), rsv=4, text=False)
    sent += s2c.frame(OP_TEXT, compressed(b"part one ", keep_tail=True), fin=False, rsv=4,
                      text=False)
    corrupt_at = s2c.offset
    # After the sync flush a block header starts: BFINAL 1, BTYPE 11 is reserved.
    sent += s2c.frame(OP_CONTINUATION, b"\xff\xff\xff\xff", text=False)
    later = raw_deflate(b"later")
    later_at = s2c.offset
    sent += s2c.frame(OP_TEXT, later, rsv=4, text=False)
    server.send(sent)
    client.expect(sent, what="the server's compressed fragments")

    bomb = split(raw_deflate(bytes(16 * 1024 * 1024)), 8)
    # Where the cap is crossed: zlib gives all it can for the input it has, in wssniff as here.
    inflater = zlib.decompressobj(-15)
    produced, crossing = 0, None
    for i, part in enumerate(bomb):
        produced += len(inflater.decompress(part))
        if crossing is None and produced > limit:
            crossing = i
    check(crossing is not None and crossing > 0, f"the bomb crosses the cap at fragment "
                                                 f"{crossing}: not across fragments")
    c2s = Side("c2s")
    sent = b""
    bomb_at = []
    for i, part in enumerate(bomb):
        bomb_at.append(c2s.offset)
        sent += c2s.frame(OP_BINARY if i == 0 else OP_CONTINUATION, part,
                          fin=i == len(bomb) - 1, rsv=4 if i == 0 else 0)
    after_bomb = raw_deflate(b"after the bomb")
    sent += c2s.frame(OP_TEXT, after_bomb, rsv=4, text=False)
    client.send(sent)
    server.expect(sent, timeout=10, what="the client's compressed bomb")
    close_pair(proxy, client, server)
    rss.stop()
    check_forwarded(client, server, forwarded, request_size)
    log(f"bomb crosses --max-message at fragment {crossing}; proxy RSS peak "
        f"{rss.peak_kb / 1024:.1f} MiB")
    rss.check_ceiling()

    records = proxy.records()
    check_only_conns(records, [1])
    check_errors(records, 1, [
        {"dir": "s2c", "offset": bad_text_at, "code": "invalid_utf8"},
        {"dir": "s2c", "offset": corrupt_at, "code": "inflate_failed"},
        {"dir": "c2s", "offset": bomb_at[crossing], "code": "inflate_limit"}])
    frames = of_type(records, "frame", 1, "s2c")
    check(len(frames) == len(s2c.frames), f"{len(frames)} s2c frame records, expected "
                                          f"{len(s2c.frames)}")
    for record, expected in zip(frames, s2c.frames):
        check_fields(record, {k: expected[k] for k in ("seq", "offset", "fin", "rsv1", "opcode",
                                                       "len")}, "s2c frame record")
    for i in range(8):
        check(frames[i].get("compressed") is True, f"s2c frame {i} not marked compressed: "
                                                   f"{brief(frames[i])}")
    check(b"".join(frame_data(f) for f in frames[0:3]) == text,
          "the first message's fragments do not inflate to its text")
    check(b"".join(frame_data(f) for f in frames[3:5]) == text,
          "the second message (context takeover) does not inflate to the same text")
    check(frame_data(frames[6]) == b"part one ", f"the fragment before the corrupt one: "
                                                 f"{brief(frames[6])}")
    check(frames[7].get("data_len") == 0, f"the corrupt fragment shows inflated data: "
                                          f"{brief(frames[7])}")
    check(frames[8].get("compressed") is not True and frame_data(frames[8]) == later,
          f"after inflate_failed, payloads are not shown as sent: {brief(frames[8])}")
    check(frames[8].get("offset") == later_at, "the frame after the failure is misplaced")
    got = [(m.get("compressed"), frame_data(m)) for m in of_type(records, "message", 1, "s2c")]
    check(got[:2] == [(True, text), (True, text)], f"s2c message records: {got[:2]}")
    check(got[2] == (True, b"caf\xc3 ok \xff"), f"the invalid text message: {got[2]}")
    check(got[-1] == (False, later), f"the message after the failure: {got[-1]}")
    c2s_frames = of_type(records, "frame", 1, "c2s")
    check(len(c2s_frames) == 9, f"{len(c2s_frames)} c2s frame records, expected 9")
    check(sum(f.get("data_len", 0) for f in c2s_frames[:8]) <= limit,
          "the bomb's fragments inflated past --max-message")
    check(c2s_frames[8].get("compressed") is not True and frame_data(c2s_frames[8]) ==
          after_bomb, f"after inflate_limit, payloads are not shown as sent: "
                      f"{brief(c2s_frames[8])}")
    check_close(records, 1, "client_closed", frames_c2s=9, frames_s2c=len(s2c.frames))


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, [deflate_bomb, deflate_corrupt_stream, deflate_across_fragments]))

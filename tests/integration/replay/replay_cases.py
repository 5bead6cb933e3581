#!/usr/bin/python3
"""`wssniff replay` against live servers over loopback:

    replay_cases.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

A session is recorded through `wssniff proxy` (client: conversation.py on python3-websockets;
server: npm ws or python3-websockets, ws_server.js / websockets_server.py), then replayed
against a fresh server, and the replayed archive is compared with the recorded one. Frame-level
fidelity is checked on the wire by a raw-socket server. Records go to
RECORDS_DIR/replay-CASE*.ndjson (the schema suite validates them). Cases: see CASES below.
"""

import base64
import json
import os
import socket
import subprocess
import struct
import sys
import threading
import time

from wssniff_kit.checks import CheckFailed, check, log
from wssniff_kit.conversations import payload_bytes
from wssniff_kit.heads import accept_for, header_key, upgrade_response
from wssniff_kit.processes import Process
from wssniff_kit.records import parse_ndjson, seconds_of
from wssniff_kit.runner import run_cases
from wssniff_kit.sockets import LOOPBACK, unused_port
from wssniff_kit.wire import apply_mask

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "..", "..", "peers", "node_modules")
PYTHON = "/usr/bin/python3"
# Timing tolerances scale under a sanitizer (the build is several times slower).
SLOW = float(os.environ.get("WSSNIFF_RSS_FACTOR", "1")) > 1


def node():
    return os.environ.get("WSSNIFF_NODE") or "node"


def start_server(ctx, kind, deflate=False, tls=None):
    os.environ["REPLAY_DEFLATE"] = "1" if deflate else "0"
    os.environ["REPLAY_TLS_CERT"] = tls["server.pem"] if tls else ""
    os.environ["REPLAY_TLS_KEY"] = tls["server.key"] if tls else ""
    if kind == "ws":
        argv = [node(), os.path.join(HERE, "ws_server.js")]
    else:
        argv = [PYTHON, os.path.join(HERE, "websockets_server.py")]
    server = Process(f"{kind} server", argv, HERE)
    ctx.stack.callback(server.kill)
    port = int(server.wait_line(r"listening (\d+)", 20).group(1))
    log(f"{kind} server on port {port} (deflate {deflate})")
    return port


def record_session(ctx, server_port, deflate=False, suffix="-recorded", args=()):
    """conversation.py through `wssniff proxy`; returns the archive's path."""
    def client(port):
        return [PYTHON, os.path.join(HERE, "conversation.py"), str(port)] + \
            (["deflate"] if deflate else [])
    return ctx.recorded_session(server_port, suffix, client, HERE,
                                ["--payload", "base64", "--emit", "both"] + list(args))


def replay(ctx, archive, server_port, *args, suffix="-replayed", expect_status=0, scheme="ws"):
    output = ctx.output(suffix)
    argv = [ctx.wssniff, "replay", archive, "--upstream", f"{scheme}://{LOOPBACK}:{server_port}",
            "-o", output, "--emit", "both", "--payload", "base64"] + list(args)
    log("+ " + " ".join(argv))
    done = subprocess.run(argv, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    stderr = done.stderr.decode("utf-8", "replace")
    log(f"replay exit {done.returncode}; stderr: {stderr.strip()}")
    check(done.returncode == expect_status,
          f"wssniff replay exited {done.returncode}, expected {expect_status}: {stderr}")
    records = parse_ndjson(open(output, "rb").read(), output) if os.path.exists(output) else []
    return records, stderr


def written(ctx, suffix):
    """The path of a records file this case has written (ctx.output() would remove it)."""
    return os.path.join(ctx.records_dir, f"{ctx.prefix}-{ctx.name}{suffix}.ndjson")


def read_archive(path):
    return parse_ndjson(open(path, "rb").read(), path)


def payload_of(record):
    return payload_bytes(record)[1]


def messages(records, direction):
    return [(r["op"], payload_of(r), r["compressed"]) for r in records
            if r["type"] == "message" and r["dir"] == direction]


def control_frames(records, direction):
    return [(r["op"], payload_of(r)) for r in records
            if r["type"] == "frame" and r["dir"] == direction and r["opcode"] >= 8]


def one(records, kind):
    found = [r for r in records if r["type"] == kind]
    check(len(found) == 1, f"expected one {kind} record, got {len(found)}: {found}")
    return found[0]


def check_same_conversation(recorded, replayed, compressed=None):
    """The replayed session carries the recorded messages both ways, in order, and the same
    close handshake; nothing in it is an error."""
    for direction in ("c2s", "s2c"):
        want = [(op, data) for op, data, _ in messages(recorded, direction)]
        got = [(op, data) for op, data, _ in messages(replayed, direction)]
        check(got == want, f"{direction} messages differ:\n  recorded {want}\n  replayed {got}")
        if compressed is not None:
            flags = {c for _, _, c in messages(replayed, direction)}
            check(flags == {compressed}, f"{direction} messages compressed {flags}, expected "
                                         f"{compressed}")
    check(control_frames(replayed, "c2s") == [(op, data) for op, data in
                                              control_frames(recorded, "c2s") if op != "pong"],
          f"client control frames differ: recorded {control_frames(recorded, 'c2s')}, "
          f"replayed {control_frames(replayed, 'c2s')}")
    errors = [r for r in replayed if r["type"] == "error"]
    check(not errors, f"the replayed session has errors: {errors}")
    handshake = one(replayed, "handshake")
    check(handshake["status"] == 101 and handshake["target"] == "/chat?room=1",
          f"replayed handshake: {handshake}")
    close = one(replayed, "close")
    check(close["reason"] in ("client_closed", "server_closed"), f"close record: {close}")


def roundtrip(ctx, kind):
    recorded = record_session(ctx, start_server(ctx, kind))
    server = start_server(ctx, kind)
    records, stderr = replay(ctx, recorded, server)
    check_same_conversation(read_archive(recorded), records)
    check("header Authorization was redacted in the archive and is left out" in stderr,
          f"no warning about the redacted Authorization header: {stderr}")
    names = [n.lower() for n, _ in one(records, "handshake")["request_headers"]]
    check("authorization" not in names, f"a redacted header was sent: {names}")
    check(names.count("sec-websocket-key") == 1 and names.count("host") == 1,
          f"replayed request headers: {names}")
    recorded_key = [v for n, v in one(read_archive(recorded), "handshake")["request_headers"]
                    if n.lower() == "sec-websocket-key"]
    replayed_key = [v for n, v in one(records, "handshake")["request_headers"]
                    if n.lower() == "sec-websocket-key"]
    check(recorded_key != replayed_key, "the Sec-WebSocket-Key was not fresh")
    # wssniff diff agrees: the replay is the recorded session again.
    replayed_path = written(ctx, "-replayed")
    diff = subprocess.run([ctx.wssniff, "diff", recorded, replayed_path], capture_output=True,
                          timeout=30)
    check(diff.returncode == 0, f"wssniff diff recorded replayed exited {diff.returncode}: "
                                f"{diff.stdout.decode()[:2000]} {diff.stderr.decode()}")
    # The snapshot loop: replay --expect against the golden archive, JUnit for CI.
    golden = subprocess.run([ctx.wssniff, "replay", recorded, "--upstream",
                             f"ws://{LOOPBACK}:{server}", "--expect", recorded, "--format",
                             "junit"], capture_output=True, timeout=60)
    check(golden.returncode == 0, f"replay --expect exited {golden.returncode}: "
                                  f"{golden.stdout.decode()[:2000]} {golden.stderr.decode()}")
    check(b"<testsuite" in golden.stdout and b"<failure" not in golden.stdout,
          f"replay --expect --format junit: {golden.stdout[:1000]!r}")
    masks = {r.get("mask") for r in read_archive(recorded) if r["type"] == "frame"}
    check(not masks & {r.get("mask") for r in records if r["type"] == "frame" and
                       r["dir"] == "c2s"}, "a recorded mask was reused")
    return recorded


def ws_roundtrip(ctx):
    roundtrip(ctx, "ws")


def websockets_roundtrip(ctx):
    roundtrip(ctx, "websockets")


def header_supplies_redacted(ctx):
    server = start_server(ctx, "ws")
    recorded = record_session(ctx, server)
    records, stderr = replay(ctx, recorded, server, "--header", "Authorization: Bearer again",
                             "--header", "X-Replay: 1", "--no-redact")
    headers = one(records, "handshake")["request_headers"]
    check(["Authorization", "Bearer again"] in headers and ["X-Replay", "1"] in headers,
          f"--header did not reach the request: {headers}")
    check("redacted" not in stderr, f"a warning although --header supplied the value: {stderr}")


def gaps(records, direction="c2s"):
    seconds = [seconds_of(r["ts"]) for r in records
               if r["type"] == "message" and r["dir"] == direction]
    return [b - a for a, b in zip(seconds, seconds[1:])]


def pace_original(ctx):
    server = start_server(ctx, "ws")
    recorded = record_session(ctx, server)
    want = gaps(read_archive(recorded))
    tolerance = 0.3 if SLOW else 0.1
    records, _ = replay(ctx, recorded, server, "--pace", "original", "--sync", "off",
                        suffix="-original")
    got = gaps(records)
    log(f"recorded gaps {[round(g, 3) for g in want]}, replayed {[round(g, 3) for g in got]}")
    check(len(got) == len(want) and all(abs(a - b) <= tolerance for a, b in zip(got, want)),
          f"--pace original: gaps {got} differ from the recorded {want} by more than "
          f"{tolerance} s")
    records, _ = replay(ctx, recorded, server, "--pace", "x4", "--sync", "off", suffix="-x4")
    got = gaps(records)
    log(f"x4 gaps {[round(g, 3) for g in got]}")
    check(all(abs(a - b / 4) <= tolerance for a, b in zip(got, want)),
          f"--pace x4: gaps {got} are not a quarter of {want}")
    # The 300 ms pause before the binary message is the largest gap the client made itself.
    check(max(want) > 0.25, f"the recording has no pause to reproduce: {want}")


def sync_waits(ctx):
    server = start_server(ctx, "ws")
    recorded = record_session(ctx, server)

    def moments(records):
        ts = {}
        for r in records:
            if r["type"] == "message" and payload_of(r) in (b"slow", b"late", b"after"):
                ts.setdefault((r["dir"], payload_of(r).decode()), seconds_of(r["ts"]))
        return ts

    records, _ = replay(ctx, recorded, server, suffix="-sync")
    ts = moments(records)
    check(ts[("c2s", "after")] >= ts[("s2c", "late")],
          f"--sync messages sent 'after' before the server's 'late' arrived: {ts}")
    check_same_conversation(read_archive(recorded), records)
    records, _ = replay(ctx, recorded, server, "--sync", "off", suffix="-nosync")
    ts = moments(records)
    # Unsynced, 'after' follows 'slow' at once, without waiting the server's 700 ms.
    check(ts[("c2s", "after")] - ts[("c2s", "slow")] < 0.5,
          f"--sync off still waited for the server: {ts}")


def sync_timeout(ctx):
    # Against a server that never answers "slow", the replay waits --sync-timeout, says so in
    # an error record, and goes on.
    server = start_server(ctx, "ws")
    recorded = record_session(ctx, server)
    archive = read_archive(recorded)
    # The archive now claims one more server message before "after": one that never comes.
    extra = dict(next(r for r in archive if r["type"] == "message" and r["dir"] == "s2c"))
    at = next(i for i, r in enumerate(archive) if r["type"] == "message" and
              payload_of(r) == b"after")
    archive.insert(at, extra)
    edited = input_path(ctx, "-edited")
    with open(edited, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in archive)
    started = time.monotonic()
    records, stderr = replay(ctx, edited, server, "--sync-timeout", "0.5")
    took = time.monotonic() - started
    errors = [r for r in records if r["type"] == "error"]
    check([e["code"] for e in errors] == ["replay_sync_timeout"],
          f"expected one replay_sync_timeout error, got {errors}")
    check("1 sync timeout" in stderr, f"the summary does not count the timeout: {stderr}")
    check(took < 10, f"the replay took {took:.1f} s")
    check(messages(records, "c2s")[-1][1] == b"after", "the replay did not go on after the wait")


def deflate_accepted(ctx):
    recorded = record_session(ctx, start_server(ctx, "ws", deflate=True), deflate=True)
    check({c for _, _, c in messages(read_archive(recorded), "c2s")} == {True},
          "the recording is not compressed")
    records, stderr = replay(ctx, recorded, start_server(ctx, "websockets", deflate=True))
    check_same_conversation(read_archive(recorded), records, compressed=True)
    check("declined" not in stderr, f"stderr: {stderr}")


def deflate_declined(ctx):
    recorded = record_session(ctx, start_server(ctx, "ws", deflate=True), deflate=True)
    records, stderr = replay(ctx, recorded, start_server(ctx, "ws", deflate=False))
    check_same_conversation(read_archive(recorded), records, compressed=False)
    check("declined permessage-deflate on conn 1" in stderr,
          f"the summary does not say deflate was declined: {stderr}")


# --- frames on the wire: a raw-socket server sees exactly the recorded frames ---------------

OP_NAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def input_path(ctx, suffix):
    """Where a case writes an archive it made itself: beside the records, but not among the
    files the schema suite validates (some are malformed on purpose)."""
    directory = os.path.join(ctx.records_dir, "replay-inputs")
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, f"{ctx.name}{suffix}.ndjson")


def crafted_archive(ctx, frames, suffix, ts=True, close_reason="client_closed"):
    """An archive of one connection whose client sent `frames` (dicts: opcode, fin, rsv1..3,
    payload bytes), each with a base64 payload."""
    lines = []
    stamp = "2026-11-30T10:00:00.000000Z"
    head = {"type": "handshake", "conn": 1, "method": "GET", "target": "/raw", "status": 101,
            "request_headers": [["Host", "x"], ["Upgrade", "websocket"],
                                ["Connection", "Upgrade"], ["Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA=="],
                                ["Sec-WebSocket-Version", "13"]],
            "response_headers": [], "subprotocol": None, "extensions": None, "deflate": None}
    if ts:
        head["ts"] = stamp
    lines.append(head)
    offset = 0
    for seq, f in enumerate(frames):
        r = {"type": "frame", "conn": 1, "dir": "c2s", "seq": seq, "offset": offset,
             "fin": f.get("fin", True), "rsv1": f.get("rsv1", False),
             "rsv2": f.get("rsv2", False), "rsv3": f.get("rsv3", False),
             "opcode": f["opcode"], "op": OP_NAMES.get(f["opcode"], "reserved"),
             "masked": True, "mask": "01020304",
             "len": len(f["payload"]), "base64": base64.b64encode(f["payload"]).decode()}
        if f.get("truncated"):
            r["truncated"] = True
            r["len"] = len(f["payload"]) + 10
        if ts:
            r["ts"] = stamp
        lines.append(r)
    lines.append({"type": "close", "conn": 1, "reason": close_reason, "bytes_c2s": 0,
                  "bytes_s2c": 0, "frames_c2s": len(frames), "frames_s2c": 0})
    path = input_path(ctx, suffix)
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in lines)
    return path


FRAGMENTED = [
    {"opcode": 1, "fin": False, "payload": b"frag"},
    {"opcode": 9, "payload": b"between"},
    {"opcode": 0, "fin": False, "payload": b"ment"},
    {"opcode": 0, "fin": True, "payload": b"ed"},
    {"opcode": 2, "payload": bytes(range(256)) * 300},  # 76800 bytes: a 64-bit length
    {"opcode": 2, "rsv2": True, "payload": b"\x00rsv2"},
    {"opcode": 3, "payload": b"reserved"},
    {"opcode": 10, "payload": b"unsolicited pong"},
    {"opcode": 8, "payload": b"\x03\xe8bye"},
]


def in_background(function, *args):
    """Runs function(*args) on a thread; the returned join(timeout) gives its result or raises
    its exception."""
    outcome = {}

    def run():
        try:
            outcome["result"] = function(*args)
        except BaseException as e:  # handed to join()
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join(timeout):
        thread.join(timeout)
        check(not thread.is_alive(), f"{function.__name__} did not finish within {timeout} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    return join


def parse_wire_frame(buffer):
    """(frame, size) for the first complete frame in `buffer`, or None: the header's every
    bit, the masking key and how the length was encoded, and the unmasked payload."""
    if len(buffer) < 2:
        return None
    b0, b1 = buffer[0], buffer[1]
    length, pos, length_bytes = b1 & 0x7F, 2, 0
    if length == 126:
        length_bytes = 2
    elif length == 127:
        length_bytes = 8
    if len(buffer) < pos + length_bytes:
        return None
    if length_bytes:
        length = int.from_bytes(buffer[pos:pos + length_bytes], "big")
        pos += length_bytes
    key = None
    if b1 & 0x80:
        if len(buffer) < pos + 4:
            return None
        key = bytes(buffer[pos:pos + 4])
        pos += 4
    if len(buffer) < pos + length:
        return None
    payload = bytes(buffer[pos:pos + length])
    return ({"fin": bool(b0 & 0x80), "rsv1": bool(b0 & 0x40), "rsv2": bool(b0 & 0x20),
             "rsv3": bool(b0 & 0x10), "opcode": b0 & 0x0F, "masked": key is not None,
             "mask": key, "length_bytes": length_bytes,
             "payload": apply_mask(payload, key) if key else payload}, pos + length)


def raw_server_frames(upstream, until_opcode=8):
    """Accepts one connection, answers its upgrade with a 101, and returns the frames it
    reads up to and including the first with `until_opcode`, and the request head."""
    peer = upstream.accept("raw server")
    head = peer.read_head(timeout=10)
    peer.send(upgrade_response(header_key(head)))
    frames = []
    buffer = bytearray(peer.pending)
    peer.pending.clear()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        parsed = parse_wire_frame(buffer)
        if parsed is None:
            buffer += peer.read_some(deadline)
            continue
        f, used = parsed
        del buffer[:used]
        frames.append(f)
        if f["opcode"] == until_opcode:
            peer.send(bytes([0x88, 2, 0x03, 0xe8]))
            peer.shutdown_write()
            return frames, head, peer
    raise CheckFailed(f"the raw server got {len(frames)} frames and no close within 20 s")


def frames_on_the_wire(ctx):
    archive = crafted_archive(ctx, FRAGMENTED, "-crafted")
    upstream = ctx.upstream()
    got = in_background(raw_server_frames, upstream)
    records, _ = replay(ctx, archive, upstream.port, "--unit", "frames")
    frames, head, peer = got(30)
    peer.close()
    check(head.startswith(b"GET /raw HTTP/1.1\r\n"), f"request line: {head[:60]!r}")
    want = [(f["opcode"], f.get("fin", True),
             (f.get("rsv1", False), f.get("rsv2", False), f.get("rsv3", False)), f["payload"])
            for f in FRAGMENTED if f["opcode"] != 10]
    seen = [(f["opcode"], f["fin"], (f["rsv1"], f["rsv2"], f["rsv3"]), f["payload"])
            for f in frames]
    check(seen == want, "the frames on the wire differ from the archive's:\n  want " +
          str([(o, fin, rsv, len(p)) for o, fin, rsv, p in want]) + "\n  got  " +
          str([(o, fin, rsv, len(p)) for o, fin, rsv, p in seen]))
    check(all(f["masked"] for f in frames), "an unmasked client frame")
    check(len({f["mask"] for f in frames}) == len(frames) and
          all(f["mask"] != bytes([1, 2, 3, 4]) for f in frames),
          "masks are not fresh per frame")
    check(frames[4]["length_bytes"] == 8, "the 76800-byte frame's length is not 64-bit")
    # In messages unit the same archive sends one frame per message (the fragments joined).
    upstream2 = ctx.upstream()
    got = in_background(raw_server_frames, upstream2)
    replay(ctx, archive, upstream2.port, suffix="-messages")
    frames, _, peer = got(30)
    peer.close()
    check([(f["opcode"], f["fin"], f["payload"][:8]) for f in frames[:2]] ==
          [(9, True, b"between"), (1, True, b"fragment")],
          f"messages unit: {[(f['opcode'], f['fin'], f['payload'][:8]) for f in frames[:2]]}")


def reserved_opcode_ws(ctx):
    # npm ws fails the connection on a reserved opcode with 1002; the replayed archive shows it.
    archive = crafted_archive(ctx, [{"opcode": 1, "payload": b"hello"},
                                    {"opcode": 3, "payload": b"reserved"}], "-reserved")
    records, _ = replay(ctx, archive, start_server(ctx, "ws"), "--unit", "frames")
    closes = [r for r in records if r["type"] == "frame" and r["dir"] == "s2c" and
              r["opcode"] == 8]
    check(closes and closes[0].get("close_code") == 1002,
          f"ws did not close with 1002 after the reserved opcode: {closes}")
    c2s = [r["opcode"] for r in records if r["type"] == "frame" and r["dir"] == "c2s"]
    check(c2s[:2] == [1, 3], f"client frames sent: {c2s}")
    check(any(r["type"] == "error" and r["code"] == "reserved_opcode" for r in records),
          "the replayed archive has no reserved_opcode error")
    # Against an archive where the server accepted the frame, the diff shows the 1002 close.
    golden = subprocess.run([ctx.wssniff, "diff", archive, written(ctx, "-replayed"), "--unit",
                             "frames", "--format", "ndjson"], capture_output=True, timeout=30)
    check(golden.returncode == 1, f"diff exited {golden.returncode}: {golden.stderr.decode()}")
    differences = [json.loads(line) for line in golden.stdout.splitlines()]
    check(any("1002" in json.dumps(d) and d.get("dir") == "s2c" for d in differences),
          f"the diff does not show the server's 1002 close: {differences}")


def client_reset(ctx):
    archive = crafted_archive(ctx, [{"opcode": 1, "payload": b"bye"}], "-reset",
                              close_reason="client_reset")
    upstream = ctx.upstream()

    def serve():
        peer = upstream.accept("raw server")
        head = peer.read_head(timeout=10)
        peer.send(upgrade_response(header_key(head)))
        return peer.wait_closed(timeout=10)

    got = in_background(serve)
    records, _ = replay(ctx, archive, upstream.port)
    how, _ = got(30)
    check(how == "reset", f"the server saw {how}, the archive says the client reset")
    check(one(records, "close")["reason"] == "client_reset", f"{one(records, 'close')}")


def upgrade_refused(ctx):
    upstream = ctx.upstream()
    archive = crafted_archive(ctx, [{"opcode": 1, "payload": b"x"}], "-refused")

    def serve():
        peer = upstream.accept("raw server")
        peer.read_head(timeout=10)
        peer.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        peer.wait_closed(timeout=10)
        peer.close()

    got = in_background(serve)
    records, stderr = replay(ctx, archive, upstream.port, expect_status=1)
    got(30)
    errors = [r for r in records if r["type"] == "error"]
    check([e["code"] for e in errors] == ["replay_rejected"] and "403" in errors[0]["message"],
          f"expected a replay_rejected error naming 403: {errors}")
    check("conn 1: the server answered 403 Forbidden where the archive has 101" in stderr,
          f"stderr: {stderr}")


def unreachable(ctx):
    holder, port = unused_port()
    ctx.track(holder)
    archive = crafted_archive(ctx, [{"opcode": 1, "payload": b"x"}], "-unreachable")
    records, stderr = replay(ctx, archive, port, expect_status=1)
    check([r["code"] for r in records if r["type"] == "error"] == ["upstream_unreachable"],
          f"records: {records}")
    check(one(records, "close")["reason"] == "upstream_unreachable", f"{records}")
    check("cannot connect" in stderr, f"stderr: {stderr}")


def refusals(ctx):
    """Archives that cannot be replayed: refused before anything is sent, one line each."""
    upstream = ctx.upstream()  # never accepted from: nothing may connect
    truncated = crafted_archive(ctx, [{"opcode": 1, "payload": b"x" * 20, "truncated": True}],
                                "-truncated")

    def run(*args):
        done = subprocess.run([ctx.wssniff, "replay", *args, "--upstream",
                               f"ws://{LOOPBACK}:{upstream.port}"],
                              capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        lines = done.stderr.decode().strip().splitlines()
        log(f"replay {' '.join(args)} -> {done.returncode}: {lines}")
        check(len(lines) == 1, f"expected one line on stderr, got {lines}")
        return done.returncode, lines[0]

    status, line = run(truncated)
    check(status == 1 and "conn 1 c2s frame #0 (line 2)" in line and "truncated" in line and
          "--payload base64" in line, f"truncated payload: {status} {line}")
    untimed = crafted_archive(ctx, [{"opcode": 1, "payload": b"x"}], "-untimed", ts=False)
    status, line = run(untimed, "--pace", "original")
    check(status == 2 and "--pace original needs the archive's ts" in line,
          f"--pace original without ts: {status} {line}")
    status, line = run(os.path.join(ctx.records_dir, "no-such-archive.ndjson"))
    check(status == 2 and "cannot read archive" in line, f"missing archive: {status} {line}")
    malformed = input_path(ctx, "-malformed")
    with open(malformed, "w") as f:
        f.write(open(untimed).readline())
        f.write('{"type":"frame","conn":1,"dir":"c2s","seq":"zero"}\n')
    status, line = run(malformed)
    check(status == 2 and line.endswith(f"{malformed}:2: field \"seq\" is not an unsigned "
                                        "integer"), f"malformed line: {status} {line}")
    status, line = run(untimed, "--pace", "x0")
    check(status == 2 and "--pace" in line, f"--pace x0: {status} {line}")
    status, line = run(untimed, "--conn", "7")
    check(status == 2 and "has no connection 7" in line, f"--conn 7: {status} {line}")
    upstream.listener.settimeout(0.2)
    try:
        upstream.listener.accept()
        raise CheckFailed("a refused replay connected to the server")
    except socket.timeout:
        pass



def several_connections(ctx):
    """Three connections, started 0.5 s apart: replayed at their recorded offsets (paced), N at
    a time (--concurrency), or some of them (--conn)."""
    server = start_server(ctx, "ws")
    output = ctx.output("-recorded")
    proxy = ctx.proxy(server, output, ["--payload", "base64", "--emit", "both"])
    clients = []
    for _ in range(3):
        clients.append(Process("conversation", [PYTHON, os.path.join(HERE, "conversation.py"),
                                                 str(proxy.port)], HERE))
        time.sleep(0.5)
    for client in clients:
        check(client.wait(30) == 0, f"a recorded conversation failed: "
                                    f"{client.output('stderr')[-1000:]}")
    proxy.wait_idle()
    proxy.stop()
    recorded = read_archive(output)

    def by_conn(records):
        out = {}
        for r in records:
            out.setdefault(r["conn"], []).append(r)
        return out

    def starts(records):
        return [seconds_of(one(rs, "handshake")["ts"]) for _, rs in sorted(by_conn(records).items())]

    # Paced and synced: with --sync off the close frame goes at its recorded time, and on a
    # loaded machine the server's "late" (a 700 ms timer) can come after it and be lost.
    records, _ = replay(ctx, output, server, "--pace", "original", suffix="-paced")
    conns = by_conn(records)
    check(sorted(conns) == [1, 2, 3], f"replayed connections: {sorted(conns)}")
    for conn in (1, 2, 3):
        check_same_conversation(by_conn(recorded)[conn], conns[conn])
    want = starts(recorded)
    got = starts(records)
    tolerance = 0.3 if SLOW else 0.15
    offsets = [(b - want[0], g - got[0]) for b, g in zip(want, got)]
    log(f"start offsets recorded/replayed: {offsets}")
    check(all(abs(a - b) <= tolerance for a, b in offsets),
          f"connections did not start at their recorded offsets: {offsets}")

    records, _ = replay(ctx, output, server, "--concurrency", "1", suffix="-serial")
    conns = by_conn(records)
    check(sorted(conns) == [1, 2, 3], f"--concurrency 1: connections {sorted(conns)}")
    # One at a time: each connection starts after the previous one's close.
    for conn in (2, 3):
        previous_close = seconds_of(one(conns[conn - 1], "close")["ts"])
        check(seconds_of(one(conns[conn], "handshake")["ts"]) >= previous_close,
              f"--concurrency 1: conn {conn} started before conn {conn - 1} ended")

    records, _ = replay(ctx, output, server, "--conn", "2-3", suffix="-some")
    conns = by_conn(records)
    check(sorted(conns) == [1, 2], f"--conn 2-3 replayed {sorted(conns)}, expected two")
    check_same_conversation(by_conn(recorded)[2], conns[1])


def wss_replay(ctx):
    """A session recorded over ws:// replayed against a wss:// server: verified against
    --ca-file, refused without it (the system's CAs do not know the test CA), --insecure."""
    sys.path.insert(0, os.path.join(HERE, "..", "tls"))
    import certs  # the TLS suite's test certificates, made now with openssl
    tls = certs.make(os.path.join(ctx.records_dir, "replay-inputs", f"{ctx.name}-certs"))
    recorded = record_session(ctx, start_server(ctx, "ws"))
    server = start_server(ctx, "websockets", tls=tls)
    records, _ = replay(ctx, recorded, server, "--ca-file", tls["ca.pem"], scheme="wss")
    check_same_conversation(read_archive(recorded), records)
    upstream = one(records, "handshake").get("tls", {}).get("upstream", {})
    check(upstream.get("verified") is True and upstream.get("version", "").startswith("TLS"),
          f"handshake record's tls: {one(records, 'handshake').get('tls')}")
    records, stderr = replay(ctx, recorded, server, scheme="wss", expect_status=1,
                             suffix="-unverified")
    check("certificate" in stderr and "cannot connect" in stderr,
          f"an unverifiable server was not refused clearly: {stderr}")
    check([r["code"] for r in records if r["type"] == "error"] == ["upstream_unreachable"],
          f"records: {records}")
    records, stderr = replay(ctx, recorded, server, "--insecure", scheme="wss",
                             suffix="-insecure")
    check_same_conversation(read_archive(recorded), records)
    check("--insecure" in stderr, f"no warning for --insecure: {stderr}")

CASES = [ws_roundtrip, websockets_roundtrip, header_supplies_redacted, pace_original,
         sync_waits, sync_timeout, deflate_accepted, deflate_declined, frames_on_the_wire,
         reserved_opcode_ws, client_reset, upgrade_refused, unreachable, refusals,
         several_connections, wss_replay]

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, prefix="replay"))

#!/usr/bin/python3
"""Runs real WebSocket peers through the `wssniff proxy` binary and checks both the traffic and
the records.

    run_case.py CASE --wssniff BIN --node NODE --records-out FILE --work DIR --validate PY
                --schema FILE

One case: start the server peer (npm ws or python3-websockets) on an ephemeral port, start
`wssniff proxy --listen 127.0.0.1:0 --upstream ws://127.0.0.1:PORT --output ...` in front of it,
run the client peer against the proxy, then stop the proxy with SIGTERM. Then check:
  - each side received exactly what the other sent (message types and bytes, in order);
  - the records: one handshake (status, addresses, Host, subprotocol, negotiated deflate), the
    frames of each direction (seq, offset, flags, ops, fragments, payloads equal to what was
    sent, inflated under permessage-deflate), the close frames, and the close record (reason,
    frame counts, and byte counts equal to what the peers' sockets read and wrote);
  - the proxy exits 0 after SIGTERM, having written nothing to stdout and only its
    `listening on` line to stderr;
  - every record validates against the schema.
The records are written to FILE (in the records directory the schema suite validates).

Every wait has a deadline, and every process started here is killed on the way out, whatever
happened.
"""

import argparse
import base64
import ctypes
import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"  # Debian's, which sees python3-websockets

PEER_TIMEOUT_S = 40
STARTUP_TIMEOUT_S = 15
STOP_TIMEOUT_S = 15
# Below the CTest TIMEOUT (120 s): the script gives up, reports and cleans up first.
CASE_TIMEOUT_S = 100


# --- cases -------------------------------------------------------------------------------------

# A peer: ("ws", perMessageDeflate option) or ("python", "none" | "deflate").
WS_PLAIN = ("ws", False)
WS_DEFLATE = ("ws", {"threshold": 0})
PY_PLAIN = ("python", "none")
PY_DEFLATE = ("python", "deflate")

NO_DEFLATE = None


def deflate(snct=False, cnct=False, smwb=15, cmwb=15):
    return {
        "server_no_context_takeover": snct,
        "client_no_context_takeover": cnct,
        "server_max_window_bits": smwb,
        "client_max_window_bits": cmwb,
    }


# expected_deflate: the `deflate` the handshake record must show, known from how each library
# negotiates (ws drops a bare client_max_window_bits offer unless configured; python3-websockets
# answers server_max_window_bits=12 and client_max_window_bits=12).
CASES = {
    "ws_plain": dict(server=WS_PLAIN, client=WS_PLAIN, closer="client", ping=True,
                     expected_deflate=NO_DEFLATE),
    "ws_deflate": dict(server=WS_DEFLATE, client=WS_DEFLATE, closer="client", ping=True,
                       expected_deflate=deflate()),
    "ws_deflate_no_context_takeover": dict(
        server=("ws", {"threshold": 0, "serverNoContextTakeover": True,
                       "clientNoContextTakeover": True}),
        client=WS_DEFLATE, closer="server", ping=False,
        expected_deflate=deflate(snct=True, cnct=True)),
    "ws_deflate_window_bits": dict(
        server=("ws", {"threshold": 0, "serverMaxWindowBits": 10, "clientMaxWindowBits": 11}),
        client=WS_DEFLATE, closer="client", ping=False, emit="both",
        expected_deflate=deflate(smwb=10, cmwb=11)),
    "python_plain": dict(server=PY_PLAIN, client=PY_PLAIN, closer="server", ping=True,
                         subprotocol="chat.v1", expected_deflate=NO_DEFLATE),
    "python_deflate": dict(server=PY_DEFLATE, client=PY_DEFLATE, closer="client", ping=False,
                           emit="both", expected_deflate=deflate(smwb=12, cmwb=12)),
    "python_client_ws_server": dict(server=WS_PLAIN, client=PY_PLAIN, closer="client",
                                    ping=True, subprotocol="chat.v1",
                                    expected_deflate=NO_DEFLATE),
    "python_client_ws_server_deflate": dict(server=WS_DEFLATE, client=PY_DEFLATE,
                                            closer="server", ping=False,
                                            expected_deflate=deflate()),
    "ws_client_python_server": dict(server=PY_PLAIN, client=WS_PLAIN, closer="server",
                                    ping=True, expected_deflate=NO_DEFLATE),
    "ws_client_python_server_deflate": dict(server=PY_DEFLATE, client=WS_DEFLATE,
                                            closer="client", ping=True,
                                            expected_deflate=deflate(smwb=12, cmwb=12)),
    # Every payload as base64 and a message record per message.
    "ws_messages_base64": dict(server=WS_PLAIN, client=WS_PLAIN, closer="client", ping=False,
                               emit="both", payload="base64", expected_deflate=NO_DEFLATE),
    # The server sees the Host header the client sent to the proxy.
    "python_host_header_keep": dict(server=PY_PLAIN, client=PY_PLAIN, closer="client",
                                    ping=False, host_header="keep",
                                    expected_deflate=NO_DEFLATE),
    # SIGTERM with the connection open: close record `shutdown`, output to a regular file.
    "ws_shutdown_with_open_connection": dict(server=WS_PLAIN, client=WS_PLAIN, closer="none",
                                             ping=False, expected_deflate=NO_DEFLATE),
}

# RFC 7692 window sizes from 9 to 15 in both directions (ws cannot compress with 8), two of them
# also without context takeover: each inflater has to honour what the server's 101 settled.
for _bits in range(9, 16):
    CASES[f"ws_deflate_window_bits_{_bits}"] = dict(
        server=("ws", {"threshold": 0, "serverMaxWindowBits": _bits,
                       "clientMaxWindowBits": _bits}),
        client=WS_DEFLATE, closer="client", ping=False,
        expected_deflate=deflate(smwb=_bits, cmwb=_bits))
for _bits in (9, 12):
    CASES[f"ws_deflate_window_bits_{_bits}_no_context_takeover"] = dict(
        server=("ws", {"threshold": 0, "serverMaxWindowBits": _bits,
                       "clientMaxWindowBits": _bits, "serverNoContextTakeover": True,
                       "clientNoContextTakeover": True}),
        client=WS_DEFLATE, closer="server", ping=False,
        expected_deflate=deflate(snct=True, cnct=True, smwb=_bits, cmwb=_bits))


# --- the plan: what each side sends ------------------------------------------------------------

def b64(data):
    return base64.b64encode(data).decode()


def random_text(rng, size_bytes):
    """Valid UTF-8 of exactly size_bytes bytes, with characters JSON must escape and 2-, 3- and
    4-byte characters."""
    alphabet = ["a", "b", "z", " ", "\n", "\t", '"', "\\", "\x00", "\x1f", "\u00e9", "\u2603",
                "\U0001d11e", "\u20ac"]
    out = bytearray()
    while len(out) < size_bytes:
        c = rng.choice(alphabet).encode()
        if len(out) + len(c) > size_bytes:
            c = b"x" * (size_bytes - len(out))
        out += c
    return bytes(out)


def char_boundaries(data):
    text = data.decode()
    at, cuts = 0, []
    for ch in text:
        cuts.append(at)
        at += len(ch.encode())
    return cuts


def split_at(data, cuts):
    """Fragment sizes for cutting data at the given byte offsets."""
    points = [0] + list(cuts) + [len(data)]
    return [points[i + 1] - points[i] for i in range(len(points) - 1)]


def messages_for(rng, who, sender_kind):
    out = []

    def add(kind, data, fragments=None):
        out.append({"type": kind, "data": b64(data), "fragments": fragments})

    add("text", f"hello from the {who}".encode())
    add("text", b"")
    add("text", "h\u00e9llo w\u00f6rld \u2014 \u2603 \U0001d11e".encode())
    add("binary", b"")
    add("binary", b"\x00")
    for n in (125, 126, 127, 65535, 65536):
        add("binary", rng.randbytes(n))
    add("text", random_text(rng, 125))
    add("text", random_text(rng, 70000))
    add("binary", rng.randbytes(300 * 1024))
    # Fragmented: a text message cut at character boundaries, a binary one with an empty
    # fragment in the middle.
    # python3-websockets ends every fragmented message with an empty final frame; `fragments`
    # are the frames as they go on the wire.
    final = [0] if sender_kind == "python" else []
    text = random_text(rng, 3000)
    cuts = char_boundaries(text)
    add("text", text, split_at(text, [c for c in cuts if c >= 1000][:1] +
                               [c for c in cuts if c >= 2000][:1]) + final)
    blob = rng.randbytes(70210)
    add("binary", blob, [10, 0, 200, 70000] + final)
    if sender_kind == "ws":
        # Cut inside characters: neither fragment is valid UTF-8 on its own (python3-websockets
        # can only send text fragments as str, so only ws sends this one).
        snowmen = "\u2603\u2603\u2603".encode()
        add("text", snowmen, [4, 5])
    rng.shuffle(out)
    return out


def make_plan(case, rng):
    client_kind, server_kind = case["client"][0], case["server"][0]
    closer = case["closer"]
    return {
        "path": "/chat/room-7?user=ann&x=%20y",
        "subprotocol": case.get("subprotocol"),
        "closer": closer,
        "close_code": 1000 if closer == "client" else 4001,
        "close_reason": "client done \u2603" if closer == "client" else "server done",
        "ping": b64(b"are you there?") if case["ping"] else None,
        "peer_timeout_ms": PEER_TIMEOUT_S * 1000,
        "c2s": messages_for(rng, "client", client_kind),
        "s2c": messages_for(rng, "server", server_kind),
    }


# --- processes ---------------------------------------------------------------------------------

class deadline:
    """The case's overall time budget: every wait takes the smaller of its own limit and
    what is left."""

    end = None

    @classmethod
    def start(cls, seconds):
        cls.end = time.monotonic() + seconds

    @classmethod
    def within(cls, seconds):
        return max(0.0, min(seconds, cls.end - time.monotonic()))


def die_with_parent():
    # Should this script be killed (CTest's TIMEOUT), its children go too: PR_SET_PDEATHSIG.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


class process:
    """A child whose stdout (or stderr) lines arrive on a queue; killed on cleanup."""

    def __init__(self, name, argv, work, watch="stdout"):
        self.name = name
        self.argv = argv
        self.lines = queue.Queue()
        self.captured = {"stdout": [], "stderr": []}
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, cwd=work,
                                     preexec_fn=die_with_parent)
        self.threads = []
        for stream_name in ("stdout", "stderr"):
            t = threading.Thread(target=self._pump,
                                 args=(stream_name, stream_name == watch), daemon=True)
            t.start()
            self.threads.append(t)

    def _pump(self, stream_name, watched):
        stream = getattr(self.proc, stream_name)
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            self.captured[stream_name].append(line)
            if watched:
                self.lines.put(line.rstrip("\n"))
        if watched:
            self.lines.put(None)

    def wait_line(self, pattern, timeout):
        timeout = deadline.within(timeout)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise failure(f"{self.name}: no line matching {pattern!r} within {timeout} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise failure(f"{self.name}: exited before printing {pattern!r} "
                              f"(status {self.proc.wait(5)})")
            m = re.fullmatch(pattern, line)
            if m:
                return m

    def wait(self, timeout):
        timeout = deadline.within(timeout)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise failure(f"{self.name}: still running after {timeout} s")
        for t in self.threads:
            t.join(5)
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def output(self, stream_name):
        return "".join(self.captured[stream_name])


class failure(Exception):
    pass


def peer_argv(kind_and_option, role, plan_file, report_file, node, port=None):
    kind, option = kind_and_option
    if kind == "ws":
        argv = [node, str(HERE / "ws_peer.js"), role, str(plan_file), str(report_file)]
        if port is not None:
            argv.append(str(port))
        return argv + ["null", json.dumps(option)]  # null: plain ws://, no TLS
    argv = [PYTHON, str(HERE / "websockets_peer.py"), role, str(plan_file), str(report_file)]
    if port is not None:
        argv.append(str(port))
    return argv + ["--compression", option]


class fifo_reader:
    """Reads the proxy's --output FIFO as the proxy flushes it, so the test can wait for the
    close record before it sends SIGTERM (a regular file is only flushed at exit)."""

    def __init__(self, path, copy_to):
        self.path = path
        self.copy_to = copy_to
        self.lines = []
        self.changed = threading.Condition()
        self.done = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        with open(self.path, "rb") as fifo, open(self.copy_to, "wb") as out:
            for raw in iter(fifo.readline, b""):
                out.write(raw)
                out.flush()
                with self.changed:
                    self.lines.append(raw)
                    self.changed.notify_all()
        with self.changed:
            self.done = True
            self.changed.notify_all()

    def wait_for_close_record(self, timeout):
        timeout = deadline.within(timeout)

        def seen():
            return any(b'"type":"close"' in line for line in self.lines)

        with self.changed:
            if not self.changed.wait_for(lambda: seen() or self.done, timeout) or not seen():
                raise failure(f"no close record on the proxy's output within {timeout} s")

    def finish(self, timeout):
        self.thread.join(deadline.within(timeout))
        if self.thread.is_alive():
            # The proxy never opened the FIFO: unblock the reader's open().
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
            except OSError:
                pass
            raise failure("the proxy's output was never closed")


# --- checks ------------------------------------------------------------------------------------

class checker:
    def __init__(self):
        self.problems = []

    def expect(self, ok, what):
        if not ok:
            self.problems.append(what)
        return ok

    def equal(self, actual, expected, what):
        return self.expect(actual == expected,
                           f"{what}: got {clip(actual)}, expected {clip(expected)}")


def clip(value):
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + f"... ({len(text)} chars)"


def payload_bytes(record):
    fields = [k for k in ("text", "hex", "base64") if k in record]
    if not fields:
        return None, None
    field = fields[0]
    value = record[field]
    if field == "text":
        return field, value.encode("utf-8")
    if field == "hex":
        return field, bytes.fromhex(value)
    return field, base64.b64decode(value)


def frame_size(f):
    length_bytes = 0 if f["len"] < 126 else 2 if f["len"] <= 0xFFFF else 8
    return 2 + length_bytes + (4 if f["masked"] else 0) + f["len"]


def parse_deflate(extensions):
    """The negotiated permessage-deflate parameters of a Sec-WebSocket-Extensions response
    header (RFC 7692 §7.1), with the defaults the record uses."""
    if extensions is None:
        return None
    for offer in extensions.split(","):
        parts = [p.strip() for p in offer.split(";")]
        if parts[0] != "permessage-deflate":
            continue
        params = dict((p.split("=", 1) + [None])[:2] for p in parts[1:] if p)
        return deflate(
            snct="server_no_context_takeover" in params,
            cnct="client_no_context_takeover" in params,
            smwb=int(params.get("server_max_window_bits") or 15),
            cmwb=int(params.get("client_max_window_bits") or 15),
        )
    return None


def header(headers, name):
    values = [v for n, v in headers if n.lower() == name.lower()]
    return values[0] if len(values) == 1 else values or None


def split_frames(check, frames, dir, masked):
    """Checks per-frame invariants and groups the data frames into messages."""
    messages, controls, current = [], [], None
    offset = 0
    for i, f in enumerate(frames):
        where = f"{dir} frame {i}"
        check.equal(f["seq"], i, f"{where} seq")
        check.equal(f["offset"], offset, f"{where} offset")
        offset += frame_size(f)
        check.equal(f["masked"], masked, f"{where} masked")
        check.equal("mask" in f, masked, f"{where} has a mask field")
        check.expect(not f["rsv2"] and not f["rsv3"], f"{where}: rsv2/rsv3 set")
        check.expect(not f.get("truncated"), f"{where}: payload truncated")
        if f["opcode"] >= 8:
            check.expect(f["fin"], f"{where}: control frame without fin")
            check.expect(not f["rsv1"], f"{where}: control frame with rsv1")
            controls.append(f)
            continue
        if f["op"] in ("text", "binary"):
            check.expect(current is None, f"{where}: new message inside a fragmented one")
            current = [f]
        else:
            check.equal(f["op"], "continuation", f"{where} op")
            if not check.expect(current is not None, f"{where}: continuation without a message"):
                continue
            current.append(f)
        if f["fin"]:
            messages.append(current)
            current = None
    check.expect(current is None, f"{dir}: a message never finished")
    return messages, controls


def check_messages(check, dir, recorded, planned, compressed, payload_mode):
    """The recorded data messages against what the plan had this direction send."""
    if not check.equal(len(recorded), len(planned), f"{dir} data messages"):
        return
    for i, (frames, plan) in enumerate(zip(recorded, planned)):
        where = f"{dir} message {i} ({plan['type']}, fragments {plan['fragments']})"
        sent = base64.b64decode(plan["data"])
        check.equal(frames[0]["op"], plan["type"], f"{where} op")
        fragments = plan["fragments"] or [len(sent)]
        if not check.equal(len(frames), len(fragments), f"{where} frame count"):
            continue
        check.equal(frames[0]["rsv1"], compressed, f"{where} first frame rsv1")
        for f in frames[1:]:
            check.expect(not f["rsv1"], f"{where}: rsv1 on a continuation frame")
        data = b""
        for j, f in enumerate(frames):
            field, piece = payload_bytes(f)
            if not check.expect(piece is not None, f"{where} frame {j}: no payload field"):
                return
            data += piece
            if compressed:
                check.equal(f.get("compressed"), True, f"{where} frame {j} compressed")
                check.equal(f.get("data_len"), len(piece), f"{where} frame {j} data_len")
            else:
                check.expect("compressed" not in f and "data_len" not in f,
                             f"{where} frame {j}: compressed or data_len on an uncompressed frame")
                check.equal(f["len"], len(piece), f"{where} frame {j} len vs payload")
                check.equal(f["len"], fragments[j], f"{where} frame {j} len")
            check.equal(field, expected_field(payload_mode, plan["type"], piece),
                        f"{where} frame {j} payload field")
        check.equal(data, sent, f"{where} payload")


def expected_field(payload_mode, kind, piece):
    if payload_mode != "auto":
        return payload_mode
    if kind != "text":
        return "hex"
    try:
        piece.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "hex"


def check_message_records(check, dir, records, planned, compressed, payload_mode):
    if not check.equal(len(records), len(planned), f"{dir} message records"):
        return
    for i, (m, plan) in enumerate(zip(records, planned)):
        where = f"{dir} message record {i}"
        sent = base64.b64decode(plan["data"])
        check.equal(m["seq"], i, f"{where} seq")
        check.equal(m["op"], plan["type"], f"{where} op")
        check.equal(m["frames"], len(plan["fragments"] or [1]), f"{where} frames")
        check.equal(m["len"], len(sent), f"{where} len")
        check.equal(m["compressed"], compressed, f"{where} compressed")
        field, data = payload_bytes(m)
        check.equal(field, expected_field(payload_mode, plan["type"], sent),
                    f"{where} payload field")
        check.equal(data, sent, f"{where} payload")


def check_received(check, who, report, planned):
    got = [(m["type"], base64.b64decode(m["data"])) for m in report["received"]]
    want = [(m["type"], base64.b64decode(m["data"])) for m in planned]
    if got != want:
        first = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
        check.expect(False, f"{who} received {len(got)} messages, the other side sent "
                            f"{len(want)}; first difference at message {first}")


def check_case(name, case, plan, records, client, server, ports, check):
    payload_mode = case.get("payload", "auto")
    emit = case.get("emit", "frames")
    shutdown = case["closer"] == "none"
    deflated = case["expected_deflate"] is not None

    # (a) each side received exactly what the other sent
    check_received(check, "the server", server, plan["c2s"])
    check_received(check, "the client", client, plan["s2c"])
    if plan["ping"]:
        check.equal(client["pongs"], [plan["ping"]], "pongs the client received")

    # (b) the records
    check.expect(all(r.get("conn") == 1 for r in records), "a record with conn != 1")
    check.expect(all("ts" in r for r in records), "a live record without ts")
    types = [r["type"] for r in records]
    check.equal([t for t in types if t == "error"], [], "error records")
    if not check.expect(types and types[0] == "handshake", f"first record is {types[:1]}"):
        return
    check.equal(types.count("handshake"), 1, "handshake records")
    check.equal(types[-1], "close", "last record")
    check.equal(types.count("close"), 1, "close records")

    hs = records[0]
    check.equal(hs["status"], 101, "handshake status")
    check.equal(hs["method"], "GET", "handshake method")
    check.equal(hs["target"], plan["path"], "handshake target")
    check.equal(hs.get("client"), f"127.0.0.1:{client['local_port']}", "handshake client")
    check.equal(hs.get("upstream"), f"127.0.0.1:{ports['server']}", "handshake upstream")
    expected_host = (f"127.0.0.1:{ports['proxy']}" if case.get("host_header") == "keep"
                     else f"127.0.0.1:{ports['server']}")
    check.equal(server["host"], expected_host, "Host header the server received")
    check.equal(header(hs["request_headers"], "Host"), expected_host, "Host in the record")
    check.equal(hs["subprotocol"], plan["subprotocol"], "handshake subprotocol")
    check.equal(client["protocol"], plan["subprotocol"], "subprotocol the client got")
    check.equal(hs["extensions"], client["extensions"],
                "handshake extensions vs the response header the client received")
    check.equal(header(hs["response_headers"], "Sec-WebSocket-Extensions"), client["extensions"],
                "Sec-WebSocket-Extensions in the record's response headers")
    check.equal(hs["deflate"], parse_deflate(client["extensions"]),
                "handshake deflate vs the negotiated extension")
    check.equal(hs["deflate"], case["expected_deflate"], "handshake deflate")

    frames = {d: [r for r in records if r["type"] == "frame" and r["dir"] == d]
              for d in ("c2s", "s2c")}
    for dir, masked, planned in (("c2s", True, plan["c2s"]), ("s2c", False, plan["s2c"])):
        data, controls = split_frames(check, frames[dir], dir, masked)
        check_messages(check, dir, data, planned, deflated, payload_mode)
        if emit in ("messages", "both"):
            msgs = [r for r in records if r["type"] == "message" and r["dir"] == dir]
            check_message_records(check, dir, msgs, planned, deflated, payload_mode)
        else:
            check.equal(types.count("message"), 0, "message records without --emit messages")
        ops = [f["op"] for f in controls]
        expected_ops = []
        if plan["ping"]:
            expected_ops.append("ping" if dir == "c2s" else "pong")
        if not shutdown:
            expected_ops.append("close")
        check.equal(ops, expected_ops, f"{dir} control frames")
        for f in controls:
            if f["op"] in ("ping", "pong"):
                check.equal(payload_bytes(f)[1], base64.b64decode(plan["ping"]),
                            f"{dir} {f['op']} payload")
        if not shutdown and frames[dir]:
            check.equal(frames[dir][-1]["op"], "close", f"{dir}: last frame")

    if not shutdown:
        closer_dir = "c2s" if plan["closer"] == "client" else "s2c"
        closer, other = (client, server) if plan["closer"] == "client" else (server, client)
        reply_dir = "s2c" if closer_dir == "c2s" else "c2s"
        first = frames[closer_dir][-1] if frames[closer_dir] else {}
        reply = frames[reply_dir][-1] if frames[reply_dir] else {}
        check.equal((first.get("close_code"), first.get("close_reason")),
                    (plan["close_code"], plan["close_reason"]), f"{closer_dir} close frame")
        check.equal(other["close"], {"code": plan["close_code"], "reason": plan["close_reason"]},
                    f"close the {other['role']} received")
        check.equal((reply.get("close_code"), reply.get("close_reason")),
                    (closer["close"]["code"], closer["close"]["reason"]),
                    f"{reply_dir} close frame vs what the {closer['role']} received")
    else:
        check.equal(client["close"]["code"], 1006, "client close code after the proxy stopped")
        check.equal(server["close"]["code"], 1006, "server close code after the proxy stopped")

    close = records[-1]
    if shutdown:
        check.equal(close.get("reason"), "shutdown", "close record reason")
    else:
        check.expect(close.get("reason") in ("client_closed", "server_closed"),
                     f"close record reason {close.get('reason')!r}, expected client_closed "
                     f"or server_closed")
    check.equal(close.get("frames_c2s"), len(frames["c2s"]), "close record frames_c2s")
    check.equal(close.get("frames_s2c"), len(frames["s2c"]), "close record frames_s2c")
    check.equal(close.get("bytes_c2s"), server["bytes_read"],
                "close record bytes_c2s vs bytes the server read")
    check.equal(close.get("bytes_s2c"), server["bytes_written"],
                "close record bytes_s2c vs bytes the server wrote")
    check.equal(client["bytes_read"], server["bytes_written"],
                "bytes the client read vs bytes the server wrote")
    # The Host rewrite is the one change to the bytes: the authority, and nothing else.
    host_delta = len(expected_host) - len(f"127.0.0.1:{ports['proxy']}")
    check.equal(client["bytes_written"] + host_delta, server["bytes_read"],
                "bytes the client wrote (Host rewritten) vs bytes the server read")
    for dir in ("c2s", "s2c"):
        if frames[dir]:
            end = frames[dir][-1]["offset"] + frame_size(frames[dir][-1])
            check.expect(end < close.get(f"bytes_{dir}", 0),
                         f"{dir}: frames end at {end}, past the bytes forwarded")


# --- one run -----------------------------------------------------------------------------------

def run(args):
    deadline.start(CASE_TIMEOUT_S)
    case = CASES[args.case]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    for old in work.iterdir():
        if old.is_file() or old.is_fifo():
            old.unlink()
    rng = random.Random(f"wssniff {args.case}")
    plan = make_plan(case, rng)
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(plan))
    records_out = Path(args.records_out)
    if records_out.exists():
        records_out.unlink()
    shutdown = case["closer"] == "none"

    started = []
    fifo = None
    try:
        server = process("server peer", peer_argv(case["server"], "server", plan_file,
                                                  work / "server.json", args.node), work)
        started.append(server)
        server_port = int(server.wait_line(r"listening (\d+)", STARTUP_TIMEOUT_S).group(1))

        if shutdown:
            output = records_out  # a regular file, flushed when the proxy exits
        else:
            output = work / "records.fifo"
            os.mkfifo(output)
            fifo = fifo_reader(output, records_out)
        argv = [args.wssniff, "proxy", "--listen", "127.0.0.1:0",
                "--upstream", f"ws://127.0.0.1:{server_port}", "--output", str(output)]
        argv += ["--emit", case.get("emit", "frames"), "--payload", case.get("payload", "auto")]
        if case.get("host_header"):
            argv += ["--host-header", case["host_header"]]
        proxy = process("wssniff proxy", argv, work, watch="stderr")
        started.append(proxy)
        proxy_port = int(proxy.wait_line(r"listening on 127\.0\.0\.1:(\d+)",
                                         STARTUP_TIMEOUT_S).group(1))

        client = process("client peer", peer_argv(case["client"], "client", plan_file,
                                                  work / "client.json", args.node, proxy_port),
                         work)
        started.append(client)

        if shutdown:
            client.wait_line("received all", PEER_TIMEOUT_S)
            server.wait_line("received all", PEER_TIMEOUT_S)
        else:
            for peer in (client, server):
                status = peer.wait(PEER_TIMEOUT_S + 5)
                if status != 0:
                    raise failure(f"{peer.name} exited with status {status}")
            # The proxy has both ends' EOF to process before the close record exists; SIGTERM
            # before that would turn it into a `shutdown`.
            fifo.wait_for_close_record(STOP_TIMEOUT_S)

        proxy.proc.send_signal(signal.SIGTERM)
        proxy_status = proxy.wait(STOP_TIMEOUT_S)
        if shutdown:
            for peer in (client, server):
                status = peer.wait(PEER_TIMEOUT_S)
                if status != 0:
                    raise failure(f"{peer.name} exited with status {status}")
        if fifo:
            fifo.finish(STOP_TIMEOUT_S)

        check = checker()
        check.equal(proxy_status, 0, "proxy exit status after SIGTERM")
        check.equal(proxy.output("stdout"), "", "proxy stdout with --output")
        check.equal(proxy.output("stderr"), f"listening on 127.0.0.1:{proxy_port}\n",
                    "proxy stderr")
        client_report = json.loads((work / "client.json").read_text())
        server_report = json.loads((work / "server.json").read_text())
        records = [json.loads(line) for line in records_out.read_bytes().splitlines()]
        check_case(args.case, case, plan, records, client_report, server_report,
                   {"server": server_port, "proxy": proxy_port}, check)

        validation = subprocess.run([PYTHON, args.validate, "--schema", args.schema,
                                     str(records_out)], capture_output=True, text=True,
                                    timeout=max(1.0, deadline.within(60)))
        check.equal(validation.returncode, 0,
                    f"schema validation of {records_out}: {validation.stdout}{validation.stderr}")
        if check.problems:
            raise failure("\n".join(["records or traffic do not match:"] + check.problems))
        print(f"{args.case}: {len(records)} records, "
              f"{len(plan['c2s'])} messages c2s, {len(plan['s2c'])} s2c, "
              f"bytes c2s {records[-1]['bytes_c2s']}, s2c {records[-1]['bytes_s2c']}: ok")
        return 0
    except Exception as e:  # any failure: report it with what every process printed
        if not isinstance(e, failure):
            traceback.print_exc()
        print(f"FAIL {args.case}: {e}", file=sys.stderr)
        for p in started:
            print(f"--- {p.name}: {' '.join(p.argv)}", file=sys.stderr)
            print(f"stdout:\n{p.output('stdout')}stderr:\n{p.output('stderr')}", file=sys.stderr)
        return 1
    finally:
        for p in reversed(started):
            p.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--wssniff", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--records-out", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--validate", required=True)
    parser.add_argument("--schema", required=True)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())

"""A planned conversation between two real WebSocket peers through `wssniff proxy`, and what its
records and each peer's report must say about it.

The plan (make_plan) is the messages each side sends; the peers (tests/integration/peers:
ws_peer.js, websockets_peer.py) play it and report what they received and how many bytes their
sockets moved; check_case compares all of that with the records.
"""

import base64

PEER_TIMEOUT_S = 40
STARTUP_TIMEOUT_S = 15
STOP_TIMEOUT_S = 15

# Below the CTest TIMEOUT (120 s): the script gives up, reports and cleans up first.
CASE_TIMEOUT_S = 100

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

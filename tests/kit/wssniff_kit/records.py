"""Checks of the NDJSON records wssniff writes: the output parsed as the contract promises it,
records picked by type, connection and direction, and what a connection's frames, errors and
close must say.
"""

import calendar
import collections
import json
import os
import struct
import time

from wssniff_kit.checks import CheckFailed, check, log
from wssniff_kit.wire import OP_CLOSE, OP_NAMES, OP_TEXT, frame, mask_key, valid_utf8

def parse_ndjson(data, where="records"):
    """Records as the contract promises them: complete lines of JSON objects, the whole output
    valid UTF-8, and no string that only escapes make (a lone surrogate \\ud800 is valid JSON
    but no Unicode text)."""
    check(not data or data.endswith(b"\n"), f"{where}: the last line is incomplete: "
                                            f"{data[-120:]!r}")
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckFailed(f"{where}: not valid UTF-8 at byte {e.start}: "
                          f"{bytes(data[max(0, e.start - 60):e.start + 20])!r}")
    return [parse_record(line, number, where)
            for number, line in enumerate(data.split(b"\n")[:-1], 1)]


def parse_record(line, number, where="records"):
    """One NDJSON line (without its newline, already known to be UTF-8) as parse_ndjson checks
    it."""
    try:
        value = json.loads(line)
    except ValueError as e:
        raise CheckFailed(f"{where}: line {number} is not JSON ({e}): {line[:200]!r}")
    check(isinstance(value, dict), f"{where}: line {number} is not an object")
    bad = lone_surrogate(value)
    check(bad is None, f"{where}: line {number} holds a string that is not Unicode text: "
                       f"{bad!r}")
    return value


def iter_ndjson(path):
    """The records of a file, one at a time, checked as parse_ndjson checks them: for dumps too
    large to hold parsed at once (a soak's)."""
    with open(path, "rb") as f:
        number = 0
        for line in f:
            number += 1
            check(line.endswith(b"\n"), f"{path}: the last line is incomplete: {line[-120:]!r}")
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                raise CheckFailed(f"{path}: line {number} is not valid UTF-8 at byte {e.start}: "
                                  f"{line[max(0, e.start - 60):e.start + 20]!r}")
            yield parse_record(line[:-1], number, path)


def lone_surrogate(value):
    """The first string in `value` that cannot be encoded as UTF-8, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value[:80]
    elif isinstance(value, dict):
        for k, v in value.items():
            found = lone_surrogate(k) or lone_surrogate(v)
            if found:
                return found
    elif isinstance(value, list):
        for v in value:
            found = lone_surrogate(v)
            if found:
                return found
    return None


def sample_for_schema(full_path, sample_path, lines=2000):
    """The first and last `lines` records of a large dump, for the schema suite (which checks
    about 2,500 records a second): the case itself has parsed and checked every record, and
    the ends hold every kind of record the run wrote. The full dump is removed."""
    first = []
    last = collections.deque(maxlen=lines)
    total = 0
    with open(full_path, "rb") as f:
        for line in f:
            total += 1
            if len(first) < lines:
                first.append(line)
            else:
                last.append(line)
    with open(sample_path, "wb") as f:
        f.write(b"".join(first) + b"".join(last))
    os.unlink(full_path)
    log(f"{len(first) + len(last)} of {total} records kept for the schema suite")


def of_type(records, kind, conn=None, direction=None):
    return [r for r in records if r.get("type") == kind and (conn is None or r.get("conn") == conn)
            and (direction is None or r.get("dir") == direction)]


def without_ts(record):
    """The record without its times (ts, and a handshake's request_ts)."""
    return {k: v for k, v in record.items() if k not in ("ts", "request_ts")}


def seconds_of(ts):
    """An RFC 3339 UTC time as written in records, in seconds since the epoch."""
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + float(ts[19:-1] or 0)


def brief(record):
    text = json.dumps(without_ts(record))
    return text if len(text) <= 300 else text[:300] + "..."


def check_fields(record, expected, what):
    # The messages are built only on failure: cases check 100,000 records this way.
    for key, value in expected.items():
        if key not in record:
            raise CheckFailed(f"{what}: no field {key!r} in {brief(record)}")
        if record[key] != value:
            raise CheckFailed(f"{what}: {key} is {str(record[key])[:120]!r}, expected "
                              f"{str(value)[:120]!r} in {brief(record)}")


class Side:
    """Builds the frames one side sends after the handshake, and what the records should say
    about them (default payload mode `auto`)."""

    def __init__(self, direction):
        self.direction = direction
        self.offset = 0
        self.frames = []  # expected frame records (the fields checked)
        self.errors = []  # expected error records

    def frame(self, opcode, payload=b"", *, fin=True, rsv=0, length64=False, length16=False,
              errors=(), text=None, cut=None):
        """The frame's bytes (client frames masked). `errors`: (code, offset within the
        frame's bytes) the decoder must report. `text`: whether the record shows the payload
        as text (default: a text frame with valid UTF-8). `cut`: send only this many payload
        bytes; the stream then ends inside the frame."""
        payload = bytes(payload)
        mask = mask_key(len(self.frames) + 1) if self.direction == "c2s" else None
        raw = frame(opcode, payload, fin=fin, rsv=rsv, mask=mask, length64=length64,
                    length16=length16)
        shown = payload
        if cut is not None:
            raw = raw[:len(raw) - len(payload) + cut]
            shown = payload[:cut]
            errors = list(errors) + [("stream_ended_mid_frame", 0)]
        expected = {"type": "frame", "dir": self.direction, "seq": len(self.frames),
                    "offset": self.offset, "fin": fin, "rsv1": bool(rsv & 4),
                    "rsv2": bool(rsv & 2), "rsv3": bool(rsv & 1), "opcode": opcode,
                    "op": OP_NAMES.get(opcode, "reserved"), "masked": mask is not None,
                    "len": len(payload)}
        if mask is not None:
            expected["mask"] = mask.hex()
        if text is None:
            text = opcode == OP_TEXT and valid_utf8(payload)
        if text:
            expected["text"] = shown.decode("utf-8")
        else:
            expected["hex"] = shown.hex()
        if cut is not None:
            expected["truncated"] = True
        if opcode == OP_CLOSE and len(payload) >= 2:
            expected["close_code"] = struct.unpack("!H", payload[:2])[0]
            if valid_utf8(payload[2:]):
                # An invalid reason is shown with replacement characters; the case checks it.
                expected["close_reason"] = payload[2:].decode("utf-8")
        self.frames.append(expected)
        for code, at in errors:
            self.errors.append({"type": "error", "code": code, "dir": self.direction,
                                "offset": self.offset + at, "fatal": False})
        self.offset += len(raw)
        return raw


def check_frames(records, conn, side):
    got = of_type(records, "frame", conn, side.direction)
    check(len(got) == len(side.frames),
          f"conn {conn} {side.direction}: {len(got)} frame records, expected "
          f"{len(side.frames)}: {[brief(r)[:160] for r in got]}")
    for record, expected in zip(got, side.frames):
        check_fields(record, expected, f"conn {conn} {side.direction} frame")
        if "truncated" not in expected and "truncated" in record:
            raise CheckFailed(f"conn {conn} {side.direction} frame seq {expected['seq']} says "
                              f"truncated: {brief(record)}")


def check_errors(records, conn, expected):
    got = sorted(((r.get("dir", ""), r.get("offset", -1), r.get("code")) for r in
                  of_type(records, "error", conn)))
    want = sorted(((e["dir"], e["offset"], e["code"]) for e in expected))
    check(got == want, f"conn {conn}: error records (dir, offset, code) {got}, expected {want}")
    for r in of_type(records, "error", conn):
        check(r.get("fatal") is False, f"conn {conn}: error is fatal: {brief(r)}")


def one_close(records, conn):
    closes = of_type(records, "close", conn)
    check(len(closes) == 1, f"conn {conn}: {len(closes)} close records, expected 1: "
                            f"{[brief(r) for r in closes]}")
    check([r for r in records if r.get("conn") == conn][-1] is closes[0],
          f"conn {conn}: the close record is not the connection's last")
    return closes[0]


def check_close(records, conn, reason, *, bytes_c2s=None, bytes_s2c=None, frames_c2s=None,
                frames_s2c=None):
    close = one_close(records, conn)
    expected = {"reason": reason}
    for field, value in (("bytes_c2s", bytes_c2s), ("bytes_s2c", bytes_s2c),
                         ("frames_c2s", frames_c2s), ("frames_s2c", frames_s2c)):
        if value is not None:
            expected[field] = value
    check_fields(close, expected, f"conn {conn} close record")
    return close


def check_unreachable(records, saying=""):
    """Connection 1 never reached the upstream: one fatal upstream_unreachable error whose
    message says `saying`, no handshake or frame record, and a close record that says so."""
    check_only_conns(records, [1])
    errors = of_type(records, "error", 1)
    check([e.get("code") for e in errors] == ["upstream_unreachable"],
          f"error records {[brief(e) for e in errors]}, expected one upstream_unreachable")
    check(errors[0].get("fatal") is True and saying in errors[0].get("message", ""),
          f"upstream_unreachable is not fatal or does not say {saying!r}: {brief(errors[0])}")
    check(not of_type(records, "handshake", 1), "a handshake record without an upstream")
    check(not of_type(records, "frame"), "frame records although no upstream was reached")
    check_close(records, 1, "upstream_unreachable", frames_c2s=0, frames_s2c=0)


def check_only_conns(records, conns):
    seen = {r.get("conn") for r in records}
    check(seen <= set(conns), f"records of connections {sorted(seen - set(conns))} that the "
                              f"test never opened")


def check_no_errors(records, conn):
    errors = of_type(records, "error", conn)
    check(not errors, f"conn {conn}: unexpected error records: {[brief(e) for e in errors]}")


def check_fatal_error(records, conn, direction, code, offset=None, detail=None):
    """Exactly one error record for the connection: fatal, this code and direction, at
    `offset` (None: the record has none, as for HTTP heads)."""
    errors = of_type(records, "error", conn)
    check(len(errors) == 1, f"conn {conn}: {len(errors)} error records, expected one {code}: "
                            f"{[brief(e) for e in errors]}")
    e = errors[0]
    check_fields(e, {"code": code, "dir": direction, "fatal": True}, f"conn {conn} error")
    if offset is None:
        check("offset" not in e, f"conn {conn}: an HTTP head error with an offset: {brief(e)}")
    else:
        check(e.get("offset") == offset, f"conn {conn}: error offset {e.get('offset')}, "
                                         f"expected {offset}: {brief(e)}")
    if detail is not None:
        check(detail in e.get("message", ""), f"conn {conn}: the message does not say "
                                              f"{detail!r}: {brief(e)}")
    return e


def check_connections_whole(records, what):
    """Each connection once and complete, its records in order: a handshake, every frame of each
    direction exactly once (seq 0, 1, 2, ... as many as its close record counts), then its
    close. Returns the records by conn."""
    by_conn = {}
    for r in records:
        by_conn.setdefault(r["conn"], []).append(r)
    for conn, rs in by_conn.items():
        kinds = [r["type"] for r in rs]
        check(kinds[0] == "handshake" and kinds.count("handshake") == 1,
              f"{what}: conn {conn} has {kinds.count('handshake')} handshakes (first {kinds[0]})")
        check(kinds[-1] == "close" and kinds.count("close") == 1,
              f"{what}: conn {conn} does not end with one close record: {kinds[-3:]}")
        close = rs[-1]
        for d in ("c2s", "s2c"):
            seqs = [r["seq"] for r in rs if r["type"] == "frame" and r["dir"] == d]
            check(seqs == list(range(close[f"frames_{d}"])),
                  f"{what}: conn {conn} {d} frames {seqs[:8]}... ({len(seqs)}) against "
                  f"{close[f'frames_{d}']} in its close record")
    return by_conn

"""RFC 6455 / RFC 7692 on the wire, for the conformance driver: frames as bytes, permessage-
deflate with Python's zlib, and a model of what wssniff must record for a byte stream.

The model is written from the RFCs and wssniff's documented record contract (README "Records",
lib/wssniff/base/error_code.hpp), not from the decoder's code: the records verdict compares two
independent readings of the same bytes.
"""

import os
import struct
import zlib

from wssniff_kit.wire import OP_CLOSE, OP_NAMES, apply_mask, frame

DEFLATE_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.1


def is_control(opcode):
    return opcode & 0x8 != 0


def is_reserved(opcode):
    return 3 <= opcode <= 7 or opcode >= 11


def valid_close_code(code):
    # RFC 6455 §7.4: 1000-1003 and 1007-1014 defined (1004 reserved, 1005/1006/1015 never sent
    # in a frame), 3000-4999 for libraries and applications; everything else may not be sent.
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


class Utf8:
    """Incremental UTF-8 check after Unicode Table 3-7: returns the index of the first byte
    that cannot continue a well-formed sequence."""

    def __init__(self):
        self.need = 0
        self.lower, self.upper = 0x80, 0xBF
        self.failed = False

    def feed(self, data):
        if self.failed:
            return None
        for i, b in enumerate(data):
            if self.need == 0:
                if b < 0x80:
                    continue
                self.lower, self.upper = 0x80, 0xBF
                if 0xC2 <= b <= 0xDF:
                    self.need = 1
                elif 0xE0 <= b <= 0xEF:
                    self.need = 2
                    if b == 0xE0:
                        self.lower = 0xA0
                    elif b == 0xED:
                        self.upper = 0x9F
                elif 0xF0 <= b <= 0xF4:
                    self.need = 3
                    if b == 0xF0:
                        self.lower = 0x90
                    elif b == 0xF4:
                        self.upper = 0x8F
                else:
                    self.failed = True
                    return i
                continue
            if not self.lower <= b <= self.upper:
                self.failed = True
                return i
            self.lower, self.upper = 0x80, 0xBF
            self.need -= 1
        return None

    def complete(self):
        return not self.failed and self.need == 0


def valid_utf8(data):
    v = Utf8()
    return v.feed(data) is None and v.complete()


# --- frames ---------------------------------------------------------------------------------

def build_frame(opcode, payload, *, fin=True, rsv=0, masked, key=None):
    return frame(opcode, payload, fin=fin, rsv=rsv, mask=(key or os.urandom(4)) if masked else None)


def parse_frames(stream):
    """Every frame in `stream` (the bytes after the handshake), the last one possibly cut
    short. Each: offset, header_size, fin, rsv, opcode, masked, mask, length, payload (unmasked,
    as far as present), complete, non_minimal; a header that is itself incomplete is returned
    as {"partial_header": True, "offset": n}. Stops at a length with its top bit set."""
    frames = []
    pos = 0
    n = len(stream)
    while pos < n:
        if n - pos < 2:
            frames.append({"partial_header": True, "offset": pos})
            break
        b0, b1 = stream[pos], stream[pos + 1]
        length = b1 & 0x7F
        size = 2 + (2 if length == 126 else 8 if length == 127 else 0) + (4 if b1 & 0x80 else 0)
        if n - pos < size:
            frames.append({"partial_header": True, "offset": pos})
            break
        at = pos + 2
        non_minimal = False
        if length == 126:
            length = struct.unpack_from("!H", stream, at)[0]
            non_minimal = length < 126
            at += 2
        elif length == 127:
            length = struct.unpack_from("!Q", stream, at)[0]
            non_minimal = length <= 0xFFFF
            at += 8
        key = bytes(stream[at:at + 4]) if b1 & 0x80 else None
        f = {"offset": pos, "header_size": size, "fin": bool(b0 & 0x80), "rsv": (b0 >> 4) & 7,
             "opcode": b0 & 0x0F, "masked": key is not None, "mask": key, "length": length,
             "non_minimal": non_minimal}
        if length >> 63:
            f["top_bit"] = True
            frames.append(f)
            break
        body = bytes(stream[pos + size:pos + size + length])
        f["payload"] = apply_mask(body, key) if key else body
        f["complete"] = len(body) == length
        frames.append(f)
        pos += size + len(body)
    return frames


# --- permessage-deflate ---------------------------------------------------------------------

class Deflater:
    """One sender's compressor (RFC 7692 §7.2.1): raw deflate with the negotiated window, the
    trailing 00 00 ff ff removed; a fresh context per message with no_context_takeover."""

    def __init__(self, window_bits, no_context_takeover, level=6):
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self.level = level
        self.z = None

    def compress(self, data):
        if self.z is None or self.no_context_takeover:
            self.z = zlib.compressobj(self.level, zlib.DEFLATED, -self.window_bits)
        out = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(DEFLATE_TAIL)
        return out[:-4]


class Inflater:
    def __init__(self, no_context_takeover):
        self.no_context_takeover = no_context_takeover
        self.z = None

    def begin(self):
        if self.z is None or self.no_context_takeover:
            # A window of 15 inflates whatever window the sender used (RFC 7692 §7.1.2).
            self.z = zlib.decompressobj(-15)

    def feed(self, data):
        return self.z.decompress(data)

    def end(self):
        return self.z.decompress(DEFLATE_TAIL)


def parse_extension(value):
    """The permessage-deflate parameters of a Sec-WebSocket-Extensions value, or None."""
    if not value:
        return None
    for offer in value.split(","):
        parts = [p.strip() for p in offer.split(";")]
        if parts[0].lower() != "permessage-deflate":
            continue
        params = {}
        for p in parts[1:]:
            name, _, v = p.partition("=")
            params[name.strip().lower()] = v.strip().strip('"') if v else True
        return params
    return None


def head_fields(head):
    fields = []
    for line in head.split(b"\r\n")[1:]:
        if not line:
            continue
        name, _, value = line.partition(b":")
        fields.append((name.strip().decode("latin-1").lower(), value.strip().decode("latin-1")))
    return fields


def head_value(head, name):
    values = [v for n, v in head_fields(head) if n == name]
    return ", ".join(values) if values else None


# --- what wssniff must record ---------------------------------------------------------------

def expected_direction(stream, direction, deflate, no_context_takeover, max_payload, ended):
    """The frame and error records, in order, that one direction's bytes after the handshake
    must produce. `deflate`: permessage-deflate negotiated; `ended`: the stream was finished
    (the connection is gone), so whatever is left open is reported."""
    out = []

    def error(code, offset, fatal=False):
        out.append({"type": "error", "code": code, "dir": direction, "offset": offset,
                    "fatal": fatal})

    message_opcode = 0
    close_seen = False
    inflater = Inflater(no_context_takeover) if deflate else None
    compressed = False
    utf8 = None  # the text message's validator while it can be judged
    utf8_reported = False
    seq = 0
    end_offset = len(stream)
    for f in parse_frames(stream):
        if f.get("partial_header"):
            if ended:
                error("stream_ended_mid_frame", f["offset"])
            break
        if f.get("top_bit"):
            error("length_top_bit_set", f["offset"], fatal=True)
            return out
        opcode, rsv, at = f["opcode"], f["rsv"], f["offset"]
        control = is_control(opcode)
        if is_reserved(opcode):
            error("reserved_opcode", at)
        if rsv & 3 or (rsv & 4 and not deflate):
            error("reserved_bits", at)
        elif rsv & 4 and control:
            error("rsv1_on_control", at)
        elif rsv & 4 and opcode == 0:
            error("rsv1_on_continuation", at)
        if control and f["length"] > 125:
            error("control_frame_too_long", at)
        if control and not f["fin"]:
            error("control_frame_fragmented", at)
        if f["non_minimal"]:
            error("non_minimal_length", at)
        if direction == "c2s" and not f["masked"]:
            error("unmasked_client_frame", at)
        elif direction == "s2c" and f["masked"]:
            error("masked_server_frame", at)
        if close_seen:
            error("frame_after_close", at)
        data_frame = False
        begins = False
        if opcode == 0:
            if message_opcode == 0:
                error("unexpected_continuation", at)
            else:
                data_frame = True
        elif opcode in (1, 2):
            if message_opcode != 0:
                error("expected_continuation", at)
            message_opcode = opcode
            data_frame = begins = True
            compressed = bool(rsv & 4) and deflate
            utf8 = Utf8() if opcode == 1 else None
            utf8_reported = False
            if compressed:
                inflater.begin()
        ends = data_frame and f["fin"]
        this_opcode = message_opcode if data_frame else 0
        payload = f["payload"]
        frame_compressed = data_frame and compressed
        if frame_compressed:
            data = inflater.feed(payload)
            if ends and f["complete"]:
                data += inflater.end()
        else:
            data = payload
        if this_opcode == 1 and utf8 is not None and not utf8_reported:
            bad = utf8.feed(data)
            if bad is not None:
                utf8_reported = True
                # Inflated bytes have no wire offset: the frame's offset stands for them.
                error("invalid_utf8", at if frame_compressed else
                      at + f["header_size"] + bad)
        if ends and f["complete"] and this_opcode == 1 and utf8 is not None and \
                not utf8_reported and not utf8.complete():
            utf8_reported = True
            error("invalid_utf8", at if frame_compressed else at + f["header_size"] + f["length"])
        record = {"type": "frame", "dir": direction, "seq": seq, "offset": at, "fin": f["fin"],
                  "rsv1": bool(rsv & 4), "rsv2": bool(rsv & 2), "rsv3": bool(rsv & 1),
                  "opcode": opcode, "op": OP_NAMES.get(opcode, "reserved"),
                  "masked": f["masked"], "len": f["length"]}
        if f["masked"]:
            record["mask"] = f["mask"].hex()
        if opcode == OP_CLOSE:
            if f["length"] == 1:
                error("close_payload_one_byte", at)
            elif len(payload) >= 2:
                code = struct.unpack("!H", payload[:2])[0]
                record["close_code"] = code
                reason = payload[2:]
                if valid_utf8(reason):
                    record["close_reason"] = reason.decode("utf-8")
                if f["complete"]:
                    if not valid_close_code(code):
                        error("invalid_close_code", at)
                    if f["length"] <= 125 and not valid_utf8(reason):
                        error("invalid_close_reason", at)
            close_seen = True
        if not f["complete"]:
            error("stream_ended_mid_frame", at)
        record["hex"] = data[:max_payload].hex()
        if len(data) > max_payload or not f["complete"]:
            record["truncated"] = True
        if frame_compressed:
            record["compressed"] = True
            record["data_len"] = len(data)
        out.append(record)
        seq += 1
        if data_frame:
            if ends:
                message_opcode = 0
            else:
                message_opcode = this_opcode
        if not f["complete"]:
            break
    if ended and message_opcode != 0:
        error("stream_ended_mid_message", end_offset)
    return out


def split_head(stream):
    end = stream.find(b"\r\n\r\n")
    if end < 0:
        return bytes(stream), b""
    return bytes(stream[:end + 4]), bytes(stream[end + 4:])


def expected_records(c2s, s2c, max_payload=1024 * 1024):
    """What wssniff must record for one upgraded connection, from the bytes each direction
    forwarded (heads included): (deflate parameters or None, c2s records, s2c records)."""
    request, c2s_frames = split_head(c2s)
    response, s2c_frames = split_head(s2c)
    extensions = head_value(response, "sec-websocket-extensions")
    deflate = parse_extension(extensions)
    c2s_out = expected_direction(c2s_frames, "c2s", deflate is not None,
                                 bool(deflate and "client_no_context_takeover" in deflate),
                                 max_payload, True)
    s2c_out = expected_direction(s2c_frames, "s2c", deflate is not None,
                                 bool(deflate and "server_no_context_takeover" in deflate),
                                 max_payload, True)
    return deflate, c2s_out, s2c_out

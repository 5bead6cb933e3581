"""One case played over one TCP connection by the driver, in either role: the opening
handshake, the case's frames (masked as a client, unmasked as a server, compressed under
permessage-deflate), then what the peer sends back until the connection ends."""

import base64
import os
import random
import select
import socket
import struct
import threading
import time

from wssniff_kit.heads import accept_for, header_key
from wssniff_kit.wire import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, parse_frame, sha256

import wire
from cases import Frame, Message, Pause, Settle

# How long a peer has to fail the connection after a case's violation before the driver closes.
VIOLATION_WAIT = 1.0


class Recorder:
    """The bytes the driver put on its socket and took from it."""

    def __init__(self, sock):
        self.sock = sock
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sent = bytearray()
        self.received = bytearray()
        self.lock = threading.Lock()

    def send(self, data):
        with self.lock:
            self.sock.sendall(data)
            self.sent += data


def offer_header(deflate):
    parts = ["permessage-deflate"]
    for name in ("client_no_context_takeover", "server_no_context_takeover"):
        if deflate.get(name):
            parts.append(name)
    if "server_max_window_bits" in deflate:
        parts.append(f"server_max_window_bits={deflate['server_max_window_bits']}")
    # Bare client_max_window_bits: the server may choose the client's window (RFC 7692 §7.1.2.2).
    parts.append(f"client_max_window_bits={deflate['client_max_window_bits']}"
                 if "client_max_window_bits" in deflate else "client_max_window_bits")
    return "; ".join(parts)


def answer_header(deflate, offer):
    """The server's answer to a client offer, or (None, why not) when the case cannot be
    answered as written."""
    parts = ["permessage-deflate"]
    for name in ("client_no_context_takeover", "server_no_context_takeover"):
        if deflate.get(name):
            parts.append(name)
    if "server_max_window_bits" in deflate:
        parts.append(f"server_max_window_bits={deflate['server_max_window_bits']}")
    if "client_max_window_bits" in deflate:
        if "client_max_window_bits" not in offer:
            return None, "the client's offer has no client_max_window_bits"
        parts.append(f"client_max_window_bits={deflate['client_max_window_bits']}")
    return "; ".join(parts), None


class Conversation:
    def __init__(self, case, role, sock):
        self.case = case
        self.role = role  # "client" or "server": the driver's role
        self.rec = Recorder(sock)
        self.masked = role == "client"
        self.deflater = None
        self.inflater = None
        self.negotiated = None
        self.pending = bytearray()
        self.outcome = {"messages": [], "pongs": [], "close_code": None, "close_reason": None,
                        "peer_closed_first": None, "end": None, "notes": []}
        self.close_received = False
        self.close_sent = False
        self.sender_done = threading.Event()
        self.sender_error = None
        self.eof = False
        self.intended = b""
        self.stopped_early = False

    # --- handshake ------------------------------------------------------------------------

    def client_handshake(self, authority, path):
        key = base64.b64encode(os.urandom(16))
        lines = [f"GET {path} HTTP/1.1", f"Host: {authority}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key.decode()}",
                 "Sec-WebSocket-Version: 13"]
        if self.case.deflate is not None:
            lines.append("Sec-WebSocket-Extensions: " + offer_header(self.case.deflate))
        self.rec.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self.read_head(10)
        if head is None or not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"no 101 from the server: {bytes(head or b'')[:200]!r}")
        ext = wire.parse_extension(wire.head_value(head, "sec-websocket-extensions"))
        self.setup_deflate(ext, sending="client")

    def server_handshake(self):
        """Reads the client's request and answers 101; returns (path, n/a reason or None)."""
        head = self.read_head(10)
        if head is None:
            raise ConnectionError("no request head from the client")
        path = head.split(b" ")[1].decode("latin-1")
        key = header_key(head)
        offer = wire.parse_extension(wire.head_value(head, "sec-websocket-extensions"))
        extra = ""
        na = None
        answer = None
        if self.case.deflate is not None:
            if offer is None:
                na = "the client did not offer permessage-deflate"
            else:
                answer, na = answer_header(self.case.deflate, offer)
        if answer:
            extra = f"Sec-WebSocket-Extensions: {answer}\r\n"
        self.rec.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_for(key) +
                      b"\r\n" + extra.encode() + b"\r\n")
        self.setup_deflate(wire.parse_extension(answer) if answer else None, sending="server")
        return path, na

    def setup_deflate(self, params, sending):
        self.negotiated = params
        if params is None:
            return
        other = "server" if sending == "client" else "client"
        bits = params.get(f"{sending}_max_window_bits")
        if bits in (None, True):
            offered = (self.case.deflate or {}).get(f"{sending}_max_window_bits")
            bits = offered if sending == "client" and offered else 15
        self.deflater = wire.Deflater(int(bits), f"{sending}_no_context_takeover" in params)
        self.inflater = wire.Inflater(f"{other}_no_context_takeover" in params)

    def read_head(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.pending:
            data = self.recv(deadline)
            if not data:
                return None
        end = self.pending.index(b"\r\n\r\n") + 4
        head = bytes(self.pending[:end])
        del self.pending[:end]
        return head

    def recv(self, deadline):
        # select(), not a socket timeout: the sender thread writes on the same socket, and a
        # timeout set here would cut its sendall() short.
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        readable, _, _ = select.select([self.rec.sock], [], [], left)
        if not readable:
            raise socket.timeout()
        data = self.rec.sock.recv(262144)
        self.rec.received += data
        self.pending += data
        return data

    # --- the case's frames ----------------------------------------------------------------

    def build(self, step):
        if isinstance(step, Frame):
            return [wire.build_frame(step.opcode, step.payload, fin=step.fin, rsv=step.rsv,
                                     masked=self.masked)]
        data = step.payload
        rsv = 0
        if self.deflater is not None:
            data = self.deflater.compress(data)
            rsv = 4
        n = max(1, step.fragments)
        size = -(-len(data) // n) if data else 0
        chunks = [data[i * size:(i + 1) * size] for i in range(n)] if size else [b""] * n
        return [wire.build_frame(step.opcode if i == 0 else 0, c, fin=i == n - 1,
                                 rsv=rsv if i == 0 else 0, masked=self.masked)
                for i, c in enumerate(chunks)]

    def writes(self):
        """The case's bytes grouped into writes: frames between pauses go out together, or in
        the case's random chunks."""
        rng = random.Random(self.case.id)
        groups, current = [], []
        replies = [0, 0]  # messages and pings sent so far
        open_message = False
        for step in self.case.steps:
            if isinstance(step, (Pause, Settle)):
                groups.append(b"".join(current))
                groups.append(step if isinstance(step, Pause) else (step, tuple(replies)))
                current = []
                continue
            if isinstance(step, Message):
                replies[0] += 1
            elif step.opcode in (OP_TEXT, OP_BINARY) or (step.opcode == 0 and open_message):
                open_message = not step.fin
                replies[0] += step.fin
            elif step.opcode == OP_PING:
                replies[1] += 1
            current += self.build(step)
        groups.append(b"".join(current))
        for g in groups:
            if isinstance(g, (Pause, tuple)) or not g:
                yield g
                continue
            if self.case.chop is None:
                yield g
                continue
            lo, hi = self.case.chop
            at = 0
            while at < len(g):
                n = rng.randint(lo, hi)
                yield g[at:at + n]
                at += n

    def sender(self):
        try:
            chunks = list(self.writes())
            # Everything the case means to send, whether or not the peer lets it all through.
            self.intended = b"".join(c for c in chunks if isinstance(c, bytes))
            pause = 0.0002 if self.case.chop and len(chunks) < 3000 else 0
            for chunk in chunks:
                if isinstance(chunk, Pause):
                    time.sleep(chunk.seconds)
                    continue
                if isinstance(chunk, tuple):
                    settle, (messages, pings) = chunk
                    until = time.monotonic() + settle.timeout
                    while time.monotonic() < until and not (self.close_received or self.eof) \
                            and (len(self.outcome["messages"]) < messages or
                                 len(self.outcome["pongs"]) < pings):
                        time.sleep(0.002)
                    continue
                if not chunk:
                    continue
                if self.close_received or self.eof:
                    # The peer has failed the connection: an endpoint sends nothing more, and
                    # bytes sent into a closed socket only turn its close into a reset.
                    self.stopped_early = True
                    break
                self.rec.send(chunk)
                if pause:
                    time.sleep(pause)
            if self.case.closes:
                self.close_sent = True
        except OSError as e:
            self.sender_error = f"{type(e).__name__}"
        finally:
            self.sender_done.set()

    # --- what comes back ------------------------------------------------------------------

    def expected_replies(self):
        messages = pings = 0
        open_message = False
        for step in self.case.steps:
            if isinstance(step, Message):
                messages += 1
            elif isinstance(step, Frame):
                if step.opcode in (OP_TEXT, OP_BINARY) or (step.opcode == 0 and open_message):
                    open_message = not step.fin
                    messages += 1 if step.fin else 0
                elif step.opcode == OP_PING:
                    pings += 1
        return messages, pings

    def play(self):
        """Runs the case after the handshake; fills self.outcome."""
        thread = threading.Thread(target=self.sender, daemon=True)
        thread.start()
        want_messages, want_pongs = self.expected_replies()
        violation = bool(self.case.violates)
        start = time.monotonic()
        deadline = start + self.case.timeout
        message_type = None
        message_parts = []
        message_compressed = False

        def settled():
            if self.close_received or self.eof:
                return True
            if not self.sender_done.is_set():
                return False
            if self.case.closes:
                return False  # the peer's answer to our close is what we wait for
            if violation:
                return time.monotonic() - self.sender_done_at >= VIOLATION_WAIT
            return (len(self.outcome["messages"]) >= want_messages and
                    len(self.outcome["pongs"]) >= want_pongs)

        self.sender_done_at = None
        closing_deadline = None
        while True:
            if self.sender_done.is_set() and self.sender_done_at is None:
                self.sender_done_at = time.monotonic()
            # Our own close goes out once the case has been played and settled.
            if not self.close_sent and not self.eof and self.sender_done.is_set() and settled():
                code = 1000
                payload = struct.pack("!H", code)
                if self.close_received:
                    code = self.outcome["close_code"]
                    payload = struct.pack("!H", code) if code is not None else b""
                if self.outcome["peer_closed_first"] is None and not self.case.closes:
                    self.outcome["peer_closed_first"] = self.close_received
                try:
                    self.rec.send(wire.build_frame(OP_CLOSE, payload, masked=self.masked))
                except OSError:
                    self.outcome["notes"].append("could not send close")
                self.close_sent = True
            if self.close_sent and self.close_received and self.role == "server" and \
                    self.sender_done.is_set():
                # The server closes the TCP connection first (RFC 6455 §7.1.1).
                try:
                    self.rec.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                closing_deadline = closing_deadline or time.monotonic() + 3
            if self.eof:
                break
            now = time.monotonic()
            limit = deadline
            if self.close_sent and self.sender_done.is_set():
                closing_deadline = closing_deadline or now + 3
                limit = min(limit, closing_deadline)
            elif self.sender_done.is_set() and not self.close_sent:
                limit = min(limit, now + 0.05)
            if now >= limit and (self.close_sent or now >= deadline):
                self.outcome["end"] = "open"
                break
            try:
                data = self.recv(min(limit, now + 0.05) if not self.close_sent else limit)
            except socket.timeout:
                if now >= deadline:
                    self.outcome["end"] = "open"
                    break
                continue
            except (ConnectionResetError, BrokenPipeError):
                self.outcome["end"] = "reset"
                self.eof = True
                break
            if not data:
                self.outcome["end"] = "eof"
                self.eof = True
            while True:
                parsed, size = parse_frame(self.pending)
                if parsed is None:
                    break
                del self.pending[:size]
                op = parsed["opcode"]
                if op == OP_CLOSE:
                    if not self.close_received:
                        p = parsed["payload"]
                        if len(p) >= 2:
                            self.outcome["close_code"] = struct.unpack("!H", p[:2])[0]
                            self.outcome["close_reason"] = p[2:].decode("utf-8", "replace")
                        if self.outcome["peer_closed_first"] is None:
                            # When the case itself closes, which close came first is a race
                            # of the two sides' writes, not behaviour.
                            self.outcome["peer_closed_first"] = \
                                None if self.case.closes else not self.close_sent
                    self.close_received = True
                elif op == OP_PONG:
                    self.outcome["pongs"].append(sha256(parsed["payload"]))
                elif op == OP_PING:
                    self.outcome["notes"].append("peer sent a ping")
                elif op in (OP_TEXT, OP_BINARY, 0):
                    if op != 0:
                        message_type = "text" if op == OP_TEXT else "binary"
                        message_parts = []
                        message_compressed = bool(parsed["rsv"] & 4) and self.inflater is not None
                        if message_compressed:
                            self.inflater.begin()
                    data_part = parsed["payload"]
                    if message_compressed:
                        data_part = self.inflater.feed(data_part)
                        if parsed["fin"]:
                            data_part += self.inflater.end()
                    message_parts.append(data_part)
                    if parsed["fin"] and message_type:
                        whole = b"".join(message_parts)
                        self.outcome["messages"].append(
                            {"type": message_type, "len": len(whole), "sha256": sha256(whole)})
                        message_type = None
                else:
                    self.outcome["notes"].append(f"peer sent opcode {op}")
            if self.eof:
                break
        if self.outcome["end"] is None:
            self.outcome["end"] = "eof" if self.eof else "open"
        # What the peer did, not how the kernel said it: once the peer has closed its socket,
        # whether our last bytes meet a FIN or a RST is the timing of those bytes (a relay hop
        # more or less changes it), so both count as the peer having closed.
        tcp_end = self.outcome["end"]
        self.outcome["notes"].append(f"tcp: {tcp_end}")
        if tcp_end == "open":
            self.outcome["end"] = "open"
        else:
            self.outcome["end"] = "closed" if self.close_received else "dropped"
        if thread.is_alive():
            # Wakes a sendall() the peer no longer reads.
            try:
                self.rec.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        thread.join(10)
        if self.sender_error:
            self.outcome["notes"].append(f"sending failed: {self.sender_error}")
        try:
            self.rec.sock.close()
        except OSError:
            pass
        return self.outcome


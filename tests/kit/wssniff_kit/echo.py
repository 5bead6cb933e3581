"""An echoing WebSocket upstream for many connections at once, on one selector thread.
"""

import hashlib
import selectors
import socket
import threading

from wssniff_kit.heads import header_key, upgrade_response
from wssniff_kit.sockets import Upstream
from wssniff_kit.wire import OP_CLOSE, frame, parse_frame

class EchoUpstream:
    """A WebSocket server on one selector thread: answers each upgrade with a 101 and echoes
    every frame unmasked with its FIN and opcode; answers a close frame with its echo and then
    closes (it closes first). Keeps per connection, keyed by Sec-WebSocket-Key, the SHA-256 and
    count of the bytes each way, and with `keep` the bytes themselves.

    `deflate`: accepts an offer of permessage-deflate and echoes RSV bits too, so that a
    compressed stream echoed in order is a valid stream for the other direction."""

    def __init__(self, keep=True, deflate=False):
        self.keep = keep
        self.deflate = deflate
        self.upstream = Upstream()
        self.port = self.upstream.port
        self.authority = self.upstream.authority
        self.listener = self.upstream.listener
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.connections = {}  # key -> state
        self.lock = threading.Lock()
        self.failures = []
        self._wake_r, self._wake_w = socket.socketpair()
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    class _State:
        def __init__(self, sock, keep):
            self.sock = sock
            self.key = None
            self.inbox = bytearray()
            self.outbox = bytearray()
            self.received = bytearray() if keep else None
            self.sent = bytearray() if keep else None
            self.received_hash = hashlib.sha256()
            self.sent_hash = hashlib.sha256()
            self.received_count = self.sent_count = 0
            self.closing = False  # close frame answered: close once the outbox is empty
            # None while open; then "eof" or "reset" (the proxy ended it), or
            # "closed after the close handshake" (this side closed, as servers do)
            self.ended = None

        def note_received(self, data):
            if self.received is not None:
                self.received += data
            self.received_hash.update(data)
            self.received_count += len(data)

        def note_sent(self, data):
            if self.sent is not None:
                self.sent += data
            self.sent_hash.update(data)
            self.sent_count += len(data)

    def _run(self):
        try:
            while not self._stop:
                for key, events in self.selector.select(timeout=0.5):
                    if key.data == "wake":
                        self._wake_r.recv(64)
                    elif key.data is None:
                        self._accept()
                    else:
                        self._service(key.data, events)
        except Exception as e:  # reported by the test, which fails on it
            self.failures.append(f"echo upstream crashed: {e!r}")

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.selector.register(sock, selectors.EVENT_READ, self._State(sock, self.keep))

    def _finish(self, state, how):
        self.selector.unregister(state.sock)
        state.sock.close()
        state.ended = how

    def _service(self, state, events):
        if events & selectors.EVENT_READ and not state.closing:
            try:
                data = state.sock.recv(262144)
            except ConnectionResetError:
                self._finish(state, "reset")
                return
            except BlockingIOError:
                data = None
            if data == b"":
                self._finish(state, "eof")
                return
            if data:
                state.note_received(data)
                state.inbox += data
                self._consume(state)
        if state.outbox:
            try:
                n = state.sock.send(state.outbox)
            except BlockingIOError:
                n = 0
            except (ConnectionResetError, BrokenPipeError):
                self._finish(state, "reset")
                return
            state.note_sent(state.outbox[:n])
            del state.outbox[:n]
        if state.closing and not state.outbox:
            self._finish(state, "closed after the close handshake")
            return
        self.selector.modify(state.sock, selectors.EVENT_READ |
                             (selectors.EVENT_WRITE if state.outbox else 0), state)

    def _consume(self, state):
        if state.key is None:
            end = state.inbox.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(state.inbox[:end + 4])
            del state.inbox[:end + 4]
            state.key = header_key(head)
            with self.lock:
                self.connections[state.key] = state
            offered = self.deflate and b"permessage-deflate" in head
            state.outbox += upgrade_response(
                state.key, [("Sec-WebSocket-Extensions", "permessage-deflate")] if offered else [])
        while not state.closing:
            parsed, size = parse_frame(state.inbox)
            if parsed is None:
                return
            del state.inbox[:size]
            if not parsed["masked"]:
                self.failures.append(f"upstream conn {state.key}: unmasked client frame")
            state.outbox += frame(parsed["opcode"], parsed["payload"], fin=parsed["fin"],
                                  rsv=parsed["rsv"] if self.deflate else 0)
            if parsed["opcode"] == OP_CLOSE:
                state.closing = True

    def close(self):
        self._stop = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self.thread.join(5)
        for key in list(self.selector.get_map().values()):
            try:
                key.fileobj.close()
            except OSError:
                pass
        self.selector.close()
        self._wake_w.close()

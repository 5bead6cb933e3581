"""A recording TCP tap: forwards every byte between a listening port and a target, as read,
and keeps per connection what it read from each side, so that the bytes one side sent can be
compared with the bytes the other side received. Half-close and resets pass through."""

import socket
import struct
import threading
import time

from wssniff_kit.sockets import LOOPBACK


class TapConnection:
    def __init__(self):
        self.c2s = bytearray()   # read from the connecting side
        self.s2c = bytearray()   # read from the target
        self.reset = False       # a reset happened on either leg
        self.done = threading.Event()
        self.path = None


class Tap:
    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.connections = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            conn = TapConnection()
            with self.lock:
                self.connections.append(conn)
            threading.Thread(target=self._serve, args=(downstream, conn), daemon=True).start()

    def _serve(self, downstream, conn):
        try:
            upstream = socket.create_connection((LOOPBACK, self.target_port), timeout=5)
        except OSError:
            conn.reset = True
            downstream.close()
            conn.done.set()
            return
        for s in (downstream, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(None)
        lock = threading.Lock()
        finished = set()  # the sockets whose pump (reading from them) has ended
        gone = set()      # the sockets a write to failed: reset, or closed with bytes unread

        def abort(sock):
            # RST instead of FIN; SHUT_RD first wakes our own pump if it is blocked reading it.
            conn.reset = True
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
            sock.close()

        def pump(src, dst, keep):
            # As the proxy does: a reset on one leg becomes a reset on the other, but only after
            # everything the reset side sent before it (a close frame saying why, say) has been
            # passed on.
            while True:
                try:
                    data = src.recv(262144)
                except OSError:
                    abort(dst)
                    break
                if not data:
                    with lock:  # decided with `finished` marked, so the writer side agrees
                        reset = src in gone
                        finished.add(src)
                    if reset:
                        abort(dst)
                    else:
                        try:
                            dst.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                    break
                keep += data
                if conn.path is None and keep is conn.c2s:
                    line = bytes(conn.c2s.split(b"\r\n", 1)[0]).split(b" ")
                    if len(line) >= 2:
                        conn.path = line[1].decode("latin-1")
                try:
                    dst.sendall(data)
                except OSError:
                    # dst is gone: the other pump reads what it sent before, then resets src.
                    with lock:
                        gone.add(dst)
                        drained = dst in finished
                    if drained:
                        abort(src)
                    break
            with lock:
                finished.add(src)
                both = len(finished) == 2
            if both:
                for s in (src, dst):
                    try:
                        s.close()
                    except OSError:
                        pass
                conn.done.set()

        threading.Thread(target=pump, args=(upstream, downstream, conn.s2c), daemon=True).start()
        pump(downstream, upstream, conn.c2s)

    def find(self, path, timeout=5):
        """The finished connection whose request targeted `path`, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                matches = [c for c in self.connections if c.path == path]
            if matches:
                matches[-1].done.wait(max(0.0, deadline - time.monotonic()))
                return matches[-1] if matches[-1].done.is_set() else None
            time.sleep(0.01)
        return None

    def forget(self, conn):
        with self.lock:
            self.connections.remove(conn)

    def close(self):
        self.listener.close()

"""The real peers the driver plays against: how to start each, as a server (an echo server that
prints "listening PORT") or as a client (the JSON-lines client peer protocol)."""

import json
import os
import queue
import shutil
import subprocess
import threading

from wssniff_kit.processes import PYTHON, die_with_parent

HERE = os.path.dirname(os.path.abspath(__file__))

# Why a peer cannot take part in the permessage-deflate cases (categories 12 and 13).
NO_DEFLATE = {
    "websocketpp": "websocketpp_peer uses websocketpp's default asio configs, whose "
                   "permessage_deflate_type is extensions::permessage_deflate::disabled: it "
                   "neither offers nor accepts the extension. websocketpp 0.8.2's "
                   "permessage_deflate::enabled needs a config of its own and is not part of "
                   "this matrix",
}


def peer_command(name, role, options):
    if name == "ws":
        return [options.node, os.path.join(HERE, "peers", "ws_peer.js"), role]
    if name == "websockets":
        return [PYTHON, os.path.join(HERE, "peers", "websockets_peer.py"), role]
    if name == "websocketpp":
        return [options.websocketpp_peer, role]
    if name == "chromium" and role == "client":
        return [PYTHON, os.path.join(HERE, "peers", "chromium_client.py")]
    raise ValueError(f"no {role} peer {name}")


def peer_available(name, role, options):
    if name == "chromium":
        if not os.path.exists(os.path.join(HERE, "peers", "chromium_client.py")):
            return "tests/conformance/peers/chromium_client.py is missing"
        if not shutil.which("chromium"):
            return "chromium is not installed (scripts/setup installs it)"
    if name == "websocketpp" and not (options.websocketpp_peer and
                                      os.path.exists(options.websocketpp_peer)):
        return "the websocketpp_peer program was not built"
    return None


class PeerProcess:
    def __init__(self, name, role, options, log_path):
        self.name = name
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen(peer_command(name, role, options), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.log,
                                        preexec_fn=die_with_parent)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.process.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def next_line(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def send(self, obj):
        self.process.stdin.write((json.dumps(obj) + "\n").encode())
        self.process.stdin.flush()

    def stop(self):
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.log.close()


class ServerPeer(PeerProcess):
    def __init__(self, name, options, log_path):
        super().__init__(name, "server", options, log_path)
        line = self.next_line(20)
        if not line or not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"{name} server did not say 'listening PORT': {line!r}")
        self.port = int(line.split()[1])


class ClientPeer(PeerProcess):
    def __init__(self, name, options, log_path):
        super().__init__(name, "client", options, log_path)

    def connect(self, url, deflate, timeout):
        self.send({"url": url, "deflate": deflate, "timeout": timeout})

    def report(self, timeout):
        line = self.next_line(timeout)
        if line is None:
            return None
        try:
            return json.loads(line)
        except ValueError:
            return {"error": f"not JSON: {line[:200]}"}

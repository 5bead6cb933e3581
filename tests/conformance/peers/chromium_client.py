#!/usr/bin/python3
"""A real browser as a WebSocket client peer: headless Chromium driven through one page.

    chromium_client.py [--chromium PATH] [--start-timeout S] [--verbose]
    chromium_client.py --self-test

Reads JSON lines on stdin, one request each:

    {"url": "ws://127.0.0.1:P/path", "deflate": true|false, "timeout": seconds}

For each, the page opens a WebSocket to url (binaryType "arraybuffer"), sends every message it
receives straight back with the same opcode, and once the close event fires the launcher prints
exactly one JSON line on stdout:

    {"opened": bool, "messages": [{"type": "text"|"binary", "sha256": hex, "len": n}, ...],
     "close_code": int|null, "close_reason": str|null, "clean": bool, "error": str|null}

sha256 and len are over the message's bytes (UTF-8 for text). error is null, or "timeout" when
no close event came within timeout seconds (the page then starts the closing handshake with
1000), "error event" when the browser fired an error event (it fails the connection on any
protocol violation), or a sentence when the request or the browser itself failed. A browser
always offers permessage-deflate, so "deflate" is informational only. EOF on stdin closes the
browser and exits 0.

How: a small HTTP server on 127.0.0.1 serves the page, which long-polls GET /next for the next
request and POSTs its outcome to /result. The browser starts once and serves every request (it
takes seconds to start); if it dies or stops answering it is killed and started again for the
next request. Every wait has a deadline, so a stuck browser makes a request report an error,
never the launcher hang.

Run it with /usr/bin/python3: the python3 first on PATH may not see Debian's packages.
"""

import argparse
import hashlib
import http.server
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

LOOPBACK = "127.0.0.1"
# A request longer than this is a caller's mistake; clamping keeps the deadlines finite.
MAX_TIMEOUT_S = 600.0
DEFAULT_TIMEOUT_S = 10.0
# After the page's own timeout it closes the socket and waits this long for the close event.
PAGE_CLOSE_GRACE_S = 5.0
# Beyond timeout + PAGE_CLOSE_GRACE_S, how long the launcher waits before it deems the page stuck.
LAUNCHER_GRACE_S = 10.0
# How long one GET /next is held open before the page is told to ask again.
LONG_POLL_S = 20.0

PAGE = r"""<!doctype html>
<meta charset="utf-8">
<title>wssniff conformance client</title>
<script>
"use strict";
const PAGE_CLOSE_GRACE_MS = %(grace_ms)d;

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), b => b.toString(16).padStart(2, "0")).join("");
}

async function describe(type, bytes) {
  return {type, sha256: hex(await crypto.subtle.digest("SHA-256", bytes)), len: bytes.byteLength};
}

// Resolves with the outcome once the close event fires, or after the timeout and the close
// grace if it never does.
function run(request) {
  return new Promise(resolve => {
    const outcome = {opened: false, messages: [], close_code: null, close_reason: null,
                     clean: false, error: null};
    const described = [];
    let finished = false;
    let closeTimer = null;
    let graceTimer = null;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(closeTimer);
      clearTimeout(graceTimer);
      Promise.all(described).then(messages => {
        outcome.messages = messages;
        resolve(outcome);
      }, err => {
        outcome.error = "hashing failed: " + err;
        resolve(outcome);
      });
    };
    let ws;
    try {
      ws = new WebSocket(request.url);
    } catch (err) {
      outcome.error = "constructor threw: " + err.name + ": " + err.message;
      finish();
      return;
    }
    ws.binaryType = "arraybuffer";
    ws.onopen = () => { outcome.opened = true; };
    ws.onmessage = ev => {
      // Echo first, synchronously, so the echoes leave in the order the messages came.
      ws.send(ev.data);
      if (typeof ev.data === "string") {
        described.push(describe("text", new TextEncoder().encode(ev.data)));
      } else {
        described.push(describe("binary", ev.data));
      }
    };
    ws.onerror = () => { if (outcome.error === null) outcome.error = "error event"; };
    ws.onclose = ev => {
      outcome.close_code = ev.code;
      outcome.close_reason = ev.reason;
      outcome.clean = ev.wasClean;
      finish();
    };
    closeTimer = setTimeout(() => {
      outcome.error = "timeout";
      try { ws.close(1000); } catch (err) {}
      graceTimer = setTimeout(finish, PAGE_CLOSE_GRACE_MS);
    }, request.timeout * 1000);
  });
}

async function post(body) {
  for (;;) {
    try {
      await fetch("/result", {method: "POST", body: JSON.stringify(body)});
      return;
    } catch (err) {
      await new Promise(r => setTimeout(r, 200));
    }
  }
}

async function serve() {
  // The launcher numbers each browser it starts; a page of an older one is told 410 Gone.
  const next = "/next" + location.search;
  for (;;) {
    let request;
    try {
      const response = await fetch(next, {cache: "no-store"});
      if (response.status === 410) return;
      if (response.status !== 200) continue;
      request = await response.json();
    } catch (err) {
      await new Promise(r => setTimeout(r, 200));
      continue;
    }
    const outcome = await run(request);
    await post({id: request.id, outcome});
  }
}
serve();
</script>
"""


def log(verbose, text):
    if verbose:
        print(f"chromium_client: {text}", file=sys.stderr, flush=True)


def failed_outcome(error):
    return {"opened": False, "messages": [], "close_code": None, "close_reason": None,
            "clean": False, "error": error}


class PageServer:
    """Serves the page and hands requests to it and outcomes back, one request at a time.

    Each browser the launcher starts gets a new generation, in its page's query string. A long
    poll of an older browser (killed while it waited) must not take a request meant for the new
    one, so requests are handed only to pages of the current generation."""

    def __init__(self):
        self.outcomes = queue.Queue()
        self.polled = threading.Event()
        self.lock = threading.Condition()
        self.generation = 0
        self.pending = None
        outer = self
        page = (PAGE % {"grace_ms": int(PAGE_CLOSE_GRACE_S * 1000)}).encode()

        class handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", content_type="text/plain"):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    self.wfile.write(body)
                    self.wfile.flush()
                    return True
                except OSError:
                    return False  # the browser went away mid-reply

            def do_GET(self):
                path, _, query = self.path.partition("?")
                if path == "/":
                    self.reply(200, page, "text/html; charset=utf-8")
                elif path == "/next":
                    generation = -1
                    if query.startswith("g=") and query[2:].isdigit():
                        generation = int(query[2:])
                    request = outer.take(generation)
                    if request is False:
                        self.reply(410)
                    elif request is None:
                        self.reply(204)
                    elif not self.reply(200, json.dumps(request).encode(), "application/json"):
                        outer.give_back(generation, request)
                else:
                    self.reply(404)

            def do_POST(self):
                if self.path != "/result":
                    self.reply(404)
                    return
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                    body = self.rfile.read(length)
                    outer.outcomes.put(json.loads(body))
                except (OSError, ValueError):
                    return
                self.reply(204)

        self.httpd = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def new_generation(self):
        """Forgets the request not yet taken and outcomes of requests given up on; returns the
        number for the next browser's page."""
        with self.lock:
            self.generation += 1
            self.pending = None
            self.polled.clear()
            self.lock.notify_all()
        while True:
            try:
                self.outcomes.get_nowait()
            except queue.Empty:
                break
        return self.generation

    def put(self, request):
        with self.lock:
            self.pending = request
            self.lock.notify_all()

    def take(self, generation):
        """The pending request for a page of this generation, None when none came within the
        long poll, False when the page belongs to a browser no longer in use."""
        deadline = time.monotonic() + LONG_POLL_S
        with self.lock:
            if generation == self.generation:
                self.polled.set()
            while True:
                if generation != self.generation:
                    return False
                if self.pending is not None:
                    request, self.pending = self.pending, None
                    return request
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.lock.wait(remaining)

    def give_back(self, generation, request):
        with self.lock:
            if generation == self.generation and self.pending is None:
                self.pending = request
                self.lock.notify_all()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


PROFILE_PREFIX = "wssniff-chromium-"


def remove_orphaned_profiles():
    """Profiles left by launchers that were killed (SIGKILL leaves no chance to clean up): the
    directory name holds the launcher's pid."""
    base = tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if not name.startswith(PROFILE_PREFIX):
            continue
        owner = name[len(PROFILE_PREFIX):].partition("-")[0]
        if not owner.isdigit() or int(owner) == os.getpid():
            continue
        if os.path.exists(f"/proc/{owner}"):
            continue
        shutil.rmtree(os.path.join(base, name), ignore_errors=True)


def pids_using(marker):
    """Processes whose command line holds marker (the profile directory, unique to one browser):
    browser helpers that left the process group still name it."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


class Browser:
    """One headless Chromium showing the page, with its own throwaway profile."""

    def __init__(self, executable, page_url):
        self.profile = tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{os.getpid()}-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        args = [
            executable,
            "--headless=new",
            # Running as root (containers, CI) needs it; the page only talks to loopback.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--no-proxy-server",
            "--disable-extensions",
            "--disable-component-update",
            "--disable-background-networking",
            "--disable-sync",
            "--disable-default-apps",
            "--mute-audio",
            # The page's timers must fire on time even though no one looks at it.
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            f"--user-data-dir={self.profile}",
            page_url,
        ]
        # setpriv makes the kernel SIGKILL the browser when the launcher (the thread that
        # started it: always the main thread) dies, even by SIGKILL, so no browser outlives its
        # launcher; its own session makes its process group ours to kill.
        setpriv = shutil.which("setpriv")
        if setpriv:
            args = [setpriv, "--pdeathsig", "KILL", "--"] + args
        self.log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log_file,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self):
        return self.process.poll() is None

    def log_tail(self, lines=5):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        tail = [line for line in text.splitlines() if line.strip()][-lines:]
        return " | ".join(tail)

    def stop(self):
        def quietly(action, *args):
            try:
                action(*args)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass  # already gone, or left to the next step

        quietly(os.killpg, self.process.pid, signal.SIGTERM)
        quietly(self.process.wait, 3)
        quietly(os.killpg, self.process.pid, signal.SIGKILL)
        for pid in pids_using(self.profile):
            quietly(os.kill, pid, signal.SIGKILL)
        quietly(self.process.wait, 3)
        self.log_file.close()
        # Helpers may still be writing into the profile for a moment after SIGKILL.
        for _ in range(10):
            shutil.rmtree(self.profile, ignore_errors=True)
            if not os.path.exists(self.profile):
                break
            time.sleep(0.1)


class Launcher:
    def __init__(self, executable, start_timeout, verbose):
        self.executable = executable
        self.start_timeout = start_timeout
        self.verbose = verbose
        self.server = PageServer()
        self.browser = None
        # Set once the browser could not be started: later requests fail at once rather than
        # each waiting out the start timeout again.
        self.start_error = None
        self.next_id = 1

    def start_browser(self):
        generation = self.server.new_generation()
        if shutil.which(self.executable) is None:
            self.start_error = (f"browser failed to start: {self.executable} not found "
                                f"(Debian package chromium, installed by scripts/setup)")
            return False
        started = time.monotonic()
        try:
            page_url = f"http://{LOOPBACK}:{self.server.port}/?g={generation}"
            self.browser = Browser(self.executable, page_url)
        except OSError as err:
            self.start_error = f"browser failed to start: {self.executable}: {err.strerror}"
            return False
        deadline = started + self.start_timeout
        while time.monotonic() < deadline:
            if self.server.polled.wait(timeout=0.1):
                log(self.verbose, f"browser ready in {time.monotonic() - started:.2f} s")
                return True
            if not self.browser.alive():
                code = self.browser.process.returncode
                tail = self.browser.log_tail()
                self.start_error = f"browser failed to start: exited with {code}: {tail}"
                self.stop_browser()
                return False
        tail = self.browser.log_tail()
        self.start_error = (f"browser failed to start: page not loaded within "
                            f"{self.start_timeout:g} s: {tail}")
        self.stop_browser()
        return False

    def stop_browser(self):
        if self.browser is not None:
            self.browser.stop()
            self.browser = None

    def run_one(self, line):
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("url"), str):
                raise ValueError("no \"url\" string")
            url = request["url"]
            timeout = float(request.get("timeout", DEFAULT_TIMEOUT_S))
        except (ValueError, TypeError) as err:
            return failed_outcome(f"bad request: {err}")
        timeout = min(max(timeout, 0.0), MAX_TIMEOUT_S)

        if self.start_error is not None:
            return failed_outcome(self.start_error)
        if self.browser is not None and not self.browser.alive():
            log(self.verbose, "browser died; starting it again")
            self.stop_browser()
        if self.browser is None and not self.start_browser():
            return failed_outcome(self.start_error)

        request_id = self.next_id
        self.next_id += 1
        started = time.monotonic()
        self.server.put({"id": request_id, "url": url, "timeout": timeout})
        deadline = started + timeout + PAGE_CLOSE_GRACE_S + LAUNCHER_GRACE_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # The page is stuck: a fresh browser serves the next request.
                self.stop_browser()
                return failed_outcome(f"browser did not report within "
                                      f"{timeout + PAGE_CLOSE_GRACE_S + LAUNCHER_GRACE_S:g} s")
            try:
                reply = self.server.outcomes.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if not self.browser.alive():
                    code = self.browser.process.returncode
                    self.stop_browser()
                    return failed_outcome(f"browser exited with {code} during the request")
                continue
            if not isinstance(reply, dict) or reply.get("id") != request_id:
                continue  # an outcome of a request given up on earlier
            log(self.verbose, f"request {request_id} took {time.monotonic() - started:.3f} s")
            return reply["outcome"]

    def run(self, stdin, stdout):
        for line in stdin:
            if not line.strip():
                continue
            outcome = self.run_one(line)
            stdout.write(json.dumps(outcome) + "\n")
            stdout.flush()

    def close(self):
        self.stop_browser()
        self.server.close()


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "chromium"


# ---------------------------------------------------------------------------------------------
# --self-test: a python3-websockets server that sends a few messages, checks the echoes and
# closes with 1000; the launcher runs as a child process, driven through stdin and stdout as
# any caller drives it.

SELF_TEST_MESSAGES = [
    "hello",
    "héllo wörld ✓ 🦊",
    bytes(range(256)),
    "x" * 5000,  # compresses well: Chromium sends it with RSV1 under permessage-deflate
    os.urandom(70000),  # 64-bit extended payload length
]


def describe(message):
    data = message.encode() if isinstance(message, str) else message
    return {"type": "text" if isinstance(message, str) else "binary",
            "sha256": hashlib.sha256(data).hexdigest(), "len": len(data)}


def self_test():
    import asyncio
    import websockets

    problems = []
    ready = threading.Event()
    state = {}

    async def handler(ws, path):
        offered = ws.request_headers.get("Sec-WebSocket-Extensions", "")
        if "permessage-deflate" not in offered:
            problems.append(f"browser did not offer permessage-deflate: {offered!r}")
        if path == "/silent":
            await ws.wait_closed()  # the page's timeout must close it
            return
        for message in SELF_TEST_MESSAGES:
            await ws.send(message)
        for message in SELF_TEST_MESSAGES:
            echo = await asyncio.wait_for(ws.recv(), 10)
            if echo != message:
                problems.append(f"echo differs: {describe(echo)} != {describe(message)}")
                await ws.close(1008, "echo differs")
                return
        await ws.close(1000, "bye")

    async def serve():
        async with websockets.serve(handler, LOOPBACK, 0) as server:
            state["port"] = server.sockets[0].getsockname()[1]
            state["loop"] = asyncio.get_running_loop()
            state["stop"] = asyncio.get_running_loop().create_future()
            ready.set()
            await state["stop"]

    server_thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    server_thread.start()
    if not ready.wait(10):
        print("self-test: echo server did not start", file=sys.stderr)
        return 1
    port = state["port"]

    requests = [
        ({"url": f"ws://{LOOPBACK}:{port}/echo", "deflate": True, "timeout": 10},
         {"opened": True, "messages": [describe(m) for m in SELF_TEST_MESSAGES],
          "close_code": 1000, "close_reason": "bye", "clean": True, "error": None}),
        ({"url": f"ws://{LOOPBACK}:{port}/echo", "deflate": False, "timeout": 10},
         {"opened": True, "messages": [describe(m) for m in SELF_TEST_MESSAGES],
          "close_code": 1000, "close_reason": "bye", "clean": True, "error": None}),
        ({"url": f"ws://{LOOPBACK}:{port}/silent", "deflate": True, "timeout": 1},
         {"opened": True, "messages": [], "close_code": 1000, "close_reason": "",
          "clean": True, "error": "timeout"}),
    ]
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__)]
                             + [a for a in sys.argv[1:] if a != "--self-test"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    watchdog = threading.Timer(120, child.kill)
    watchdog.start()
    try:
        for request, expected in requests:
            started = time.monotonic()
            child.stdin.write(json.dumps(request) + "\n")
            child.stdin.flush()
            line = child.stdout.readline()
            took = time.monotonic() - started
            if not line:
                problems.append(f"{request['url']}: no outcome (launcher exited)")
                break
            outcome = json.loads(line)
            if outcome != expected:
                problems.append(f"{request['url']}: got {line.strip()} expected "
                                f"{json.dumps(expected)}")
            print(f"self-test: {request['url']} in {took:.2f} s: "
                  f"{'ok' if outcome == expected else 'MISMATCH'}", file=sys.stderr)
        child.stdin.close()
        code = child.wait(timeout=30)
        if code != 0:
            problems.append(f"launcher exited with {code}")
    except (subprocess.TimeoutExpired, BrokenPipeError, ValueError) as err:
        problems.append(f"launcher did not finish: {err!r}")
        child.kill()
    finally:
        watchdog.cancel()
        state["loop"].call_soon_threadsafe(state["stop"].set_result, None)
        server_thread.join(10)
    for problem in problems:
        print(f"self-test: {problem}", file=sys.stderr)
    print(f"self-test: {'FAILED' if problems else 'passed'}", file=sys.stderr)
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default=os.environ.get("WSSNIFF_CHROMIUM") or find_chromium(),
                        help="browser executable (default: chromium on PATH, or $WSSNIFF_CHROMIUM)")
    parser.add_argument("--start-timeout", type=float, default=60.0,
                        help="seconds the browser may take to load the page")
    parser.add_argument("--verbose", action="store_true", help="timings on stderr")
    parser.add_argument("--self-test", action="store_true",
                        help="run 3 requests against a built-in echo server; exit 1 on a mismatch")
    args = parser.parse_args()
    if args.self_test:
        return self_test()

    remove_orphaned_profiles()
    runner = Launcher(args.chromium, args.start_timeout, args.verbose)

    def on_signal(signum, frame):
        runner.close()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        runner.run(sys.stdin, sys.stdout)
    except BrokenPipeError:
        pass
    finally:
        runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

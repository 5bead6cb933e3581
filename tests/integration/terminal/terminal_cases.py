"""The terminal view and the live status line, through real pseudo-terminals: `wssniff proxy`,
`decode`, `demo` and `replay` with their standard output (and error) on a pty of a set size
(TIOCSWINSZ), in raw mode so that the bytes read are the bytes written.

    terminal_cases.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Checks: the fields of the lines, the width cut measured in terminal columns (East Asian wide
characters count two), ANSI colours on a terminal and none with NO_COLOR or --color never,
NDJSON when stdout is a pipe, --format pretty into a pipe, no raw control byte from a payload
(ESC, BEL, CR, C1 controls, bidi overrides), the status line on a terminal's stderr (not on a
pipe, not with --quiet) and erased at exit.
"""

import fcntl
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
import unicodedata

from wssniff_kit.checks import CheckFailed, check, log
from wssniff_kit.echo import EchoUpstream
from wssniff_kit.heads import upgrade_request, upgrade_response, websocket_key
from wssniff_kit.processes import die_with_parent
from wssniff_kit.runner import run_cases
from wssniff_kit.wire import OP_BINARY, OP_CLOSE, OP_TEXT, close_payload, frame, mask_key

SGR = re.compile(rb"\x1b\[[0-9;]*m")
LINE_START = r"\d\d:\d\d:\d\d\.\d{3} "


def base_environment(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    env.update(extra)
    return env


class Pty:
    """One pseudo-terminal of `cols` columns in raw mode; what the child writes to it is
    collected from the master side by a thread."""

    def __init__(self, cols, rows=24):
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        tty.setraw(self.slave)
        self.data = bytearray()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every slave descriptor is closed
                return
            if not chunk:
                return
            with self.lock:
                self.data += chunk

    def child_done(self):
        os.close(self.slave)

    def finish(self, timeout=5):
        self.thread.join(timeout)
        os.close(self.master)
        with self.lock:
            return bytes(self.data)

    def text(self):
        with self.lock:
            return bytes(self.data)


def start(wssniff, args, *, stdout_cols=None, stderr_cols=None, env=None):
    """wssniff ARGS with stdout (and stderr) on a pty when *_cols is given, else on a pipe."""
    out_pty = Pty(stdout_cols) if stdout_cols else None
    err_pty = Pty(stderr_cols) if stderr_cols else None
    log("+ " + " ".join([wssniff] + list(args)))
    proc = subprocess.Popen([wssniff] + list(args), stdin=subprocess.DEVNULL,
                            stdout=out_pty.slave if out_pty else subprocess.PIPE,
                            stderr=err_pty.slave if err_pty else subprocess.PIPE,
                            env=env if env is not None else base_environment(),
                            preexec_fn=die_with_parent)
    for p in (out_pty, err_pty):
        if p:
            p.child_done()
    return proc, out_pty, err_pty


def run(wssniff, args, *, stdout_cols=None, stderr_cols=None, env=None, timeout=20,
        status=0):
    proc, out_pty, err_pty = start(wssniff, args, stdout_cols=stdout_cols,
                                   stderr_cols=stderr_cols, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise CheckFailed(f"wssniff {' '.join(args)} still running after {timeout} s")
    out = out_pty.finish() if out_pty else out
    err = err_pty.finish() if err_pty else err
    check(proc.returncode == status,
          f"wssniff {' '.join(args)}: exit {proc.returncode}, expected {status}; stderr "
          f"{err[-1000:]!r}")
    return out, err


def columns(text):
    """Terminal columns of `text` (no escape sequences in it)."""
    n = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


def pretty_lines(out, width, colours):
    """The lines of the terminal view: checked for colours (present or absent), stray escape or
    control bytes, and the width; returned without their colours."""
    if colours:
        check(SGR.search(out), f"no colour in {out[:300]!r}")
    else:
        check(b"\x1b" not in out, f"an escape byte without colours: {out[:300]!r}")
    plain = SGR.sub(b"", out)
    check_no_controls(plain)
    lines = plain.decode("utf-8").split("\n")
    check(lines[-1] == "", f"output does not end with a newline: {lines[-1]!r}")
    lines = lines[:-1]
    for line in lines:
        check(columns(line) <= width, f"{columns(line)} columns, more than {width}: {line!r}")
    return lines


def check_no_controls(plain):
    """No raw control byte besides the line ends, no C1 control, no bidi or invisible format
    character: what a payload carried is shown escaped."""
    bad = [b for b in plain if (b < 0x20 and b != 0x0A) or b == 0x7F]
    check(not bad, f"raw control bytes {bytes(bad)!r} in {plain[:400]!r}")
    text = plain.decode("utf-8")
    for ch in text:
        cp = ord(ch)
        check(not (0x80 <= cp <= 0x9F) and unicodedata.category(ch) not in ("Cf", "Zl", "Zp"),
              f"U+{cp:04X} written raw in {text[:400]!r}")


def find(lines, pattern):
    for line in lines:
        if re.fullmatch(pattern, line):
            return line
    raise CheckFailed(f"no line matching {pattern!r} in:\n" + "\n".join(lines))


# ---- demo ----------------------------------------------------------------------------------

def demo_terminal(ctx):
    """`wssniff demo` on a 72-column terminal: one line per record with the expected fields,
    cut to 72 columns; colours by default, none with NO_COLOR or --color never."""
    out, _ = run(ctx.wssniff, ["demo"], stdout_cols=72)
    lines = pretty_lines(out, 72, colours=True)
    find(lines, LINE_START + r"#1 handshake GET 101 in \d+\.\d ms /demo")  # with the latency
    find(lines, LINE_START + r"#1 → text +17 Hello, WebSocket!")
    find(lines, LINE_START + r"#1 ← text +17 Hello, WebSocket!")
    find(lines, LINE_START + r"#1 → text +38 héllo wörld — こんにちは 🌍")
    find(lines, LINE_START + r"#1 → binary +7 00 01 02 7f 80 fe ff")
    find(lines, LINE_START + r"#1 → text +13 fin=0 a message in ")
    find(lines, LINE_START + r"#1 → cont +6 frames")
    find(lines, LINE_START + r"#1 → close +11 1000 \"demo over\"")
    find(lines, LINE_START + r"#1 closed server_closed c2s \d+B/9fr s2c \d+B/7fr")
    big = find(lines, LINE_START + r"#1 ← text +70000 The quick brown fox .*…")
    check(columns(big) == 72, f"the 70000-byte preview is not cut at 72 columns: {big!r}")
    check(len(lines) == 18, f"{len(lines)} lines, expected 18 (one per record)")

    out, _ = run(ctx.wssniff, ["demo"], stdout_cols=72, env=base_environment(NO_COLOR="1"))
    pretty_lines(out, 72, colours=False)
    out, _ = run(ctx.wssniff, ["demo", "--color", "never"], stdout_cols=72)
    pretty_lines(out, 72, colours=False)
    # An empty NO_COLOR does not count (no-color.org); --color always outranks NO_COLOR.
    out, _ = run(ctx.wssniff, ["demo"], stdout_cols=72, env=base_environment(NO_COLOR=""))
    pretty_lines(out, 72, colours=True)
    out, _ = run(ctx.wssniff, ["demo", "--color", "always"], stdout_cols=72,
                 env=base_environment(NO_COLOR="1"))
    pretty_lines(out, 72, colours=True)
    # A narrow terminal: every line still fits.
    out, _ = run(ctx.wssniff, ["demo", "--emit", "both"], stdout_cols=33)
    lines = pretty_lines(out, 33, colours=True)
    check(len(lines) == 28, f"{len(lines)} lines at 33 columns, expected 28")


def demo_pipes(ctx):
    """stdout a pipe: NDJSON, so `| jq` works unchanged; --format pretty into a pipe: the view
    without colours, $COLUMNS wide; --format ndjson on a terminal: NDJSON."""
    out, _ = run(ctx.wssniff, ["demo"])
    records = [json.loads(line) for line in out.decode().splitlines()]
    check(len(records) == 18 and records[0]["type"] == "handshake",
          f"not the demo's 18 NDJSON records: {out[:300]!r}")
    out, _ = run(ctx.wssniff, ["demo", "--format", "pretty"], env=base_environment(COLUMNS="50"))
    lines = pretty_lines(out, 50, colours=False)
    find(lines, LINE_START + r"#1 → text +17 Hello, WebSocket!")
    check(any(columns(line) == 50 for line in lines), "no line cut at $COLUMNS (50)")
    out, _ = run(ctx.wssniff, ["demo", "--format", "pretty"])
    lines = pretty_lines(out, 80, colours=False)
    check(any(columns(line) == 80 for line in lines), "no line cut at the default 80 columns")
    out, _ = run(ctx.wssniff, ["demo", "--format", "ndjson"], stdout_cols=72)
    records = [json.loads(line) for line in out.decode().splitlines()]
    check(len(records) == 18, f"--format ndjson on a terminal: {out[:300]!r}")
    # An --output file gets NDJSON even from a terminal.
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "demo.ndjson")
        out, _ = run(ctx.wssniff, ["demo", "-o", path], stdout_cols=72)
        check(out == b"", f"records on the terminal with --output: {out[:200]!r}")
        with open(path) as f:
            check(len([json.loads(line) for line in f]) == 18, "--output is not NDJSON")


# ---- decode: payloads that try to drive the terminal ---------------------------------------

HOSTILE_TEXT = [
    "osc \x1b]0;pwned\x07 bell and \r carriage return \x1b[2J clear",
    "c1 \u009b2J csi and bidi \u202egnp.exe zero\u200bwidth",
    "wide " + "漢字" * 40,
    "tab\tnew\nline back\\slash del\x7f",
]


def hostile_captures(work):
    key = websocket_key(1)
    c2s = bytearray(upgrade_request("127.0.0.1:9000", key, "/hostile"))
    s2c = bytearray(upgrade_response(key))
    for n, text in enumerate(HOSTILE_TEXT):
        c2s += frame(OP_TEXT, text.encode(), mask=mask_key(n))
        s2c += frame(OP_TEXT, text.encode())
    c2s += frame(OP_BINARY, b"\x1b[31m\x07\r\n\x9b", mask=mask_key(9))
    c2s += frame(OP_CLOSE, close_payload(4000, b"bye \x1b[2J\x07"), mask=mask_key(10))
    s2c += frame(OP_CLOSE, close_payload(4000, b"bye \x1b[2J\x07"))
    paths = []
    for name, data in (("c2s", c2s), ("s2c", s2c)):
        path = os.path.join(work, name)
        with open(path, "wb") as f:
            f.write(data)
        paths.append(path)
    return paths


def decode_hostile(ctx):
    """A capture whose payloads and close reason carry ESC, BEL, CR, a C1 CSI, a bidi override
    and wide characters: shown escaped, never raw, each line within 61 columns (an odd width,
    so a wide character falls on the cut)."""
    with tempfile.TemporaryDirectory() as work:
        c2s, s2c = hostile_captures(work)
        for env, colours in ((base_environment(), True), (base_environment(NO_COLOR="1"), False)):
            out, _ = run(ctx.wssniff, ["decode", "--c2s", c2s, "--s2c", s2c], stdout_cols=61,
                         env=env)
            lines = pretty_lines(out, 61, colours)
            find(lines, r"#1 handshake GET 101 /hostile")
            find(lines, r"#1 → text +\d+ osc \\e\]0;pwned\\x07 bell and \\r carriage.*…")
            find(lines, r"#1 → text +\d+ c1 \\u\{9b\}2J csi and bidi \\u\{202e\}gnp\.exe.*")
            find(lines, r"#1 → text +\d+ wide (漢字)+漢?…")
            find(lines, r"#1 → binary +9 1b 5b 33 31 6d 07 0d 0a 9b")
            find(lines, r"#1 → close +\d+ 4000 \"bye \\e\[2J\\x07\"")
        # Wider: the whole of the last text, escapes and all.
        out, _ = run(ctx.wssniff, ["decode", "--c2s", c2s, "--s2c", s2c], stdout_cols=200)
        lines = pretty_lines(out, 200, colours=True)
        find(lines, r"#1 → text +\d+ tab\\tnew\\nline back\\\\slash del\\x7f")
        # Forced text with invalid UTF-8: each bad byte as \xNN.
        bad = os.path.join(work, "bad.c2s")
        key = websocket_key(2)
        with open(bad, "wb") as f:
            f.write(upgrade_request("127.0.0.1:9000", key, "/bad"))
            f.write(frame(OP_TEXT, b"ok \xff\xfe\xc2 \xe2\x82 end", mask=mask_key(1)))
        good = os.path.join(work, "bad.s2c")
        with open(good, "wb") as f:
            f.write(upgrade_response(key))
        out, _ = run(ctx.wssniff, ["decode", "--c2s", bad, "--s2c", good, "--payload", "text",
                                   "--format", "pretty"])
        lines = pretty_lines(out, 80, colours=False)
        find(lines, r"#1 → text +13 ok \\xff\\xfe\\xc2 \\xe2\\x82 end")
        find(lines, r"#1 ERROR invalid_utf8 c2s @\d+ .*")


# ---- proxy: the view and the status line ---------------------------------------------------

def client_session(port, messages, spread):
    """A raw client through the proxy: upgrade, `messages` texts over `spread` seconds (each
    echoed back), then a close handshake."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = websocket_key(7)
    sock.sendall(upgrade_request(f"127.0.0.1:{port}", key, "/live"))
    inbox = bytearray()
    while b"\r\n\r\n" not in inbox:
        chunk = sock.recv(65536)
        check(chunk, "the proxy closed before the 101")
        inbox += chunk
    check(inbox.startswith(b"HTTP/1.1 101"), f"no 101: {inbox[:100]!r}")
    for n in range(messages):
        sock.sendall(frame(OP_TEXT, b"live message %d" % n, mask=mask_key(n)))
        time.sleep(spread / messages)
    sock.sendall(frame(OP_CLOSE, close_payload(1000, b"done"), mask=mask_key(99)))
    sock.settimeout(5)
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass
    sock.close()


def start_proxy(ctx, upstream, extra, stdout_cols, stderr_cols):
    args = ["proxy", "--listen", "127.0.0.1:0", "--upstream", f"ws://127.0.0.1:{upstream.port}",
            *extra]
    proc, out_pty, err_pty = start(ctx.wssniff, args, stdout_cols=stdout_cols,
                                   stderr_cols=stderr_cols)
    ctx.stack.callback(lambda: proc.poll() is None and proc.kill())
    deadline = time.monotonic() + 10
    port = None
    while port is None and time.monotonic() < deadline:
        text = err_pty.text() if err_pty else None
        if err_pty is None:
            line = proc.stderr.readline()
            text = line
        m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", text or b"")
        if m:
            port = int(m.group(1))
        elif err_pty:
            time.sleep(0.02)
    check(port is not None, "no 'listening on' line from the proxy")
    return proc, out_pty, err_pty, port


def stop_proxy(proc, out_pty, err_pty):
    proc.send_signal(signal.SIGTERM)
    out_pipe, err_pipe = proc.communicate(timeout=10)
    check(proc.returncode == 0, f"proxy exit {proc.returncode}")
    out = out_pty.finish() if out_pty else out_pipe
    err = err_pty.finish() if err_pty else err_pipe
    return out, err


def proxy_status_line(ctx):
    """The proxy with stdout and stderr on two 100-column terminals: the records as lines, and
    on stderr a status line refreshed at most 4 times a second, within the width, with
    connections, frame and byte rates and records written, erased at exit."""
    upstream = ctx.track(EchoUpstream())
    proc, out_pty, err_pty, port = start_proxy(ctx, upstream, [], 100, 100)
    started = time.monotonic()
    client_session(port, 20, 1.6)
    time.sleep(0.6)  # a refresh after the close
    elapsed = time.monotonic() - started
    out, err = stop_proxy(proc, out_pty, err_pty)

    lines = pretty_lines(out, 100, colours=True)
    find(lines, LINE_START + r"#1 handshake GET 101 in \d+\.\d ms /live")
    find(lines, LINE_START + r"#1 → text +14 live message 0")
    find(lines, LINE_START + r"#1 ← text +15 live message 19")
    find(lines, LINE_START + r"#1 closed server_closed .*")

    check(b"\x1b" not in err, f"escape codes in the status line: {err[:300]!r}")
    draws = re.findall(rb"\r(conns [^\r]*)", err)
    check(draws, f"no status line on stderr: {err[-500:]!r}")
    check(len(draws) <= 4 * (elapsed + 1) + 1,
          f"{len(draws)} refreshes in {elapsed:.1f} s: more than 4 a second")
    check(len(draws) >= 4, f"only {len(draws)} refreshes in {elapsed:.1f} s")
    for d in draws:
        text = d.decode().rstrip(" ")
        check(columns(text) <= 99, f"status line wider than 99 columns: {text!r}")
        check(re.fullmatch(r"conns \d+ open/\d+ total \| → \d+ fr/s [\d.]+ (B|KiB|MiB)/s \| "
                           r"← \d+ fr/s [\d.]+ (B|KiB|MiB)/s \| records \d+ written, \d+ dropped",
                           text), f"unexpected status line {text!r}")
    texts = [d.decode() for d in draws]
    check(any("conns 1 open/1 total" in t for t in texts), f"never 1 open: {texts}")
    check(any("conns 0 open/1 total" in t for t in texts), f"never 0 open after: {texts}")
    check(any(re.search(r"→ [1-9]\d* fr/s", t) for t in texts), f"no c2s frame rate: {texts}")
    check(any(re.search(r"← [1-9]\d* fr/s", t) for t in texts), f"no s2c frame rate: {texts}")
    # 1 handshake + 21 frames each way + close = 44 records.
    check("records 44 written, 0 dropped" in texts[-1], f"last status: {texts[-1]!r}")
    # Erased at exit: spaces over it, the cursor back at the first column.
    check(re.search(rb"\r {40,}\r$", err), f"status line not erased at exit: {err[-200:]!r}")


def proxy_status_off(ctx):
    """No status line when stderr is a pipe, nor with --quiet on a terminal; stdout a pipe
    carries NDJSON."""
    upstream = ctx.track(EchoUpstream())
    proc, out_pty, err_pty, port = start_proxy(ctx, upstream, [], None, None)
    client_session(port, 3, 0.6)
    time.sleep(0.4)
    out, err = stop_proxy(proc, out_pty, err_pty)
    records = [json.loads(line) for line in out.decode().splitlines()]
    check(len(records) == 10, f"{len(records)} NDJSON records, expected 10: {out[:300]!r}")
    check(b"conns" not in err and b"\r" not in err, f"a status line on a pipe: {err!r}")

    proc, out_pty, err_pty, port = start_proxy(ctx, upstream, ["--quiet"], 80, 80)
    client_session(port, 3, 0.6)
    time.sleep(0.4)
    out, err = stop_proxy(proc, out_pty, err_pty)
    pretty_lines(out, 80, colours=True)
    check(b"conns" not in err and b"\r" not in err, f"a status line with --quiet: {err!r}")


# ---- replay --------------------------------------------------------------------------------

def replay_terminal(ctx):
    """`wssniff replay` on a terminal shows its own session as lines; --format ndjson gives
    NDJSON there; a diff format without --expect is a usage error."""
    upstream = ctx.track(EchoUpstream())
    with tempfile.TemporaryDirectory() as work:
        archive = os.path.join(work, "demo.ndjson")
        run(ctx.wssniff, ["demo", "--payload", "base64", "-o", archive])
        target = f"ws://127.0.0.1:{upstream.port}"
        out, _ = run(ctx.wssniff, ["replay", archive, "--upstream", target], stdout_cols=90)
        lines = pretty_lines(out, 90, colours=True)
        find(lines, LINE_START + r"#1 handshake GET 101 in \d+\.\d ms /demo")
        find(lines, LINE_START + r"#1 → text +17 Hello, WebSocket!")
        find(lines, LINE_START + r"#1 ← text +17 Hello, WebSocket!")
        find(lines, LINE_START + r"#1 closed .*")
        out, _ = run(ctx.wssniff, ["replay", archive, "--upstream", target, "--format", "ndjson"],
                     stdout_cols=90)
        check(all(json.loads(line) for line in out.decode().splitlines()),
              "--format ndjson on a terminal")
        _, err = run(ctx.wssniff, ["replay", archive, "--upstream", target, "--format", "junit"],
                     status=2)
        check(err.count(b"\n") == 1 and b"--format" in err, f"usage error: {err!r}")


def help_texts(ctx):
    """Each command that writes records teaches --format and --color, and the view; the
    proxy's help also the status line and --quiet."""
    for command in ("proxy", "decode", "demo", "replay"):
        out, err = run(ctx.wssniff, [command, "--help"])
        text = out.decode()
        for needle in ("--format", "--color", "pretty", "Terminal view", "NO_COLOR"):
            check(needle in text, f"{command} --help does not mention {needle}")
    out, _ = run(ctx.wssniff, ["proxy", "--help"])
    check("--quiet" in out.decode() and "Status line" in out.decode(),
          "proxy --help does not explain the status line and --quiet")


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, [demo_terminal, demo_pipes, decode_hostile, proxy_status_line,
                                 proxy_status_off, replay_terminal, help_texts],
                       prefix="terminal"))

#!/usr/bin/python3
"""`wssniff har export` and `wssniff har import` against real peers over loopback:

    har_cases.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Sessions are recorded through `wssniff proxy` (client: har_client.py on python3-websockets, or
headless Chromium driven by npm playwright-core; server: har_server.js on npm ws, with and
without permessage-deflate). Exported HARs are checked with npm har-validator (HAR 1.2) and
against the rules DevTools' importer applies to `_webSocketMessages`. Records go to
RECORDS_DIR/har-CASE*.ndjson (the schema suite validates them); HARs and hand-made inputs go to
RECORDS_DIR/har-files/, out of its way. Cases: see CASES below.
"""

import base64
import json
import os
import stat
import subprocess
import sys

from wssniff_kit.checks import check, log
from wssniff_kit.conversations import payload_bytes
from wssniff_kit.processes import Process
from wssniff_kit.records import parse_ndjson, seconds_of
from wssniff_kit.runner import run_cases

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"


def node():
    return os.environ.get("WSSNIFF_NODE") or "node"


def files_dir(ctx):
    path = os.path.join(ctx.records_dir, "har-files")
    os.makedirs(path, exist_ok=True)
    return path


def har_path(ctx, suffix):
    path = os.path.join(files_dir(ctx), f"{ctx.name}{suffix}.har")
    if os.path.exists(path):
        os.unlink(path)
    return path


def start_server(ctx, deflate=False):
    os.environ["HAR_DEFLATE"] = "1" if deflate else "0"
    server = Process("har server", [node(), os.path.join(HERE, "har_server.js")], HERE)
    ctx.stack.callback(server.kill)
    port = int(server.wait_line(r"listening (\d+)", 20).group(1))
    log(f"server on port {port} (deflate {deflate})")
    return port


def record_session(ctx, server_port, suffix, deflate=False, args=()):
    """har_client.py through `wssniff proxy`; returns the archive's path."""
    def client(port):
        return [PYTHON, os.path.join(HERE, "har_client.py"), str(port)] + \
            (["deflate"] if deflate else [])
    return ctx.recorded_session(server_port, suffix, client, HERE, args)


def wssniff(ctx, *args, expect=0):
    argv = [ctx.wssniff] + [str(a) for a in args]
    log("+ " + " ".join(argv))
    done = subprocess.run(argv, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    stderr = done.stderr.decode("utf-8", "replace")
    check(done.returncode == expect,
          f"{' '.join(argv[1:3])} exited {done.returncode}, expected {expect}: {stderr}"
          f"{done.stdout.decode('utf-8', 'replace')[-3000:]}")
    return done.stdout, stderr


def read_archive(path):
    return parse_ndjson(open(path, "rb").read(), path)


def read_har(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def validate(*paths):
    """npm har-validator (HAR 1.2) on each file."""
    done = subprocess.run([node(), os.path.join(HERE, "validate_har.js")] + list(paths),
                          capture_output=True, timeout=60)
    out = done.stdout.decode("utf-8", "replace")
    log(out.strip())
    check(done.returncode == 0, f"har-validator rejected a HAR: {out}")


def check_devtools_rules(har, what):
    """What DevTools' HAR importer needs of each `_webSocketMessages` item (devtools-frontend
    models/har/Importer.ts): a type of send or receive, a numeric time, an integer opcode and
    string data; an item without them is dropped there, so none may be here."""
    entries = har["log"]["entries"]
    check(entries, f"{what}: no entries")
    for entry in entries:
        check(entry.get("_resourceType") == "websocket", f"{what}: entry without _resourceType "
                                                          f"websocket: {entry.get('request')}")
        for m in entry["_webSocketMessages"]:
            check(m.get("type") in ("send", "receive"), f"{what}: message type {m}")
            check(isinstance(m.get("time"), (int, float)) and not isinstance(m["time"], bool),
                  f"{what}: message time {m}")
            check(isinstance(m.get("opcode"), int) and not isinstance(m["opcode"], bool),
                  f"{what}: message opcode {m}")
            check(isinstance(m.get("data"), str), f"{what}: message data {m}")


def payload_of(record):
    return payload_bytes(record)[1]


def archive_messages(records, conn=None):
    """(dir, opcode, payload) of each message record, in archive order."""
    ops = {"text": 1, "binary": 2}
    return [(r["dir"], ops[r["op"]], payload_of(r)) for r in records
            if r["type"] == "message" and (conn is None or r["conn"] == conn)]


def har_messages(entry):
    """(dir, opcode, payload) of each item of an entry's _webSocketMessages."""
    out = []
    for m in entry["_webSocketMessages"]:
        data = m["data"].encode("utf-8") if m["opcode"] == 1 else base64.b64decode(m["data"])
        out.append(("c2s" if m["type"] == "send" else "s2c", m["opcode"], data))
    return out


def one(records, kind):
    found = [r for r in records if r["type"] == kind]
    check(len(found) == 1, f"expected one {kind} record, got {len(found)}")
    return found[0]


# --- cases -----------------------------------------------------------------------------------

def export_validates(ctx):
    """A deflate session recorded through the proxy exports as valid HAR 1.2 that DevTools can
    import, with the inflated payloads, the wire-order headers and the entry fields Chrome
    writes; an archive of frames only exports the same messages; --control adds the ping, pong
    and close frames; the file is mode 0600."""
    server = start_server(ctx, deflate=True)
    both = record_session(ctx, server, "-both", deflate=True, args=["--emit", "both"])
    frames = record_session(ctx, server, "-frames", deflate=True)
    records = read_archive(both)
    handshake = one(records, "handshake")
    check(handshake.get("deflate") is not None, "permessage-deflate was not negotiated")

    out = har_path(ctx, "-both")
    wssniff(ctx, "har", "export", both, "-o", out)
    check(stat.S_IMODE(os.stat(out).st_mode) == 0o600, "the HAR is not mode 0600")
    from_frames = har_path(ctx, "-frames")
    wssniff(ctx, "har", "export", frames, "-o", from_frames)
    with_control = har_path(ctx, "-control")
    wssniff(ctx, "har", "export", both, "--control", "-o", with_control)
    validate(out, from_frames, with_control)

    har = read_har(out)
    check_devtools_rules(har, "export")
    check(har["log"]["version"] == "1.2" and har["log"]["creator"]["name"] == "wssniff",
          f"log header: {har['log']['version']}, {har['log']['creator']}")
    check("comment" not in har["log"], "a live capture's HAR says its times are made up")
    (entry,) = har["log"]["entries"]
    host = dict((k.lower(), v) for k, v in handshake["request_headers"])["host"]
    check(entry["request"]["url"] == f"ws://{host}/chat?room=1&user=ann",
          f"url {entry['request']['url']}")
    check([(h["name"], h["value"]) for h in entry["request"]["headers"]] ==
          [tuple(h) for h in handshake["request_headers"]], "request headers not in wire order")
    check(("Authorization", "Bearer [redacted]") in
          [(h["name"], h["value"]) for h in entry["request"]["headers"]],
          "the redacted Authorization value did not stay redacted")
    check(entry["request"]["queryString"] == [{"name": "room", "value": "1"},
                                              {"name": "user", "value": "ann"}],
          f"queryString {entry['request']['queryString']}")
    check(entry["response"]["status"] == 101, f"status {entry['response']['status']}")
    check(entry["serverIPAddress"] == "127.0.0.1" and entry["connection"] == "1",
          f"serverIPAddress {entry.get('serverIPAddress')}, connection {entry.get('connection')}")
    # The entry starts when the request head was complete and waits for the 101.
    check(entry["startedDateTime"].startswith(handshake["request_ts"][:23]),
          f"startedDateTime {entry['startedDateTime']} is not the handshake's request_ts "
          f"{handshake['request_ts']}")
    latency_ms = (seconds_of(handshake["ts"]) - seconds_of(handshake["request_ts"])) * 1000
    check(0 <= latency_ms < 5000 and abs(entry["timings"]["wait"] - latency_ms) < 0.01 and
          entry["time"] == entry["timings"]["wait"],
          f"timings.wait {entry['timings']['wait']} ms, time {entry['time']}: the handshake "
          f"took {latency_ms} ms")

    want = archive_messages(records)
    check(har_messages(entry) == want,
          f"exported messages differ from the archive's:\n  {har_messages(entry)}\n  {want}")
    check((("c2s", 1, b"frag-mented") in want) and (("c2s", 1, b"") in want) and
          (("c2s", 2, b"") in want), f"the session lacks its fragmented or empty messages: {want}")
    times = [m["time"] for m in entry["_webSocketMessages"]]
    check(times == sorted(times) and 1e9 < times[0] < 1e11,
          f"message times are not epoch seconds in order: {times}")
    check("_wssniffTruncated" not in entry, "an entry with whole payloads is marked truncated")

    check(har_messages(read_har(from_frames)["log"]["entries"][0]) == want,
          "an archive of frames exports other messages than one of messages")
    control = [(d, op, data) for d, op, data in
               har_messages(read_har(with_control)["log"]["entries"][0]) if op >= 8]
    check(("c2s", 9, b"p") in control and ("s2c", 10, b"p") in control and
          ("c2s", 8, b"\x03\xe8done") in control, f"--control frames: {control}")


def round_trip(ctx):
    """export -> import -> export gives the same HAR; the imported archive has the recorded
    messages (UTF-8, binary, empty, fragmented, inflated) and their times; a truncated payload
    stays marked as truncated, with its full length."""
    server = start_server(ctx, deflate=True)
    recorded = record_session(ctx, server, "-recorded", deflate=True,
                              args=["--emit", "both", "--max-payload", "2000"])
    first = har_path(ctx, "-first")
    wssniff(ctx, "har", "export", recorded, "-o", first)
    imported = ctx.output("-imported")
    wssniff(ctx, "har", "import", first, "-o", imported)
    second = har_path(ctx, "-second")
    wssniff(ctx, "har", "export", imported, "-o", second)
    a, b = read_har(first), read_har(second)
    check(a == b, "export -> import -> export changed the HAR:\n"
                  f"  {json.dumps(a)[:3000]}\n  {json.dumps(b)[:3000]}")

    recorded_records = read_archive(recorded)
    imported_records = read_archive(imported)
    check(archive_messages(imported_records) == archive_messages(recorded_records),
          "the imported messages differ from the recorded ones")
    check([r["ts"] for r in imported_records if r["type"] == "message"] ==
          [r["ts"] for r in recorded_records if r["type"] == "message"],
          "the imported message times differ from the recorded ones")
    big = [r for r in imported_records if r["type"] == "message" and r["len"] == 3000]
    check(len(big) == 2 and all(r.get("truncated") for r in big),
          f"the 3000-byte messages cut at 2000 are not truncated with len 3000: "
          f"{[(r['len'], r.get('truncated')) for r in big]}")
    check(a["log"]["entries"][0].get("_wssniffTruncated") is True,
          "the entry with cut payloads is not marked _wssniffTruncated")
    check(not [r for r in imported_records if r["type"] == "frame"],
          "an imported archive has frame records (HAR has no frames)")


def offline_archive(ctx):
    """An archive from `decode` has no clock: without --base-time its times are the epoch,
    with it the given time, and the log's comment says so either way."""
    archive = ctx.output("-decoded")
    c2s = os.path.join(HERE, "..", "..", "..", "examples", "chat.c2s")
    s2c = os.path.join(HERE, "..", "..", "..", "examples", "chat.s2c")
    stdout, _ = wssniff(ctx, "decode", "--c2s", c2s, "--s2c", s2c)
    with open(archive, "wb") as f:
        f.write(stdout)
    plain = har_path(ctx, "-plain")
    wssniff(ctx, "har", "export", archive, "-o", plain)
    based = har_path(ctx, "-based")
    wssniff(ctx, "har", "export", archive, "--base-time", "2026-11-30T12:00:00Z", "-o", based)
    validate(plain, based)
    for path, when, seconds in ((plain, "the Unix epoch", 0.0),
                                (based, "2026-11-30T12:00:00", 1796040000.0)):
        har = read_har(path)
        check_devtools_rules(har, path)
        check(when in har["log"].get("comment", ""), f"{path}: comment {har['log'].get('comment')}")
        (entry,) = har["log"]["entries"]
        check({m["time"] for m in entry["_webSocketMessages"]} == {seconds},
              f"{path}: times {[m['time'] for m in entry['_webSocketMessages']]}")
        check(("c2s", 1, b"frag-mented") in har_messages(entry),
              f"{path}: the fragmented message is not whole: {har_messages(entry)}")


def browser(ctx):
    """Headless Chromium (Debian chromium, driven by npm playwright-core) talks through the
    proxy to a permessage-deflate server with Playwright's recordHar on. `har import` of
    Playwright's HAR has the messages the proxy captured, in the same order and directions,
    with the same payloads; `replay --expect` of the imported archive against the same server
    exits 0."""
    server = start_server(ctx, deflate=True)
    capture = ctx.output("-proxy")
    proxy = ctx.proxy(server, capture, ["--emit", "messages", "--payload", "base64"])
    recorded = har_path(ctx, "-playwright")
    session = Process("browser", [node(), os.path.join(HERE, "browser_session.js"),
                                  f"http://127.0.0.1:{server}/",
                                  f"ws://127.0.0.1:{proxy.port}/chat", recorded], HERE)
    status = session.wait(60)
    check(status == 0, f"the browser session failed (status {status}): "
                       f"{session.output('stderr')[-3000:]}")
    proxy.wait_idle()
    proxy.stop()

    validate(recorded)
    captured = read_archive(capture)
    check(one(captured, "handshake").get("deflate") is not None,
          "Chromium and the server did not negotiate permessage-deflate")
    imported = ctx.output("-imported")
    _, stderr = wssniff(ctx, "har", "import", recorded, "-o", imported)
    imported_records = read_archive(imported)
    got = archive_messages(imported_records)
    want = archive_messages(captured)
    # Playwright leaves empty messages out of its HAR (the proxy saw them: the page sends one
    # empty text and one empty binary message, each echoed).
    empty = [m for m in want if m[2] == b""]
    check(len(empty) == 4, f"the proxy did not capture the four empty messages: {want}")
    check(got == [m for m in want if m[2] != b""],
          f"Playwright's HAR, imported, differs from the proxy's capture:\n  {got}\n  {want}")
    check(len(got) == 9, f"expected 9 non-empty messages, got {len(got)}")
    ts = [r["ts"] for r in imported_records if r["type"] == "message"]
    check(ts == sorted(ts) and ts[0][:4] == one(captured, "handshake")["ts"][:4],
          f"imported times are not in order or not this year's: {ts}")

    replayed = ctx.output("-replayed")
    wssniff(ctx, "replay", imported, "--upstream", f"ws://127.0.0.1:{server}", "-o", replayed,
            "--expect", imported)


def import_rules(ctx):
    """A hand-made HAR in Chrome's own shape (seconds as times, an empty method, httpVersion
    and header list, page and XHR entries beside the WebSocket ones): only WebSocket entries
    are imported, --entry-url picks among them, items DevTools would skip and control frames
    are left out and counted on stderr, and Chrome's empty fields are tolerated."""
    def ws_entry(url, messages, resource=True, wait=0):
        entry = {"startedDateTime": "2026-11-30T10:00:00.250Z", "time": 5,
                 "request": {"method": "", "url": url, "httpVersion": "", "headers": [],
                             "cookies": [], "queryString": [], "headersSize": -1, "bodySize": 0},
                 "response": {"status": 101, "statusText": "", "httpVersion": "", "headers": [],
                              "cookies": [], "content": {"size": 0, "mimeType": "x-unknown"},
                              "redirectURL": "", "headersSize": -1, "bodySize": 0},
                 "cache": {}, "timings": {"send": 0, "wait": wait, "receive": 0},
                 "_webSocketMessages": messages}
        if resource:
            entry["_resourceType"] = "websocket"
        return entry

    page = {"startedDateTime": "2026-11-30T10:00:00.000Z", "time": 1,
            "request": {"method": "GET", "url": "http://127.0.0.1:8000/", "httpVersion":
                        "HTTP/1.1", "headers": [], "cookies": [], "queryString": [],
                        "headersSize": -1, "bodySize": 0},
            "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
                         "headers": [], "cookies": [], "content": {"size": 0, "mimeType":
                                                                    "text/html"},
                         "redirectURL": "", "headersSize": -1, "bodySize": 0},
            "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}}
    chat = ws_entry("wss://chat.example:8443/ws/chat?x=1", [
        {"type": "send", "time": 1796032800.5, "opcode": 1, "data": "hi ✓"},
        {"type": "receive", "time": 1796032800.75, "opcode": 2, "data": "AP8="},
        {"type": "send", "time": 1796032801, "opcode": 1},               # no data: skipped
        {"type": "sent", "time": 1796032801, "opcode": 1, "data": "x"},  # bad type: skipped
        {"type": "send", "time": "late", "opcode": 1, "data": "x"},     # bad time: skipped
        {"type": "receive", "time": 1796032802, "opcode": 9, "data": ""},  # a ping: left out
    ], wait=12.5)
    feed = ws_entry("ws://127.0.0.1:9000/feed", [
        {"type": "receive", "time": 1796032803, "opcode": 1, "data": "tick"}], resource=False)
    har = {"log": {"version": "1.2", "creator": {"name": "chrome", "version": "156"},
                   "pages": [], "entries": [page, chat, feed]}}
    source = os.path.join(files_dir(ctx), "chrome-shape.har")
    with open(source, "w", encoding="utf-8") as f:
        json.dump(har, f)

    everything = ctx.output("-all")
    _, stderr = wssniff(ctx, "har", "import", source, "-o", everything)
    check("left out 1 control frame(s)" in stderr and "3 message(s) without" in stderr,
          f"stderr does not count what was left out: {stderr}")
    records = read_archive(everything)
    handshakes = [r for r in records if r["type"] == "handshake"]
    check([(h["conn"], h["target"], h["method"]) for h in handshakes] ==
          [(1, "/ws/chat?x=1", "GET"), (2, "/feed", "GET")], f"handshakes {handshakes}")
    check(archive_messages(records) == [("c2s", 1, "hi ✓".encode()), ("s2c", 2, b"\x00\xff"),
                                        ("s2c", 1, b"tick")],
          f"messages {archive_messages(records)}")
    # The request left at startedDateTime; the 101 came timings.wait (12.5 ms) later.
    check(handshakes[0]["request_ts"] == "2026-11-30T10:00:00.250000Z" and
          handshakes[0]["ts"] == "2026-11-30T10:00:00.262500Z",
          f"handshake request_ts {handshakes[0].get('request_ts')}, ts {handshakes[0]['ts']}")
    check([r["ts"] for r in records if r["type"] == "message"][:2] ==
          ["2026-11-30T10:00:00.500000Z", "2026-11-30T10:00:00.750000Z"],
          "seconds-since-epoch times were not read")

    feed_only = ctx.output("-feed")
    wssniff(ctx, "har", "import", source, "--entry-url", r"/feed$", "-o", feed_only)
    check(archive_messages(read_archive(feed_only)) == [("s2c", 1, b"tick")],
          "--entry-url did not pick the /feed entry alone")


def errors(ctx):
    """Usage mistakes: one line and exit 2; unreadable input: one line and exit 1; an earlier
    archive at -o survives an import that fails."""
    d = files_dir(ctx)
    missing = os.path.join(d, "missing.har")
    not_json = os.path.join(d, "not-json.har")
    with open(not_json, "w") as f:
        f.write('{"log": {"entries": [ {"request": ')
    no_log = os.path.join(d, "no-log.har")
    with open(no_log, "w") as f:
        f.write('{"entries": []}')
    no_ws = os.path.join(d, "no-websocket.har")
    with open(no_ws, "w") as f:
        json.dump({"log": {"version": "1.2", "entries": [{"request": {"url": "http://a/"}}]}}, f)
    bad_archive = os.path.join(d, "bad.ndjson")
    with open(bad_archive, "w") as f:
        f.write('{"type":"handshake"\n')
    kept = os.path.join(d, "kept.ndjson")
    with open(kept, "w") as f:
        f.write("earlier\n")

    def fails(status, *args, says):
        _, stderr = wssniff(ctx, *args, expect=status)
        lines = stderr.strip().splitlines()
        check(len(lines) == 1 and says in lines[0],
              f"{args}: expected one line saying {says!r}, got {stderr!r}")

    fails(1, "har", "import", missing, "-o", kept, says="cannot open HAR")
    fails(1, "har", "import", not_json, "-o", kept, says="not JSON")
    fails(1, "har", "import", no_log, "-o", kept, says="not a HAR file")
    fails(1, "har", "import", no_ws, "-o", kept, says="has no WebSocket entries")
    check(open(kept).read() == "earlier\n", "a failed import overwrote the earlier output")
    fails(2, "har", "import", no_ws, "--entry-url", "(unclosed", says="--entry-url")
    fails(2, "har", "export", bad_archive, "--base-time", "yesterday", says="--base-time")
    fails(1, "har", "export", bad_archive, says="bad.ndjson:1")
    fails(1, "har", "export", missing, says="cannot read archive")
    fails(2, "har", "frobnicate", says="frobnicate")
    fails(2, "har", says="har")


CASES = [export_validates, round_trip, offline_archive, browser, import_rules, errors]

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, prefix="har"))

#!/usr/bin/python3
"""`wssniff report` on real traffic:

    report_cases.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Sessions are recorded through `wssniff proxy --emit both` (client: report_client.py on
python3-websockets; server: ../har/har_server.js on npm ws, an echo server with a greeting).
Records go to RECORDS_DIR/report-CASE*.ndjson (the schema suite validates them); reports,
screenshots and Mermaid files go to RECORDS_DIR/report-files/. Cases:

  browser  one headless Chromium (npm playwright-core) opens the report: the connections
           table, message counts per direction, diagram arrows, the direction filter, regex
           search, JSON and hex views, virtual scrolling; a payload and a close reason that
           are HTML render as text and run nothing; no request leaves the page; no CSP
           violation or console message; a screenshot is written.
  cli      exit statuses and messages, HTML refused on a terminal (a real pty), 0600 output,
           stdout when piped, --conn, --max-preview truncation, the embedded JSON; then
           --format mermaid: one connection's sequenceDiagram, its shape and escaping (checked
           as text: no Mermaid renderer is packaged in Debian).
"""

import html
import json
import os
import pty
import re
import stat
import subprocess
import sys

from wssniff_kit.checks import check, log
from wssniff_kit.processes import Process
from wssniff_kit.records import parse_ndjson, seconds_of
from wssniff_kit.runner import run_cases

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
XSS_MARK = 'onerror="window.__pwned=1;alert(1)"'


def node():
    return os.environ.get("WSSNIFF_NODE") or "node"


def files_dir(ctx):
    path = os.path.join(ctx.records_dir, "report-files")
    os.makedirs(path, exist_ok=True)
    return path


def fresh(ctx, name):
    path = os.path.join(files_dir(ctx), f"{ctx.name}-{name}")
    if os.path.exists(path):
        os.unlink(path)
    return path


def record(ctx):
    """Two connections through the proxy (see report_client.py); returns the archive's path
    and its records."""
    server = Process("echo server", [node(), os.path.join(HERE, "..", "har", "har_server.js")],
                     HERE)
    ctx.stack.callback(server.kill)
    port = int(server.wait_line(r"listening (\d+)", 20).group(1))
    archive = ctx.recorded_session(
        port, "", lambda p: [PYTHON, os.path.join(HERE, "report_client.py"), str(p)], HERE,
        ["--emit", "both"])
    records = parse_ndjson(open(archive, "rb").read(), archive)
    return archive, records


def wssniff(ctx, *args, expect=0, stdin=subprocess.DEVNULL):
    argv = [ctx.wssniff] + [str(a) for a in args]
    log("+ " + " ".join(argv))
    done = subprocess.run(argv, capture_output=True, timeout=60, stdin=stdin)
    stderr = done.stderr.decode("utf-8", "replace")
    check(done.returncode == expect,
          f"{' '.join(argv[1:])} exited {done.returncode}, expected {expect}: {stderr}")
    return done.stdout, stderr


def expected_events(records, conn):
    """What the report lists for a connection: message records, control frames and errors."""
    out = []
    for r in records:
        if r["conn"] != conn:
            continue
        if r["type"] == "message":
            out.append((r["dir"], r["op"]))
        elif r["type"] == "frame" and r["op"] in ("close", "ping", "pong"):
            out.append((r["dir"], r["op"]))
        elif r["type"] == "error":
            out.append((r.get("dir"), "error"))
    return out


def embedded_model(page):
    m = re.search(r'<script type="application/json" id="wssniff-data">(.*?)</script>', page, re.S)
    check(m is not None, "no embedded model in the page")
    text = m.group(1)
    for ch in "<>&\u2028\u2029":
        check(ch not in text, f"the embedded JSON holds a raw {ch!r}")
    return json.loads(text)


def browser(ctx):
    archive, records = record(ctx)
    conns = sorted({r["conn"] for r in records})
    check(len(conns) == 2, f"expected two connections, got {conns}")
    report = fresh(ctx, "report.html")
    wssniff(ctx, "report", archive, "-o", report)
    screenshot = fresh(ctx, "screenshot.png")
    checker = Process("chromium", [node(), os.path.join(HERE, "check_report.js"), report,
                                   screenshot], HERE)
    status = checker.wait(45)
    check(status == 0, f"check_report.js failed ({status}): {checker.output('stderr')[-3000:]}")
    seen = json.loads(checker.output("stdout").strip().splitlines()[-1])
    log(f"page ready in {seen['loadMs']} ms; screenshot {screenshot}")

    # Nothing ran, loaded or complained.
    check(seen["requests"] == [], f"the page made requests: {seen['requests']}")
    check(seen["console"] == [], f"console messages: {seen['console']}")
    check(seen["pageErrors"] == [], f"page errors: {seen['pageErrors']}")
    check(seen["dialogs"] == [] and seen["popups"] == 0, f"dialogs: {seen['dialogs']}")
    check(seen["csp"] == [], f"CSP violations: {seen['csp']}")
    check(seen["cspMeta"].startswith("default-src 'none'; script-src 'sha256-"),
          f"CSP: {seen['cspMeta']}")
    check(seen["images"] == 0, f"an <img> was created: {seen['images']}")
    check(seen["scripts"] == 2, f"expected the two scripts of the page, got {seen['scripts']}")
    check(seen["pwned"] is None, f"the payload ran: window.__pwned = {seen['pwned']}")
    check(os.path.getsize(screenshot) > 10000, "the screenshot is (nearly) empty")

    # The connections table.
    rows = seen["connections"]
    check([r["conn"] for r in rows] == conns, f"table rows {rows} for connections {conns}")
    for row in rows:
        conn = row["conn"]
        mine = [r for r in records if r["conn"] == conn]
        sent = sum(1 for r in mine if r["type"] == "message" and r["dir"] == "c2s")
        received = sum(1 for r in mine if r["type"] == "message" and r["dir"] == "s2c")
        cells = row["cells"]
        check(cells[10] == f"{sent} / {received}",
              f"conn {conn}: messages cell {cells[10]!r}, archive has {sent} / {received}")
        check(cells[2] == "GET /chat?room=report" and cells[3] == "101",
              f"conn {conn}: target/status {cells[2:4]}")
        check(cells[14] == "client_closed" or cells[14] == "server_closed",
              f"conn {conn}: TCP close {cells[14]!r}")
    check(rows[0]["cells"][12] == "1000 <b>bye</b>",
          f"the HTML close reason is not shown as text: {rows[0]['cells'][12]!r}")

    # Per connection: diagram, filters, search, views, scrolling.
    for s in seen["sections"]:
        events = expected_events(records, s["conn"])
        drawn = sum(1 for e in events[:300] if e[1] != "error")
        check(len(s["arrows"]) == drawn,
              f"conn {s['conn']}: {len(s['arrows'])} arrows, expected {drawn} "
              f"({len(events)} events, 300 drawn at most)")
        for cls, (d, op) in zip(s["arrows"], events):
            check(f"op-{op}" in cls and d in cls, f"arrow {cls!r} for {d} {op}")
        check(s["all"] == len(events), f"conn {s['conn']}: table has {s['all']} of {len(events)}")
        sent = sum(1 for e in events if e[0] == "c2s")
        received = sum(1 for e in events if e[0] == "s2c")
        check(s["sent"] == sent and s["received"] == received,
              f"conn {s['conn']}: filter shows {s['sent']} sent / {s['received']} received, "
              f"expected {sent} / {received}")
        check(s["sentDirs"] == ["↑ sent"] and s["receivedDirs"] == ["↓ recv"],
              f"filtered rows: {s['sentDirs']} {s['receivedDirs']}")
        check(s["invalidRegexMarked"] and s["invalidRegexVisible"] == len(events),
              "an invalid regular expression is not marked or hides rows")
        check(s["renderedRows"] < 60 and s["scrolledRows"] < 60,
              f"conn {s['conn']}: {s['renderedRows']}/{s['scrolledRows']} rows in the DOM")
        check(s["lastIndex"] == len(events) - 1,
              f"conn {s['conn']}: scrolled to the bottom, last row {s['lastIndex']}")
    one, two = seen["sections"]
    check(one["searches"]["^héllo"] == 2 and one["searches"]["onerror="] == 2,
          f"regex search on connection 1: {one['searches']}")
    check(two["searches"]["n=29\\d$"] == 20 and two["searches"]["^héllo"] == 0,
          f"regex search on connection 2: {two['searches']}")
    check(len(two["arrows"]) == 300, "connection 2's diagram is not cut at 300 events")
    check(any("n=0" in label for label in two["arrowLabels"]), "arrow labels lack the preview")
    d = one["details"]
    check('"a": 1,\n  "b": [\n    1,\n    2\n  ]' in d.get("json", ""),
          f"the JSON view is not pretty: {d.get('json')!r}")
    check("00000000  00 01 02 ff" in d.get("binary", ""), f"hex view: {d.get('binary')!r}")
    check(XSS_MARK in d.get("xss", "") and XSS_MARK in d.get("xssRow", ""),
          f"the XSS payload is not shown as text: {d.get('xss')!r} {d.get('xssRow')!r}")


def cli(ctx):
    archive, records = record(ctx)
    # Piped: the page on stdout.
    page, _ = wssniff(ctx, "report", archive)
    page = page.decode("utf-8")
    check(page.startswith("<!DOCTYPE html>"), "stdout is not the page")
    model = embedded_model(page)
    check([c["conn"] for c in model["connections"]] == [1, 2], "connections in the model")
    xss = [e for e in model["connections"][0]["events"] if XSS_MARK in e[4]]
    check(len(xss) == 2, f"the XSS payload is not in the model twice: {xss}")
    # request → 101: the live handshake record's request_ts to its ts.
    for c in model["connections"]:
        hs = [r for r in records if r["type"] == "handshake" and r["conn"] == c["conn"]][0]
        want = round((seconds_of(hs["ts"]) - seconds_of(hs["request_ts"])) * 1000, 3)
        got = c["latency"]["upgrade_ms"]
        check(got is not None and 0 <= got < 5000 and abs(got - want) < 0.002,
              f"conn {c['conn']}: request → 101 {got} ms, the records say {want} ms")
    check("</script><img" not in page.split('id="wssniff-data">', 1)[1].split("</script>", 1)[0],
          "the payload can close the data script")
    check(page.count("</script>") == 2, "the page has a script end too many")

    # A terminal: refused with one line, exit 2, nothing written.
    primary, secondary = pty.openpty()
    try:
        done = subprocess.run([ctx.wssniff, "report", archive], stdout=secondary,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=30)
    finally:
        os.close(secondary)
    os.set_blocking(primary, False)
    try:
        on_tty = os.read(primary, 65536)
    except (BlockingIOError, OSError):
        on_tty = b""
    os.close(primary)
    lines = done.stderr.decode().strip().splitlines()
    check(done.returncode == 2 and len(lines) == 1 and "-o" in lines[0] and on_tty == b"",
          f"HTML to a terminal: exit {done.returncode}, stderr {lines}, wrote {len(on_tty)} bytes")

    # -o: mode 0600 even over an existing file readable by others.
    out = fresh(ctx, "report.html")
    with open(out, "w") as f:
        f.write("old")
    os.chmod(out, 0o644)
    wssniff(ctx, "report", archive, "-o", out, "--conn", "2")
    check(stat.S_IMODE(os.stat(out).st_mode) == 0o600, "the report is not 0600")
    check([c["conn"] for c in embedded_model(open(out).read())["connections"]] == [2],
          "--conn 2 reported other connections")

    # --max-preview: payloads cut and marked; a second archive adds connections.
    wssniff(ctx, "report", archive, archive, "--max-preview", "4", "-o", out)
    model = embedded_model(open(out).read())
    check(len(model["connections"]) == 4, "two archives: expected four connections")
    for c in model["connections"]:
        for e in c["events"]:
            if e[2] in (1, 2):
                kept = len(e[4]) // 2 if e[5] & 2 else len(e[4].encode("utf-8"))
                check(kept <= 4, f"preview of {kept} bytes over --max-preview 4: {e}")
                check(bool(e[5] & 1) == (e[3] > kept), f"truncated flag wrong: {e}")

    # Usage mistakes (exit 2) and runtime failures (exit 1): one line each.
    def fails(status, *args, says):
        _, stderr = wssniff(ctx, *args, expect=status)
        lines = stderr.strip().splitlines()
        check(len(lines) == 1 and says in lines[0],
              f"{args}: expected one line saying {says!r}, got {stderr!r}")

    missing = os.path.join(files_dir(ctx), "missing.ndjson")
    bad = fresh(ctx, "bad.ndjson")
    with open(bad, "w") as f:
        f.write('{"type":"handshake"\n')
    fails(2, "report", archive, "--conn", "9", "-o", out, says="connection 9")
    fails(2, "report", archive, "--format", "pdf", "-o", out, says="--format")
    fails(2, "report", archive, "--max-preview", "lots", "-o", out, says="--max-preview")
    fails(2, "report", "-o", out, says="ARCHIVE")
    fails(1, "report", missing, "-o", out, says="cannot read archive")
    fails(1, "report", bad, "-o", out, says="bad.ndjson:1")
    help_text, _ = wssniff(ctx, "report", "--help")
    check(b"Examples:" in help_text and b"--format mermaid" in help_text, "--help has no examples")

    check_mermaid(ctx, archive, records)


def check_mermaid(ctx, archive, records):
    _, stderr = wssniff(ctx, "report", archive, "--format", "mermaid", expect=2)
    check("--conn" in stderr, f"two connections without --conn: {stderr!r}")
    text, _ = wssniff(ctx, "report", archive, "--format", "mermaid", "--conn", "1")
    text = text.decode("utf-8")
    with open(fresh(ctx, "conn1.mmd"), "w") as f:
        f.write(text)
    lines = text.splitlines()
    check(lines[:3] == ["sequenceDiagram", "    participant C as client",
                        "    participant S as server /chat?room=report"], f"header: {lines[:3]}")
    check(lines[3:5] == ["    C->>S: GET /chat?room=report", "    S-->>C: 101"],
          f"handshake lines: {lines[3:5]}")
    statement = re.compile(r"^    (C->>S|S->>C|S-->>C|Note over (C|S|C,S)): [A-Za-z0-9 .,_\-+/=()\[\]*!?@'#;]*$")
    for line in lines[3:]:
        check(statement.match(line), f"not a plain Mermaid statement: {line!r}")
    events = expected_events(records, 1)
    check(len(lines) == 5 + len(events), f"{len(lines)} lines for {len(events)} events")
    for line, (d, op) in zip(lines[5:], events):
        check(line.startswith("    C->>S: " if d == "c2s" else "    S->>C: ") and
              line.split(": ", 1)[1].startswith(op + " "), f"{line!r} for {d} {op}")
    xss = [l for l in lines if "onerror" in l]
    check(len(xss) == 2 and all("<" not in l and '"' not in l for l in xss),
          f"the XSS payload is not escaped: {xss}")
    check(html.unescape(xss[0].split(" B ", 1)[1].replace("#", "&#")).startswith("</script><img"),
          f"the escaped label does not decode to the payload: {xss[0]}")
    check(any(l.endswith("close 12 B code 1000 #60;b#62;bye#60;/b#62;") for l in lines),
          "the close line lacks its code and escaped reason")

    # A long connection: the first 50 events and a note.
    text, _ = wssniff(ctx, "report", archive, "--format", "mermaid", "--conn", "2")
    lines = text.decode("utf-8").splitlines()
    events = expected_events(records, 2)
    check(len(lines) == 5 + 50 + 1 and
          lines[-1] == f"    Note over C,S: {len(events) - 50} more event(s) not drawn",
          f"long connection: {len(lines)} lines, last {lines[-1]!r}")


CASES = [browser, cli]

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, prefix="report"))

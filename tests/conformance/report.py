"""The conformance report: a Markdown table (cases x peers, three verdicts each, summary counts)
and an HTML page in the manner of Autobahn's (coloured cells, case descriptions, details on
click), both written to one folder."""

import html
import json
import os

VERDICTS = ("differential", "bytes", "records")
MARK = {True: "✓", False: "✗", None: "–"}
CATEGORIES = {
    "1": "Framing", "2": "Pings and pongs", "3": "Reserved bits", "4": "Reserved opcodes",
    "5": "Fragmentation", "6": "UTF-8", "7": "Close handling", "9": "Large messages",
    "10": "Auto-fragmentation", "12": "permessage-deflate: payloads",
    "13": "permessage-deflate: parameters",
}


def column(run):
    who = "driver=client" if run["role"] == "client" else "driver=server"
    return f"{run['peer']} ({'server' if run['role'] == 'client' else 'client'})", who


def case_key(case_id):
    return [int(p) for p in case_id.split(".")]


def cell_state(entry):
    if entry is None:
        return "missing"
    if entry["na"]:
        return "na"
    ok = [entry["verdicts"].get(k, [False])[0] for k in VERDICTS]
    return "pass" if all(ok) else "fail"


def behaviour(entry):
    """A short description of what the peer did (through wssniff)."""
    o = entry.get("proxy") or entry.get("direct") or {}
    parts = []
    if o.get("messages"):
        parts.append(f"{len(o['messages'])} msg")
    if o.get("pongs"):
        parts.append(f"{len(o['pongs'])} pong")
    if o.get("close_code") is not None:
        parts.append(f"close {o['close_code']}")
    elif o.get("end"):
        parts.append("no close code")
    if o.get("end") and o.get("end") != "closed":
        parts.append(o["end"])
    return ", ".join(parts)


# What the quirks seen so far come from (checked against the peers' sources and behaviour).
EXPLANATIONS = [
    ("ws", "close 1008", "ws 8.x caps a message at 16384 fragments by default (maxFragments) "
                         "and closes with 1008 'Too many message fragments'"),
    ("websocketpp", "invalid_utf8", "websocketpp 0.8.2 does not fail a text message that "
                                    "arrives in several frames and ends inside a UTF-8 "
                                    "sequence: it echoes the incomplete text"),
    ("chromium", "invalid_close_code", "Chromium accepts close codes that RFC 6455 §7.4 forbids "
                                       "(0, 999, 1004, 1016, 2999, 5000) and answers with the "
                                       "same code"),
]


def explain(peer, what):
    for name, needle, why in EXPLANATIONS:
        if peer == name and needle in what:
            return f"{what} ({why})"
    return what


def quirks(runs):
    """Peer behaviour worth knowing that shows with and without wssniff alike."""
    out = []
    for run in runs:
        name, _ = column(run)
        for e in run.get("cases", []):
            if e["na"] or not e.get("direct") or not e.get("proxy"):
                continue
            o = e["direct"]
            if e.get("quirk"):
                out.append((name, e["id"], e["quirk"]))
            # Frames after a close frame are discarded by design (RFC 6455 §1.4, §5.5.1): an
            # endpoint that ignores them is not lenient.
            violates = [v for v in e["violates"] if v != "frame_after_close"]
            if violates and o.get("close_code") not in (1002, 1007) and \
                    not o.get("peer_closed_first"):
                out.append((name, e["id"], explain(run["peer"], f"accepted a case that violates "
                                           f"{', '.join(violates)}: {behaviour(e)}")))
            elif not e["violates"] and o.get("close_code") not in (None, 1000, 1005) and \
                    o.get("peer_closed_first"):
                out.append((name, e["id"], explain(run["peer"],
                                                   f"failed a valid case: {behaviour(e)}")))
    return out


def totals(runs):
    rows = []
    for run in runs:
        name, who = column(run)
        counts = {k: [0, 0] for k in VERDICTS}
        na = passed = failed = 0
        for e in run.get("cases", []):
            state = cell_state(e)
            if state == "na":
                na += 1
                continue
            passed += state == "pass"
            failed += state == "fail"
            for k in VERDICTS:
                counts[k][0 if e["verdicts"].get(k, [False])[0] else 1] += 1
        rows.append((name, who, run, counts, passed, failed, na))
    return rows


def write(runs, out, title):
    os.makedirs(out, exist_ok=True)
    ids = sorted({e["id"] for r in runs for e in r.get("cases", [])}, key=case_key)
    described = {e["id"]: e for r in runs for e in r.get("cases", [])}
    by_run = [{e["id"]: e for e in r.get("cases", [])} for r in runs]
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(runs, f)
    write_markdown(runs, out, title, ids, described, by_run)
    write_html(runs, out, title, ids, described, by_run)


def write_markdown(runs, out, title, ids, described, by_run):
    lines = [f"# {title}", "",
             "Each case runs twice per peer, directly and through `wssniff proxy`. Verdicts per "
             "cell: **D** differential (the peer's outcome is the same with and without "
             "wssniff), **B** bytes (SHA-256 of what each side sent equals what the other "
             "received), **R** records (wssniff's records match the forwarded bytes). ✓ pass, "
             "✗ fail, n/a not applicable.", "", "## Summary", "",
             "| peer | driver | cases passing | failing | n/a | D ✓/✗ | B ✓/✗ | R ✓/✗ | seconds "
             "(direct + proxy) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, who, run, counts, passed, failed, na in totals(runs):
        if run.get("unavailable"):
            lines.append(f"| {name} | {who} | unavailable: {run['unavailable']} | | | | | | |")
            continue
        lines.append(f"| {name} | {who} | {passed} | {failed} | {na} | "
                     + " | ".join(f"{counts[k][0]}/{counts[k][1]}" for k in VERDICTS)
                     + f" | {run.get('seconds_direct')} + {run.get('seconds_proxy')} |")
    lines += ["", "## Cases", "",
              "| case | description | " + " | ".join(column(r)[0] for r in runs) + " |",
              "|---|---|" + "---|" * len(runs)]
    for cid in ids:
        cells = []
        for run_cases in by_run:
            e = run_cases.get(cid)
            state = cell_state(e)
            if state in ("missing", "na"):
                cells.append("n/a")
            else:
                cells.append(" ".join(f"{k[0].upper()}{MARK[e['verdicts'].get(k, [False])[0]]}"
                                      for k in VERDICTS))
        lines.append(f"| {cid} | {described[cid]['description']} | " + " | ".join(cells) + " |")
    failures = [(column(r)[0], e) for r, rc in zip(runs, by_run) for e in rc.values()
                if cell_state(e) == "fail"]
    lines += ["", "## Failures", ""]
    if not failures:
        lines.append("None.")
    for name, e in failures:
        for k in VERDICTS:
            ok, detail = e["verdicts"].get(k, [False, "not judged"])
            if not ok:
                lines.append(f"- **{e['id']}** {name}, {k}: {detail}")
    lines += ["", "## Peer quirks (shown with and without wssniff)", ""]
    q = quirks(runs)
    if not q:
        lines.append("None.")
    for name, cid, what in q:
        lines.append(f"- {name}, {cid}: {what}")
    na = sorted({(column(r)[0], e["na"]) for r in runs for e in r.get("cases", []) if e["na"]})
    lines += ["", "## Not applicable", ""]
    for name, why in na:
        lines.append(f"- {name}: {why}")
    if not na:
        lines.append("None.")
    with open(os.path.join(out, "index.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


CSS = """
body { font-family: sans-serif; font-size: 13px; margin: 1em 2em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
td, th { border: 1px solid #bbb; padding: 2px 6px; vertical-align: top; }
th { background: #eee; }
td.pass { background: #a6e3a1; } td.fail { background: #f38ba8; cursor: pointer; }
td.na { background: #ddd; color: #666; } td.pass { cursor: pointer; }
td.cat { background: #cdd6f4; font-weight: bold; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: 6px; max-width: 120em; }
.details { display: none; }
"""


def shown(outcome):
    """An outcome for the details panel: long message lists cut to their first entries."""
    if not isinstance(outcome, dict):
        return outcome
    out = dict(outcome)
    for key in ("messages", "pongs"):
        items = out.get(key) or []
        if len(items) > 6:
            out[key] = items[:3] + [f"... {len(items) - 3} more"]
    report = out.get("client_report")
    if isinstance(report, dict) and len(report.get("messages") or []) > 6:
        out["client_report"] = dict(report, messages=report["messages"][:3] +
                                    [f"... {len(report['messages']) - 3} more"])
    return out


def write_html(runs, out, title, ids, described, by_run):
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
             f"<style>{CSS}</style><script>function show(id){{var e=document.getElementById(id);"
             "e.style.display=e.style.display=='block'?'none':'block';location.hash=id;}}"
             "</script></head><body>", f"<h1>{esc(title)}</h1>",
             "<p>Each case runs twice per peer, directly and through <code>wssniff proxy</code>. "
             "Cell: D differential, B bytes, R records (✓ pass, ✗ fail); the peer's behaviour "
             "through wssniff below. Click a cell for details.</p>",
             "<h2>Summary</h2><table><tr><th>peer</th><th>driver</th><th>pass</th><th>fail</th>"
             "<th>n/a</th><th>D ✓/✗</th><th>B ✓/✗</th><th>R ✓/✗</th><th>seconds</th></tr>"]
    for name, who, run, counts, passed, failed, na in totals(runs):
        if run.get("unavailable"):
            parts.append(f"<tr><td>{esc(name)}</td><td>{who}</td><td colspan=7>unavailable: "
                         f"{esc(run['unavailable'])}</td></tr>")
            continue
        parts.append(f"<tr><td>{esc(name)}</td><td>{who}</td><td>{passed}</td><td>{failed}</td>"
                     f"<td>{na}</td>" + "".join(f"<td>{counts[k][0]}/{counts[k][1]}</td>"
                                                for k in VERDICTS)
                     + f"<td>{run.get('seconds_direct')} + {run.get('seconds_proxy')}</td></tr>")
    parts.append("</table><h2>Cases</h2><table><tr><th>case</th><th>description</th>"
                 + "".join(f"<th>{esc(column(r)[0])}<br><small>{column(r)[1]}</small></th>"
                           for r in runs) + "</tr>")
    details = []
    last_cat = None
    for cid in ids:
        cat = cid.split(".")[0]
        if cat != last_cat:
            parts.append(f"<tr><td class=cat colspan={2 + len(runs)}>{cat} "
                         f"{esc(CATEGORIES.get(cat, ''))}</td></tr>")
            last_cat = cat
        parts.append(f"<tr><td>{cid}</td><td>{esc(described[cid]['description'])}</td>")
        for i, run_cases in enumerate(by_run):
            e = run_cases.get(cid)
            state = cell_state(e)
            if state in ("missing", "na"):
                title_text = esc(e["na"]) if e and e["na"] else ""
                parts.append(f"<td class=na title='{title_text}'>n/a</td>")
                continue
            anchor = f"d-{i}-{cid}"
            marks = " ".join(f"{k[0].upper()}{MARK[e['verdicts'].get(k, [False])[0]]}"
                             for k in VERDICTS)
            parts.append(f"<td class={state} onclick=\"show('{anchor}')\">{marks}<br>"
                         f"<small>{esc(behaviour(e))}</small></td>")
            body = {k: e["verdicts"].get(k) for k in VERDICTS}
            details.append(f"<div class=details id='{anchor}'><h3>{cid} — "
                           f"{esc(column(runs[i])[0])}</h3><p>{esc(described[cid]['description'])}"
                           f"</p><pre>{esc(json.dumps(body, indent=2, ensure_ascii=False))}</pre>"
                           f"<p>Outcome without wssniff / through wssniff:</p><pre>"
                           f"{esc(json.dumps(shown(e.get('direct')), indent=1, ensure_ascii=False))}"
                           f"</pre><pre>"
                           f"{esc(json.dumps(shown(e.get('proxy')), indent=1, ensure_ascii=False))}"
                           "</pre></div>")
        parts.append("</tr>")
    parts.append("</table><h2>Peer quirks</h2><ul>")
    for name, cid, what in quirks(runs):
        parts.append(f"<li>{esc(name)}, {cid}: {esc(what)}</li>")
    parts.append("</ul><h2>Details</h2>")
    parts += details
    parts.append("</body></html>")
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write("\n".join(parts))

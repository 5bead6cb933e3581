#!/usr/bin/python3
"""The property test of the filter language: for random records and random expressions E,
`wssniff decode --filter E` writes exactly the lines that `jq 'select(J(E))'` keeps from the
unfiltered output, where J translates E into jq (Debian's jq 1.6).

    filter_property.py WSSNIFF RECORDS_DIR [--seed N] [--expressions N] [--budget SECONDS]

Two random captures (one with a handshake, for hs.*; one without, with a small --max-payload
so that payloads are truncated) are decoded once unfiltered. jq evaluates every J(E) on every
record in one run; then each E is one `wssniff decode --filter E` run over the same capture.
A failure prints the seed, the expression, its jq translation and the first differing line.
"""

import argparse
import concurrent.futures
import json
import os
import random
import re
import string
import subprocess
import sys
import tempfile

from wssniff_kit.checks import CheckFailed, check, log
from wssniff_kit.heads import upgrade_request, upgrade_response, websocket_key
from wssniff_kit.runner import run_within_budget
from wssniff_kit.wire import close_payload, frame

# ---------------------------------------------------------------------------------------------
# Random captures

WORDS = ["hello", "trade", "quote", "price", "héllo wörld ✓", "chat", "a/b", "x", "", "101.5",
         "Trade at 100", "ping", "ÅÄÖ", "tab\there", 'quo"te']


def random_json(rng, depth=0):
    kind = rng.random()
    if depth > 2 or kind < 0.3:
        return rng.choice([rng.randint(-5, 300), rng.choice([0.5, 99.5, 100, 101.5, 1e3]),
                           rng.choice(WORDS), True, False, None])
    if kind < 0.45:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    obj = {}
    for key in rng.sample(["type", "price", "items", "a", "b", "tags", "odd key"],
                          rng.randint(0, 5)):
        if key == "type":
            obj[key] = rng.choice(["trade", "quote", "ping", 7])
        elif key == "price":
            obj[key] = rng.choice([50, 99.5, 100, 101.5, 250, "100"])
        else:
            obj[key] = random_json(rng, depth + 1)
    return obj


def random_text(rng):
    r = rng.random()
    if r < 0.55:
        return json.dumps(random_json(rng), ensure_ascii=rng.random() < 0.5,
                          separators=rng.choice([(",", ":"), (", ", ": ")]))
    if r < 0.8:
        return rng.choice(WORDS) + rng.choice(["", " " + rng.choice(WORDS)])
    # Not JSON: cut JSON, scalars jq and simdjson both refuse.
    return rng.choice(['{"type":', '[1,2', '{"a":1} trailing', "tru", "-", "[1,]"])


LENIENT_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def jq_would_differ(text):
    """jq 1.6's fromjson takes numbers JSON does not ("01.5", "1.", ".5", "+1"), which a cut
    through a number can make; such fragments are avoided rather than translated."""
    if not LENIENT_NUMBER.fullmatch(text):
        return False
    try:
        json.loads(text)
        return False
    except ValueError:
        return True


class Stream:
    def __init__(self, client):
        self.client = client
        self.data = bytearray()
        self.masks = 0

    def add(self, opcode, payload, fin=True, rsv=0, masked=None):
        if masked is None:
            masked = self.client
        mask = None
        if masked:
            self.masks += 1
            mask = bytes([(self.masks * 37 + i * 11) % 256 for i in range(4)])
        self.data += frame(opcode, payload, fin=fin, rsv=rsv, mask=mask)


def random_direction(rng, client, frames):
    s = Stream(client)
    for _ in range(frames):
        r = rng.random()
        if r < 0.5:
            s.add(0x1, random_text(rng).encode())
        elif r < 0.6:
            s.add(0x2, bytes(rng.randrange(256) for _ in range(rng.randint(0, 12))))
        elif r < 0.7:
            text = random_text(rng).encode()
            cut = rng.randint(0, len(text))
            if any(jq_would_differ(part.decode("utf-8", "replace"))
                   for part in (text[:cut], text[cut:])):
                cut = 0
            s.add(0x1, text[:cut], fin=False)
            s.add(0x0, text[cut:])
        elif r < 0.8:
            s.add(rng.choice([0x9, 0xA]), rng.choice([b"", b"p", b"ping"]))
        elif r < 0.85:
            s.add(0x1, b"bad \xff utf-8")  # invalid_utf8, payload as hex
        elif r < 0.9:
            s.add(0x1, b"rsv", rsv=rng.choice([1, 2, 4]))  # reserved_bits
        elif r < 0.93:
            s.add(rng.choice([0x3, 0xB]), b"")  # reserved_opcode
        elif r < 0.96:
            s.add(0x1, b"unmasked?", masked=not client)  # unmasked client / masked server
        else:
            s.add(0x1, rng.choice(WORDS).encode() * rng.randint(1, 6))
    s.add(0x8, close_payload(rng.choice([1000, 1001, 4000]), rng.choice([b"", b"bye", b"done"])))
    return bytes(s.data)


def make_capture(rng, directory, name, handshake, frames):
    c2s, s2c = b"", b""
    if handshake:
        key = websocket_key(rng.randint(0, 1000))
        target = rng.choice(["/ws/chat?room=1", "/ws/feed", "/chat"])
        c2s = upgrade_request("example.com:80", key, target,
                              [("X-Trace-Id", "abc123"), ("Sec-WebSocket-Protocol", "chat, v2"),
                               ("Authorization", "Bearer secret")])
        s2c = upgrade_response(key, [("Sec-WebSocket-Protocol", "chat"), ("X-Server", "one")])
    c2s += random_direction(rng, True, frames)
    s2c += random_direction(rng, False, frames)
    paths = (os.path.join(directory, name + ".c2s"), os.path.join(directory, name + ".s2c"))
    for path, data in zip(paths, (c2s, s2c)):
        with open(path, "wb") as f:
            f.write(data)
    return paths


# ---------------------------------------------------------------------------------------------
# Random expressions, written both in wssniff's language and in jq

STRING_FIELDS = ["type", "dir", "op", "text", "hex", "code", "message", "reason", "close_reason",
                 "mask", "target", "method", "subprotocol", "extensions"]
NUMBER_FIELDS = ["conn", "seq", "offset", "opcode", "len", "close_code", "frames", "bytes_c2s",
                 "bytes_s2c", "frames_c2s", "frames_s2c", "status", "data_len"]
BOOL_FIELDS = ["fin", "rsv1", "rsv2", "rsv3", "masked", "compressed", "truncated", "fatal"]
JSON_PATHS = [[], ["type"], ["price"], ["items", 0], ["items", 1], ["a", "b"], ["tags", 0],
              ["a", 0], ["odd key"], [0], [1, "type"]]
HS_FIELDS = ["target", "status", "subprotocol", "method", "client", "extensions"]
HEADERS = ["x-trace-id", "X-TRACE-ID", "Sec-WebSocket-Protocol", "x-server", "HOST",
           "authorization", "x-absent"]


def jq_index(step):
    return f"[{step}]" if isinstance(step, int) else f"[{json.dumps(step)}]"


def field_for(rng):
    """(wssniff text, jq expression yielding the value or null, the value's pool name)."""
    r = rng.random()
    if r < 0.35:
        name = rng.choice(STRING_FIELDS)
        return name, f".{name}", name
    if r < 0.6:
        name = rng.choice(NUMBER_FIELDS)
        return name, f".{name}", name
    if r < 0.72:
        name = rng.choice(BOOL_FIELDS)
        return name, f".{name}", name
    if r < 0.9:
        path = rng.choice(JSON_PATHS)
        text = "json"
        for step in path:
            if isinstance(step, int):
                text += f"[{step}]"
            elif step.isidentifier() and rng.random() < 0.7:
                text += "." + step
            else:
                text += f"[{json.dumps(step)}]"
        jq_path = "".join(jq_index(s) for s in path)
        return text, f"(.text | try (fromjson | .{jq_path}) catch null)", "json:" + text
    if rng.random() < 0.6:
        name = rng.choice(HS_FIELDS)
        return f"hs.{name}", f"$hs.{name}", "hs." + name
    header = rng.choice(HEADERS)
    jq = (f"([$hs.request_headers[]?, $hs.response_headers[]? | select(.[0] | ascii_downcase "
          f"== {json.dumps(header.lower())}) | .[1]] | .[0])")
    return f"hs.header[{json.dumps(header)}]", jq, "header:" + header.lower()


def jq_type(value):
    return {bool: "boolean", int: "number", float: "number", str: "string"}[type(value)]


def literal_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return json.dumps(value)


class Pools:
    """Values seen in the unfiltered records, per field, so that comparisons hit."""

    def __init__(self):
        self.values = {}

    def add(self, key, value):
        if value is not None and not isinstance(value, (list, dict)):
            self.values.setdefault(key, set()).add(value)

    def pick(self, rng, key):
        seen = sorted(self.values.get(key, ()), key=repr)
        if seen and rng.random() < 0.75:
            return rng.choice(seen)
        return rng.choice([0, 1, 3, 100, 101.5, -1, 1000, "text", "trade", "", "c2s", "s2c",
                           "frame", "error", True, False, "abc123", "/ws/chat?room=1"])


def random_regex(rng, sample):
    letters = [c for c in str(sample) if c.isalnum() and c.isascii()] or ["a"]
    start = rng.randrange(len(letters))
    core = "".join(letters[start:start + rng.randint(1, 3)])
    pattern = rng.choice(["{}", "^{}", "{}$", "{}.*", "[0-9]+", "^[a-z]+$", "{}|x", "^.{{2}}",
                          "(a+)+$"]).format(core)
    return pattern, rng.random() < 0.3


def test_for(rng, pools):
    text, jq, pool = field_for(rng)
    value_of = f"({jq})"
    r = rng.random()
    if r < 0.15:
        return text, f"({value_of} | . != null and . != false)", 4
    if r < 0.65:
        op = rng.choice(["==", "!=", "<", "<=", ">", ">="])
        value = pools.pick(rng, pool)
        if isinstance(value, bool) and op not in ("==", "!="):
            value = rng.choice([1, "x"])
        return (f"{text} {op} {literal_text(value)}",
                f"({value_of} | type == \"{jq_type(value)}\" and . {op} {json.dumps(value)})", 4)
    if r < 0.75:
        sample = str(pools.pick(rng, pool))
        start = rng.randint(0, len(sample))
        part = sample[start:start + rng.randint(0, 4)]
        return (f"{text} contains {json.dumps(part)}",
                f"({value_of} | type == \"string\" and contains({json.dumps(part)}))", 4)
    if r < 0.87:
        pattern, insensitive = random_regex(rng, pools.pick(rng, pool))
        flags = "i" if insensitive else ""
        jq_test = f"test({json.dumps(pattern)}; \"i\")" if insensitive else \
            f"test({json.dumps(pattern)})"
        return (f"{text} matches /{pattern}/{flags}",
                f"({value_of} | type == \"string\" and {jq_test})", 4)
    members, jq_members = [], []
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.3:
            low = rng.choice([0, 1, 2, 10, 99.5, 100])
            high = low + rng.choice([0, 1, 5, 100, 1000])
            members.append(f"{literal_text(low)}..{literal_text(high)}")
            jq_members.append(f"($x | type == \"number\" and . >= {low} and . <= {high})")
        else:
            value = pools.pick(rng, pool)
            members.append(literal_text(value))
            jq_members.append(f"($x | type == \"{jq_type(value)}\" and . == {json.dumps(value)})")
    return (f"{text} in {{{', '.join(members)}}}",
            f"({value_of} as $x | ({' or '.join(jq_members)}))", 4)


PRECEDENCE = {"or": 1, "and": 2, "not": 3}


def expression_for(rng, pools, depth=0):
    """(text, jq, precedence of the text's top operator)."""
    r = rng.random()
    if depth >= 3 or r < 0.35:
        if rng.random() < 0.03:
            value = rng.choice([True, False])
            return literal_text(value), literal_text(value), 4
        return test_for(rng, pools)
    if r < 0.5:
        text, jq, prec = expression_for(rng, pools, depth + 1)
        if prec < 3 or rng.random() < 0.2:
            text = f"({text})"
        return f"not {text}", f"({jq} | not)", 3
    op = "and" if r < 0.75 else "or"
    parts = []
    for _ in range(2):
        text, jq, prec = expression_for(rng, pools, depth + 1)
        if prec <= PRECEDENCE[op] and (prec < PRECEDENCE[op] or rng.random() < 0.3):
            text = f"({text})"
        parts.append((text, jq))
    return (f"{parts[0][0]} {op} {parts[1][0]}", f"({parts[0][1]} {op} {parts[1][1]})",
            PRECEDENCE[op])


def collect_pools(records):
    pools = Pools()
    for r in records:
        for key, value in r.items():
            pools.add(key, value)
        text = r.get("text")
        try:
            doc = json.loads(text) if text is not None else None
        except ValueError:
            doc = None
        for path in JSON_PATHS:
            at = doc
            for step in path:
                try:
                    at = at[step]
                except (KeyError, IndexError, TypeError):
                    at = None
                    break
            name = "json" + "".join(f".{s}" if isinstance(s, str) else f"[{s}]" for s in path)
            pools.add("json:" + name, at)
        if r["type"] == "handshake":
            for key in HS_FIELDS:
                pools.add("hs." + key, r.get(key))
            for name, value in r["request_headers"] + r["response_headers"]:
                pools.add("header:" + name.lower(), value)
    return pools


# ---------------------------------------------------------------------------------------------


def decode(wssniff, paths, options, expression=None):
    argv = [wssniff, "decode", "--c2s", paths[0], "--s2c", paths[1]] + options
    if expression is not None:
        argv += ["--filter", expression]
    done = subprocess.run(argv, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise CheckFailed(f"{' '.join(argv)}: exit {done.returncode}: "
                          f"{done.stderr.decode(errors='replace')}")
    return done.stdout.decode().splitlines()


def property_holds(wssniff, records_dir, seed, count):
    rng = random.Random(seed)
    pairs = 0
    selective = 0
    with tempfile.TemporaryDirectory() as work:
        inputs = [("with-handshake", True, ["--emit", "both"]),
                  ("no-handshake", False, ["--emit", "both", "--no-handshake",
                                           "--max-payload", "24"])]
        for name, handshake, options in inputs:
            paths = make_capture(rng, work, name, handshake, 60)
            lines = decode(wssniff, paths, options)
            with open(os.path.join(records_dir, f"filter-property-{name}.ndjson"), "w") as f:
                f.write("\n".join(lines) + "\n")
            records = [json.loads(line) for line in lines]
            hs = next((r for r in records if r["type"] == "handshake"), None)
            pools = collect_pools(records)
            # json.* pools are keyed by the path as written; the generator may write a path in
            # its other spelling (json["a"] for json.a), which then draws from the generic pool.
            expressions = [expression_for(rng, pools)[:2] for _ in range(count)]
            program = "[" + ", ".join(jq for _, jq in expressions) + "]"
            done = subprocess.run(["jq", "-c", "--argjson", "hs", json.dumps(hs), program],
                                  input="\n".join(lines).encode(), capture_output=True,
                                  timeout=60)
            check(done.returncode == 0, f"jq failed: {done.stderr.decode()[:2000]}")
            verdicts = [json.loads(line) for line in done.stdout.decode().splitlines()]
            check(len(verdicts) == len(lines), f"jq gave {len(verdicts)} verdicts for "
                                               f"{len(lines)} records")

            def run(i):
                return decode(wssniff, paths, options, expressions[i][0])

            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                outputs = list(pool.map(run, range(count)))
            for i, ((text, jq), got) in enumerate(zip(expressions, outputs)):
                expected = [line for line, v in zip(lines, verdicts) if v[i]]
                pairs += len(lines)
                if 0 < len(expected) < len(lines):
                    selective += 1
                if got != expected:
                    first = next((k for k, (a, b) in enumerate(zip(got, expected)) if a != b),
                                 min(len(got), len(expected)))
                    raise CheckFailed(
                        f"seed {seed}, {name}, expression {i}: {text}\n  jq: select({jq})\n"
                        f"  wssniff kept {len(got)} records, jq {len(expected)}; first "
                        f"difference at kept record {first}:\n"
                        f"  wssniff: {got[first] if first < len(got) else '(none)'}\n"
                        f"  jq:      {expected[first] if first < len(expected) else '(none)'}")
            log(f"{name}: {len(lines)} records x {count} expressions agree")
    log(f"{pairs} record x expression pairs; {selective} of {2 * count} expressions kept some "
        f"records but not all")
    # A property that holds because everything or nothing matched says little.
    check(selective >= count // 2, f"only {selective} expressions were selective")


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("wssniff")
    parser.add_argument("records_dir")
    parser.add_argument("--seed", type=int, default=15)
    # Fewer under a sanitizer, where each decode run costs several times more.
    slow = float(os.environ.get("WSSNIFF_RSS_FACTOR", "1")) > 1
    parser.add_argument("--expressions", type=int, default=15 if slow else 150,
                        help="per capture (two captures)")
    parser.add_argument("--budget", type=float, default=50)
    args = parser.parse_args()
    os.makedirs(args.records_dir, exist_ok=True)
    return run_within_budget(
        "filter property", args.budget,
        lambda: property_holds(args.wssniff, args.records_dir, args.seed, args.expressions))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Validates wssniff NDJSON files against schemas/record.schema.json.

    validate.py [--schema FILE] [--max-reports N] PATH...   files, or directories of *.ndjson
    validate.py --self-test [--schema FILE]

Each line must be valid UTF-8, one JSON object (no duplicate keys, no NaN), and match the
schema; the schema itself is checked against the 2020-12 metaschema first. Exits 1 on the first
problems found (reported as file:line: message) or when no record was seen at all: a validator
that saw nothing proves nothing.

Needs python3-jsonschema (Debian), which the pyenv python3 on PATH may not see: run it with
/usr/bin/python3.
"""

import argparse
import contextlib
import copy
import io
import json
import multiprocessing
import os
import re
import sys
import tempfile
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.validators import extend

DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "record.schema.json"

# Error messages quote the instance; a 1 MiB payload should not flood the log.
MESSAGE_LIMIT = 400


class LineProblem(Exception):
    pass


# The payload patterns' repeated groups take Python's re seconds on a payload of megabytes (8 MB
# of hex: 3.7 s, against 0.05 s for a character class); the suites write hundreds of such
# records. The same strings match these equivalents: a run of the class whose length is a
# multiple of the group (base64: padding only at its end), and, as re.search reads `$`, also
# that string followed by one newline.
_HEX_RUN = re.compile(r"[0-9a-f]*")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _whole_groups(run, group):
    def matches(s):
        bodies = (s, s[:-1]) if s.endswith("\n") else (s,)
        return any(len(body) % group == 0 and run.fullmatch(body) for body in bodies)
    return matches


FAST_PATTERNS = {
    "^(?:[0-9a-f]{2})*$": _whole_groups(_HEX_RUN, 2),
    "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$":
        _whole_groups(_BASE64_RUN, 4),
}


def _pattern(validator, pattern, instance, schema):
    """jsonschema's `pattern` keyword (re.search), with FAST_PATTERNS' equivalents."""
    if not validator.is_type(instance, "string"):
        return
    fast = FAST_PATTERNS.get(pattern)
    if not (fast(instance) if fast else re.search(pattern, instance)):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def load_validator(schema_path):
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    return extend(Draft202012Validator, {"pattern": _pattern})(schema)


# Strings FAST_PATTERNS must judge as re.search does.
PATTERN_PROBES = ["", "\n", "ab", "ab\n", "a", "abc", "aB", "ab\n\n", "\nab", "0f" * 99,
                  "0f" * 99 + "0", "AB==", "ABC=", "ABCD", "A===", "====", "AB=C", "ABCDE",
                  "AB==\n", "AB==AB==", "ABCD\n\n", "+/+/", "ab cd", "ABC=\n", "AB\u00e9="]


def reject_duplicates(pairs):
    # json.loads keeps the last of two equal keys; a writer that emits both is broken.
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise LineProblem(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def reject_constant(name):
    raise LineProblem(f"{name} is not JSON")


def parse_line(raw):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LineProblem(f"not valid UTF-8 at byte {e.start}") from None
    try:
        return json.loads(text, object_pairs_hook=reject_duplicates, parse_constant=reject_constant)
    except json.JSONDecodeError as e:
        raise LineProblem(f"not JSON: {e}") from None


def shorten(message):
    return message if len(message) <= MESSAGE_LIMIT else message[:MESSAGE_LIMIT] + "..."


def schema_problem(validator, record):
    """The validator's most relevant complaint about `record`, or None when it is valid."""
    error = best_match(validator.iter_errors(record))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(record)"
    rule = "/".join(str(p) for p in error.absolute_schema_path)
    message = error.message
    # "not" and "anyOf" messages start with the whole record, which would push the rule they
    # broke past the length limit: name the rule instead.
    if isinstance(error.instance, (dict, list)) and message.startswith(repr(error.instance)):
        message = "value" + message[len(repr(error.instance)):]
        description = error.schema.get("description") if isinstance(error.schema, dict) else None
        if description:
            message += f" ({description})"
        elif error.validator in ("anyOf", "oneOf"):
            message += f" ({json.dumps(error.validator_value)})"
    return shorten(f"{message} [at {where}; schema {rule}]")


class Checker:
    def __init__(self, validator):
        self.validator = validator
        self.records = 0
        self.files = 0
        self.problems = []  # (file, line, message)
        # Suites decode the same bytes at every chunk size, so most lines repeat: validate each
        # distinct line once.
        self.verdicts = {}

    def check_file(self, path):
        self.files += 1
        data = Path(path).read_bytes()
        if not data:
            return
        lines = data.split(b"\n")
        if lines[-1] != b"":
            self.problems.append((path, len(lines), "last line does not end in a newline"))
        else:
            lines.pop()
        for number, raw in enumerate(lines, start=1):
            self.records += 1
            verdict = self.verdicts.get(raw, ...)
            if verdict is ...:
                verdict = self.judge(raw)
                self.verdicts[raw] = verdict
            if verdict is not None:
                self.problems.append((path, number, verdict))

    def prejudge(self, files, schema_path, workers):
        """Judges every distinct line of `files` in `workers` processes first (the schema check
        is the slow part, and the suites write hundreds of megabytes); check_file then only
        looks the verdicts up."""
        distinct = set()
        for path in files:
            data = Path(path).read_bytes()
            distinct.update(data.split(b"\n"))
        distinct.discard(b"")  # an empty line is judged, and reported, by check_file
        with multiprocessing.Pool(workers, initializer=_start_worker,
                                  initargs=(schema_path,)) as pool:
            lines = list(distinct)
            for raw, verdict in zip(lines, pool.imap(_judge_in_worker, lines, chunksize=512)):
                self.verdicts[raw] = verdict

    def judge(self, raw):
        if not raw:
            return "empty line"
        try:
            record = parse_line(raw)
        except LineProblem as e:
            return str(e)
        return schema_problem(self.validator, record)


_worker_checker = None


def _start_worker(schema_path):
    global _worker_checker
    _worker_checker = Checker(load_validator(schema_path))


def _judge_in_worker(raw):
    return _worker_checker.judge(raw)


def ndjson_files(paths):
    files = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files.extend(sorted(path.glob("*.ndjson")))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{p}: no such file or directory")
    return files


def validate(validator, paths, max_reports, schema_path=None):
    checker = Checker(validator)
    files = ndjson_files(paths)
    workers = min(os.cpu_count() or 1, 4)
    if schema_path is not None and workers > 1:
        checker.prejudge(files, schema_path, workers)
    for f in files:
        checker.check_file(f)
    for path, line, message in checker.problems[:max_reports]:
        print(f"{path}:{line}: {message}", file=sys.stderr)
    if len(checker.problems) > max_reports:
        print(f"... and {len(checker.problems) - max_reports} more problems", file=sys.stderr)
    if checker.problems:
        print(f"{len(checker.problems)} of {checker.records} records invalid in {checker.files} "
              f"files", file=sys.stderr)
        return 1
    if checker.records == 0:
        print(f"no records found in {checker.files} files ({' '.join(map(str, paths))})",
              file=sys.stderr)
        return 1
    print(f"{checker.records} records valid in {checker.files} files "
          f"({len(checker.verdicts)} distinct)")
    return 0


# --- self-test -----------------------------------------------------------------------------
# Each invalid case changes one thing in a record that is first shown to be valid, so its
# rejection can only come from that change.

VALID = {
    "handshake": {
        "type": "handshake", "conn": 1, "method": "GET", "target": "/chat", "status": 101,
        "request_headers": [["Host", "127.0.0.1:9000"], ["Authorization", "Bearer [redacted]"]],
        "response_headers": [["Upgrade", "websocket"]],
        "subprotocol": "chat", "extensions": None, "deflate": None,
    },
    "live_handshake": {
        "type": "handshake", "conn": 3, "ts": "2026-11-26T19:05:53.123456Z",
        "client": "127.0.0.1:50312", "upstream": "[::1]:9000", "method": "GET", "target": "/",
        "status": 101, "request_headers": [], "response_headers": [],
        "subprotocol": None, "extensions": "permessage-deflate; client_max_window_bits=10",
        "deflate": {"server_no_context_takeover": False, "client_no_context_takeover": True,
                    "server_max_window_bits": 15, "client_max_window_bits": 10},
        "tls": {"client": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384"}},
    },
    "masked_text_frame": {
        "type": "frame", "conn": 1, "dir": "c2s", "seq": 0, "offset": 0, "fin": True,
        "rsv1": False, "rsv2": False, "rsv3": False, "opcode": 1, "op": "text", "masked": True,
        "mask": "37fa213d", "len": 5, "text": "Hello",
    },
    "truncated_binary_frame": {
        "type": "frame", "conn": 1, "dir": "s2c", "seq": 2, "offset": 26, "fin": True,
        "rsv1": False, "rsv2": False, "rsv3": False, "opcode": 2, "op": "binary",
        "masked": False, "len": 70000, "hex": "00010203", "truncated": True,
    },
    "close_frame": {
        "type": "frame", "conn": 1, "dir": "s2c", "seq": 5, "offset": 70062, "fin": True,
        "rsv1": False, "rsv2": False, "rsv3": False, "opcode": 8, "op": "close",
        "masked": False, "len": 5, "base64": "A+hieWU=", "close_code": 1000, "close_reason": "bye",
    },
    "compressed_frame": {
        "type": "frame", "conn": 2, "ts": "2026-11-26T19:05:53.000001Z", "dir": "c2s", "seq": 0,
        "offset": 0, "fin": True, "rsv1": True, "rsv2": False, "rsv3": False, "opcode": 1,
        "op": "text", "masked": True, "mask": "0a1b2c3d", "len": 7, "compressed": True,
        "data_len": 5, "text": "Hello",
    },
    "reserved_frame": {
        "type": "frame", "conn": 1, "dir": "c2s", "seq": 0, "offset": 0, "fin": True,
        "rsv1": False, "rsv2": False, "rsv3": False, "opcode": 11, "op": "reserved",
        "masked": True, "mask": "00000000", "len": 0,
    },
    "message": {
        "type": "message", "conn": 1, "dir": "c2s", "seq": 3, "op": "text", "frames": 2,
        "len": 11, "compressed": False, "text": "frag-mented",
    },
    "error": {
        "type": "error", "conn": 1, "code": "reserved_opcode",
        "message": "frame uses a reserved opcode", "fatal": True, "dir": "c2s", "offset": 12,
    },
    "close": {
        "type": "close", "conn": 1, "reason": "end_of_input", "bytes_c2s": 325,
        "bytes_s2c": 70228, "frames_c2s": 7, "frames_s2c": 6,
    },
}


DELETE = object()


def changed(base, **fields):
    record = copy.deepcopy(VALID[base])
    for key, value in fields.items():
        if value is DELETE:
            del record[key]
        else:
            record[key] = value
    return record


INVALID = [
    ("unknown type", changed("close", type="closed")),
    ("no type", changed("close", type=DELETE)),
    ("frame with both text and hex", changed("masked_text_frame", hex="48656c6c6f")),
    ("frame with both hex and base64", changed("truncated_binary_frame", base64="AAECAw==")),
    ("masked frame without mask", changed("masked_text_frame", mask=DELETE)),
    ("unmasked frame with a mask", changed("truncated_binary_frame", mask="00000000")),
    ("mask in upper case", changed("masked_text_frame", mask="37FA213D")),
    ("ts without microseconds", changed("compressed_frame", ts="2026-11-26T19:05:53Z")),
    ("ts with milliseconds", changed("compressed_frame", ts="2026-11-26T19:05:53.123Z")),
    ("ts not in UTC", changed("compressed_frame", ts="2026-11-26T19:05:53.123456+01:00")),
    ("misspelt field", changed("masked_text_frame", lenght=5)),
    ("field from another record type", changed("message", offset=0)),
    ("conn 0", changed("close", conn=0)),
    ("negative offset", changed("masked_text_frame", offset=-1)),
    ("opcode 16", changed("reserved_frame", opcode=16)),
    ("op not matching opcode", changed("masked_text_frame", op="binary")),
    ("hex in upper case", changed("truncated_binary_frame", hex="0A0B")),
    ("hex with an odd digit count", changed("truncated_binary_frame", hex="000")),
    ("base64 without padding", changed("close_frame", base64="A+hieWU")),
    ("truncated without a payload field", changed("truncated_binary_frame", hex=DELETE)),
    ("truncated false", changed("truncated_binary_frame", truncated=False)),
    ("close_code on a text frame", changed("masked_text_frame", close_code=1000, close_reason="")),
    ("close_code without close_reason", changed("close_frame", close_reason=DELETE)),
    ("close_code 65536", changed("close_frame", close_code=65536)),
    ("data_len without compressed", changed("masked_text_frame", data_len=5)),
    ("compressed without data_len", changed("compressed_frame", data_len=DELETE)),
    ("message op ping", changed("message", op="ping")),
    ("message of 0 frames", changed("message", frames=0)),
    ("message without compressed", changed("message", compressed=DELETE)),
    ("status 99", changed("handshake", status=99)),
    ("header pair of three strings", changed("handshake", request_headers=[["a", "b", "c"]])),
    ("header as an object", changed("handshake", response_headers=[{"Upgrade": "websocket"}])),
    ("deflate window bits 16", changed("live_handshake", deflate={
        "server_no_context_takeover": False, "client_no_context_takeover": False,
        "server_max_window_bits": 16, "client_max_window_bits": 15})),
    ("deflate with an unknown parameter", changed("live_handshake", deflate={
        "server_no_context_takeover": False, "client_no_context_takeover": False,
        "server_max_window_bits": 15, "client_max_window_bits": 15, "window": 1})),
    ("upstream without a port", changed("live_handshake", upstream="example.com")),
    ("handshake without deflate", changed("handshake", deflate=DELETE)),
    ("error code in CamelCase", changed("error", code="ReservedOpcode")),
    ("error dir sideways", changed("error", dir="both")),
    ("close reason unknown", changed("close", reason="finished")),
    ("close without frames_s2c", changed("close", frames_s2c=DELETE)),
]

# Whole lines, for the checks made before the schema.
BAD_LINES = [
    ("invalid UTF-8", b'{"type":"close","conn":1,"reason":"\xff"}'),
    ("duplicate key", b'{"type":"close","type":"close","conn":1,"reason":"shutdown",'
                      b'"bytes_c2s":0,"bytes_s2c":0,"frames_c2s":0,"frames_s2c":0}'),
    ("NaN", b'{"type":"close","conn":NaN,"reason":"shutdown","bytes_c2s":0,"bytes_s2c":0,'
            b'"frames_c2s":0,"frames_s2c":0}'),
    ("not JSON", b'{"type":"close",'),
    ("empty line", b""),
]


def self_test(validator):
    failures = []
    for pattern, fast in FAST_PATTERNS.items():
        for probe in PATTERN_PROBES:
            if bool(fast(probe)) != bool(re.search(pattern, probe)):
                failures.append(f"the fast pattern {pattern!r} judges {probe!r} otherwise")
    for name, record in VALID.items():
        problem = schema_problem(validator, record)
        if problem is not None:
            failures.append(f"valid record '{name}' was rejected: {problem}")
    for name, record in INVALID:
        if schema_problem(validator, record) is None:
            failures.append(f"invalid record '{name}' was accepted: {json.dumps(record)}")

    # The file checks, through the same path the real runs take.
    with tempfile.TemporaryDirectory() as tmp:
        good = os.path.join(tmp, "good.ndjson")
        with open(good, "w", encoding="utf-8") as f:
            for record in VALID.values():
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        checker = Checker(validator)
        checker.check_file(good)
        if checker.problems or checker.records != len(VALID):
            failures.append(f"file of {len(VALID)} valid records: {checker.records} read, "
                            f"problems {checker.problems}")
        for name, raw in BAD_LINES:
            bad = os.path.join(tmp, "bad.ndjson")
            Path(bad).write_bytes(json.dumps(VALID["close"]).encode() + b"\n" + raw + b"\n")
            checker = Checker(validator)
            checker.check_file(bad)
            if [line for _, line, _ in checker.problems] != [2]:
                failures.append(f"line with {name}: expected a problem on line 2, got "
                                f"{checker.problems}")
        unterminated = os.path.join(tmp, "unterminated.ndjson")
        Path(unterminated).write_bytes(json.dumps(VALID["close"]).encode())
        checker = Checker(validator)
        checker.check_file(unterminated)
        if not checker.problems:
            failures.append("a file whose last line has no newline was accepted")
        empty_dir = os.path.join(tmp, "empty")
        os.mkdir(empty_dir)
        with contextlib.redirect_stderr(io.StringIO()):
            empty_dir_status = validate(validator, [empty_dir], 5)
        if empty_dir_status != 1:
            failures.append("a directory without records was accepted")

    for f in failures:
        print(f"self-test: {f}", file=sys.stderr)
    if failures:
        return 1
    print(f"self-test: {len(VALID)} valid records accepted, {len(INVALID)} invalid records and "
          f"{len(BAD_LINES) + 1} bad lines rejected")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="NDJSON files, or directories of *.ndjson")
    parser.add_argument("--schema", default=str(DEFAULT_SCHEMA))
    parser.add_argument("--max-reports", type=int, default=10,
                        help="how many invalid records to print")
    parser.add_argument("--self-test", action="store_true",
                        help="check that the schema accepts and rejects known records")
    args = parser.parse_args()
    try:
        validator = load_validator(args.schema)
    except (OSError, json.JSONDecodeError) as e:
        print(f"validate.py: cannot load schema {args.schema}: {e}", file=sys.stderr)
        return 1
    except SchemaError as e:
        print(f"validate.py: {args.schema} is not a valid 2020-12 schema: {e.message} "
              f"[at {'/'.join(map(str, e.absolute_path))}]", file=sys.stderr)
        return 1
    if args.self_test:
        return self_test(validator)
    if not args.paths:
        parser.error("no NDJSON files or directories given")
    try:
        return validate(validator, args.paths, args.max_reports, args.schema)
    except OSError as e:
        print(f"validate.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

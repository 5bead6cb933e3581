#!/bin/bash
# The command-line contract (DESIGN.md): exit codes, one-line errors, --output, and the records
# of the example capture.
#   cli_test.sh CASE WSSNIFF SOURCE_DIR WORK_DIR VERSION
# Each case runs its checks, reports every one that fails, and exits 1 if any did.
set -u

case_name=$1 wssniff=$2 source_dir=$3 work=$4 version=$5

examples=$source_dir/examples
expected=$source_dir/tests/cli/chat.expected.ndjson
chat=(--c2s "$examples/chat.c2s" --s2c "$examples/chat.s2c")

rm -rf "$work"
mkdir -p "$work"
# A group- or world-readable --output file must then come from wssniff, not from the umask.
umask 022

failures=0
fail() {
    echo "FAIL [$case_name]: $*" >&2
    failures=$((failures + 1))
}

# Runs wssniff; leaves $status, $work/stdout and $work/stderr.
run() {
    "$wssniff" "$@" >"$work/stdout" 2>"$work/stderr"
    status=$?
    echo "+ wssniff $* -> exit $status" >&2
}

expect_status() {
    [ "$status" -eq "$1" ] || fail "exit status $status, expected $1 (stderr: $(head -c 300 "$work/stderr"))"
}

expect_empty() {
    [ ! -s "$work/$1" ] || fail "$1 is not empty: $(head -c 300 "$work/$1")"
}

# Usage and runtime errors: exactly one newline-terminated line on stderr, naming each of the
# given strings, and nothing on stdout.
expect_one_error_line() {
    local lines
    lines=$(wc -l <"$work/stderr")
    if [ "$lines" -ne 1 ] || [ "$(tail -c 1 "$work/stderr" | od -An -c | tr -d ' ')" != '\n' ]; then
        fail "stderr is not one line: $(head -c 600 "$work/stderr")"
    fi
    [ "$(wc -c <"$work/stderr")" -gt 1 ] || fail "stderr line is empty"
    local needle
    for needle in "$@"; do
        grep -qF -- "$needle" "$work/stderr" || fail "stderr does not mention '$needle': $(cat "$work/stderr")"
    done
    expect_empty stdout
}

mode_of() {
    stat -c %a "$1"
}

case "$case_name" in
help)
    run --help
    expect_status 0
    grep -qw decode "$work/stdout" || fail "--help does not mention the decode command"
    expect_empty stderr
    run decode --help
    expect_status 0
    for option in --c2s --s2c --no-handshake --output --emit --payload --max-payload --no-redact; do
        grep -qF -- "$option" "$work/stdout" || fail "decode --help does not mention $option"
    done
    expect_empty stderr
    ;;
version)
    run --version
    expect_status 0
    [ "$(cat "$work/stdout")" = "wssniff $version" ] || fail "--version printed '$(cat "$work/stdout")', expected 'wssniff $version'"
    [ "$(wc -l <"$work/stdout")" -eq 1 ] || fail "--version output is not one line"
    expect_empty stderr
    ;;
no_arguments)
    run
    expect_status 2
    expect_one_error_line
    ;;
unknown_flag)
    run --bogus-flag
    expect_status 2
    expect_one_error_line
    run decode "${chat[@]}" --bogus-flag
    expect_status 2
    expect_one_error_line --bogus-flag
    ;;
payload_bogus)
    run decode "${chat[@]}" --payload bogus
    expect_status 2
    expect_one_error_line --payload bogus
    ;;
emit_bogus)
    run decode "${chat[@]}" --emit bogus
    expect_status 2
    expect_one_error_line --emit bogus
    ;;
missing_capture)
    run decode --c2s "$work/no-such.c2s" --s2c "$examples/chat.s2c"
    expect_status 1
    expect_one_error_line "$work/no-such.c2s"
    run decode --c2s "$examples/chat.c2s" --s2c "$work/no-such.s2c"
    expect_status 1
    expect_one_error_line "$work/no-such.s2c"
    ;;
one_capture_without_no_handshake)
    run decode --c2s "$examples/chat.c2s"
    expect_status 2
    expect_one_error_line --s2c
    run decode --s2c "$examples/chat.s2c"
    expect_status 2
    expect_one_error_line --c2s
    ;;
output_new_file)
    run decode "${chat[@]}" --emit both
    expect_status 0
    cp "$work/stdout" "$work/records-from-stdout"
    run decode "${chat[@]}" --emit both --output "$work/records.ndjson"
    expect_status 0
    expect_empty stdout
    expect_empty stderr
    if [ ! -f "$work/records.ndjson" ]; then
        fail "--output did not create the file"
    else
        [ "$(mode_of "$work/records.ndjson")" = 600 ] || fail "new --output file has mode $(mode_of "$work/records.ndjson"), expected 600"
        cmp -s "$work/records-from-stdout" "$work/records.ndjson" || fail "--output file differs from stdout"
        [ -s "$work/records.ndjson" ] || fail "--output file is empty"
    fi
    ;;
output_existing_file)
    run decode "${chat[@]}" --emit both
    expect_status 0
    cp "$work/stdout" "$work/records-from-stdout"
    # Longer than the records, so bytes left over from it would show.
    head -c 200000 /dev/zero | tr '\0' '#' >"$work/records.ndjson"
    chmod 0644 "$work/records.ndjson"
    run decode "${chat[@]}" --emit both --output "$work/records.ndjson"
    expect_status 0
    expect_empty stdout
    expect_empty stderr
    [ "$(mode_of "$work/records.ndjson")" = 600 ] || fail "existing 0644 --output file has mode $(mode_of "$work/records.ndjson") afterwards, expected 600"
    cmp -s "$work/records-from-stdout" "$work/records.ndjson" || fail "--output file differs from stdout (not truncated?)"
    ;;
output_unwritable)
    run decode "${chat[@]}" --output "$work/no-such-dir/records.ndjson"
    expect_status 1
    expect_one_error_line "$work/no-such-dir/records.ndjson"
    ;;
output_full)
    # A device that takes no bytes: the records are lost, and the one line says why.
    "$wssniff" decode "${chat[@]}" >/dev/full 2>"$work/stderr"
    status=$?
    : >"$work/stdout"
    expect_status 1
    expect_one_error_line "cannot write records: No space left on device"
    ;;
golden)
    run decode "${chat[@]}" --emit both
    expect_status 0
    expect_empty stderr
    if ! cmp -s "$expected" "$work/stdout"; then
        fail "records differ from $expected:"
        diff -u "$expected" "$work/stdout" | cut -c1-300 | head -n 60 >&2
    fi
    ;;
demo)
    # The main job: a whole session in one command, NDJSON on stdout, quickly.
    start=$(date +%s%N)
    run demo --emit both
    elapsed_ms=$((($(date +%s%N) - start) / 1000000))
    expect_status 0
    [ "$elapsed_ms" -lt 10000 ] || fail "demo took ${elapsed_ms} ms"
    /usr/bin/python3 - "$work/stdout" <<'PY' || fail "demo records are not what the script plays"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
frames = [r for r in records if r["type"] == "frame"]
c2s = [(f["opcode"], f["fin"]) for f in frames if f["dir"] == "c2s"]
assert records[0]["type"] == "handshake" and records[0]["status"] == 101, records[0]
assert records[-1]["type"] == "close", records[-1]
# text, UTF-8 text, binary, three fragments with a ping between, 70 KB, close
assert c2s == [(1, True), (1, True), (2, True), (1, False), (9, True), (0, False), (0, True),
               (1, True), (8, True)], c2s
assert any(f["len"] > 65535 for f in frames), "no frame with a 64-bit length"
assert any(f["op"] == "pong" for f in frames), "no pong"
closes = [f for f in frames if f["op"] == "close"]
assert len(closes) == 2 and all("close_code" in f for f in closes), closes
messages = [r for r in records if r["type"] == "message" and r["dir"] == "c2s"]
assert [m["frames"] for m in messages] == [1, 1, 1, 3, 1], messages
PY
    ;;
proxy_bad_upstream)
    run proxy --upstream http://127.0.0.1:1
    expect_status 2
    expect_one_error_line "--upstream"
    ;;
proxy_missing_upstream)
    run proxy --listen 127.0.0.1:0
    expect_status 2
    expect_one_error_line "--upstream"
    ;;
proxy_bad_listen)
    run proxy --upstream ws://127.0.0.1:1 --listen nonsense
    expect_status 2
    expect_one_error_line "--listen"
    ;;
proxy_listen_in_use)
    # A port that is taken: bind it with a listener of our own first.
    /usr/bin/python3 -c '
import socket, subprocess, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port = s.getsockname()[1]
r = subprocess.run([sys.argv[1], "proxy", "--upstream", "ws://127.0.0.1:1",
                    "--listen", "127.0.0.1:%d" % port], capture_output=True, timeout=10)
sys.stdout.write("%d\n%s" % (r.returncode, r.stderr.decode()))
' "$wssniff" >"$work/result"
    status=$(head -n 1 "$work/result")
    tail -n +2 "$work/result" >"$work/stderr"
    : >"$work/stdout"
    expect_status 1
    expect_one_error_line "cannot listen on"
    ;;
proxy_help)
    run proxy --help
    expect_status 0
    for flag in --upstream --listen --output --emit --payload --max-payload --host-header \
        --drop-when-behind --connect-timeout --idle-timeout; do
        grep -qF -- "$flag" "$work/stdout" || fail "proxy --help does not mention $flag"
    done
    ;;
*)
    fail "unknown case"
    ;;
esac

if [ "$failures" -ne 0 ]; then
    echo "$case_name: $failures checks failed" >&2
    exit 1
fi
echo "$case_name: all checks passed"

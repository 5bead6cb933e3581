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

# Runs a proxy command that must stop by itself at start; one that starts instead (as an
# unchecked value did) is ended after 5 s and shows as exit 124.
run_start() {
    timeout -k 1 5 "$wssniff" "$@" >"$work/stdout" 2>"$work/stderr" </dev/null
    status=$?
    echo "+ wssniff $* -> exit $status" >&2
}

# An earlier capture in the --output file, with a mode wssniff would change if it opened it.
make_old_capture() {
    printf '{"type":"close","conn":1,"reason":"client_closed"}\n' >"$work/old.ndjson"
    chmod 0640 "$work/old.ndjson"
    cp -p "$work/old.ndjson" "$work/old.ndjson.orig"
}

expect_old_capture_untouched() {
    cmp -s "$work/old.ndjson.orig" "$work/old.ndjson" || fail "the earlier capture was changed: $(head -c 200 "$work/old.ndjson" | od -c | head -3)"
    [ "$(mode_of "$work/old.ndjson")" = 640 ] || fail "the earlier capture's mode is $(mode_of "$work/old.ndjson"), was 640"
}

# A free loopback port (free when asked; the tests that use it bind nothing themselves).
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$case_name" in
help)
    run --help
    expect_status 0
    grep -qw decode "$work/stdout" || fail "--help does not mention the decode command"
    expect_empty stderr
    run decode --help
    expect_status 0
    for option in --c2s --s2c --no-handshake --output --emit --payload --max-payload --no-redact \
        --filter --conn-filter "json.a.b[0]" "hs.header[\"name\"]" "matches /re/[i]" \
        --format --color; do
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
usage_hint_names_the_command)
    # A usage mistake's hint names the --help of the command that was being given, and that
    # help exists.
    hint_of() { grep -o "run '[^']*'" "$work/stderr" | sed "s/^run '//; s/'$//"; }
    # Each case: the arguments given, then (after '|') the command the hint must name.
    for case in "--bogus-flag|wssniff" "decode --bogus-flag|wssniff decode" \
                "replay|wssniff replay" "expect|wssniff expect" "har export|wssniff har export" \
                "ca|wssniff ca" "ca create|wssniff ca create" \
                "proxy --payload bogus|wssniff proxy"; do
        read -ra words <<<"${case%|*}"
        command=${case#*|}
        run "${words[@]}"
        expect_status 2
        expect_one_error_line
        hint=$(hint_of)
        [ "$hint" = "$command --help" ] ||
            fail "'wssniff ${case%|*}': the hint is '$hint', expected '$command --help'"
        read -ra hinted <<<"${command#wssniff}"
        run "${hinted[@]}" --help
        expect_status 0
        grep -q "^Usage: $command \\[" "$work/stdout" ||
            fail "'$command --help' does not print its usage: $(head -c 200 "$work/stdout")"
    done
    # Positionals are named alike in every command.
    run expect
    expect_one_error_line "ARCHIVE is required"
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
        --drop-when-behind --connect-timeout --idle-timeout --filter --conn-filter \
        "--conn-filter 'hs.target matches" --format --color --quiet; do
        grep -qF -- "$flag" "$work/stdout" || fail "proxy --help does not mention $flag"
    done
    ;;
start_fail_listen_in_use_keeps_output)
    # Issue 19, item 5: a start that fails leaves an earlier capture in --output untouched.
    make_old_capture
    /usr/bin/python3 -c '
import socket, subprocess, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port = s.getsockname()[1]
r = subprocess.run([sys.argv[1], "proxy", "--upstream", "ws://127.0.0.1:1",
                    "--listen", "127.0.0.1:%d" % port, "--output", sys.argv[2]],
                   capture_output=True, timeout=10)
sys.stdout.write("%d\n%s" % (r.returncode, r.stderr.decode()))
' "$wssniff" "$work/old.ndjson" >"$work/result"
    status=$(head -n 1 "$work/result")
    tail -n +2 "$work/result" >"$work/stderr"
    : >"$work/stdout"
    expect_status 1
    expect_one_error_line "cannot listen on"
    expect_old_capture_untouched
    ;;
start_fail_tls_key_mismatch_keeps_output)
    # Item 5: a --tls-key that is not the --tls-cert's key.
    make_old_capture
    for n in 1 2; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
            -subj "/CN=localhost" -keyout "$work/key$n.pem" -out "$work/cert$n.pem" 2>/dev/null ||
            fail "openssl could not make a test certificate"
    done
    run_start proxy --upstream ws://127.0.0.1:1 --listen 127.0.0.1:0 --tls-cert "$work/cert1.pem" \
        --tls-key "$work/key2.pem" --output "$work/old.ndjson"
    expect_status 1
    expect_one_error_line "--tls-key"
    expect_old_capture_untouched
    ;;
start_fail_ca_file_keeps_output)
    # Item 5: a --ca-file that cannot be used (no certificate in it; and, when the test does not
    # run as root, one that cannot be read).
    make_old_capture
    echo "not a certificate" >"$work/ca.pem"
    run_start proxy --upstream wss://127.0.0.1:1 --listen 127.0.0.1:0 --ca-file "$work/ca.pem" \
        --output "$work/old.ndjson"
    expect_status 1
    expect_one_error_line "--ca-file"
    expect_old_capture_untouched
    if [ "$(id -u)" -ne 0 ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
            -subj "/CN=localhost" -keyout "$work/ca-key.pem" -out "$work/ca.pem" 2>/dev/null
        chmod 000 "$work/ca.pem"
        run_start proxy --upstream wss://127.0.0.1:1 --listen 127.0.0.1:0 --ca-file "$work/ca.pem" \
            --output "$work/old.ndjson"
        expect_status 1
        expect_one_error_line "--ca-file"
        expect_old_capture_untouched
    fi
    ;;
decode_fail_keeps_output)
    # Item 5 for decode: a capture that is missing, or a directory (it opens, then fails to
    # read), leaves the earlier output untouched.
    make_old_capture
    run decode --c2s "$work/no-such.c2s" --s2c "$examples/chat.s2c" --output "$work/old.ndjson"
    expect_status 1
    expect_one_error_line "$work/no-such.c2s"
    expect_old_capture_untouched
    mkdir -p "$work/a-directory"
    run decode --c2s "$examples/chat.c2s" --s2c "$work/a-directory" --output "$work/old.ndjson"
    expect_status 1
    expect_one_error_line "$work/a-directory" "Is a directory"
    expect_old_capture_untouched
    ;;
proxy_upstream_is_listen)
    # Item 6: an upstream that is the proxy's own listening address would loop; refused at start.
    port=$(free_port)
    for upstream in "ws://127.0.0.1:$port" "ws://localhost:$port/" "ws://127.0.0.1:$port/"; do
        run_start proxy --listen "127.0.0.1:$port" --upstream "$upstream"
        expect_status 2
        expect_one_error_line "--upstream" ":$port" "--listen 127.0.0.1:$port"
    done
    run_start proxy --listen "localhost:$port" --upstream "ws://127.0.0.1:$port"
    expect_status 2
    expect_one_error_line "--upstream" "--listen"
    # A wildcard listener takes connections to every local address.
    run_start proxy --listen "0.0.0.0:$port" --upstream "ws://127.0.0.1:$port"
    expect_status 2
    expect_one_error_line "--upstream" "--listen"
    ;;
proxy_upstream_credentials)
    # Item 12: user:password@ in --upstream is refused, and the password is never repeated.
    for upstream in "ws://alice:s3cretpass@127.0.0.1:1/" "wss://s3cretpass@127.0.0.1:1"; do
        run_start proxy --listen 127.0.0.1:0 --upstream "$upstream"
        expect_status 2
        expect_one_error_line "--upstream" "credentials"
        ! grep -qF s3cretpass "$work/stderr" || fail "the error repeats the password: $(cat "$work/stderr")"
    done
    ;;
proxy_upstream_path)
    # Item 13: a path (or query) in --upstream is refused: each request goes with its own target.
    for upstream in "ws://127.0.0.1:1/chat" "ws://127.0.0.1:1/chat?room=1" "ws://127.0.0.1:1?x=1" \
        "wss://127.0.0.1:1/socket"; do
        run_start proxy --listen 127.0.0.1:0 --upstream "$upstream"
        expect_status 2
        expect_one_error_line "--upstream" "own target"
    done
    run proxy --help
    expect_status 0
    grep -qF "ws://HOST:PORT" "$work/stdout" || fail "proxy --help does not say ws://HOST:PORT"
    ! grep -qF "[/path]" "$work/stdout" || fail "proxy --help still offers [/path]"
    ;;
proxy_upstream_malformed)
    # Item 14, URLs: spaces, an empty or non-numeric port, no host, a bad IPv6 address.
    for upstream in "ws://127.0.0.1:/" "ws://127.0.0.1:" "ws://127.0.0.1 :9000" \
        "ws://127.0.0.1:90 00" " ws://127.0.0.1:9000" "ws://127.0.0.1:9000 " "ws://exa mple.com" \
        "ws://127.0.0.1:http" "ws://127.0.0.1:0" "ws://127.0.0.1:65536" "ws://:9000" \
        "ws://[::1:9000" "ws://[zz::1]:9000" "ws://::1:9000"; do
        run_start proxy --listen 127.0.0.1:0 --upstream "$upstream"
        expect_status 2
        expect_one_error_line "--upstream"
    done
    ;;
proxy_numeric_ranges)
    # Item 14: every numeric option has a range; outside it, one line naming the option and the
    # range, exit 2.
    check_refused() {
        local option=$1 value=$2 range=$3
        run_start proxy --listen 127.0.0.1:0 --upstream ws://127.0.0.1:1 "$option" "$value"
        expect_status 2
        expect_one_error_line "$option" "$range"
    }
    for value in 1e300 1e-9 0 -1 nan NaN inf -inf 3601 "" 5s; do
        check_refused --connect-timeout "$value" "0.001 to 3600"
    done
    for value in 1e300 1e-9 -1 nan inf 86401 abc; do
        check_refused --handshake-timeout "$value" "0 (off) or 0.001 to 86400"
    done
    for value in 1e300 1e-9 -1 nan inf 604801 abc; do
        check_refused --idle-timeout "$value" "0 (off) or 0.001 to 604800"
    done
    for value in -1 -1MiB 2GiB 1073741825 18446744073709551615 99999999999999999999 1.5MiB abc 1XiB; do
        check_refused --max-payload "$value" "from 0 to 1GiB"
    done
    for value in -1 0 2GiB 18446744073709551615 abc; do
        check_refused --max-message "$value" "from 1 to 1GiB"
    done
    for value in -1 0 16777217 abc 1.5; do
        check_refused --queue "$value" "from 1 to 16777216"
    done
    for value in -1 0 257 abc 1.5; do
        check_refused --threads "$value" "from 1 to 256"
    done
    for value in 127.0.0.1:65536 127.0.0.1:-1 127.0.0.1:99999999 127.0.0.1:x 127.0.0.1:; do
        run_start proxy --listen "$value" --upstream ws://127.0.0.1:1
        expect_status 2
        expect_one_error_line --listen "0 to 65535"
    done
    # The decode command takes the same size options.
    run decode "${chat[@]}" --max-payload -1
    expect_status 2
    expect_one_error_line --max-payload "from 0 to 1GiB"
    run decode "${chat[@]}" --max-message 0
    expect_status 2
    expect_one_error_line --max-message "from 1 to 1GiB"
    # Values inside the ranges still start (0 switches the timeouts off; sizes take units).
    /usr/bin/python3 - "$wssniff" <<'PY' || fail "a proxy with in-range values did not start and stop cleanly"
import subprocess, sys
p = subprocess.Popen([sys.argv[1], "proxy", "--listen", "127.0.0.1:0", "--upstream", "ws://127.0.0.1:1",
                      "--connect-timeout", "0.001", "--handshake-timeout", "0", "--idle-timeout", "604800",
                      "--max-payload", "0", "--max-message", "1GiB", "--queue", "16777216",
                      "--threads", "256"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
line = p.stderr.readline().decode()
p.terminate()
assert p.wait(timeout=10) == 0 and line.startswith("listening on "), (line, p.returncode)
PY
    # --help shows each range.
    run proxy --help
    for range in "0.001 to 3600" "0.001 to 86400" "604800" "1 to 16777216" "0 to 1GiB" "1 to 1GiB" "1 to 256" \
        "0 to 65535"; do
        grep -qF -- "$range" "$work/stdout" || fail "proxy --help does not show the range $range"
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

#!/bin/bash
# Runs `wssniff decode` on the example capture with every --payload and --emit mode (and a few
# options that change which fields appear), then validates every record it wrote.
#   decode_outputs.sh WSSNIFF PYTHON VALIDATE_PY EXAMPLES_DIR OUT_DIR
set -u

wssniff=$1 python=$2 validate=$3 examples=$4 out=$5

mkdir -p "$out"
rm -f "$out"/*.ndjson

failed=0
run() {
    local name=$1
    shift
    if ! "$wssniff" decode "$@" >"$out/$name.ndjson" 2>"$out/$name.stderr"; then
        echo "FAIL: wssniff decode $* exited $?: $(cat "$out/$name.stderr")" >&2
        failed=1
    elif [ ! -s "$out/$name.ndjson" ]; then
        echo "FAIL: wssniff decode $* wrote no records" >&2
        failed=1
    fi
}

chat=(--c2s "$examples/chat.c2s" --s2c "$examples/chat.s2c")
for payload in auto text hex base64 none; do
    for emit in frames messages both; do
        run "chat-$payload-$emit" "${chat[@]}" --payload "$payload" --emit "$emit"
        # Cuts payloads (the 70000-byte frame, a character in the middle): truncated:true.
        run "chat-$payload-$emit-max16" "${chat[@]}" --payload "$payload" --emit "$emit" \
            --max-payload 16
    done
done
run chat-no-redact "${chat[@]}" --emit both --no-redact
# HTTP heads read as frames: reserved opcodes, bad close codes, a frame cut by the end of the
# stream. A rich source of error records.
run chat-as-frames "${chat[@]}" --no-handshake --emit both
run chat-c2s-only --c2s "$examples/chat.c2s" --no-handshake --payload base64

"$python" "$validate" "$out" || failed=1
exit $failed

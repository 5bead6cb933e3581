"""decode --pcap on real traffic: npm ws and python3-websockets peers (with and without
permessage-deflate) talk through `wssniff proxy` while `tcpdump -i lo` records both legs; the
records `decode --pcap` makes from the capture must equal the proxy's own, but for `ts` and the
addresses (and, on the client's leg, the Host header the proxy rewrites), and every frame must
agree with tshark's WebSocket dissector (`tshark -T json`) on opcode, fin, mask, length and
payload.

    pcap_cases.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

from wssniff_kit.checks import CheckFailed, check, log
from wssniff_kit.records import parse_ndjson
from wssniff_kit.runner import run_cases

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = os.environ.get("WSSNIFF_NODE", "node")


def peer_command(kind, *args):
    if kind == "ws":
        return [NODE, os.path.join(HERE, "ws_peer.js"), *args]
    return [sys.executable, os.path.join(HERE, "websockets_peer.py"), *args]


def wait_line(stream, prefix, timeout, what, lines=None):
    """The first line of `stream` starting with `prefix`, read on a thread within `timeout`;
    every line read goes to `lines` too."""
    found = []
    done = threading.Event()

    def read():
        for raw in stream:
            line = raw.decode("utf-8", "replace").strip()
            if lines is not None:
                lines.append(line)
            if line.startswith(prefix) and not found:
                found.append(line)
                done.set()
        done.set()

    threading.Thread(target=read, daemon=True).start()
    check(done.wait(timeout) and found, f"no '{prefix}' line from {what} within {timeout} s")
    return found[0]


def start(ctx, argv, env=None, **kwargs):
    log("+ " + " ".join(argv))
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, **kwargs)

    def stop():
        if process.poll() is None:
            process.kill()
        process.wait()

    ctx.stack.callback(stop)
    return process


def wait_for_close(path, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, "rb") as f:
                if b'"type":"close"' in f.read():
                    return
        time.sleep(0.05)
    raise CheckFailed(f"the proxy wrote no close record to {path} within {timeout} s")


def decode(ctx, pcap, output, *args):
    argv = [ctx.wssniff, "decode", "--pcap", pcap, "--output", output, *args]
    log("+ " + " ".join(argv))
    done = subprocess.run(argv, capture_output=True, timeout=30)
    check(done.returncode == 0,
          f"decode --pcap exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    with open(output, "rb") as f:
        return parse_ndjson(f.read(), output)


def comparable(record, host=None):
    # A close's reason is who ended first as each vantage point saw it: the proxy judges by its
    # two sockets, a capture of one leg by that leg's FINs, so they may differ legitimately.
    # The proxy's records say which instance and run wrote them; decode's, offline, do not.
    r = {k: v for k, v in record.items()
         if k not in ("ts", "request_ts", "client", "upstream", "instance", "run")
         and not (record["type"] == "close" and k == "reason")}
    if host is not None and r["type"] == "handshake":
        r["request_headers"] = [[n, host if n.lower() == "host" else v]
                                for n, v in r["request_headers"]]
    return r


def check_same(proxy_records, pcap_records, what, host=None):
    check(all("ts" in r for r in pcap_records), f"{what}: a record without ts")
    a = [comparable(r) for r in proxy_records]
    b = [comparable(r, host) for r in pcap_records]
    # Each direction in order; the order between the two may differ (the proxy records a chunk
    # once it has written it, the capture when the packet passes).
    for kind in ("handshake", "close"):
        check([r for r in a if r["type"] == kind] == [r for r in b if r["type"] == kind],
              f"{what}: {kind} records differ:\n{[r for r in a if r['type'] == kind]}\n"
              f"{[r for r in b if r['type'] == kind]}")
    for d in ("c2s", "s2c"):
        fa = [r for r in a if r.get("dir") == d]
        fb = [r for r in b if r.get("dir") == d]
        check(len(fa) == len(fb), f"{what}: {d}: {len(fa)} records from the proxy, {len(fb)} "
                                  f"from the capture")
        for x, y in zip(fa, fb):
            check(x == y, f"{what}: {d}: records differ:\nproxy {x}\npcap  {y}")
    check(len(a) == len(b), f"{what}: {len(a)} records from the proxy, {len(b)} from the capture")
    log(f"{what}: {len(b)} records equal")


def tshark_frames(pcap, port):
    """Per direction (by source port == `port`: s2c), the WebSocket frames tshark decodes."""
    argv = ["tshark", "-r", pcap, "-d", f"tcp.port=={port},http", "-Y",
            f"tcp.port=={port} && websocket", "-T", "json", "--no-duplicate-keys"]
    done = subprocess.run(argv, capture_output=True, timeout=60)
    check(done.returncode == 0, f"tshark failed: {done.stderr.decode(errors='replace')}")
    frames = {"c2s": [], "s2c": []}

    def listed(value):
        return value if isinstance(value, list) else [value]

    for packet in json.loads(done.stdout):
        layers = packet["_source"]["layers"]
        d = "s2c" if layers["tcp"]["tcp.srcport"] == str(port) else "c2s"
        for ws in listed(layers["websocket"]):
            length = int(ws["websocket.payload_length"])
            if length == 126:
                length = int(ws["websocket.payload_length_ext_16"])
            elif length == 127:
                length = int(ws["websocket.payload_length_ext_64"])
            frame = {"fin": ws["websocket.fin"] == "1", "opcode": int(ws["websocket.opcode"]),
                     "masked": ws["websocket.mask"] == "1", "len": length}
            if "websocket.masking_key" in ws:
                frame["mask"] = ws["websocket.masking_key"].replace(":", "")
            payload = ws.get("websocket.payload")
            if isinstance(payload, dict) and "websocket.payload.text" in payload:
                frame["text"] = payload["websocket.payload.text"]
            frames[d].append(frame)
    return frames


def check_tshark(pcap, port, records, what):
    seen = tshark_frames(pcap, port)
    for d in ("c2s", "s2c"):
        ours = [r for r in records if r["type"] == "frame" and r["dir"] == d]
        theirs = seen[d]
        check(len(theirs) > 0, f"{what}: tshark decoded no {d} frame")
        check(len(ours) == len(theirs), f"{what}: {d}: {len(ours)} frames, tshark {len(theirs)}")
        for ours_frame, frame in zip(ours, theirs):
            for key in ("fin", "opcode", "masked", "len", "mask"):
                if key in frame:
                    check(ours_frame.get(key) == frame[key],
                          f"{what}: {d} frame {ours_frame['seq']}: {key} {ours_frame.get(key)!r}, "
                          f"tshark {frame[key]!r}")
            # tshark shows the text of a whole (inflated) message on its frames: compared for
            # single-frame text messages.
            if "text" in frame and ours_frame["opcode"] == 1 and ours_frame["fin"] \
                    and "text" in ours_frame and not ours_frame.get("truncated"):
                check(ours_frame["text"] == frame["text"],
                      f"{what}: {d} frame {ours_frame['seq']}: text differs from tshark's")
    log(f"{what}: {len(seen['c2s'])} + {len(seen['s2c'])} frames agree with tshark")


def conversation(ctx, server_kind, client_kind, deflate):
    env = dict(os.environ, PCAP_DEFLATE="1" if deflate else "0")
    server = start(ctx, peer_command(server_kind, "server"), env=env, stdout=subprocess.PIPE)
    server_port = int(wait_line(server.stdout, "listening ", 10, "the server").split()[1])
    proxy_out = ctx.output("-proxy")
    proxy = ctx.proxy(server_port, proxy_out, args=("--payload", "base64",
                                                    "--max-payload", "1MiB"))
    # Beside the records, so that a failure can be looked at (tshark, decode --pcap).
    pcap = os.path.join(ctx.records_dir, f"pcap-{ctx.name}.pcap")
    tcpdump = start(ctx, ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-B", "65536", "-n", "-s", "0", "-w", pcap,
                          f"tcp port {server_port} or tcp port {proxy.port}"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tcpdump_said = []
    wait_line(tcpdump.stderr, "tcpdump: listening on", 10, "tcpdump", tcpdump_said)
    client = start(ctx, peer_command(client_kind, "client", f"ws://127.0.0.1:{proxy.port}/chat"),
                   env=env)
    check(client.wait(30) == 0, f"the {client_kind} client failed")
    wait_for_close(proxy_out)
    # tcpdump drops what it has not written yet when interrupted (its "received by filter" is
    # ahead of "captured"): wait until the file (-U: written per packet) stops growing.
    settled = time.monotonic() + 0.5
    size = -1
    deadline = time.monotonic() + 15
    while time.monotonic() < settled:
        check(time.monotonic() < deadline, "the capture file kept growing for 15 s")
        now = os.path.getsize(pcap)
        if now != size:
            size = now
            settled = time.monotonic() + 0.5
        time.sleep(0.05)
    tcpdump.send_signal(signal.SIGINT)
    tcpdump.wait(10)
    time.sleep(0.1)
    log("tcpdump: " + " / ".join(tcpdump_said))
    proxy.stop()
    with open(proxy_out, "rb") as f:
        proxy_records = parse_ndjson(f.read(), proxy_out)

    options = ("--payload", "base64", "--max-payload", "1MiB")
    # The proxy-to-server leg carries exactly the bytes the proxy recorded.
    upstream = decode(ctx, pcap, ctx.output("-pcap-upstream"), "--ports", str(server_port),
                      *options)
    check_same(proxy_records, upstream, "server leg")
    # The client's leg: the same but for the Host header the proxy rewrote.
    host = f"127.0.0.1:{server_port}"
    client_leg = decode(ctx, pcap, ctx.output("-pcap-client"), "--ports", str(proxy.port),
                        *options)
    check_same(proxy_records, client_leg, "client leg", host=host)
    # Both legs at once, numbered in the order their requests were seen.
    both = decode(ctx, pcap, ctx.output("-pcap-both"), *options)
    # Handshake records come when each 101 is seen (the server's leg first); conns are numbered
    # by the requests (the client's leg first).
    handshakes = sorted((r for r in both if r["type"] == "handshake"), key=lambda r: r["conn"])
    check([h["conn"] for h in handshakes] == [1, 2], f"two connections expected: {handshakes}")
    check(handshakes[0]["upstream"] == f"127.0.0.1:{proxy.port}", "the client's leg is first")
    check(handshakes[1]["upstream"] == host, "the server's leg is second")
    check(handshakes[0]["deflate"] is not None if deflate else handshakes[0]["deflate"] is None,
          "permessage-deflate as negotiated")
    # --conn picks one of them.
    second = decode(ctx, pcap, ctx.output("-pcap-conn2"), "--conn", "2", *options)
    check({r["conn"] for r in second} == {2}, "--conn 2 keeps connection 2 alone")
    # The independent oracle.
    for port, records, what in ((server_port, upstream, "server leg"),
                                (proxy.port, client_leg, "client leg")):
        check_tshark(pcap, port, records, what)


def ws_plain(ctx):
    conversation(ctx, "ws", "ws", False)


def ws_deflate(ctx):
    conversation(ctx, "ws", "ws", True)


def websockets_plain(ctx):
    conversation(ctx, "websockets", "websockets", False)


def websockets_deflate(ctx):
    conversation(ctx, "websockets", "websockets", True)


def ws_client_websockets_server_deflate(ctx):
    conversation(ctx, "websockets", "ws", True)


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, [ws_plain, ws_deflate, websockets_plain, websockets_deflate,
                                 ws_client_websockets_server_deflate], prefix="pcap"))

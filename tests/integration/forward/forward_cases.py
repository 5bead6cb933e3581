#!/usr/bin/python3
"""`wssniff proxy --mode forward` with real clients over loopback:

    forward_cases.py WSSNIFF RECORDS_DIR CASE [--budget SECONDS]

Clients reach their servers through the proxy as through any HTTP proxy: CONNECT HOST:PORT (npm
ws with https-proxy-agent, headless Chromium, a websocketpp client, raw sockets) or an absolute-form request (raw
sockets). What the servers receive must be what the clients sent (the absolute form's request
line and Proxy-* fields aside), and the records of a CONNECT tunnel those of a reverse-mode run of
the same bytes. Records go to RECORDS_DIR/forward-CASE*.ndjson (the schema suite validates them).
"""

import json
import os
import ssl
import stat
import subprocess
import sys
import tempfile

from wssniff_kit.checks import CheckFailed, check, log
from wssniff_kit.heads import header_key, upgrade_request, upgrade_response, websocket_key
from wssniff_kit.processes import Process
from wssniff_kit.proxy import Proxy
from wssniff_kit.records import of_type, one_close
from wssniff_kit.runner import run_cases
from wssniff_kit.sockets import LOOPBACK, Peer, connect, unused_port
from wssniff_kit.wire import OP_BINARY, OP_CLOSE, OP_TEXT, check_same_bytes, close_payload, frame

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tls"))
import certs  # noqa: E402  (the TLS tests' certificates, made with /usr/bin/openssl)
ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"
# What differs between two runs of the same bytes, or between the modes by design.
RUN_FIELDS = ("ts", "request_ts", "conn", "run", "instance", "client", "proxy")


def node():
    return os.environ.get("WSSNIFF_NODE") or "node"


def forward_proxy(ctx, output, args=()):
    proxy = Proxy(ctx.wssniff, None, output, ["--mode", "forward"] + list(args))
    ctx.stack.callback(proxy.stop)
    return proxy


def records_of(proxy):
    proxy.wait_idle()
    check(proxy.stop() == 0, f"the proxy did not exit 0 on SIGTERM: {proxy.stderr_text()!r}")
    return proxy.records()


def comparable(records):
    return [{k: v for k, v in r.items() if k not in RUN_FIELDS} for r in records]


def ws_server(ctx):
    server = Process("ws server", [node(), os.path.join(HERE, "ws_peers.js"), "server"], HERE)
    ctx.stack.callback(server.kill)
    return int(server.wait_line(r"listening (\d+)", 20).group(1))


def run_client(argv, what, timeout=30):
    client = Process(what, argv, HERE)
    status = client.wait(timeout)
    check(status == 0, f"{what} failed (status {status}): {client.output('stderr')[-2000:]}")


def tunnel(proxy, authority, name="client"):
    """A raw client through CONNECT authority; returns it once the tunnel is up."""
    client = connect(proxy.port, name)
    client.send(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    client.expect(ESTABLISHED, what="the CONNECT answer")
    client.start_phase(True)  # from here on, the tunnel's bytes
    return client


def raw_upstream_conversation(ctx, proxy, upstream, through_connect, host):
    """An upgrade and a few frames each way with fixed keys and masks (the same bytes every
    run), through CONNECT or straight to a reverse proxy; checks the bytes crossed unchanged."""
    request = upgrade_request(host, websocket_key(7), target="/chat?room=1")
    if through_connect:
        client = ctx.track(tunnel(proxy, upstream.authority))
    else:
        client = ctx.track(connect(proxy.port, "client"))
    key = websocket_key(7)
    client.send(request)
    server = ctx.track(upstream.accept())
    server.read_head()
    response = upgrade_response(key)
    server.send(response)
    client.expect(response, what="the 101")
    sends = [
        (client, frame(OP_TEXT, "héllo ✓".encode(), mask=b"\x01\x02\x03\x04")),
        (server, frame(OP_TEXT, "héllo ✓".encode())),
        (client, frame(OP_BINARY, bytes(range(256)) * 300, mask=b"\xa0\xb1\xc2\xd3")),
        (server, frame(OP_BINARY, bytes(range(256)) * 300)),
        (client, frame(OP_CLOSE, close_payload(1000, b"done"), mask=b"\x10\x20\x30\x40")),
        (server, frame(OP_CLOSE, close_payload(1000, b"done"))),
    ]
    for sender, data in sends:
        receiver = server if sender is client else client
        sender.send(data)
        receiver.expect(data, what="a frame")
    client.close()
    server.expect_eof(what="EOF after the client closed")
    check_same_bytes(server.received, client.sent, "upstream received vs client sent (tunnel)")
    check_same_bytes(client.received, server.sent, "client received vs upstream sent (tunnel)")
    server.close()
    return request


def case_connect_same_as_reverse(ctx):
    """A raw client's upgrade and frames through CONNECT: the bytes cross unchanged both ways,
    and the records are those of the same bytes through a reverse-mode proxy (but for the
    handshake's `proxy`, and what differs between any two runs)."""
    upstream = ctx.upstream()
    forward = forward_proxy(ctx, ctx.output("-forward"), ["--payload", "base64", "--emit", "both"])
    raw_upstream_conversation(ctx, forward, upstream, True, upstream.authority)
    forwarded = records_of(forward)
    reverse = ctx.proxy(upstream.port, ctx.output("-reverse"), ["--payload", "base64", "--emit",
                                                                "both"])
    raw_upstream_conversation(ctx, reverse, upstream, False, upstream.authority)
    reversed_ = records_of(reverse)
    handshake = of_type(forwarded, "handshake")
    check(len(handshake) == 1, f"one handshake record, got {len(handshake)}")
    check(handshake[0].get("proxy") == {"mode": "connect", "authority": upstream.authority},
          f"proxy field: {handshake[0].get('proxy')!r}")
    check(handshake[0]["upstream"] == upstream.authority, "upstream is the CONNECT authority")
    check("proxy" not in of_type(reversed_, "handshake")[0], "no proxy field in reverse mode")
    a, b = comparable(forwarded), comparable(reversed_)
    check(a == b, f"forward and reverse records differ:\n{a}\n{b}")
    log(f"{len(a)} records the same in both modes")


def case_connect_ws(ctx):
    """npm ws through https-proxy-agent (CONNECT) to an npm ws echo server: every echo comes
    back, and the records equal a reverse-mode run of the same client (masks and keys aside,
    which the client draws at random)."""
    port = ws_server(ctx)
    forward = forward_proxy(ctx, ctx.output("-forward"), ["--emit", "both"])
    run_client([node(), os.path.join(HERE, "ws_peers.js"), "client",
                f"ws://{LOOPBACK}:{port}/echo", f"http://{LOOPBACK}:{forward.port}"],
               "ws client through CONNECT")
    forwarded = records_of(forward)
    reverse = ctx.proxy(port, ctx.output("-reverse"), ["--emit", "both"])
    run_client([node(), os.path.join(HERE, "ws_peers.js"), "client",
                f"ws://{LOOPBACK}:{reverse.port}/echo"], "ws client to the reverse proxy")
    reversed_ = records_of(reverse)
    hs = of_type(forwarded, "handshake")
    check(len(hs) == 1 and hs[0]["status"] == 101, f"one 101 handshake: {hs!r}")
    check(hs[0]["proxy"] == {"mode": "connect", "authority": f"{LOOPBACK}:{port}"},
          f"proxy field: {hs[0].get('proxy')!r}")
    a, b = random_free(forwarded), random_free(reversed_)
    check(a == b, f"forward and reverse records differ:\n{a[:3]}\n{b[:3]}")
    check(len(of_type(forwarded, "message")) == 10, "5 messages each way")


def websocketpp_conversation(ctx, proxy, upstream, url, server_tls=None, ca_file=None):
    """A websocketpp client (its transport's set_proxy: CONNECT, then the upgrade inside the
    tunnel; over TLS for a wss:// url, trusting only ca_file) echoing what the raw upstream
    sends, a text and a binary frame, then the server's close. The upstream speaks TLS with
    server_tls (an ssl.SSLContext) when given. Checks what each side got and the records of one
    connection through the tunnel; returns its handshake record."""
    peer = subprocess.Popen([os.environ["WSSNIFF_WEBSOCKETPP_PEER"], "client"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=HERE)
    ctx.stack.callback(lambda: peer.poll() is None and peer.kill())
    request = {"url": url, "proxy": f"http://{LOOPBACK}:{proxy.port}", "timeout": 10}
    if ca_file:
        request["ca"] = ca_file
    peer.stdin.write(json.dumps(request).encode() + b"\n")
    peer.stdin.close()
    server = ctx.track(upstream.accept(timeout=10))
    if server_tls:
        server.sock.settimeout(10)
        server = ctx.track(Peer(server_tls.wrap_socket(server.sock, server_side=True),
                                "upstream (TLS)"))
    head = server.read_head()
    check(head.startswith(b"GET /chat HTTP/1.1\r\n"), f"origin-form upgrade: {head[:60]!r}")
    key = header_key(head)
    check(key is not None, f"no Sec-WebSocket-Key in {head!r}")
    server.send(upgrade_response(key))
    text = "through a tunnel ✓".encode()
    binary = bytes(range(256)) * 8
    for opcode, payload in ((OP_TEXT, text), (OP_BINARY, binary)):
        server.send(frame(opcode, payload))
        echo = server.recv_frame(timeout=10)
        check(echo["masked"] and echo["opcode"] == opcode and echo["payload"] == payload,
              f"the echo of a {len(payload)}-byte frame: {echo!r}")
    server.send(frame(OP_CLOSE, close_payload(1000, b"bye")))
    answer = server.recv_frame(timeout=10)
    check(answer["opcode"] == OP_CLOSE and answer["payload"][:2] == b"\x03\xe8",
          f"the client's close: {answer!r}")
    server.close()
    status = peer.wait(timeout=20)  # its stdin is closed: it ends after this connection
    out, err = peer.stdout.read(), peer.stderr.read()
    check(status == 0, f"websocketpp client failed: {err.decode()[-2000:]}")
    report = json.loads(out.decode().splitlines()[-1])
    check(report["opened"] and report["close_code"] == 1000 and report["error"] is None,
          f"websocketpp client's report: {report!r}")
    check([m["len"] for m in report["messages"]] == [len(text), len(binary)],
          f"messages the client received: {report['messages']!r}")
    records = records_of(proxy)
    hs = of_type(records, "handshake")
    check(len(hs) == 1 and hs[0]["status"] == 101, f"one 101 handshake: {hs!r}")
    frames = [(r["dir"], r["op"], r["len"]) for r in of_type(records, "frame")]
    check(frames == [("s2c", "text", len(text)), ("c2s", "text", len(text)),
                     ("s2c", "binary", len(binary)), ("c2s", "binary", len(binary)),
                     ("s2c", "close", 5), ("c2s", "close", len(answer["payload"]))],
          f"frame records: {frames!r}")
    texts = [r.get("text") for r in of_type(records, "frame") if r["op"] == "text"]
    check(texts == [text.decode()] * 2, f"text payloads recorded: {texts!r}")
    one_close(records, hs[0]["conn"])
    return hs[0]


def case_connect_websocketpp(ctx):
    """A websocketpp client through CONNECT to a raw upstream: the bytes cross unchanged both
    ways, each frame and the closing handshake are recorded, and the handshake record names the
    tunnel."""
    upstream = ctx.upstream()
    proxy = forward_proxy(ctx, ctx.output(), ["--emit", "both"])
    hs = websocketpp_conversation(ctx, proxy, upstream, f"ws://{upstream.authority}/chat")
    check(hs["proxy"] == {"mode": "connect", "authority": upstream.authority},
          f"proxy field: {hs.get('proxy')!r}")
    check("tls" not in hs, f"a plain tunnel has no tls: {hs.get('tls')!r}")


def case_mitm_websocketpp(ctx):
    """--mitm-ca: a websocketpp client over wss://localhost:PORT through CONNECT, trusting only
    the CA (and checking the name), to a raw upstream over TLS with the TLS tests' certificate:
    every frame recorded in the clear, both legs in `tls`."""
    ca, work = made_ca(ctx)
    paths = certs.make(os.path.join(work, "certs"), server_only=True)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(paths["server.pem"], paths["server.key"])
    upstream = ctx.upstream()
    proxy = forward_proxy(ctx, ctx.output(),
                          ["--emit", "both", "--mitm-ca", ca, "--ca-file", paths["ca.pem"]])
    hs = websocketpp_conversation(ctx, proxy, upstream, f"wss://localhost:{upstream.port}/chat",
                                  server_tls, os.path.join(ca, "ca.pem"))
    check(hs["proxy"] == {"mode": "connect", "authority": f"localhost:{upstream.port}"},
          f"proxy field: {hs.get('proxy')!r}")
    tls = hs.get("tls") or {}
    check(tls.get("client", {}).get("version", "").startswith("TLSv1."),
          f"the client leg: {tls!r}")
    up = tls.get("upstream", {})
    check(up.get("server_name") == "localhost" and up.get("verified") is True,
          f"the upstream leg: {up!r}")


def random_free(records):
    """Records without what a client draws at random (masks, keys) and what differs between any
    two runs; for --mitm-ca, without `tls` too (a reverse-mode run has other legs)."""
    out = []
    for r in comparable(records):
        r.pop("mask", None)
        r.pop("tls", None)
        if r["type"] == "close":
            r.pop("reason")  # which side's FIN came first after the closing handshake
        for side in ("request_headers", "response_headers"):
            if side in r:
                r[side] = [h for h in r[side] if h[0].lower() not in
                           ("sec-websocket-key", "sec-websocket-accept", "date")]
        out.append(r)
    return out


def made_ca(ctx):
    """A CA made by `wssniff ca create` in a work directory of the case: (ca_dir, work)."""
    work = tempfile.mkdtemp(prefix="wssniff-mitm-")
    ctx.stack.callback(lambda: subprocess.run(["rm", "-rf", work]))
    ca = os.path.join(work, "ca")
    made = subprocess.run([ctx.wssniff, "ca", "create", ca], capture_output=True, timeout=10)
    check(made.returncode == 0, f"ca create: {made.stderr!r}")
    return ca, work


def mitm_setup(ctx):
    """A work directory with a CA made by `wssniff ca create` (DIR/ca) and the TLS tests' server
    certificate for localhost (DIR/certs), and an npm ws echo server over TLS with it: returns
    (ca_dir, certificate paths, the server's port, the server process)."""
    ca, work = made_ca(ctx)
    paths = certs.make(os.path.join(work, "certs"), server_only=True)
    server = Process("ws server (TLS)", [node(), os.path.join(HERE, "ws_peers.js"), "server-tls",
                                         paths["server.pem"], paths["server.key"]], HERE)
    ctx.stack.callback(server.kill)
    port = int(server.wait_line(r"listening (\d+)", 20).group(1))
    return ca, paths, port, server


def node_trusting(ca_file):
    return ["env", f"NODE_EXTRA_CA_CERTS={ca_file}", node()]


def run_failing_client(argv, what, timeout=30):
    client = Process(what, argv, HERE)
    status = client.wait(timeout)
    check(status != 0, f"{what} succeeded, expected it to fail")
    return client.output("stderr")


def case_mitm_ws(ctx):
    """--mitm-ca: npm ws through https-proxy-agent (CONNECT) to wss://localhost:PORT, an npm ws
    echo server over TLS, the client trusting the CA (NODE_EXTRA_CA_CERTS). Every echo comes back
    (byte for byte, checked by the client), the records equal a reverse-mode run of the same
    client through a wss:// --upstream, the handshake record has both TLS legs and proxy.mode
    connect, and the CA directory holds only the CA's two files afterwards (the leaves stay in
    memory)."""
    ca, paths, port, server = mitm_setup(ctx)
    forward = forward_proxy(ctx, ctx.output("-forward"),
                            ["--emit", "both", "--mitm-ca", ca, "--ca-file", paths["ca.pem"]])
    run_client(node_trusting(os.path.join(ca, "ca.pem")) +
               [os.path.join(HERE, "ws_peers.js"), "client", f"wss://localhost:{port}/echo",
                f"http://{LOOPBACK}:{forward.port}"], "ws client through CONNECT, intercepted")
    forwarded = records_of(forward)
    reverse = Proxy(ctx.wssniff, None, ctx.output("-reverse"),
                    ["--emit", "both", "--upstream", f"wss://localhost:{port}", "--ca-file",
                     paths["ca.pem"]])
    ctx.stack.callback(reverse.stop)
    run_client([node(), os.path.join(HERE, "ws_peers.js"), "client",
                f"ws://{LOOPBACK}:{reverse.port}/echo"], "ws client to the reverse proxy")
    reversed_ = records_of(reverse)
    hs = of_type(forwarded, "handshake")
    check(len(hs) == 1 and hs[0]["status"] == 101, f"one 101 handshake: {hs!r}")
    check(hs[0]["proxy"] == {"mode": "connect", "authority": f"localhost:{port}"},
          f"proxy field: {hs[0].get('proxy')!r}")
    tls = hs[0].get("tls") or {}
    check(tls.get("client", {}).get("version", "").startswith("TLSv1."),
          f"the client leg: {tls!r}")
    up = tls.get("upstream", {})
    check(up.get("server_name") == "localhost" and up.get("verified") is True and
          up.get("subject") == "CN=localhost" and up.get("issuer") == "CN=wssniff test CA",
          f"the upstream leg: {up!r}")
    a, b = random_free(forwarded), random_free(reversed_)
    check(a == b, f"forward and reverse records differ:\n{a[:3]}\n{b[:3]}")
    check(len(of_type(forwarded, "message")) == 10, "5 messages each way")
    check([l.strip() for l in server.captured["stdout"] if l.startswith("request")] ==
          ["request /echo", "request /echo"], f"server requests: {server.captured['stdout']!r}")
    check(sorted(os.listdir(ca)) == ["ca.key", "ca.pem"], f"CA dir: {os.listdir(ca)!r}")
    for name in ("ca.key", "ca.pem"):
        mode = stat.S_IMODE(os.stat(os.path.join(ca, name)).st_mode)
        check(mode == 0o600, f"{name} is mode {mode:o}")


def case_mitm_failures(ctx):
    """--mitm-ca's two failures, each with its error record and nothing reaching the server:
    - a client that does not trust the CA (it trusts the real server's CA only): its TLS
      handshake fails, the record says client_tls_failed (the upstream's TLS was up, nothing
      went through it);
    - a server whose certificate does not verify (a proxy without --ca-file: the system store
      does not know the test CA): rejected before the client's handshake is answered; the client
      is closed unanswered, the record says upstream_unreachable and why."""
    ca, paths, port, server = mitm_setup(ctx)
    client_argv = [os.path.join(HERE, "ws_peers.js"), "client", f"wss://localhost:{port}/echo"]

    untrusting = forward_proxy(ctx, ctx.output("-untrusted"),
                               ["--mitm-ca", ca, "--ca-file", paths["ca.pem"]])
    err = run_failing_client(node_trusting(paths["ca.pem"]) + client_argv +
                             [f"http://{LOOPBACK}:{untrusting.port}"],
                             "ws client not trusting the CA")
    log(f"client: {err.strip()[:200]}")
    check("certificate" in err, f"the client's failure is about the certificate: {err!r}")
    records = records_of(untrusting)
    check([r["type"] for r in records] == ["error", "close"], f"records: {records!r}")
    e = records[0]
    check(e["code"] == "client_tls_failed" and "--mitm-ca" in e["message"] and
          "localhost" in e["message"], f"error record: {e!r}")
    check(records[1]["reason"] == "client_reset" and records[1]["bytes_c2s"] == 0,
          f"close record: {records[1]!r}")

    unverified = forward_proxy(ctx, ctx.output("-unverified"), ["--mitm-ca", ca])
    run_failing_client(node_trusting(os.path.join(ca, "ca.pem")) + client_argv +
                       [f"http://{LOOPBACK}:{unverified.port}"], "ws client, server not verified")
    records = records_of(unverified)
    check([r["type"] for r in records] == ["error", "close"], f"records: {records!r}")
    e = records[0]
    check(e["code"] == "upstream_unreachable" and f"localhost:{port}" in e["message"] and
          "certificate was rejected" in e["message"], f"error record: {e!r}")
    check(records[1]["reason"] == "upstream_unreachable", f"close: {records[1]!r}")
    check(not any(l.startswith("request") for l in server.captured["stdout"]),
          f"the server got a request: {server.captured['stdout']!r}")


def case_mitm_split_hello(ctx):
    """--mitm-ca with a ClientHello that arrives in three pieces, 50 ms apart (Python's ssl over
    memory BIOs, the socket driven by hand): still intercepted (the certificate the client gets
    is the CA's, for localhost) and the request inside reaches the server; a plain HTTP
    exchange in the tunnel leaves only a close record."""
    import socket
    import ssl
    import time
    ca, paths, port, server = mitm_setup(ctx)
    forward = forward_proxy(ctx, ctx.output(), ["--mitm-ca", ca, "--ca-file", paths["ca.pem"]])
    sock = socket.create_connection((LOOPBACK, forward.port), timeout=10)
    ctx.stack.callback(sock.close)
    sock.sendall(f"CONNECT localhost:{port} HTTP/1.1\r\n\r\n".encode())
    check(sock.recv(1000) == ESTABLISHED, "the CONNECT answer")
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context(cafile=os.path.join(ca, "ca.pem")).wrap_bio(
        incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    for piece in (hello[:7], hello[7:100], hello[100:]):
        sock.sendall(piece)
        time.sleep(0.05)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            chunk = sock.recv(65536)
            check(chunk != b"", "the proxy closed during the handshake")
            incoming.write(chunk)
    issuer = dict(x[0] for x in tls.getpeercert()["issuer"])
    check(issuer.get("organizationName") == "wssniff", f"the certificate's issuer: {issuer!r}")
    tls.write(f"GET /page.html HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n"
              f"\r\n".encode())
    sock.sendall(outgoing.read())
    response = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        incoming.write(chunk)
        try:
            while True:
                data = tls.read(65536)
                if not data:  # close_notify
                    break
                response += data
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
            pass
    check(response.startswith(b"HTTP/1.1 200 OK\r\n") and b"window.talk" in response,
          f"the page through the interception: {response[:80]!r}")
    sock.close()
    records = records_of(forward)
    check([r["type"] for r in records] == ["close"], f"records: {records!r}")


def case_mitm_not_tls(ctx):
    """--mitm-ca leaves what is not TLS as it was: a plain upgrade through CONNECT is decoded
    (the same records as without --mitm-ca), and a tunnel whose server speaks first is relayed
    unread, byte for byte."""
    ca, _ = made_ca(ctx)
    upstream = ctx.upstream()
    forward = forward_proxy(ctx, ctx.output(), ["--mitm-ca", ca, "--payload", "base64"])
    raw_upstream_conversation(ctx, forward, upstream, True, upstream.authority)
    client = ctx.track(tunnel(forward, upstream.authority))
    server = ctx.track(upstream.accept())
    banner = b"220 smtp.example ESMTP\r\n"
    server.send(banner)
    client.expect(banner, what="the server's banner")
    hello = b"\x16\x03\x01\x00\x05hello"  # looks like TLS, but after the server spoke
    client.send(hello)
    server.expect(hello, what="the client's bytes")
    client.close()
    server.expect_eof(what="EOF")
    server.close()
    records = records_of(forward)
    hs = of_type(records, "handshake")
    check(len(hs) == 1 and hs[0]["status"] == 101 and "tls" not in hs[0], f"handshake: {hs!r}")
    check(len(of_type(records, "frame")) == 6, "6 frames")
    closes = of_type(records, "close")
    check(len(closes) == 2, f"two close records: {closes!r}")
    opaque = [c for c in closes if c["conn"] != hs[0]["conn"]][0]
    check(opaque["bytes_c2s"] == len(hello) and opaque["bytes_s2c"] == len(banner),
          f"the opaque tunnel's counts: {opaque!r}")
    check(len(records) == 9, f"nothing else: {[r['type'] for r in records]!r}")


def case_mitm_browser(ctx):
    """--mitm-ca with headless Chromium trusting the CA in an NSS database of its own (certutil,
    HOME pointing at it): the page over https:// and its WebSocket over wss://, both through
    CONNECT and intercepted; the WebSocket is recorded with both TLS legs (the page's GET is no
    upgrade: a close record only), Chromium's own requests refused by --allow."""
    ca, paths, port, _ = mitm_setup(ctx)
    home = os.path.join(os.path.dirname(ca), "home")
    nssdb = os.path.join(home, ".pki", "nssdb")
    os.makedirs(nssdb)
    for argv in (["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"],
                 ["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "wssniff", "-i",
                  os.path.join(ca, "ca.pem")]):
        done = subprocess.run(argv, capture_output=True, timeout=20)
        check(done.returncode == 0, f"{argv}: {done.stderr!r}")
    forward = forward_proxy(ctx, ctx.output(), ["--emit", "both", "--allow", "localhost",
                                               "--mitm-ca", ca, "--ca-file", paths["ca.pem"]])
    run_client(["env", f"WSSNIFF_BROWSER_HOME={home}", node(),
                os.path.join(HERE, "browser_page.js"), f"http://{LOOPBACK}:{forward.port}",
                f"https://localhost:{port}/page.html", f"wss://localhost:{port}/echo"],
               "chromium", timeout=60)
    hs = page_websocket(records_of(forward), f"localhost:{port}")
    tls = hs.get("tls") or {}
    check("client" in tls and tls.get("upstream", {}).get("verified") is True, f"tls: {tls!r}")


def case_mitm_usage(ctx):
    """--mitm-ca's mistakes: in reverse mode, a DIR without the CA, --ca-file in forward mode
    without it (exit 2, one line each); a key file others may read (exit 1, one line)."""
    ca, work = made_ca(ctx)
    listen = ["proxy", "--listen", "127.0.0.1:0"]
    cases = [
        (listen + ["--upstream", "ws://127.0.0.1:9", "--mitm-ca", ca], 2, "--mode forward"),
        (listen + ["--mode", "forward", "--mitm-ca", work], 2, "ca create"),
        (listen + ["--mode", "forward", "--ca-file", __file__], 2, "--mitm-ca"),
        (listen + ["--mode", "forward", "--insecure"], 2, "--mitm-ca"),
    ]
    for args, status, saying in cases:
        done = subprocess.run([ctx.wssniff] + args, capture_output=True, timeout=10,
                              stdin=subprocess.DEVNULL)
        err = done.stderr.decode()
        log(f"{args[3:]}: exit {done.returncode}: {err.strip()}")
        check(done.returncode == status and err.count("\n") == 1 and saying in err,
              f"{args}: exit {done.returncode} (expected {status}), one line saying "
              f"{saying!r}: {err!r}")
    os.chmod(os.path.join(ca, "ca.key"), 0o644)
    done = subprocess.run([ctx.wssniff] + listen + ["--mode", "forward", "--mitm-ca", ca],
                          capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    err = done.stderr.decode()
    log(f"key 0644: exit {done.returncode}: {err.strip()}")
    check(done.returncode == 1 and err.count("\n") == 1 and "mode 644" in err and
          "listening" not in err, f"a key readable by others: exit {done.returncode}: {err!r}")


def case_browser(ctx):
    """Headless Chromium with --proxy-server: the page (absolute-form GET, not recorded) and its
    WebSocket (CONNECT) both through the proxy; only the WebSocket is recorded, as in reverse
    mode."""
    port = ws_server(ctx)
    forward = forward_proxy(ctx, ctx.output(), ["--emit", "both", "--allow", LOOPBACK])
    run_client([node(), os.path.join(HERE, "browser_page.js"), f"http://{LOOPBACK}:{forward.port}",
                f"http://{LOOPBACK}:{port}/page.html", f"ws://{LOOPBACK}:{port}/echo"],
               "chromium", timeout=60)
    page_websocket(records_of(forward), f"{LOOPBACK}:{port}")


def page_websocket(records, authority):
    """What browser_page.js leaves through the proxy: one handshake (the page's GET is no
    upgrade, so not recorded), through CONNECT to `authority`, five messages from the page and
    its close; Chromium's own requests (component updates, sign-in) refused by --allow, an
    error and a close each. Returns the handshake record."""
    hs = of_type(records, "handshake")
    check(len(hs) == 1, f"one handshake (the page's GET is not recorded): {len(hs)}")
    check(hs[0]["status"] == 101 and hs[0]["target"] == "/echo", f"handshake: {hs[0]!r}")
    check(hs[0]["proxy"] == {"mode": "connect", "authority": authority},
          f"proxy field: {hs[0].get('proxy')!r}")
    conn = hs[0]["conn"]
    messages = of_type(records, "message", conn)
    texts = [m.get("text") for m in messages if m["dir"] == "c2s" and m["op"] == "text"]
    check(texts[:1] == ["héllo through the proxy ✓"], f"first text: {texts[:1]!r}")
    check(len([m for m in messages if m["dir"] == "c2s"]) == 5, "5 messages from the page")
    check(one_close(records, conn)["frames_c2s"] == 6, "5 frames and a close from the page")
    host = authority.rpartition(":")[0]
    for r in records:
        if r["conn"] == conn or r["type"] == "close":
            continue
        check(r["type"] == "error" and r["code"] == "proxy_denied" and
              host not in r["message"], f"a record of another connection: {r!r}")
    return hs[0]


def case_denied(ctx):
    """A host not in --allow: 403, an error record proxy_denied, and nothing reaches it."""
    upstream = ctx.upstream()
    forward = forward_proxy(ctx, ctx.output(), ["--allow", f"{LOOPBACK}:1",
                                               "--allow", "example.invalid"])
    client = ctx.track(connect(forward.port, "client"))
    client.send(f"CONNECT {upstream.authority} HTTP/1.1\r\nHost: {upstream.authority}\r\n"
                f"\r\n".encode())
    client.expect(b"HTTP/1.1 403 Forbidden\r\n", what="the refusal")
    upstream.listener.settimeout(0.3)
    try:
        upstream.listener.accept()
        raise CheckFailed("the proxy connected to a host not in --allow")
    except OSError:
        pass
    records = records_of(forward)
    errors = of_type(records, "error")
    check(len(errors) == 1 and errors[0]["code"] == "proxy_denied" and
          upstream.authority in errors[0]["message"], f"error record: {errors!r}")
    check(not of_type(records, "handshake"), "no handshake record")
    check(len(of_type(records, "close")) == 1, "one close record")


def case_closed_port(ctx):
    """CONNECT to a port nothing listens on: 502 and an upstream_unreachable record."""
    held, port = unused_port()
    ctx.stack.callback(held.close)
    forward = forward_proxy(ctx, ctx.output())
    client = ctx.track(connect(forward.port, "client"))
    client.send(f"CONNECT {LOOPBACK}:{port} HTTP/1.1\r\n\r\n".encode())
    client.expect(b"HTTP/1.1 502 Bad Gateway\r\n", what="the 502")
    records = records_of(forward)
    errors = of_type(records, "error")
    check(len(errors) == 1 and errors[0]["code"] == "upstream_unreachable" and
          f"{LOOPBACK}:{port}" in errors[0]["message"], f"error record: {errors!r}")
    check(one_close(records, errors[0]["conn"])["reason"] == "upstream_unreachable",
          "close reason upstream_unreachable")


def case_opaque_tunnel(ctx):
    """A tunnel that starts with a TLS ClientHello's first bytes, then garbage, and a server
    that answers garbage: relayed byte for byte, recorded as a close record with the counts
    (no error: wssniff does not pretend to read it)."""
    upstream = ctx.upstream()
    forward = forward_proxy(ctx, ctx.output())
    client = ctx.track(tunnel(forward, upstream.authority))
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(200)) + b"\r\n\r\n"
    client.send(hello)
    server = ctx.track(upstream.accept())
    server.expect(hello, what="the ClientHello")
    answer = b"\x15\x03\x03\x00\x02\x02\x28" + b"\x00garbage" * 1000
    server.send(answer)
    client.expect(answer, what="the garbage answer")
    more = b"GET / HTTP/1.1\r\n\r\n"  # looks like HTTP, but not at the tunnel's start
    client.send(more)
    server.expect(more, what="the later bytes")
    client.close()
    server.expect_eof(what="EOF")
    server.close()
    records = records_of(forward)
    check([r["type"] for r in records] == ["close"], f"only a close record: {records!r}")
    close = records[0]
    check(close["bytes_c2s"] == len(hello) + len(more) and close["bytes_s2c"] == len(answer),
          f"byte counts: {close!r}")
    check(close["reason"] == "client_closed", f"reason: {close['reason']}")


def case_absolute_upgrade(ctx):
    """GET http://HOST:PORT/PATH with Upgrade: forwarded in origin-form without its
    Proxy-Authorization and Proxy-Connection (every other byte as sent); recorded as the client
    sent it, the credentials redacted."""
    upstream = ctx.upstream()
    forward = forward_proxy(ctx, ctx.output())
    client = ctx.track(connect(forward.port, "client"))
    key = websocket_key(3)
    request = (f"GET http://{upstream.authority}/chat?room=1 HTTP/1.1\r\n"
               f"Host: {upstream.authority}\r\n"
               f"Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Proxy-Connection: keep-alive\r\n"
               f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    expected = (f"GET /chat?room=1 HTTP/1.1\r\nHost: {upstream.authority}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    hello = frame(OP_TEXT, b"hi", mask=b"\x01\x02\x03\x04")
    client.send(request + hello)  # a frame right behind the head, in the same write
    server = ctx.track(upstream.accept())
    server.expect(expected + hello, what="the origin-form request and the frame")
    response = upgrade_response(key)
    server.send(response)
    client.expect(response, what="the 101")
    client.close()
    server.expect_eof(what="EOF")
    server.close()
    records = records_of(forward)
    hs = of_type(records, "handshake")
    check(len(hs) == 1, f"one handshake: {records!r}")
    h = hs[0]
    check(h["proxy"] == {"mode": "absolute", "authority": upstream.authority}, f"proxy: {h!r}")
    check(h["target"] == f"http://{upstream.authority}/chat?room=1", f"target: {h['target']}")
    check(["Proxy-Authorization", "Basic [redacted]"] in h["request_headers"],
          f"Proxy-Authorization redacted: {h['request_headers']!r}")
    check(["Proxy-Connection", "keep-alive"] in h["request_headers"], "Proxy-Connection shown")
    check(len(of_type(records, "frame")) == 1, "the client's frame is recorded")
    check(one_close(records, h["conn"])["bytes_c2s"] == len(request + hello),
          "bytes_c2s counts the request as the client sent it")


def case_absolute_plain(ctx):
    """A plain absolute-form GET: relayed in origin-form, nothing recorded."""
    upstream = ctx.upstream()
    forward = forward_proxy(ctx, ctx.output())
    client = ctx.track(connect(forward.port, "client"))
    client.send(f"GET http://{upstream.authority} HTTP/1.1\r\nHost: {upstream.authority}\r\n"
                f"Proxy-Connection: close\r\n\r\n".encode())
    server = ctx.track(upstream.accept())
    server.expect(f"GET / HTTP/1.1\r\nHost: {upstream.authority}\r\n\r\n".encode(),
                  what="the origin-form GET")
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    server.send(body)
    client.expect(body, what="the response")
    server.close()
    client.expect_eof(what="EOF")
    client.close()
    check(records_of(forward) == [], "nothing recorded")


def case_usage(ctx):
    """Forward mode's usage mistakes: one line, exit 2 (a non-loopback listener without
    --allow would be an open relay)."""
    for args, saying in [
            (["--mode", "forward", "--listen", "0.0.0.0:0"], "open relay"),
            (["--mode", "forward", "--upstream", "ws://127.0.0.1:9"], "--upstream"),
            (["--allow", "example.com", "--upstream", "ws://127.0.0.1:9"], "--mode forward"),
            (["--mode", "forward", "--allow", "example.com:x"], "--allow"),
            (["--mode", "forward", "--tls-cert", __file__, "--tls-key", __file__], "--tls-cert"),
            ([], "--upstream")]:
        argv = [ctx.wssniff, "proxy", "--listen", "127.0.0.1:0"] + args
        if "--listen" in args:
            argv = [ctx.wssniff, "proxy"] + args
        done = subprocess.run(argv, capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        err = done.stderr.decode()
        log(f"{args}: exit {done.returncode}: {err.strip()}")
        check(done.returncode == 2, f"{args}: exit {done.returncode}, expected 2: {err!r}")
        check(err.count("\n") == 1 and saying in err, f"{args}: one line saying {saying!r}: "
                                                      f"{err!r}")


def case_ca_create(ctx):
    """`wssniff ca create DIR`: a CA key and certificate, both 0600, the certificate a CA's
    (openssl checks it and its key), and never replaced by a second run (exit 1, one line)."""
    import stat
    import tempfile
    work = tempfile.mkdtemp(prefix="wssniff-ca-")
    ctx.stack.callback(lambda: subprocess.run(["rm", "-rf", work]))
    ca = os.path.join(work, "ca")
    done = subprocess.run([ctx.wssniff, "ca", "create", ca], capture_output=True, timeout=10)
    check(done.returncode == 0, f"ca create: exit {done.returncode}: {done.stderr!r}")
    check(stat.S_IMODE(os.stat(ca).st_mode) == 0o700, "DIR created 0700")
    for name in ("ca.key", "ca.pem"):
        mode = stat.S_IMODE(os.stat(os.path.join(ca, name)).st_mode)
        check(mode == 0o600, f"{name} is mode {mode:o}, expected 600")
    text = subprocess.run(["openssl", "x509", "-in", os.path.join(ca, "ca.pem"), "-noout",
                           "-text"], capture_output=True, timeout=10).stdout.decode()
    check("CA:TRUE" in text and "Certificate Sign" in text, f"not a CA certificate: {text}")
    cert_key = subprocess.run(["openssl", "x509", "-in", os.path.join(ca, "ca.pem"), "-noout",
                               "-pubkey"], capture_output=True, timeout=10).stdout
    key_key = subprocess.run(["openssl", "pkey", "-in", os.path.join(ca, "ca.key"), "-pubout"],
                             capture_output=True, timeout=10).stdout
    check(cert_key and cert_key == key_key, "the certificate is for the key")
    verified = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(ca, "ca.pem"),
                               os.path.join(ca, "ca.pem")], capture_output=True, timeout=10)
    check(verified.returncode == 0, f"self-signed: {verified.stdout!r} {verified.stderr!r}")
    before = open(os.path.join(ca, "ca.key"), "rb").read()
    again = subprocess.run([ctx.wssniff, "ca", "create", ca], capture_output=True, timeout=10)
    err = again.stderr.decode()
    check(again.returncode == 1 and err.count("\n") == 1 and "exists" in err,
          f"a second create: exit {again.returncode}, {err!r}")
    check(open(os.path.join(ca, "ca.key"), "rb").read() == before, "the key was not replaced")


CASES = [case_connect_same_as_reverse, case_connect_ws, case_connect_websocketpp, case_browser,
         case_denied, case_closed_port, case_opaque_tunnel, case_absolute_upgrade,
         case_absolute_plain, case_usage, case_ca_create, case_mitm_ws, case_mitm_failures,
         case_mitm_not_tls, case_mitm_usage, case_mitm_browser, case_mitm_split_hello,
         case_mitm_websocketpp]

if __name__ == "__main__":
    for c in CASES:
        c.__name__ = c.__name__[len("case_"):]
    sys.exit(run_cases(__doc__, CASES, prefix="forward"))

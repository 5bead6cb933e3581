#!/usr/bin/python3
"""Bad TLS input to `wssniff proxy`, one case per run:

    run_tls_failures.py CASE --wssniff BIN --records-out FILE --work DIR --validate PY
                        --schema FILE

Upstream servers are python3-websockets echo servers in this process (over TLS with the
certificates certs.py makes for the run). In every case that starts a proxy, a good connection
is opened first and stays open across the bad one; afterwards it must still echo, a new good
connection must work, and the proxy must stop cleanly on SIGTERM (exit 0). Then the case
checks what the bad connection got and the records it left, and the records are validated
against the schema.
"""

import argparse
import asyncio
import json
import re
import signal
import ssl
import subprocess
import time
import sys
from pathlib import Path

import websockets

from wssniff_kit.processes import PYTHON, Failure

import certs

TIMEOUT_S = 20


def expect(ok, what):
    if not ok:
        raise Failure(what)


async def echo(ws):
    async for m in ws:
        await ws.send(m)


def server_context(paths, name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(paths[f"{name}.pem"], paths[f"{name}.key"])
    return ctx


def client_context(paths):
    return ssl.create_default_context(cafile=paths["ca.pem"])


class TlsProxy:
    def __init__(self, args, extra, output):
        self.output = output
        self.proc = subprocess.Popen([args.wssniff, "proxy", "--listen", "127.0.0.1:0",
                                      "--output", str(output), *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stderr_lines = []

    async def started(self):
        loop = asyncio.get_running_loop()
        while True:
            line = await asyncio.wait_for(loop.run_in_executor(None, self.proc.stderr.readline),
                                          TIMEOUT_S)
            if not line:
                raise Failure(f"the proxy exited ({self.proc.wait()}) before listening: "
                              f"{self.stderr_lines}")
            line = line.decode()
            self.stderr_lines.append(line)
            m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
            if m:
                self.port = int(m.group(1))
                return self

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure("the proxy did not stop on SIGTERM")
        self.stderr_lines += err.decode().splitlines(keepends=True)
        expect(self.proc.returncode == 0, f"proxy exit status {self.proc.returncode} after "
                                          f"SIGTERM; stderr {self.stderr_lines}")
        expect(out == b"", f"proxy stdout with --output: {out!r}")
        return [json.loads(line) for line in Path(self.output).read_bytes().splitlines()]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


async def good_session(port, tls_context):
    """A connection through the proxy that works: opened, and echoing."""
    scheme = "wss" if tls_context else "ws"
    ws = await asyncio.wait_for(websockets.connect(f"{scheme}://127.0.0.1:{port}/good",
                                                   ssl=tls_context, ping_interval=None),
                                TIMEOUT_S)
    await ws.send("before")
    expect(await asyncio.wait_for(ws.recv(), TIMEOUT_S) == "before", "echo before")
    return ws


async def still_good(ws, port, tls_context):
    await ws.send("after")
    expect(await asyncio.wait_for(ws.recv(), TIMEOUT_S) == "after",
           "the open connection stopped echoing after the bad one")
    await ws.close()
    fresh = await good_session(port, tls_context)
    await fresh.close()


async def raw_exchange(port, data, tls_context=None):
    """Sends `data` (over TLS when a context is given) and returns all the peer sends back
    until it closes; an ssl error is returned as the exception."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=tls_context,
                                    server_hostname="127.0.0.1" if tls_context else None),
            TIMEOUT_S)
    except (ssl.SSLError, ConnectionError) as e:
        return e
    writer.write(data)
    try:
        got = await asyncio.wait_for(reader.read(), TIMEOUT_S)
    except (ssl.SSLError, ConnectionError) as e:
        return e
    writer.close()
    return got


UPGRADE = (b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")


def of_conn(records, conn):
    return [r for r in records if r["conn"] == conn]


def check_good(records, conns):
    for conn in conns:
        rs = of_conn(records, conn)
        expect(rs and rs[0]["type"] == "handshake" and rs[0]["status"] == 101,
               f"connection {conn}: no 101 handshake record: {rs[:1]}")
        expect(rs[-1]["type"] == "close", f"connection {conn}: no close record")


async def rejected_upstream(args, paths, work, cert, host, extra, reason):
    """The upstream presents a certificate the proxy must refuse: the client gets a 502 that
    says why, and the records say it too."""
    async with websockets.serve(echo, "127.0.0.1", 0, ssl=server_context(paths, cert)) as bad, \
            websockets.serve(echo, "127.0.0.1", 0) as plain:
        bad_port = bad.sockets[0].getsockname()[1]
        # The good connection goes to a second proxy in front of a plain server, so that the
        # first proxy's only upstream stays the bad one; both run at once.
        good_proxy = await TlsProxy(args, ["--upstream",
                                           f"ws://127.0.0.1:{plain.sockets[0].getsockname()[1]}"],
                                    work / "good.ndjson").started()
        p = await TlsProxy(args, ["--upstream", f"wss://{host}:{bad_port}", *extra],
                           Path(args.records_out)).started()
        try:
            good = await good_session(good_proxy.port, None)
            got = await raw_exchange(p.port, UPGRADE)
            expect(isinstance(got, bytes), f"the client got {got!r} instead of a response")
            head, _, body = got.partition(b"\r\n\r\n")
            expect(head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), f"response {got!r}")
            expect(reason.encode() in body, f"the 502's body {body!r} does not say {reason!r}")
            await still_good(good, good_proxy.port, None)
            records = p.stop()
            good_proxy.stop()
        finally:
            p.kill()
            good_proxy.kill()
    expect([r["type"] for r in records] == ["error", "close"], f"records {records}")
    error, close = records
    expect(error["code"] == "upstream_unreachable" and error["fatal"] is True,
           f"error record {error}")
    expect(reason in error["message"], f"error message {error['message']!r} does not say "
                                       f"{reason!r}")
    expect(close["reason"] == "upstream_unreachable", f"close record {close}")
    expect(p.stderr_lines == [f"listening on 127.0.0.1:{p.port}\n"],
           f"proxy stderr {p.stderr_lines}")


async def case_expired(args, paths, work):
    await rejected_upstream(args, paths, work, "expired", "127.0.0.1",
                            ["--ca-file", paths["ca.pem"]],
                            "the upstream's TLS certificate was rejected: certificate has expired")


async def case_wrong_host(args, paths, work):
    # By name, so that the SNI and the host name check are the ones at work.
    await rejected_upstream(args, paths, work, "wrong_host", "localhost",
                            ["--ca-file", paths["ca.pem"]],
                            "the upstream's TLS certificate was rejected: hostname mismatch")


async def case_wrong_ip(args, paths, work):
    await rejected_upstream(args, paths, work, "wrong_host", "127.0.0.1",
                            ["--ca-file", paths["ca.pem"]],
                            "the upstream's TLS certificate was rejected: IP address mismatch")


async def case_untrusted(args, paths, work):
    # No --ca-file: the system's CA store does not know the test CA.
    await rejected_upstream(args, paths, work, "server", "127.0.0.1", [],
                            "the upstream's TLS certificate was rejected: unable to get local "
                            "issuer certificate")


async def case_plain_upstream(args, paths, work):
    # wss:// to a server that speaks plain HTTP: the handshake fails, and the 502 says so.
    async with websockets.serve(echo, "127.0.0.1", 0) as plain:
        port = plain.sockets[0].getsockname()[1]
        p = await TlsProxy(args, ["--upstream", f"wss://127.0.0.1:{port}", "--ca-file",
                                  paths["ca.pem"], "--connect-timeout", "5"],
                           Path(args.records_out)).started()
        try:
            got = await raw_exchange(p.port, UPGRADE)
            records = p.stop()
        finally:
            p.kill()
    expect(isinstance(got, bytes) and got.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"),
           f"response {got!r}")
    expect(b"TLS" in got, f"the 502 does not mention TLS: {got!r}")
    expect([r["type"] for r in records] == ["error", "close"], f"records {records}")
    expect(records[1]["reason"] == "upstream_unreachable", f"close record {records[1]}")


async def case_insecure(args, paths, work):
    # --insecure: the expired certificate is accepted, with a warning, and the record says
    # it was not verified.
    async with websockets.serve(echo, "127.0.0.1", 0,
                                ssl=server_context(paths, "expired")) as bad:
        port = bad.sockets[0].getsockname()[1]
        p = await TlsProxy(args, ["--upstream", f"wss://127.0.0.1:{port}", "--insecure"],
                           Path(args.records_out)).started()
        try:
            ws = await good_session(p.port, None)
            await ws.close()
            records = p.stop()
        finally:
            p.kill()
    expect(any("--insecure" in line and "not verified" in line for line in p.stderr_lines),
           f"no warning about --insecure: {p.stderr_lines}")
    hs = records[0]
    expect(hs["type"] == "handshake" and hs["status"] == 101, f"first record {hs}")
    expect(hs["tls"]["upstream"]["verified"] is False, f"tls {hs['tls']}")
    expect(hs["tls"]["upstream"]["subject"] == "CN=localhost", f"tls {hs['tls']}")


async def case_plain_client_to_tls_listener(args, paths, work):
    async with websockets.serve(echo, "127.0.0.1", 0) as up:
        port = up.sockets[0].getsockname()[1]
        p = await TlsProxy(args, ["--upstream", f"ws://127.0.0.1:{port}", "--tls-cert",
                                  paths["server.pem"], "--tls-key", paths["server.key"]],
                           Path(args.records_out)).started()
        try:
            tls = client_context(paths)
            good = await good_session(p.port, tls)
            got = await raw_exchange(p.port, UPGRADE)
            await still_good(good, p.port, tls)
            records = p.stop()
        finally:
            p.kill()
    expect(isinstance(got, bytes) and got.startswith(b"HTTP/1.1 400 Bad Request\r\n") and
           b"wss://" in got, f"a plain request to the TLS port got {got!r}")
    # Connections: 1 good (open across), 2 the plain one, 3 the fresh good one.
    check_good(records, [1, 3])
    bad = of_conn(records, 2)
    expect([r["type"] for r in bad] == ["error", "close"], f"records of the plain connection: {bad}")
    expect(bad[0]["code"] == "client_tls_failed" and "plain HTTP" in bad[0]["message"],
           f"the error record says what went wrong: {bad[0]}")
    expect(bad[1]["bytes_c2s"] == 0 and bad[1]["bytes_s2c"] == 0, f"close record {bad[1]}")


async def case_tls_client_to_plain_listener(args, paths, work):
    async with websockets.serve(echo, "127.0.0.1", 0) as up:
        port = up.sockets[0].getsockname()[1]
        # The ClientHello is not HTTP: the proxy says so at once and steps aside (the bytes go
        # on to the upstream, which closes); the handshake timeout must not be what ends it.
        p = await TlsProxy(args, ["--upstream", f"ws://127.0.0.1:{port}", "--handshake-timeout",
                                  "20"], Path(args.records_out)).started()
        try:
            good = await good_session(p.port, None)
            started = time.monotonic()
            got = await raw_exchange(p.port, UPGRADE, client_context(paths))
            took = time.monotonic() - started
            await still_good(good, p.port, None)
            records = p.stop()
        finally:
            p.kill()
    expect(isinstance(got, Exception), f"a TLS client to the plain port got {got!r}")
    expect(took < 10, f"the TLS client waited {took:.1f} s")
    check_good(records, [1, 3])
    bad = of_conn(records, 2)
    expect([r["type"] for r in bad] == ["error", "close"], f"records of the TLS connection: {bad}")
    expect(bad[0]["code"] == "malformed_head" and "TLS handshake" in bad[0]["message"] and
           bad[0]["fatal"] is True and bad[0]["dir"] == "c2s", f"error record {bad[0]}")
    expect(bad[-1]["reason"] != "timeout", f"close record {bad[-1]}")


def start_failure(args, extra):
    run = subprocess.run([args.wssniff, "proxy", "--listen", "127.0.0.1:0", "--upstream",
                          "ws://127.0.0.1:9", *extra], capture_output=True, text=True,
                         timeout=TIMEOUT_S)
    return run.returncode, run.stdout, run.stderr


async def case_key_mismatch(args, paths, work):
    status, out, err = start_failure(args, ["--tls-cert", paths["server.pem"], "--tls-key",
                                            paths["stray.key"]])
    expect(status == 1, f"exit status {status}, expected 1")
    expect(out == "", f"stdout {out!r}")
    expect(err == f"wssniff: --tls-key {paths['stray.key']} does not match the certificate in "
                  f"--tls-cert {paths['server.pem']}\n", f"stderr {err!r}")


async def case_key_unreadable(args, paths, work):
    not_a_key = work / "not_a_key.pem"
    not_a_key.write_text("not a key\n")
    status, out, err = start_failure(args, ["--tls-cert", paths["server.pem"], "--tls-key",
                                            str(not_a_key)])
    expect(status == 1, f"exit status {status}, expected 1")
    expect(err.startswith(f"wssniff: cannot use --tls-key {not_a_key}: ") and
           err.count("\n") == 1, f"stderr {err!r}")


async def case_ca_file_unreadable(args, paths, work):
    not_a_ca = work / "not_a_ca.pem"
    not_a_ca.write_text("not a certificate\n")
    run = subprocess.run([args.wssniff, "proxy", "--listen", "127.0.0.1:0", "--upstream",
                          "wss://127.0.0.1:9", "--ca-file", str(not_a_ca)],
                         capture_output=True, text=True, timeout=TIMEOUT_S)
    expect(run.returncode == 1, f"exit status {run.returncode}, expected 1")
    expect(run.stderr.startswith(f"wssniff: cannot use --ca-file {not_a_ca}: ") and
           run.stderr.count("\n") == 1, f"stderr {run.stderr!r}")


CASES = {name[len("case_"):]: f for name, f in globals().items() if name.startswith("case_")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--wssniff", required=True)
    parser.add_argument("--records-out", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--validate", required=True)
    parser.add_argument("--schema", required=True)
    args = parser.parse_args()
    work = Path(args.work)
    paths = certs.make(work / "certs")
    records_out = Path(args.records_out)
    if records_out.exists():
        records_out.unlink()
    try:
        asyncio.run(asyncio.wait_for(CASES[args.case](args, paths, work), 3 * TIMEOUT_S))
    except (Failure, asyncio.TimeoutError) as e:
        print(f"FAIL {args.case}: {e!r}", file=sys.stderr)
        return 1
    # Cases that stop the proxy at its start write no records.
    if records_out.exists():
        v = subprocess.run([PYTHON, args.validate, "--schema", args.schema, args.records_out],
                           capture_output=True, text=True, timeout=60)
        if v.returncode != 0:
            print(f"FAIL {args.case}: schema validation: {v.stdout}{v.stderr}", file=sys.stderr)
            return 1
    print(f"{args.case}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

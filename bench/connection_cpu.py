#!/usr/bin/env python3
# CPU time `wssniff proxy` spends per connection: N connections one after the other, each the
# browser upgrade request of bench/handshake_bench.cpp, a 101, then FIN both ways, against a
# Python upstream; prints the proxy's utime + stime (/proc/PID/stat) divided by N.
#
#   /usr/bin/python3 bench/connection_cpu.py BINARY N [proxy options...]
#
# The first 200 connections warm up and are not counted. Clock ticks are 10 ms, so N should be
# in the thousands.
import os, socket, subprocess, sys, threading, time

binary, n = sys.argv[1], int(sys.argv[2])
extra = sys.argv[3:]
REQ = (b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: localhost:8080\r\n"
       b"Connection: Upgrade\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n"
       b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
       b"Chrome/120.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\nOrigin: http://localhost:8080\r\n"
       b"Sec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br\r\n"
       b"Accept-Language: en-GB,en-US;q=0.9,en;q=0.8\r\n"
       b"Cookie: sessionid=k3v9q0x7c2m4n8b1z6l5j0h3g7f2d9s4; csrftoken=Xb4Rt9LmQ2wZ8vN1cK7yP3sJ6hD0fG5a"
       b"; _ga=GA1.1.1803459203.1700000000\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
RESP = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")

def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise RuntimeError("eof before head end")
        buf += d
    return buf

up = socket.socket(); up.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
up.bind(("127.0.0.1", 0)); up.listen(64)
def serve():
    while True:
        c, _ = up.accept()
        read_head(c); c.sendall(RESP)
        while c.recv(4096):
            pass
        c.close()
threading.Thread(target=serve, daemon=True).start()

p = subprocess.Popen([binary, "proxy", "--upstream", f"ws://127.0.0.1:{up.getsockname()[1]}",
                      "--listen", "127.0.0.1:0", "--output", "/dev/null"] + extra,
                     stderr=subprocess.PIPE, text=True)
line = p.stderr.readline()
port = int(line.strip().rsplit(":", 1)[1])

def cpu():
    f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def one():
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(REQ); read_head(s); s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()

for _ in range(200):
    one()
time.sleep(0.2)
c0 = cpu(); t0 = time.time()
for _ in range(n):
    one()
time.sleep(0.3)
c1 = cpu()
p.terminate(); p.wait()
print(f"{n} connections, {extra or 'default options'}: proxy CPU {1e6 * (c1 - c0) / n:.1f} us per connection, wall {1e6 * (time.time() - t0) / n:.0f} us")

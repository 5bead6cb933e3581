"""HTTP/1.1 upgrade heads (RFC 6455 §4) built and read byte by byte: keys, accepts, requests,
responses, and the Host rewrite `wssniff proxy` makes by default.
"""

import base64
import hashlib

from wssniff_kit.checks import check

# RFC 6455 §1.3
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_key(n):
    return base64.b64encode(hashlib.sha256(b"key %d" % n).digest()[:16])


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key + WEBSOCKET_GUID).digest())


def upgrade_request(host, key, target="/chat", extra=()):
    lines = [b"GET " + target.encode() + b" HTTP/1.1",
             b"Host: " + host.encode(),
             b"Upgrade: websocket",
             b"Connection: Upgrade",
             b"Sec-WebSocket-Key: " + key,
             b"Sec-WebSocket-Version: 13"]
    lines += [name.encode() + b": " + value.encode() for name, value in extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def upgrade_response(key, extra=()):
    lines = [b"HTTP/1.1 101 Switching Protocols",
             b"Upgrade: websocket",
             b"Connection: Upgrade",
             b"Sec-WebSocket-Accept: " + accept_for(key)]
    lines += [name.encode() + b": " + value.encode() for name, value in extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def take_upgrade_response(inbox, key, who):
    """The response head at the front of `inbox`, taken off it and checked to be a 101 that
    answers `key`; None while it is incomplete."""
    end = inbox.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(inbox[:end + 4])
    del inbox[:end + 4]
    check(head.startswith(b"HTTP/1.1 101 ") and accept_for(key) in head,
          f"{who}: not a 101 for its key: {head[:200]!r}")
    return head


def rewrite_host(request, authority):
    """What the proxy forwards by default (--host-header upstream): the value of the first Host
    line becomes the upstream authority; its name, the spaces around the value and every other
    byte stay as the client sent them."""
    head_end = request.index(b"\r\n\r\n") + 4
    head, rest = request[:head_end], request[head_end:]
    lines = head.split(b"\r\n")
    for i in range(1, len(lines)):
        if lines[i].lower().startswith(b"host:"):
            name, _, value = lines[i].partition(b":")
            leading = value[: len(value) - len(value.lstrip(b" \t"))]
            trailing = value[len(value.rstrip(b" \t")):]
            lines[i] = name + b":" + leading + authority.encode() + trailing
            break
    return b"\r\n".join(lines) + rest


def header_key(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return value.strip()
    return None


def header_list(head):
    """[[name, value], ...] in wire order, as handshake records give them."""
    fields = []
    for line in head.split(b"\r\n")[1:]:
        if not line:
            break
        name, _, value = line.partition(b":")
        fields.append([name.decode(), value.strip(b" \t").decode()])
    return fields

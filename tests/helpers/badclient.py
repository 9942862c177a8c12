#!/usr/bin/env python3
"""Clients that misbehave where wsraw.py cannot: before or around the
WebSocket handshake, by the hundred, or with payloads too large for argv.

Usage: badclient.py MODE ARGS...
  http PORT REQUEST     write REQUEST (Python escapes: \\r\\n, \\xNN) and print
                        what comes back: "STATUS n" (the HTTP status) or "EOF"
  header PORT PATH SIZE a valid handshake on PATH with one more header of SIZE
                        bytes; prints as http does
  silent PORT           connect and send nothing; "EOF" once the server hangs up
  dribble PORT PATH     send a request line, then one header line at a time,
                        never the blank line that ends them; "EOF" as silent
  flood URL N           open N WebSocket connections at once; one line for each:
                        "CLOSE code reason", "EOF", "OPEN" (still open at the
                        timeout) or "FAILED why"
  early PORT PATH whole|cut
                        a ping written with the handshake, before its answer
                        (RFC 6455 4.1 forbids it): whole, or its first 3 bytes
                        (the rest once the answer came); then a ping "late".
                        One line for each frame back: "PONG payload",
                        "CLOSE code reason", then "EOF" or "TIMEOUT"
  hold URL N            open N WebSocket connections, print "held N" and keep
                        them (answering pings) until killed
  nonreader PORT PATH CHANNEL
                        subscribe to CHANNEL, print "subscribed", then never read
                        again (a slow consumer)
  steps URL STEP...     run steps on one connection, as wsraw.py does:
                          textfile:PATH   a text frame with the bytes of PATH
                          subs:N:PREFIX   subscribe to PREFIX0 .. PREFIX(N-1)
                          unsubs:N:PREFIX unsubscribe from the same
                          text:PAYLOAD, recv:N, close, expect-close as in wsraw.py
Options (before MODE): --timeout S (each wait, default 10), --repeat N (run
MODE N times in a row, printing each answer).
Exit 0, 2 on a timeout, 3 when a connection failed.
"""
import base64
import json
import os
import select
import socket
import sys
import time
from urllib.parse import urlparse

# Borrow wsraw.py's client, leaving no compiled copy in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsraw  # noqa: E402

TIMEOUT = 10.0


def key():
    return base64.b64encode(os.urandom(16)).decode()


def handshake(port, path, extra=""):
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key()}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def answer(s):
    """The status of the server's answer, or EOF when it hung up first."""
    buf = b""
    deadline = time.monotonic() + TIMEOUT
    while b"\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return "TIMEOUT"
        s.settimeout(left)
        try:
            c = s.recv(4096)
        except socket.timeout:
            return "TIMEOUT"
        except ConnectionResetError:
            c = b""
        if not c:
            return "EOF" if not buf else "GARBLED " + repr(buf[:40])
        buf += c
    line = buf.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split()
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        return "STATUS " + parts[1]
    return "GARBLED " + repr(line[:40])


def send_then_answer(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        s.sendall(data)
    except OSError:
        pass
    print(answer(s), flush=True)


def wait_hangup(s, feed=None):
    """Waits until the server closes; feed() is called every 0.2 s."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            try:
                c = s.recv(4096)
            except ConnectionResetError:
                c = b""
            if not c:
                print("EOF", flush=True)
                return 0
            print(answer_from(c), flush=True)
            return 0
        if feed:
            try:
                feed()
            except OSError:
                print("EOF", flush=True)
                return 0
    print("TIMEOUT", flush=True)
    return 2


def answer_from(chunk):
    parts = chunk.split(b"\r\n", 1)[0].split()
    if len(parts) >= 2 and parts[1].isdigit():
        return "STATUS " + parts[1].decode()
    return "GARBLED " + repr(chunk[:40])


def flood(url, n):
    u = urlparse(url)
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection((u.hostname, u.port), timeout=TIMEOUT)
            s.sendall(handshake(u.port, u.path))
            socks.append(s)
        except OSError as e:
            print(f"FAILED {e}", flush=True)
    for s in socks:
        c = wsraw.Client.__new__(wsraw.Client)
        c.sock, c.pong, c.print_pings, c.closed = s, True, False, None
        st = answer_head(s, c)
        if st != "STATUS 101":
            print(st, flush=True)
            continue
        try:
            c.next_message(time.monotonic() + TIMEOUT)
            print("OPEN", flush=True)
        except wsraw.Closed:
            print(f"CLOSE {c.closed[0]} {c.closed[1]}" if c.closed else "EOF", flush=True)
        except TimeoutError:
            print("OPEN", flush=True)
    for s in socks:
        s.close()


def answer_head(s, c):
    """Reads the handshake answer, leaves what follows it in c.buf for c to
    read frames from, and returns its status."""
    buf = b""
    deadline = time.monotonic() + TIMEOUT
    while b"\r\n\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return "TIMEOUT"
        s.settimeout(left)
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            return "TIMEOUT"
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return "EOF"
        buf += chunk
    head, c.buf = buf.split(b"\r\n\r\n", 1)
    return answer_from(head)


def hold(url, n):
    clients = [wsraw.Client(url, TIMEOUT) for _ in range(n)]
    print(f"held {len(clients)}", flush=True)
    socks = {c.sock: c for c in clients}
    while socks:
        r, _, _ = select.select(list(socks), [], [], 1)
        for s in r:
            try:
                socks[s].next_message(time.monotonic() + TIMEOUT)
            except (wsraw.Closed, TimeoutError, OSError):
                del socks[s]
    return 0


def read_head(s, chunk):
    """The server's answer to the handshake, read chunk bytes at a time
    (and what came after it, with more than 1); None, said, if it hung up."""
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(chunk)
        if not c:
            print("FAILED handshake", flush=True)
            return None
        head += c
    return head

def nonreader(port, path, channel):
    s = socket.socket()
    # Small buffers on our side: the server's queue for us fills up soon.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(handshake(port, path))
    head = read_head(s, 1)
    if head is None:
        return 3
    if b" 101 " not in head.split(b"\r\n")[0] + b" ":
        print("FAILED " + head.split(b"\r\n")[0].decode(), flush=True)
        return 3
    for text in ('{"action":"CLIENT_READY","channel":""}',
                 '{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"%s"}' % channel):
        b = text.encode()
        s.sendall(bytes([0x81, 0x80 | len(b)]) + bytes(4) + b)
    print("subscribed", flush=True)
    # Never read again: the server has to give up on us.
    time.sleep(120)
    return 0


def early(port, path, how):
    ping = bytes([0x89, 0x80 | 5]) + bytes(4) + b"early"
    first = ping if how == "whole" else ping[:3]
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(handshake(port, path) + first)
    head = read_head(s, 4096)
    if head is None:
        return 3
    head, rest = head.split(b"\r\n\r\n", 1)
    s.sendall(ping[len(first):] + bytes([0x89, 0x80 | 4]) + bytes(4) + b"late")
    deadline = time.monotonic() + TIMEOUT
    while True:
        while len(rest) >= 2 and len(rest) >= 2 + (rest[1] & 0x7f):
            n = rest[1] & 0x7f
            op, payload, rest = rest[0] & 0x0f, rest[2:2 + n], rest[2 + n:]
            if op == 0xA:
                print("PONG " + payload.decode("utf-8", "replace"), flush=True)
            elif op == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                print(f"CLOSE {code} {payload[2:].decode('utf-8', 'replace')}", flush=True)
        left = deadline - time.monotonic()
        if left <= 0:
            print("TIMEOUT", flush=True)
            return 0
        s.settimeout(left)
        try:
            c = s.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            c = b""
        if not c:
            print("EOF", flush=True)
            return 0
        rest += c


def steps(url, args):
    try:
        c = wsraw.Client(url, TIMEOUT)
    except (OSError, ConnectionError) as e:
        print(f"badclient: connect failed: {e}", file=sys.stderr)
        return 3
    try:
        for step in args:
            kind, _, rest = step.partition(":")
            if kind == "textfile":
                with open(rest, "rb") as f:
                    c.send(0x1, f.read())
            elif kind in ("subs", "unsubs"):
                n, _, prefix = rest.partition(":")
                action = "SUBSCRIBE_CHANNEL_ACTION" if kind == "subs" else \
                    "UNSUBSCRIBE_CHANNEL_ACTION"
                frames = b"".join(c.frame(0x1, json.dumps(
                    {"action": action, "channel": f"{prefix}{i}"}).encode())
                    for i in range(int(n)))
                c.sock.sendall(frames)
            elif kind == "text":
                c.send(0x1, rest.encode())
            elif kind == "recv":
                deadline = time.monotonic() + TIMEOUT
                for _ in range(int(rest)):
                    _, payload = c.next_message(deadline)
                    print(payload.decode("utf-8", "replace"), flush=True)
            elif kind in ("close", "expect-close"):
                if kind == "close":
                    c.send(0x8, (1000).to_bytes(2, "big"))
                deadline = time.monotonic() + TIMEOUT
                while True:
                    c.next_message(deadline)
            else:
                print(f"badclient: unknown step {step}", file=sys.stderr)
                return 64
    except wsraw.Closed:
        print(f"CLOSE {c.closed[0]} {c.closed[1]}" if c.closed else "EOF", flush=True)
    except TimeoutError:
        print("TIMEOUT", flush=True)
        return 2
    return 0


def main(argv):
    global TIMEOUT
    repeat = 1
    while len(argv) >= 2 and argv[0] in ("--timeout", "--repeat"):
        if argv[0] == "--timeout":
            TIMEOUT = float(argv[1])
        else:
            repeat = int(argv[1])
        argv = argv[2:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 64
    rc = 0
    for _ in range(repeat):
        rc = run(argv[0], argv[1:]) or rc
    return rc


def run(mode, args):
    try:
        if mode == "http":
            send_then_answer(int(args[0]),
                             args[1].encode("latin-1").decode("unicode_escape")
                             .encode("latin-1"))
        elif mode == "header":
            port, path, size = int(args[0]), args[1], int(args[2])
            send_then_answer(port, handshake(port, path, f"X-Padding: {'a' * size}\r\n"))
        elif mode == "silent":
            s = socket.create_connection(("127.0.0.1", int(args[0])), timeout=TIMEOUT)
            return wait_hangup(s)
        elif mode == "dribble":
            port, path = int(args[0]), args[1]
            s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
            n = [0]

            def feed():
                n[0] += 1
                s.sendall(b"X-Slow-%d: y\r\n" % n[0])
            return wait_hangup(s, feed)
        elif mode == "flood":
            flood(args[0], int(args[1]))
        elif mode == "early":
            return early(int(args[0]), args[1], args[2])
        elif mode == "hold":
            return hold(args[0], int(args[1]))
        elif mode == "nonreader":
            return nonreader(int(args[0]), args[1], args[2])
        elif mode == "steps":
            return steps(args[0], args[1:])
        else:
            print(__doc__, file=sys.stderr)
            return 64
    except OSError as e:
        print(f"FAILED {e}", flush=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

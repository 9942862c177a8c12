#!/usr/bin/env python3
"""A raw WebSocket client for tests: it sends what it is told, byte for byte,
including what no well-behaved client would send, and reports what it gets.

Usage: wsraw.py URL [STEP]...
Steps, run in order:
  text:PAYLOAD      send a text frame (PAYLOAD as UTF-8)
  hex:HEX           send a text frame whose payload is these bytes
  binary:PAYLOAD    send a binary frame
  frag:N:PAYLOAD    send PAYLOAD as a text message in N fragments
  big:N             send a text frame of N bytes ('x' * N), streamed
  bigjson:N         send {"channel":"c","data":"xx..."} of N bytes in total
  part:N            send N bytes ('x') as one more fragment of a text message
                    that is never finished (the first one starts it)
  rawbytes:HEX      write raw bytes to the socket (malformed frames)
  dribble:HEX       the same, a byte at a time, 2 ms apart
  pong:HEX          wait for a pong with this payload; print "PONG hex" for
                    each pong until then
  repeat:K:PAYLOAD  send K text frames
  recv:N            wait for N data frames and print each on a line
  expect-close      wait for the server's close; print "CLOSE code reason"
  sleep:S           wait S seconds, answering pings (or not, see --no-pong)
  hold:S            keep the connection S seconds, printing frames
  close             send a close frame (1000) and wait for the answer
Options: --no-pong (never answer pings), --timeout S (per wait, default 10),
--print-pings, --close-wait S (after the server's close: answer it, or not
with --no-close-answer, then print "TCP closed" if the server ends the TCP
connection within S seconds, "TCP open" if not), --origin ORIGIN (send an Origin header), --source ADDR (connect
from this local address). wss:// URLs are taken without checking the
certificate unless --cafile FILE names the one to trust. Exit 0, or 2 on a timeout, 3 when the connection failed.
"""
import base64
import os
import socket
import ssl
import struct
import sys
import time
from urllib.parse import urlparse


class Closed(Exception):
    pass


class Client:
    def __init__(self, url, timeout, pong=True, print_pings=False, origin=None,
                 source=None, cafile=None, close_answer=True):
        u = urlparse(url)
        tls = u.scheme == "wss"
        self.sock = socket.create_connection((u.hostname, u.port or (443 if tls else 80)),
                                             timeout=timeout,
                                             source_address=(source, 0) if source else None)
        if tls:
            ctx = ssl.create_default_context(cafile=cafile)
            if not cafile:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock, server_hostname=u.hostname)
        self.parts_sent = 0
        key = base64.b64encode(os.urandom(16)).decode()
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        req = (f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               + (f"Origin: {origin}\r\n" if origin else "") + "\r\n")
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("handshake: connection closed")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n")[0].decode()
        if " 101 " not in status + " ":
            raise ConnectionError("handshake: " + status)
        self.timeout = timeout
        self.pong = pong
        self.print_pings = print_pings
        self.closed = None
        self.close_answer = close_answer

    def frame(self, opcode, payload, fin=True):
        head = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 65536 \
            else mask_fast(payload, mask)
        return head + mask + masked

    def send(self, opcode, payload, fin=True):
        self.sock.sendall(self.frame(opcode, payload, fin))

    def read_exact(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError()
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("eof")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def next_message(self, deadline, pongs=False):
        """Returns (opcode, payload) of the next data message, or of the
        next pong when pongs is true."""
        parts, first_op = [], None
        while True:
            b0, b1 = self.read_exact(2, deadline)
            op, fin = b0 & 0x0F, b0 & 0x80
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self.read_exact(2, deadline))[0]
            elif n == 127:
                n = struct.unpack("!Q", self.read_exact(8, deadline))[0]
            payload = self.read_exact(n, deadline)
            if op == 0x9:
                if self.print_pings:
                    print("PING", flush=True)
                if self.pong:
                    self.send(0xA, payload)
                continue
            if op == 0xA:
                if pongs:
                    return op, payload
                continue
            if op == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.closed = (code, payload[2:].decode("utf-8", "replace"))
                try:
                    if getattr(self, "close_answer", True):
                        self.send(0x8, payload[:2])
                except OSError:
                    pass
                raise Closed("close")
            if first_op is None:
                first_op = op
            parts.append(payload)
            if fin:
                return first_op, b"".join(parts)


def wait_eof(c, seconds):
    """Whether the server ends the connection within seconds."""
    deadline = time.monotonic() + seconds
    try:
        while True:
            c.read_exact(len(c.buf) + 1, deadline)
    except Closed:
        return True
    except (TimeoutError, OSError):
        return False


def mask_fast(payload, mask):
    m = int.from_bytes(mask * (len(payload) // 4 + 1), "big") >> (8 * (4 - len(payload) % 4) % 32)
    m = int.from_bytes((mask * (len(payload) // 4 + 1))[:len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ m).to_bytes(len(payload), "big")


def main(argv):
    timeout, pong, print_pings = 10.0, True, False
    origin = source = cafile = close_wait = None
    close_answer = True
    args = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--no-pong":
            pong = False
        elif a == "--print-pings":
            print_pings = True
        elif a == "--no-close-answer":
            close_answer = False
        elif a == "--close-wait":
            i += 1
            close_wait = float(argv[i])
        elif a == "--timeout":
            i += 1
            timeout = float(argv[i])
        elif a in ("--origin", "--source", "--cafile"):
            i += 1
            if a == "--origin":
                origin = argv[i]
            elif a == "--source":
                source = argv[i]
            else:
                cafile = argv[i]
        else:
            args.append(a)
        i += 1
    if not args:
        print(__doc__, file=sys.stderr)
        return 64
    try:
        c = Client(args[0], timeout, pong, print_pings, origin, source, cafile, close_answer)
    except (OSError, ConnectionError) as e:
        print(f"wsraw: connect failed: {e}", file=sys.stderr)
        return 3
    try:
        for step in args[1:]:
            kind, _, rest = step.partition(":")
            if kind == "text":
                c.send(0x1, rest.encode())
            elif kind == "binary":
                c.send(0x2, rest.encode())
            elif kind == "hex":
                c.send(0x1, bytes.fromhex(rest))
            elif kind == "frag":
                n, _, payload = rest.partition(":")
                data = payload.encode()
                n = int(n)
                size = max(1, (len(data) + n - 1) // n)
                chunks = [data[k:k + size] for k in range(0, len(data), size)] or [b""]
                for k, chunk in enumerate(chunks):
                    c.send(0x1 if k == 0 else 0x0, chunk, fin=(k == len(chunks) - 1))
            elif kind == "big":
                c.send(0x1, b"x" * int(rest))
            elif kind == "bigjson":
                n = int(rest)
                head, tail = b'{"channel":"c","data":"', b'"}'
                c.send(0x1, head + b"x" * max(0, n - len(head) - len(tail)) + tail)
            elif kind == "part":
                c.send(0x1 if c.parts_sent == 0 else 0x0, b"x" * int(rest), fin=False)
                c.parts_sent += 1
            elif kind == "rawbytes":
                c.sock.sendall(bytes.fromhex(rest))
            elif kind == "dribble":
                c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for b in bytes.fromhex(rest):
                    c.sock.sendall(bytes([b]))
                    time.sleep(0.002)
            elif kind == "pong":
                want = bytes.fromhex(rest)
                deadline = time.monotonic() + timeout
                while True:
                    op, payload = c.next_message(deadline, pongs=True)
                    if op == 0xA:
                        print("PONG " + payload.hex(), flush=True)
                        if payload == want:
                            break
            elif kind == "repeat":
                k, _, payload = rest.partition(":")
                for _ in range(int(k)):
                    c.send(0x1, payload.encode())
            elif kind == "recv":
                deadline = time.monotonic() + timeout
                for _ in range(int(rest)):
                    op, payload = c.next_message(deadline)
                    print(payload.decode("utf-8", "replace"), flush=True)
            elif kind in ("sleep", "hold"):
                deadline = time.monotonic() + float(rest)
                try:
                    while True:
                        op, payload = c.next_message(deadline)
                        if kind == "hold":
                            print(payload.decode("utf-8", "replace"), flush=True)
                except TimeoutError:
                    pass
            elif kind == "expect-close":
                deadline = time.monotonic() + timeout
                while True:
                    c.next_message(deadline)
            elif kind == "close":
                c.send(0x8, struct.pack("!H", 1000))
                deadline = time.monotonic() + timeout
                while True:
                    c.next_message(deadline)
            else:
                print(f"wsraw: unknown step {step}", file=sys.stderr)
                return 64
    except Closed:
        if c.closed:
            print(f"CLOSE {c.closed[0]} {c.closed[1]}", flush=True)
            if close_wait is not None:
                print("TCP closed" if wait_eof(c, close_wait) else "TCP open", flush=True)
        else:
            print("EOF", flush=True)
        return 0
    except TimeoutError:
        print("TIMEOUT", flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

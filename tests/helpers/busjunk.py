#!/usr/bin/env python3
"""A misbehaving ZeroMQ peer for tests: it speaks ZMTP 3.0 by hand (no ZeroMQ
library needed) so that it can put on a sio bus what no sio program would.

Usage: busjunk.py MODE ARGS...
  push HOST:PORT MSGS       connect to a PULL socket (an inbox), send MSGS
  flood HOST:PORT N MSGS    the same, MSGS round and round until N are sent
  sub HOST:PORT HEX         connect to an XPUB socket as a SUB and write HEX
                            (subscription frames, or junk) after the handshake
  subscribe HOST:PORT N     connect to an XPUB socket as a SUB and subscribe to N
                            channels no instance has heard of
  raw HOST:PORT HEX         connect and write HEX after a greeting and READY as a
                            PUSH (frames cut short, absurd lengths)
  noise HOST:PORT N         connect and write N random bytes, no ZMTP at all
  pub PORT MSGS [MS]        listen as a PUB; send MSGS to every SUB that connects,
                            again every MS milliseconds when MS is given
  big HOST:PORT KIND SIZE   push one message: frame KIND, then a frame of SIZE
                            bytes (streamed, not built in memory twice)
MSGS is a JSON array of messages, each an array of frames: strings whose code
points are bytes ("\\u0000" included); @FILE reads it from FILE. Exit 0 once
everything was written; "SENT" and "LISTENING" lines tell a test where the
peer stands.
"""
import json
import os
import random
import select
import socket
import struct
import sys
import time


def frame(body, more=False, command=False):
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) > 255:
        return bytes([flags | 2]) + struct.pack("!Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def read_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("peer closed")
        b += c
    return b


def handshake(s, socktype):
    # Greeting: signature, version 3.0, the NULL mechanism, as-server 0.
    s.sendall(b"\xff" + b"\0" * 8 + b"\x7f" + bytes([3, 0]) + b"NULL".ljust(20, b"\0")
              + b"\0" * 32)
    read_exact(s, 64)
    name, value = b"Socket-Type", socktype.encode()
    s.sendall(frame(b"\x05READY" + bytes([len(name)]) + name + struct.pack("!I", len(value))
                    + value, command=True))
    flags, = read_exact(s, 1)
    size = struct.unpack("!Q", read_exact(s, 8))[0] if flags & 2 else read_exact(s, 1)[0]
    if not flags & 4 or not read_exact(s, size).startswith(b"\x05READY"):
        raise ValueError("no READY from the peer")


def wire(parts):
    return b"".join(frame(p.encode("latin-1"), more=i + 1 < len(parts))
                    for i, p in enumerate(parts))


def messages(arg):
    if arg.startswith("@"):
        with open(arg[1:]) as f:
            return json.load(f)
    return json.loads(arg)


def connect(where, timeout=10):
    host, port = where.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def finish(s):
    # Written; the peer reads it all before it sees the close.
    try:
        s.shutdown(socket.SHUT_WR)
        s.recv(1)
    except OSError:
        pass
    s.close()
    print("SENT", flush=True)


def main(argv):
    mode, where = argv[0], argv[1]
    if mode == "push":
        s = connect(where)
        handshake(s, "PUSH")
        s.sendall(b"".join(wire(m) for m in messages(argv[2])))
        finish(s)
    elif mode == "flood":
        n, msgs = int(argv[2]), [wire(m) for m in messages(argv[3])]
        s = connect(where)
        handshake(s, "PUSH")
        batch = []
        for i in range(n):
            batch.append(msgs[i % len(msgs)])
            if len(batch) == 1000:
                s.sendall(b"".join(batch))
                batch = []
        s.sendall(b"".join(batch))
        finish(s)
    elif mode in ("sub", "raw"):
        s = connect(where)
        handshake(s, "SUB" if mode == "sub" else "PUSH")
        try:
            s.sendall(bytes.fromhex(argv[2]))
        except OSError:
            pass
        finish(s)
    elif mode == "subscribe":
        s = connect(where)
        handshake(s, "SUB")
        rnd = random.Random(int(os.environ.get("NOISE_SEED", "1")))
        batch = []
        for i in range(int(argv[2])):
            # A subscription (1) to a relay topic: C, the channel, NUL.
            batch.append(frame(b"\x01C%032x\x00" % rnd.getrandbits(128)))
            if len(batch) == 1000:
                s.sendall(b"".join(batch))
                batch = []
        s.sendall(b"".join(batch))
        finish(s)
    elif mode == "noise":
        s = connect(where)
        rnd = random.Random(int(os.environ.get("NOISE_SEED", "1")))
        try:
            s.sendall(bytes(rnd.getrandbits(8) for _ in range(int(argv[2]))))
        except OSError:
            pass
        finish(s)
    elif mode == "big":
        kind, size = argv[2].encode(), int(argv[3])
        s = connect(where, timeout=60)
        handshake(s, "PUSH")
        s.sendall(frame(kind, more=True) + bytes([2]) + struct.pack("!Q", size))
        chunk = b"x" * 65536
        left = size
        while left:
            n = min(left, len(chunk))
            s.sendall(chunk[:n])
            left -= n
        finish(s)
    elif mode == "pub":
        msgs = b"".join(wire(m) for m in messages(argv[2]))
        every = float(argv[3]) / 1000 if len(argv) > 3 else None
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", int(where)))
        srv.listen(8)
        print("LISTENING", flush=True)
        conns, last = [], time.monotonic()
        while True:
            r, _, _ = select.select([srv] + conns, [], [], every or 1)
            for x in r:
                if x is srv:
                    c, _ = srv.accept()
                    c.settimeout(10)
                    handshake(c, "PUB")
                    c.sendall(msgs)
                    conns.append(c)
                    print("SENT", flush=True)
                else:
                    try:
                        if not x.recv(4096):
                            conns.remove(x)
                    except OSError:
                        conns.remove(x)
            if every and time.monotonic() - last >= every:
                last = time.monotonic()
                for c in list(conns):
                    try:
                        c.sendall(msgs)
                    except OSError:
                        conns.remove(c)
    else:
        print(__doc__, file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

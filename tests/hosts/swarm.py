#!/usr/bin/env python3
"""Many socketiyo clients in one process, for the drain test of tests/hosts/:
N WebSocket connections to URL, each sending CLIENT_READY and answering
pings. When the server closes one with a reason that names another instance
("... try ws://HOST:PORT/PATH"), the client goes there, once, as a client
following the hint would.

Usage: swarm.py URL N [CONCURRENCY]

Standard output, one JSON line each, "t" the wall clock in ms:
  {"ev":"open","n":N}                     all N connections are open
  {"ev":"failed","n":K,"why":...}         K of them could not open
  {"t":..,"c":I,"ev":"close","code":C,"reason":R,"hop":H}   the server closed
                                           client I's connection (hop 0: the
                                           first, 1: the one it moved to)
  {"t":..,"c":I,"ev":"moved","url":U}     client I is open on U, ready
  {"t":..,"c":I,"ev":"move_failed","url":U,"why":...}
It runs until SIGTERM, then exits 0.
"""
import asyncio
import base64
import json
import os
import re
import signal
import struct
import sys
import time
from urllib.parse import urlparse

READY = b'{"action":"CLIENT_READY","channel":""}'
HINT = re.compile(r"try (ws://\S+)")


def emit(event):
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def now_ms():
    return int(time.time() * 1000)


def frame(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    else:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def connect(url):
    u = urlparse(url)
    reader, writer = await asyncio.open_connection(u.hostname, u.port or 80)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.hostname}:{u.port or 80}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status + b" ":
        writer.close()
        raise ConnectionError(status.decode(errors="replace"))
    writer.write(frame(1, READY))
    return reader, writer


async def read_frame(reader):
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return b0 & 0x0F, await reader.readexactly(n)


async def serve(c, reader, writer, hop):
    """Answers pings until the server closes; returns the close reason."""
    try:
        while True:
            op, payload = await read_frame(reader)
            if op == 9:
                writer.write(frame(10, payload))
            elif op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode(errors="replace")
                emit({"t": now_ms(), "c": c, "ev": "close", "code": code, "reason": reason,
                      "hop": hop})
                writer.write(frame(8, payload[:2]))
                await writer.drain()
                writer.close()
                return reason
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        emit({"t": now_ms(), "c": c, "ev": "close", "code": 1006, "reason": "", "hop": hop})
        writer.close()
        return ""


async def client(c, url, gate, state):
    conn = None
    try:
        async with gate:
            conn = await connect(url)
        state["open"] += 1
    except (OSError, ConnectionError, asyncio.IncompleteReadError) as e:
        state["failed"] += 1
        state["why"] = str(e)
    if state["open"] + state["failed"] == state["n"]:
        emit({"ev": "open", "n": state["open"]})
        if state["failed"]:
            emit({"ev": "failed", "n": state["failed"], "why": state["why"]})
    if not conn:
        return
    reader, writer = conn
    reason = await serve(c, reader, writer, 0)
    m = HINT.search(reason)
    if not m:
        return
    try:
        reader, writer = await connect(m.group(1))
    except (OSError, ConnectionError, asyncio.IncompleteReadError) as e:
        emit({"t": now_ms(), "c": c, "ev": "move_failed", "url": m.group(1), "why": str(e)})
        return
    emit({"t": now_ms(), "c": c, "ev": "moved", "url": m.group(1)})
    await serve(c, reader, writer, 1)


async def main():
    url, n = sys.argv[1], int(sys.argv[2])
    gate = asyncio.Semaphore(int(sys.argv[3]) if len(sys.argv) > 3 else 100)
    state = {"n": n, "open": 0, "failed": 0, "why": ""}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    tasks = [asyncio.create_task(client(c, url, gate, state)) for c in range(n)]
    await stop.wait()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


asyncio.run(main())

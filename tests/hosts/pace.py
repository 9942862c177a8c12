#!/usr/bin/env python3
"""Writes numbered JSON lines at a steady pace, for a publisher to send:
{"o":ORIGIN,"n":1}, {"o":ORIGIN,"n":2}, ... one every INTERVAL_MS, until
SIGTERM or COUNT lines (a bound, so that a forgotten pacer stops anyway).
At the end it prints "PACED n=N" on standard error: N lines were written.

Usage: pace.py ORIGIN INTERVAL_MS [COUNT]
"""
import signal
import sys
import time

origin, interval = sys.argv[1], float(sys.argv[2]) / 1000
count = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)
n = 0
due = time.monotonic()
try:
    while not stop and n < count:
        n += 1
        sys.stdout.write('{"o":"%s","n":%d}\n' % (origin, n))
        sys.stdout.flush()
        due += interval
        left = due - time.monotonic()
        if left > 0:
            time.sleep(left)
except BrokenPipeError:
    n -= 1
sys.stderr.write("PACED n=%d\n" % n)

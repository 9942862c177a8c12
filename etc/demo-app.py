#!/usr/bin/env python3
"""The demo's application (make run): a socketiyo application on the mesh,
run by sio-backend as its coprocess (event lines in, command lines out; see
sio-backend(1)). It greets every new connection, and authenticates: a client
that sends {"who": NAME, "proof": "demo"} on AUTHENTICATE gets
AUTHENTICATE_CONFIRMATION on that connection alone, and is subscribed to its
private channel private/NAME, which no client can join by itself (the
instances run with --private-channel 'private/*'); a first message waits
there for it.
"""
import json
import sys


def command(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def main():
    for line in sys.stdin:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        kind, conn = event.get("event"), event.get("conn")
        if kind == "CONNECT":
            command(cmd="send", conn=conn, channel="",
                    data=f"welcome, {conn} on {event.get('instance')}")
        elif kind == "MESSAGE" and event.get("channel") == "AUTHENTICATE":
            data = event.get("data")
            if not isinstance(data, dict) or data.get("proof") != "demo":
                continue
            who = str(data.get("who", ""))[:40] or "anonymous"
            command(cmd="send", conn=conn, channel="AUTHENTICATE_CONFIRMATION",
                    data={"who": who, "level": "user"})
            command(cmd="subscribe", conn=conn, channel="private/" + who)
            command(cmd="send", conn=conn, channel="private/" + who,
                    data=f"only {who} reads this")


if __name__ == "__main__":
    main()

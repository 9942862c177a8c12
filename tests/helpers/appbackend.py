#!/usr/bin/env python3
"""A socketiyo application as a sio-backend coprocess, for the tests: event
lines in on standard input, command lines out on standard output. It logs
every line it gets to LOG (one a line, as received) and answers:

  CONNECT                   a welcome to that connection, "new connection"
                            to every other one (socketiyo's exampleServer)
  AUTHENTICATE {who,proof}  with proof "secret": AUTHENTICATE_CONFIRMATION
                            {"level":"user"} to that connection only, then
                            subscribes it to private/WHO (the auth flow)
  kick                      closes that connection with 4001 "bye"
  echo                      sends the data back to that connection on echo
  junk                      writes lines that are not commands

Usage: appbackend.py LOG
"""
import json
import sys


def out(command):
    sys.stdout.write(json.dumps(command) + "\n")
    sys.stdout.flush()


def main():
    log = open(sys.argv[1], "a", buffering=1)
    for line in sys.stdin:
        log.write(line if line.endswith("\n") else line + "\n")
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        kind, conn = ev.get("event"), ev.get("conn")
        if kind == "CONNECT":
            out({"cmd": "send", "conn": conn, "channel": "", "data": {"message": "welcome"}})
            out({"cmd": "send_except", "conn": conn, "channel": "",
                 "data": {"message": "new connection"}})
        elif kind == "MESSAGE":
            channel, data = ev.get("channel"), ev.get("data")
            if channel == "AUTHENTICATE" and isinstance(data, dict) and data.get("proof") == "secret":
                out({"cmd": "send", "conn": conn, "channel": "AUTHENTICATE_CONFIRMATION",
                     "data": {"level": "user"}})
                out({"cmd": "subscribe", "conn": conn, "channel": "private/" + str(data.get("who"))})
            elif channel == "kick":
                out({"cmd": "close", "conn": conn, "code": 4001, "reason": "bye"})
            elif channel == "echo":
                out({"cmd": "send", "conn": conn, "channel": "echo", "data": data})
            elif channel == "junk":
                sys.stdout.write("this is not json\n")
                sys.stdout.write('{"cmd":"teleport","conn":"x"}\n')
                sys.stdout.write('{"cmd":"send","conn":"no-such-id","data":1}\n')
                sys.stdout.write('{"cmd":"send","conn":"' + conn + '"}\n')
                sys.stdout.flush()
                out({"cmd": "send", "conn": conn, "channel": "", "data": "still here"})


if __name__ == "__main__":
    main()

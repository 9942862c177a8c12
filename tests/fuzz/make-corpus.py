#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/.

    python3 tests/fuzz/make-corpus.py

Seeds are small realistic inputs, one a file, named by what they are; the
binary ones (relay headers, sessions with separators) are why this is a
script. Rerunning it rewrites the same files. Inputs that once crashed a
target are added to the corpus by hand (from tests/fuzz/crashes/) once the
fix has landed, not here.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
RS, GS = b"\x1e", b"\x1d"


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_frame: client frames (max_length 1024, max_channel_length 16) ----

def action(a, ch):
    return json.dumps({"action": a, "channel": ch}, separators=(",", ":")).encode()


READY = action("CLIENT_READY", "")
SUB = lambda ch: action("SUBSCRIBE_CHANNEL_ACTION", ch)
UNSUB = lambda ch: action("UNSUBSCRIBE_CHANNEL_ACTION", ch)
PUB = lambda ch, d: b'{"channel":"%s","data":%s}' % (ch.encode(), d)

frames = {
    "ready": READY,
    "subscribe": SUB("news"),
    "unsubscribe": UNSUB("news"),
    "publish-object": PUB("news", b'{"text":"hi \\u00e9","n":[1,2.5,-0.0,null,true,false]}'),
    "publish-string": b'{ "channel" : "chat" , "data" : "hello\\n\\"world\\"" }\n',
    "publish-bignum": PUB("n", b"123456789012345678901234567890.5e-3"),
    "publish-escaped-key": b'{"channel":"c","d\\u0061ta":[1,{"data":2}]}',
    "publish-last-data-wins": b'{"data":1,"channel":"c","data":{"a":[]}}',
    "publish-data-first": b'{"data":[["x"],{}],"channel":"c\\u00e9"}',
    "publish-deep": PUB("d", b"[" * 40 + b"1" + b"]" * 40),
    "ready-nul-channel": b'{"action":"CLIENT_READY","channel":"a\\u0000b"}',
    "err-too-long": PUB("big", b'"' + b"x" * 1100 + b'"'),
    "err-not-json": b'{"channel":"c","data":',
    "err-not-object": b'[{"channel":"c","data":1}]',
    "err-no-channel": b'{"data":1}',
    "err-channel-not-string": b'{"channel":5,"data":1}',
    "err-neither": b'{"channel":"c","other":1}',
    "err-action-not-string": b'{"channel":"c","action":1}',
    "err-unknown-action": b'{"channel":"c","action":"JUMP"}',
    "err-default-channel": PUB("", b"1"),
    "err-channel-too-long": PUB("abcdefghijklmnop", b"1"),
    "err-channel-nul": b'{"channel":"a\\u0000b","data":1}',
    "err-bad-utf8": b'{"channel":"c","data":"\xff\xfe"}',
    "err-huge-number": PUB("c", b"1e400"),
    "err-duplicate-key-channel": b'{"channel":"a","channel":7,"data":1}',
}
for name, f in frames.items():
    write("fuzz_frame", name, f)

# Sessions: RS, then a selector byte (member = low 2 bits, 0x80 closes it
# first) and a frame, per step.
def session(*steps):
    return b"".join(RS + bytes([sel]) + frame for sel, frame in steps)

write("fuzz_frame", "session-pubsub", session(
    (0, READY), (0, SUB("a")), (1, SUB("a")), (1, SUB("b")), (2, PUB("a", b'{"x":1}')),
    (0, UNSUB("a")), (2, PUB("a", b"2")), (1, UNSUB("zz")), (0x81, PUB("b", b"3"))))
write("fuzz_frame", "session-max-channels", session(
    (3, SUB("c1")), (3, SUB("c2")), (3, SUB("c3")), (3, SUB("c4")), (3, SUB("c2")),
    (3, UNSUB("c1")), (3, SUB("c4")), (2, SUB("c4")), (0x83, READY), (2, PUB("c4", b"[]"))))
write("fuzz_frame", "session-destroy-first", session(
    (0, SUB("x")), (1, SUB("x")), (2, SUB("y"))) + b"\x01")

# ---- fuzz_bus: controls, relay headers, topics, sessions --------------------

def control(**kw):
    return json.dumps(kw, separators=(",", ":")).encode()


def status(id_, **more):
    st = dict(v=1, t="hb", id=id_, bus="tcp://10.0.0.1:18080", time=1700000000123,
              url="ws://10.0.0.1:8080/socketiyo", inbox="tcp://10.0.0.1:41234",
              boot=4503599627370495, clients=7, high=800, max=1000, low=600,
              state="NORMAL", draining=False, published=11, relay_in=12,
              relay_out=13, gaps=0, sent=15, mesh=2)
    st.update(more)
    return control(**st)


HB = status("web1", peers=["tcp://10.0.0.2:18080", "ipc:///run/sio/bus"])
HELLO = control(v=1, t="hello", id="web2", bus="tcp://10.0.0.2:18080", time=5)
EV_HIGH = status("web1", t="ev", event="HIGH_LOAD", state="HIGH", clients=800)
EV_LEAVE = status("web1", t="ev", event="LEAVE", why="shutdown", draining=True)


def meta(origin, boot=42, seq=1, flags=0):
    o = origin.encode()
    return struct.pack(">BBQQB", 1, flags, boot, seq, len(o)) + o


def topic(ch):
    return b"C" + ch.encode() + b"\0"


bus = {
    "hb.json": HB,
    "hb-over-draining.json": status("web3", state="OVER", draining=True, clients=1000),
    "ev-high-load.json": EV_HIGH,
    "ev-leave.json": EV_LEAVE,
    "hello.json": HELLO,
    "err-version.json": status("web1", v=2),
    "err-type.json": status("web1", t="hey"),
    "err-no-id.json": control(v=1, t="hello", bus="tcp://x:1"),
    "err-negative.json": status("web1", clients=-1),
    "err-peers.json": status("web1", peers="tcp://x:1"),
    "meta.bin": meta("web1"),
    "meta-no-clients.bin": meta("svc", boot=2**64 - 1, seq=2**63, flags=1),
    "err-meta-short.bin": meta("web1")[:12],
    "err-meta-origin-nul.bin": meta("we\0b"),
    "topic.bin": topic("news"),
    "xpub-subscribe.bin": b"\x01" + topic("news"),
    "xpub-unsubscribe.bin": b"\x00" + topic("news"),
}
for name, data in bus.items():
    write("fuzz_bus", name, data)


def msg(*parts):
    return RS.join(parts)


write("fuzz_bus", "session-mesh.bin", GS.join([
    msg(b"@", HB),
    msg(b"hello", HELLO),
    msg(topic("news"), meta("web1", seq=1), b'{"a":1}'),
    msg(topic("news"), meta("web1", seq=3, flags=1), b"[1,2]"),
    msg(b"pub", b"\x01", b"news", b'"hi"'),
    msg(b"pub", b"\x01", b"", b"{}"),
    msg(b"@", status("self")),
    msg(b"@", EV_HIGH),
    msg(b"@", status("web1", boot=43)),
    msg(b"@", EV_LEAVE),
    msg(b"@", status("web4", mesh=3)),
]))
write("fuzz_bus", "session-expire.bin", GS.join(
    [msg(b"@", status("web1"))] + [msg(b"announce", b'{"v":1,"url":"ws://x/"}')] * 12 +
    [msg(b"@", status("web1", published=5))]))

# The inbox's messages, each well formed and not (busmsg.h lists them).
write("fuzz_bus", "session-inbox.bin", GS.join([
    msg(b"beat", HB),
    msg(b"beat", EV_HIGH),
    msg(b"beat", status("web1", t="ev", event="RELOAD")),
    msg(b"beat", status("web1", t="ev", event="PARTY")),
    msg(b"announce", b'{"v":1,"url":""}'),
    msg(b"announce", b'{"v":2,"url":"ws://x/"}'),
    msg(b"pub", b"\x02", b"news", b"1"),
    msg(b"pub", b"\x01", b"a\0b", b"1"),
    msg(b"pub", b"\x01", b"news", b"{"),
    msg(b"hello"),
    msg(b"hello", HELLO, b""),
]))

# ---- fuzz_app: one multipart message, frames split by RS; or a command line --

CONN = "web1#0000018c2f3a4b5d.1f"


def hdr(**kw):
    return json.dumps(dict(v=1, **kw), separators=(",", ":")).encode()


def event(name, **kw):
    return hdr(event=name, conn=CONN, instance="web1", **kw)


CONNECT_FIELDS = dict(url="wss://x/ws", address="10.0.0.9", path="/ws?a=1", origin="")
app = {
    "connid.txt": CONN,
    "connid-hash.txt": "a#b#0000000000000001.1",
    "attach.bin": msg(b"attach", hdr(id="be1", inbox="tcp://127.0.0.1:4000",
                                     role="worker", boot=1700000000000)),
    "detach.bin": msg(b"detach", hdr(id="be1")),
    "ev-connect.bin": msg(b"app", event("CONNECT", **CONNECT_FIELDS)),
    "ev-message.bin": msg(b"app", event("MESSAGE", channel="news"), b'{"a":[1,"\\n"]}'),
    "ev-subscribe.bin": msg(b"app", event("SUBSCRIBE", channel="")),
    "ev-disconnect.bin": msg(b"app", event("DISCONNECT", code=1001, reason="bye",
                                           why="drain")),
    "ev-adopt.bin": msg(b"app", event("ADOPT", channels=["a", "b"], **{"from": "be0"},
                                      **CONNECT_FIELDS)),
    "ev-gone.bin": msg(b"app", event("GONE", cmd="close")),
    "cmd-send.bin": msg(b"cmd", hdr(cmd="send", backend="be1", conn=CONN, channel="c"),
                        b"[1,2]"),
    "cmd-send-all.bin": msg(b"cmd", hdr(cmd="send_all", backend="be1"), b'"x"'),
    "cmd-close.bin": msg(b"cmd", hdr(cmd="close", backend="be1", conn=CONN, code=4000,
                                     reason="r")),
    "cmd-subscribe.bin": msg(b"cmd", hdr(cmd="subscribe", backend="be1", conn=CONN,
                                         channel="private-1")),
    "err-cmd-version.bin": msg(b"cmd", b'{"v":2,"cmd":"send_all","backend":"b"}', b"1"),
    "line-send.json": '{"cmd":"send","conn":"%s","channel":"C","data":{"a": [1, 2]}}\n' % CONN,
    "line-close.json": '{"cmd":"close","conn":"%s","code":4000,"reason":"bye"}' % CONN,
    "line-send-except.json": '{"cmd":"send_except","conn":"%s","data":null}' % CONN,
    "err-line-code.json": '{"cmd":"close","conn":"%s","code":1001}' % CONN,
}
for name, data in app.items():
    write("fuzz_app", name, data)

# ---- fuzz_config: a file, then NUL and a command line, one argument a line --

with open(os.path.join(HERE, "..", "..", "etc", "sio.conf"), "rb") as f:
    write("fuzz_config", "sio.conf", f.read())

ALL_GROUPS = b"""serve: {
	listen = "0.0.0.0"; port = 9001; path = "/ws"; id = "web1";
	url = "wss://example.org/ws"; max_clients = 100; high_clients = 80;
	low_enough = 60; max_length = "64K"; hard_max_length = 1048576L;
	max_channels = 10; max_channel_length = 64; relay = false;
	ping_interval = 5; idle_timeout = 12; max_rejects = 3; reject_interval = 60;
	max_queue_frames = 16; max_queue_bytes = "1MiB"; drain_ms = 0;
};
bus: {
	bind = "tcp://10.0.0.1:19001"; inbox = "tcp://10.0.0.1:19101";
	peers = ["tcp://10.0.0.2:19001#rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", "ipc:///run/sio"];
	cert = "/etc/sio/web1.cert"; trust = "/etc/sio/trusted";
	heartbeat_ms = 100; dead_after_ms = 500;
};
announce: {
	strategy = "list"; spawn = "systemctl start sio@next"; spawn_timeout = 10;
	write = "/var/www/endpoint.js"; format = "js"; exec = "logger changed";
	http = "[::1]:8090"; http_root = "/usr/share/sio/web";
};
log: { level = "debug"; format = "json"; };
"""
configs = {
    "all-groups.conf": ALL_GROUPS,
    "minimal.conf": b"serve: { port = 9000; };\n",
    "empty.conf": b"# nothing\n",
    "peers-string.conf": b'bus: { peers = "tcp://127.0.0.1:18080"; };\n',
    "err-unknown-key.conf": b"serve: {\n  prot = 80;\n};\n",
    "err-unknown-group.conf": b"server: { port = 80; };\n",
    "err-not-group.conf": b"serve = 5;\n",
    "err-type.conf": b'serve: { port = "80"; relay = "yes"; };\n',
    "err-range.conf": b"serve: { port = 70000; };\n",
    "err-size.conf": b'serve: { max_length = "12Q"; };\n',
    "err-syntax.conf": b"serve: { port = ; \n",
    # libconfig 1.5 leaks a lexer buffer on these (suppressed in fuzz_config.c)
    "err-unterminated-string.conf": b'serve: { id = "web1; };\n',
    "err-stray-strings.conf": b'bus: { peers = "tcp://127.0.0.1:80"; };\n"" ""\n',
    "err-enum.conf": b'log: { level = "loud"; };\n',
    "err-thresholds.conf": b"serve: { max_clients = 10; high_clients = 20; };\n",
    "err-trust-no-cert.conf": b'bus: { trust = "/etc/sio/trusted"; };\n',
    "err-path.conf": b'serve: { path = "ws"; };\n',
    "err-list-type.conf": b"bus: { peers = [1, 2]; };\n",
    "cli-serve": b"serve: { port = 9000; };\n\0sio-serve\n--port\n9001\n--no-relay\n"
                 b"--bus-peer\ntcp://10.0.0.2:18080\n-p\n9002\n--max-length=2K\n--gen-keys\nk",
    "cli-cat": b"\0sio-cat\n--subscribe\nnews\n--count\n3\n-n\n4\n--raw\n-f\n"
               b"--log-level\ndebug\nws://127.0.0.1:8080/socketiyo",
    "cli-announce": b'announce: { strategy = "current"; };\n\0sio-announce\n--strategy\nlist\n'
                    b"--format\njson\n--write\n/tmp/e.json\n--check-config",
    "cli-pick": b"\0sio-pick\n--bus-peer\ntcp://127.0.0.1:18080\n--heartbeat-ms\n50\n-c\nx.conf",
    "cli-monitor-help": b"\0sio-monitor\n--help\n--version",
    "err-cli-unknown": b"\0sio-serve\n--nope\n--port",
    "err-cli-value": b"\0sio-serve\n--port\nhttp\n",
    "err-cli-conflict": b"serve: { max_clients = 100; high_clients = 80; };\n\0sio-serve\n"
                        b"--low-enough\n90\n",
}
for name, data in configs.items():
    write("fuzz_config", name, data)

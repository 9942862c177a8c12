#!/usr/bin/env bats
# GET /metrics (issue 6) read by Prometheus's own checker, promtool check
# metrics (Debian package prometheus), after traffic that moves every
# counter family of two instances in one mesh; and the logs: --log-format
# json writes one JSON object a line, --log-level warning hides info.

load helpers

# A client that subscribes and then never reads: its instance's send queue
# for it fills up (slow consumer). Small receive buffer, so that the kernel
# buffers fill soon. Prints "subscribed" once its frames are sent.
NONREADER='import base64, os, socket, sys, time
port, channel = int(sys.argv[1]), sys.argv[2]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET /socketiyo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    c = s.recv(1)
    if not c:
        sys.exit("handshake: connection closed")
    head += c
if b" 101 " not in head.split(b"\r\n")[0] + b" ":
    sys.exit("handshake: " + head.split(b"\r\n")[0].decode())
for text in ("{\"action\":\"CLIENT_READY\",\"channel\":\"\"}",
             "{\"action\":\"SUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"%s\"}" % channel):
    b = text.encode()
    s.sendall(bytes([0x81, 0x80 | len(b)]) + bytes(4) + b)
print("subscribed", flush=True)
time.sleep(120)'

# promtool_check FILE: promtool check metrics accepts FILE without a word,
# and so does a stricter reading of what promtool lets pass (a sample
# twice, for one): each family's HELP and TYPE once, before its samples,
# which stay together; no sample twice; no negative counter.
promtool_check() {
	run promtool check metrics <"$1"
	[[ $status -eq 0 && -z $output ]] ||
		fail "promtool check metrics $1 (status $status): $output"
	run python3 -c "$STRICT" "$1"
	[[ $status -eq 0 ]] || fail "${1##*/}: $output"
}

STRICT='import re, sys
label = r"[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\n]|\\[\\\"n])*\""
sample = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:" + label + r"(?:," + label + r")*)?\})?"
                    r" (-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|NaN|[+-]Inf)$")
helps, types, seen, done = set(), {}, set(), set()
current = None
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip("\n")
    m = re.match(r"# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$", line)
    if m:
        kind, name, rest = m.groups()
        if current is not None and name != current:
            done.add(current)
        if name in done:
            sys.exit(f"line {n}: {kind} of {name} after its samples")
        if kind == "HELP":
            if name in helps:
                sys.exit(f"line {n}: HELP of {name} twice")
            helps.add(name)
        else:
            if name in types or rest not in ("counter", "gauge"):
                sys.exit(f"line {n}: second TYPE, or not a counter or gauge: {line}")
            types[name] = rest
        current = name
        continue
    m = sample.match(line)
    if not m:
        sys.exit(f"line {n}: not a sample: {line!r}")
    name = m.group(1)
    if name != current or name not in types or name not in helps:
        sys.exit(f"line {n}: {name} is not in a family with HELP and TYPE before it")
    key = (name, m.group(2) or "")
    if key in seen:
        sys.exit(f"line {n}: sample {name}{m.group(2) or str()} twice")
    seen.add(key)
    if types[name] == "counter" and float(m.group(3)) < 0:
        sys.exit(f"line {n}: negative counter: {line}")
if not seen:
    sys.exit("no sample at all")'

need_promtool() {
	command -v promtool >/dev/null ||
		skip "promtool is not installed (Debian package prometheus: make test-deps)"
}

# value FILE SAMPLE: the value of SAMPLE in a saved scrape.
value() {
	awk -v n="$2" '$1 == n { print $2; found = 1 } END { exit !found }' "$1" ||
		fail "no sample $2 in ${1##*/}"
}

# expect FILE SAMPLE OP N: the sample's value compared with N (-eq, -ge ...).
expect() {
	local v
	v=$(value "$1" "$2")
	[[ $v =~ ^[0-9]+$ ]] || fail "$2 is '$v' in ${1##*/}, not a count"
	[ "$v" "$3" "$4" ] || fail "$2 is $v in ${1##*/}, expected $3 $4"
}

# The families the issue asks for, each with a HELP and a TYPE line.
FAMILIES=(sio_clients sio_load_state sio_draining sio_connections_total
	sio_closed_total sio_frames_received_total sio_frames_sent_total
	sio_received_bytes_total sio_sent_bytes_total sio_rejected_frames_total
	sio_relay_total sio_bus_gaps_total sio_bus_dropped_total sio_peers_alive
	sio_events_total)

PROBES=0

# relay_probe: a client of A publishes on channel r, once; true when the
# subscriber on B got one (its subscription takes a moment to reach A).
relay_probe() {
	PROBES=$((PROBES + 1))
	SERVE_URL=$A_URL ws "$(pub r '"probe"')" close >/dev/null || true
	bg_printed rsub '"probe"'
}

@test "GET /metrics passes promtool check metrics after traffic that moves every family" {
	need_promtool
	local abus bbus conf=$BATS_TEST_TMPDIR/a.conf
	{ read -r abus && read -r bbus; } < <(free_port 2)
	# A: small limits, so that every limit is reached with a few clients.
	cat >"$conf" <<'EOF'
serve: {
	max_clients = 4;
	high_clients = 3;
	low_enough = 1;
	max_length = "200K";
	hard_max_length = "400K";
	max_channels = 1;
	max_rejects = 5;
	max_queue_frames = 16;
	max_queue_bytes = "1M";
	slow_consumer_after = 1;
};
EOF
	start_serve -c "$conf" --id A --bus-bind "tcp://127.0.0.1:$abus" --drain-ms 4000
	A_PORT=$SERVE_PORT A_URL=$SERVE_URL A_PID=$SERVE_PID
	start_serve --id B --bus-bind "tcp://127.0.0.1:$bbus" --bus-peer "tcp://127.0.0.1:$abus"
	B_PORT=$SERVE_PORT B_URL=$SERVE_URL
	SERVE_PORT=$A_PORT wait_metric sio_peers_alive 1
	SERVE_PORT=$B_PORT wait_metric sio_peers_alive 1

	# Relay: a client of A publishes, the subscriber on B gets it.
	cat_bg rsub "$B_URL" --subscribe r
	SERVE_PORT=$B_PORT wait_metric sio_subscriptions 1
	wait_for relay_probe

	# Every validation error once on one connection, which stays open
	# (4 rejects, max_rejects 5).
	SERVE_URL=$A_URL run -0 ws "$(sub ok)" bigjson:204800 text:nope "$(sub '')" "$(sub other)" \
		"$(pub ok '"still open"')" recv:1 close
	assert_line -n 0 '{"channel":"ok","data":"still open"}'
	# Closed by reason: policy (1008), too big (1009), refused (1013) below,
	# slow consumer, drain at the end, client for all the others.
	SERVE_URL=$A_URL run -0 ws text:1 text:2 text:3 text:4 text:5 text:6 expect-close
	assert_line -n 0 'CLOSE 1008 too many rejected frames'
	SERVE_URL=$A_URL run -0 ws big:500000 expect-close
	assert_line -n 0 'CLOSE 1009 message too big'

	python3 -c "$NONREADER" "$A_PORT" s >"$BATS_TEST_TMPDIR/slow.out" 2>&1 3>&- &
	local slow=$!
	track_pid "$slow"
	wait_for grep -qx subscribed "$BATS_TEST_TMPDIR/slow.out"
	SERVE_PORT=$A_PORT wait_metric sio_subscriptions 1
	local big
	big=$(printf '{"channel":"s","data":"%s"}' "$(head -c 100000 /dev/zero | tr '\0' x)")
	SERVE_URL=$A_URL run -0 ws "repeat:100:$big" close
	wait_log ': SLOW_CONSUMER id=A ' "${SERVE_LOGS[0]}"
	stop_pid "$slow"
	SERVE_PORT=$A_PORT wait_metric 'sio_closed_total{reason="slow_consumer"}' 1
	SERVE_PORT=$A_PORT wait_metric sio_clients 0

	# Load events: HIGH_LOAD at 3, OVER_LOAD on a refusal at 4, AVAILABLE at 1.
	local i
	for i in 1 2 3 4; do
		SERVE_URL=$A_URL ws_bg "c$i" "$(ready)" sleep:120
		SERVE_PORT=$A_PORT wait_metric sio_clients "$i"
	done
	SERVE_URL=$A_URL run -0 ws expect-close
	assert_output --regexp '^CLOSE 1013 '
	for i in 4 3 2; do
		stop_bg "c$i"
	done
	SERVE_PORT=$A_PORT wait_metric sio_clients 1
	SERVE_PORT=$A_PORT wait_metric 'sio_events_total{event="AVAILABLE"}' 1

	kill -HUP "$A_PID"
	SERVE_PORT=$A_PORT wait_metric 'sio_events_total{event="RELOAD"}' 1

	# B, with the relayed messages in.
	local bm=$BATS_TEST_TMPDIR/b.metrics
	curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$B_PORT/metrics" >"$bm"
	promtool_check "$bm"
	expect "$bm" 'sio_relay_total{direction="in"}' -ge 1
	expect "$bm" sio_peers_alive -eq 1
	expect "$bm" 'sio_connections_total{result="accepted"}' -eq 1
	expect "$bm" sio_frames_sent_total -ge 1

	# A, while it drains its last two clients over 4 s: the first one is
	# closed half way, the second at the end.
	SERVE_URL=$A_URL ws_bg c5 "$(ready)" sleep:120
	SERVE_PORT=$A_PORT wait_metric sio_clients 2
	kill -TERM "$A_PID"
	SERVE_PORT=$A_PORT wait_metric 'sio_closed_total{reason="drain"}' 1
	local am=$BATS_TEST_TMPDIR/a.metrics
	curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$A_PORT/metrics" >"$am"
	promtool_check "$am"

	local f
	for f in "${FAMILIES[@]}"; do
		grep -q "^# HELP $f " "$am" || fail "no HELP for $f"
		grep -q "^# TYPE $f \(counter\|gauge\)$" "$am" || fail "no TYPE for $f"
	done
	expect "$am" sio_draining -eq 1
	expect "$am" sio_clients -eq 1
	expect "$am" sio_peers_alive -eq 1
	# Every connection this test opened to A, by outcome: the probes, the
	# validation, policy, too-big, slow and flooding clients, c1 to c5.
	expect "$am" 'sio_connections_total{result="accepted"}' -eq $((PROBES + 10))
	expect "$am" 'sio_connections_total{result="refused"}' -eq 1
	expect "$am" 'sio_closed_total{reason="client"}' -eq $((PROBES + 5))
	expect "$am" 'sio_closed_total{reason="refused"}' -eq 1
	expect "$am" 'sio_closed_total{reason="policy"}' -eq 1
	expect "$am" 'sio_closed_total{reason="slow_consumer"}' -eq 1
	expect "$am" 'sio_closed_total{reason="too_big"}' -eq 1
	expect "$am" 'sio_closed_total{reason="drain"}' -eq 1
	expect "$am" 'sio_rejected_frames_total{error="VALIDATE_MESSAGE_ERROR"}' -eq 1
	expect "$am" 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}' -ge 6
	expect "$am" 'sio_rejected_frames_total{error="VALIDATE_CHANNEL_ERROR"}' -eq 1
	expect "$am" 'sio_rejected_frames_total{error="MAX_CHANNELS_ERROR"}' -eq 1
	expect "$am" 'sio_relay_total{direction="out"}' -ge 1
	expect "$am" sio_frames_received_total -ge 100
	expect "$am" sio_frames_sent_total -ge 1
	# The flood alone was 100 frames of 100 KB.
	expect "$am" sio_received_bytes_total -ge 10000000
	expect "$am" sio_sent_bytes_total -ge 1
	expect "$am" sio_published_total -ge 100
	expect "$am" 'sio_events_total{event="HIGH_LOAD"}' -eq 1
	expect "$am" 'sio_events_total{event="OVER_LOAD"}' -eq 1
	expect "$am" 'sio_events_total{event="AVAILABLE"}' -eq 1
	expect "$am" 'sio_events_total{event="DRAIN"}' -eq 1
	expect "$am" 'sio_events_total{event="RELOAD"}' -eq 1
	expect "$am" 'sio_events_total{event="JOIN"}' -ge 0
	expect "$am" 'sio_events_total{event="LEAVE"}' -ge 0
	expect "$am" sio_bus_gaps_total -eq 0
	expect "$am" sio_bus_dropped_total -eq 0
	# One load state at a time.
	assert_equal "$(awk '/^sio_load_state\{/ { n += $2 } END { print n }' "$am")" 1

	SIO_WAIT=10 wait_exit "$A_PID"
	assert_equal "$WAIT_RC" 0
}

@test "a fresh instance's /metrics passes promtool check metrics; an id that would need escaping is refused" {
	need_promtool
	# Ids go into labels, log lines and the bus unquoted: quotes, blanks and
	# backslashes are a configuration error, not something to escape.
	run "$SIO_BIN/sio-serve" --id 'web "1" \ x' --check-config
	assert_equal "$status" 78
	assert_output --partial -- '--id:'
	start_serve --id 'web-1.eu:8080/a+b@c'
	local m=$BATS_TEST_TMPDIR/fresh.metrics
	curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$SERVE_PORT/metrics" >"$m"
	promtool_check "$m"
	grep -qF 'sio_info{id="web-1.eu:8080/a+b@c",' "$m" || fail "id label: $(grep sio_info "$m")"
}

# json_lines FILE: every line of FILE is one JSON object with a time, the
# program, a level and an event or a message; prints "EVENT LEVEL" a line.
json_lines() {
	python3 - "$1" <<'EOF'
import json, sys
n = 0
for number, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    try:
        obj = json.loads(line)
    except ValueError as e:
        sys.exit(f"line {number} is not JSON ({e}): {line!r}")
    if not isinstance(obj, dict):
        sys.exit(f"line {number} is not an object: {line!r}")
    if not isinstance(obj.get("ts"), (int, float)):
        sys.exit(f"line {number}: no numeric ts: {line!r}")
    if obj.get("prog") != "sio-serve":
        sys.exit(f"line {number}: prog is not sio-serve: {line!r}")
    if obj.get("level") not in ("error", "warning", "info", "debug"):
        sys.exit(f"line {number}: bad level: {line!r}")
    if not isinstance(obj.get("event", obj.get("msg")), str):
        sys.exit(f"line {number}: neither event nor msg: {line!r}")
    if "event" in obj and "id" in obj and obj["id"] != "j1":
        sys.exit(f"line {number}: id is {obj['id']!r}, not 'j1': {line!r}")
    print(obj.get("event", "-"), obj["level"])
    n += 1
if n == 0:
    sys.exit("no line at all")
EOF
}

@test "--log-format json: every stderr line is one JSON object" {
	start_serve --log-format json --log-level debug --id j1 \
		--max-clients 1 --high-clients 1 --low-enough 0
	ws_bg c1 "$(ready)" sleep:120
	wait_metric sio_clients 1
	run -0 ws expect-close
	assert_output --regexp '^CLOSE 1013 '
	stop_bg c1
	wait_metric sio_clients 0
	run -0 ws text:nope "$(sub '')" close
	wait_metric 'sio_rejected_frames_total{error="VALIDATE_CHANNEL_ERROR"}' 1
	kill -HUP "$SERVE_PID"
	wait_metric 'sio_events_total{event="RELOAD"}' 1
	stop_serve
	assert_equal "$WAIT_RC" 0
	run -0 json_lines "$SERVE_LOG"
	local e
	for e in 'LISTENING info' 'HIGH_LOAD info' 'OVER_LOAD warning' 'AVAILABLE info' \
		'MESSAGE_FORMAT_ERROR warning' 'VALIDATE_CHANNEL_ERROR warning' 'RELOAD info' \
		'DRAIN info' 'EXIT info'; do
		assert_line "$e"
	done
	# No text line slipped in: every line starts an object.
	run grep -vc '^{' "$SERVE_LOG"
	assert_output 0
}

@test "--log-level warning hides the info lines, before and after SIGHUP" {
	start_serve --log-level warning --id w1 --max-clients 1 --high-clients 1 --low-enough 0
	ws_bg c1 "$(ready)" sleep:120
	wait_metric sio_clients 1
	run -0 ws expect-close
	assert_output --regexp '^CLOSE 1013 '
	stop_bg c1
	wait_metric 'sio_events_total{event="AVAILABLE"}' 1
	run -0 ws text:nope close
	wait_metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}' 1
	kill -HUP "$SERVE_PID"
	wait_metric 'sio_events_total{event="RELOAD"}' 1
	run -0 ws text:again close
	wait_metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}' 2
	stop_serve
	assert_equal "$WAIT_RC" 0
	# The warnings are there, the info lines (LISTENING, HIGH_LOAD,
	# AVAILABLE, RELOAD, DRAIN, EXIT) are not.
	assert_equal "$(log_count '^sio-serve: warning: OVER_LOAD id=w1 ')" 1
	assert_equal "$(log_count '^sio-serve: warning: MESSAGE_FORMAT_ERROR id=w1 ')" 2
	assert_equal "$(log_count '^sio-serve: (info|debug):')" 0
	assert_equal "$(grep -cvE '^sio-serve: (warning|error): ' "$SERVE_LOG")" 0

	# The same with JSON lines.
	start_serve --log-level warning --log-format json --id w2
	run -0 ws text:nope close
	wait_metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}' 1
	stop_serve
	run -0 python3 -c '
import json, sys
levels = [json.loads(l)["level"] for l in open(sys.argv[1])]
print(" ".join(levels))' "$SERVE_LOG"
	assert_output warning
}

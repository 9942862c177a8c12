#!/usr/bin/env bats
# sio-bench in each mode, for about a second, against real servers: it must
# finish by itself and print one JSON line that says it completed. A smoke
# test, never a timing: the figures are make bench's business.

load helpers

# json_ok MODE [KEY=VALUE...]: $output is one line, a JSON object of MODE
# that completed, whose KEYs (top-level) have these values.
json_ok() {
	[[ $output != *$'\n'* ]] || fail "more than one line: $output"
	python3 -c 'import json, sys
o = json.loads(sys.argv[1])
assert isinstance(o, dict), o
assert o["mode"] == sys.argv[2], o
assert o["completed"] is True, o
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1)
    assert str(o.get(k)) == v, (k, o.get(k), v)' "$output" "$@" || fail "bad JSON: $output"
}

@test "hold: opens the connections, holds them, reports the server" {
	start_serve
	run -0 --separate-stderr "$SIO_BIN/sio-bench" hold -u "$SERVE_URL" -n 20 -d 1 \
		--server-pid "$SERVE_PID" --json
	json_ok hold established=20 failed=0 dropped=0
	[[ $output == *'"server_rss_per_conn":'* ]] || fail "no server memory: $output"
}

@test "connect-rate: every handshake completes" {
	start_serve
	run -0 --separate-stderr "$SIO_BIN/sio-bench" connect-rate -u "$SERVE_URL" -n 50 -C 10 --json
	json_ok connect-rate established=50 failed=0
}

@test "fanout, saturated and at a rate: every frame delivered" {
	start_serve
	run -0 --separate-stderr "$SIO_BIN/sio-bench" fanout -u "$SERVE_URL" -n 10 -d 1 --window 4 \
		--server-pid "$SERVE_PID" --json
	json_ok fanout established=10 primed=10 lost=0
	run -0 --separate-stderr "$SIO_BIN/sio-bench" fanout -u "$SERVE_URL" -n 5 -d 1 -r 50 \
		-s 200 --channel other --json
	json_ok fanout established=5 lost=0 size=200
}

@test "relay: the publisher on one instance, the subscribers on another" {
	local bus a_url
	bus=$(free_port)
	start_serve --bus-bind "tcp://127.0.0.1:$bus"
	a_url=$SERVE_URL
	start_serve --bus-peer "tcp://127.0.0.1:$bus"
	run -0 --separate-stderr "$SIO_BIN/sio-bench" relay -u "$SERVE_URL" -P "$a_url" -n 5 -d 1 \
		-r 100 --json
	json_ok relay established=5 primed=5
}

@test "app-rtt: each client's message comes back to it through a backend" {
	local bus
	bus=$(free_port)
	start_serve --no-relay --bus-bind "tcp://127.0.0.1:$bus"
	"$SIO_BIN/sio-backend" --bus-peer "tcp://127.0.0.1:$bus" \
		--exec "exec python3 '$SIO_ROOT/tests/helpers/appbackend.py' '$BATS_TEST_TMPDIR/app.log'" \
		>/dev/null 2>"$BATS_TEST_TMPDIR/backend.err" 3>&- &
	track_pid "$!"
	# The clients probe until the backend answers each of them.
	run -0 --separate-stderr "$SIO_BIN/sio-bench" app-rtt -u "$SERVE_URL" -n 3 -d 1 -r 100 --json
	json_ok app-rtt established=3 primed=3 lost=0 channel=echo
	grep -q '"event":"MESSAGE"' "$BATS_TEST_TMPDIR/app.log" || fail "the backend heard nothing"
}

@test "app-flood: clients send until the duration is over" {
	start_serve --no-relay
	run -0 --separate-stderr "$SIO_BIN/sio-bench" app-flood -u "$SERVE_URL" -n 3 -d 0.5 --json
	json_ok app-flood established=3 clients=3
	[[ $output =~ \"sent\":[1-9] ]] || fail "nothing sent: $output"
}

@test "several worker processes share the connections out" {
	start_serve
	run -0 --separate-stderr "$SIO_BIN/sio-bench" fanout -u "$SERVE_URL" -n 6 -d 1 -w 3 --json
	json_ok fanout workers=3 established=6 primed=6
}

@test "without --json: a table on stdout, no progress line off a terminal" {
	start_serve
	run -0 --separate-stderr "$SIO_BIN/sio-bench" hold -u "$SERVE_URL" -n 5 -d 0.2
	assert_line --index 0 "sio-bench hold: $SERVE_URL"
	assert_output --partial '5 established, 0 failed'
	[ -z "$stderr" ] || fail "stderr: $stderr"
}

@test "no server there: exit 1, the JSON line says why" {
	local port
	port=$(free_port)
	run -1 --separate-stderr "$SIO_BIN/sio-bench" hold -u "ws://127.0.0.1:$port/socketiyo" -n 5 \
		-d 1 --json
	python3 -c 'import json, sys
o = json.loads(sys.argv[1])
assert o["completed"] is False and "refused" in o["error"], o' "$output" || fail "$output"
	[[ $stderr == *"sio-bench: error: could not connect"* ]] || fail "stderr: $stderr"
}

@test "usage errors exit 64" {
	run -64 "$SIO_BIN/sio-bench"
	run -64 "$SIO_BIN/sio-bench" sideways
	run -64 "$SIO_BIN/sio-bench" relay
	assert_output --partial 'relay needs --publish-url'
	run -64 "$SIO_BIN/sio-bench" hold --rate 10
	run -64 "$SIO_BIN/sio-bench" fanout --size 10
	run -64 "$SIO_BIN/sio-bench" hold fanout
	run -64 "$SIO_BIN/sio-bench" app-rtt -w 2
	assert_output --partial 'app-rtt runs in one process'
	run -64 "$SIO_BIN/sio-bench" app-rtt -P ws://127.0.0.1:1/socketiyo
	run -64 "$SIO_BIN/sio-bench" app-flood --rate 10
	run -64 "$SIO_BIN/sio-bench" hold --channel echo
}

# The limit make bench measures sio-serve against (bench/bare.c) must be a
# fair one: every frame delivered, at each of the three length encodings.
@test "the bare limit of make bench delivers every frame" {
	local bare=$SIO_ROOT/build/bench/bare port size
	[[ -x $bare ]] || fail "no $bare: make test builds it"
	port=$(free_port)
	"$bare" --port "$port" >"$BATS_TEST_TMPDIR/bare.out" 2>&1 &
	track_pid $!
	wait_for grep -q '^listening' "$BATS_TEST_TMPDIR/bare.out"
	for size in 100 1000 70000; do
		run -0 --separate-stderr "$SIO_BIN/sio-bench" fanout -u "ws://127.0.0.1:$port/socketiyo" \
			-n 5 -d 1 --window 4 -s "$size" --json
		json_ok fanout established=5 primed=5 lost=0 size="$size"
	done
}

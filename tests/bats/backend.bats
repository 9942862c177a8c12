#!/usr/bin/env bats
# sio-backend: the mesh's connections as JSON lines. Events on standard
# output, commands on standard input (or both through a --exec coprocess).
# The instances of these tests do not serve applications yet: they take an
# attach as an unknown bus message. READY comes from seeing an instance and
# telling it, not from an answer.

load helpers

# Fast heartbeats, an instance dead after 500 ms.
MESH=(--heartbeat-ms 100 --dead-after-ms 500)

backend() { "$SIO_BIN/sio-backend" "$@"; }

# serve_as NAME [ARGS...]: start_serve on a bus endpoint of its own, with the
# mesh settings; sets NAME_PID and NAME_BUS.
serve_as() {
	local name=$1 bus
	shift
	bus=tcp://127.0.0.1:$(free_port)
	start_serve --bus-bind "$bus" --id "$name" "${MESH[@]}" "$@" || return
	declare -g "${name}_PID=$SERVE_PID" "${name}_BUS=$bus"
}

# backend_bg ARGS...: sio-backend in the background, its standard input a
# fifo held open by fd 8 (closing fd 8 is its end of input); stdout in
# backend.out, stderr in backend.err, pid in BACKEND_PID.
backend_bg() {
	local fifo=$BATS_TEST_TMPDIR/backend.in
	mkfifo "$fifo"
	"$SIO_BIN/sio-backend" "${MESH[@]}" "$@" <"$fifo" >"$BATS_TEST_TMPDIR/backend.out" \
		2>"$BATS_TEST_TMPDIR/backend.err" 3>&- 8>&- &
	BACKEND_PID=$!
	track_pid "$BACKEND_PID"
	exec 8>"$fifo"
}

out_has() { grep -qE -- "$1" "$BATS_TEST_TMPDIR/backend.out"; }

# A bus endpoint no one listens on.
nobody() { echo "tcp://127.0.0.1:$(free_port)"; }

@test "--help and --version" {
	run backend --help
	assert_success
	assert_line --partial 'Usage: sio-backend'
	assert_output --partial '--exec CMD'
	run backend --version
	assert_success
	assert_output --regexp '^sio-backend [0-9]'
}

@test "usage errors exit 64, configuration errors 78" {
	run -64 backend --bogus
	assert_output --partial 'unknown option'
	run -64 backend extra
	assert_output --partial "unexpected argument 'extra'"
	run -64 backend --timeout 0
	run -64 backend --exec ''
	printf 'backend: { max_output = "1"; };\n' >"$BATS_TEST_TMPDIR/bad.conf"
	run -78 backend -c "$BATS_TEST_TMPDIR/bad.conf" --check-config
	run -78 backend --bus-cert "$BATS_TEST_TMPDIR/cert" --check-config
	assert_output --partial 'CURVE'
	run backend --check-config
	assert_success
	assert_output ''
}

@test "no instance within --timeout: 69" {
	run -69 bash -c "sleep 5 | '$SIO_BIN/sio-backend' --timeout 0.3 --bus-peer $(nobody)"
	assert_output --partial 'no instance heard within 0.3 s'
}

@test "bad command lines are answered with error lines; the end of input exits 0" {
	printf 'serve: { max_length = 100; };\n' >"$BATS_TEST_TMPDIR/small.conf"
	long=$(printf '{"cmd":"send_all","data":"%05000d"}' 0)
	{
		echo 'not json'
		echo '{"cmd":"shout","conn":"a#0000000000000001.1"}'
		echo '{"cmd":"send","conn":"nohash","data":1}'
		echo '{"cmd":"send","conn":"a#0000000000000001.1"}'
		echo "$long"
		echo ''
		echo '{"cmd":"close","conn":"a#0000000000000001.1","code":99}'
		echo '{"cmd":"send","conn":"a#0000000000000001.1","data":1}'
		echo '{"cmd":"send_all","data":1}'
	} >"$BATS_TEST_TMPDIR/cmds"
	run --separate-stderr backend -c "$BATS_TEST_TMPDIR/small.conf" --bus-peer "$(nobody)" \
		<"$BATS_TEST_TMPDIR/cmds"
	assert_success
	assert_line --index 0 '{"error":"not JSON","line":1}'
	assert_line --index 1 '{"error":"unknown command","line":2}'
	assert_line --index 2 '{"error":"bad conn id","line":3}'
	assert_line --index 3 '{"error":"missing data","line":4}'
	assert_line --index 4 '{"error":"line too long","line":5}'
	assert_line --index 5 '{"error":"bad close code","line":7}'
	assert_line --index 6 '{"error":"unknown instance","line":8}'
	assert_line --index 7 '{"error":"no live instance","line":9}'
	[ "${#lines[@]}" -eq 8 ]
	[[ $stderr == *'COMMAND_REFUSED line=1 why="not JSON"'* ]]
}

@test "READY once attached to an instance, then its JOIN; LEAVE when it stops" {
	serve_as A
	backend_bg --bus-peer "$A_BUS" --id b1
	wait_for out_has '"event":"JOIN","instance":"A"'
	run head -n 1 "$BATS_TEST_TMPDIR/backend.out"
	assert_output '{"event":"READY","id":"b1"}'
	# The instance heard the attach.
	wait_log 'APP_ATTACH id=A backend=b1 role=worker' "$SERVE_LOG"
	serve_as B --bus-peer "$A_BUS"
	wait_for out_has '"event":"JOIN","instance":"B"'
	stop_pid "$B_PID"
	wait_for out_has '"event":"LEAVE","instance":"B".*"why":"shutdown"'
	[ "$(grep -c READY "$BATS_TEST_TMPDIR/backend.out")" -eq 1 ]
	# A command for a connection of a live instance goes out.
	echo '{"cmd":"send_all","channel":"c","data":{"x":1}}' >&8
	exec 8>&-
	wait_exit "$BACKEND_PID"
	[ "$WAIT_RC" -eq 0 ]
	! out_has '"error"'
}

@test "--observe attaches as an observer; SIGHUP reloads, SIGTERM exits 0" {
	serve_as A
	backend_bg --bus-peer "$A_BUS" --observe --log-level debug
	wait_for out_has READY
	wait_for grep -q 'role=observer' "$BATS_TEST_TMPDIR/backend.err"
	kill -HUP "$BACKEND_PID"
	wait_log 'RELOAD seeds=1' "$BATS_TEST_TMPDIR/backend.err"
	! pid_gone "$BACKEND_PID"
	stop_pid "$BACKEND_PID"
	[ "$WAIT_RC" -eq 0 ]
}

@test "--exec: a coprocess reads the events, its output is commands, its status is ours" {
	serve_as A
	run --separate-stderr backend "${MESH[@]}" --bus-peer "$A_BUS" --id co --exec '
		read -r line; echo "first: $line" >&2
		echo "{\"cmd\":\"nope\"}"
		while read -r line; do
			case $line in *error*) echo "answer: $line" >&2; exit 7 ;; esac
		done' </dev/null
	[ "$status" -eq 7 ]
	[[ $stderr == *'first: {"event":"READY","id":"co"}'* ]]
	[[ $stderr == *'answer: {"error":"unknown command","line":1}'* ]]
}

@test "--exec: a coprocess that ends at once ends sio-backend with its status" {
	run backend --bus-peer "$(nobody)" --exec 'exit 0'
	assert_success
	run -3 backend --bus-peer "$(nobody)" --exec 'exit 3'
}

@test "a slow reader: lines queue up to --max-output, the rest are dropped and counted" {
	# Error lines share the queue of events: 20000 of them, to a reader
	# that sleeps first, fill a pipe and 4 KiB, and no more.
	run bash -c "yes x | head -n 20000 | '$SIO_BIN/sio-backend' --bus-peer $(nobody) \
		--max-output 4K 2>'$BATS_TEST_TMPDIR/err' | { sleep 1; cat; } | wc -l"
	assert_success
	got=$output
	((got > 0 && got < 20000))
	run grep -o 'EVENTS_DROPPED dropped=[0-9]* total=[0-9]*' "$BATS_TEST_TMPDIR/err"
	assert_success
	total=$(tail -n 1 <<<"$output" | sed 's/.*total=//')
	[ "$((got + total))" -eq 20000 ]
	# The log says so at most once a second, and once more at the end.
	[ "${#lines[@]}" -le 4 ]
}

@test "--inbox: the endpoint bound, the port read back; one that cannot be bound exits 1" {
	port=$(free_port)
	run --separate-stderr backend --inbox "tcp://127.0.0.1:$port" --log-level debug \
		--bus-peer "$(nobody)" </dev/null
	assert_success
	[[ $stderr == *"inbox=tcp://127.0.0.1:$port "* ]]
	run --separate-stderr backend --log-level debug --bus-peer "$(nobody)" </dev/null
	assert_success
	[[ $stderr =~ inbox=tcp://127\.0\.0\.1:[0-9]+\  ]]
	run -1 --separate-stderr backend --inbox 'bogus://x' --bus-peer "$(nobody)" </dev/null
	[[ $stderr == *'unable to bind the inbox on bogus://x'* ]]
}

# push_events PORT: what an instance would send, into the backend's inbox
# (tests/helpers/busjunk.py speaks ZMTP by hand): CONNECT, MESSAGE, a message
# that is not an event, GONE, DISCONNECT, all of connection CONN.
CONN='a#000000000000002a.1'
push_events() {
	python3 - "$BATS_TEST_TMPDIR/events.json" "$CONN" <<'PY'
import json, sys
path, conn = sys.argv[1], sys.argv[2]
def app(event, *data, **fields):
    header = dict(v=1, event=event, conn=conn, instance="a", **fields)
    return ["app", json.dumps(header), *data]
msgs = [
    app("CONNECT", url="ws://x/s", address="127.0.0.1", path="/s?k=1", origin=""),
    app("MESSAGE", '{\n"k": [1, 2]\n}', channel="ch"),
    ["app", "not json"],
    app("GONE", cmd="send"),
    app("DISCONNECT", code=1000, reason="", why="client"),
]
with open(path, "w") as f:
    json.dump(msgs, f)
PY
	python3 "$SIO_ROOT/tests/helpers/busjunk.py" push "127.0.0.1:$1" \
		"@$BATS_TEST_TMPDIR/events.json" >/dev/null
}

@test "events from an instance's PUSH come out as lines, in order; a bad one is dropped" {
	port=$(free_port)
	backend_bg --inbox "tcp://127.0.0.1:$port" --bus-peer "$(nobody)" --log-level debug
	wait_for grep -q BACKEND_START "$BATS_TEST_TMPDIR/backend.err"
	push_events "$port"
	wait_for out_has '"event":"DISCONNECT"'
	run cat "$BATS_TEST_TMPDIR/backend.out"
	assert_line --index 0 '{"event":"CONNECT","conn":"'$CONN'","instance":"a","url":"ws://x/s","address":"127.0.0.1","path":"/s?k=1","origin":""}'
	assert_line --index 1 '{"event":"MESSAGE","conn":"'$CONN'","instance":"a","channel":"ch","data":{ "k": [1, 2] }}'
	assert_line --index 2 '{"event":"GONE","conn":"'$CONN'","instance":"a","cmd":"send"}'
	assert_line --index 3 '{"event":"DISCONNECT","conn":"'$CONN'","instance":"a","code":1000,"reason":"","why":"client"}'
	[ "${#lines[@]}" -eq 4 ]
	grep -q 'BACKEND_DROPPED.*dropped=1' "$BATS_TEST_TMPDIR/backend.err"
	exec 8>&-
	wait_exit "$BACKEND_PID"
	[ "$WAIT_RC" -eq 0 ]
}

@test "--exec: the greeter of the man page answers each CONNECT with a send" {
	port=$(free_port)
	cat >"$BATS_TEST_TMPDIR/greet" <<'SH'
#!/bin/sh
while IFS= read -r line; do
    echo "in: $line" >&2
    case $line in
    *'"event":"CONNECT"'*)
        conn=${line#*\"conn\":\"}
        conn=${conn%%\"*}
        printf '{"cmd":"send","conn":"%s","data":"hello"}\n' "$conn" ;;
    *'"error"'*) exit 0 ;;
    esac
done
SH
	chmod +x "$BATS_TEST_TMPDIR/greet"
	"$SIO_BIN/sio-backend" --inbox "tcp://127.0.0.1:$port" --bus-peer "$(nobody)" \
		--log-level debug --exec "$BATS_TEST_TMPDIR/greet" </dev/null \
		>"$BATS_TEST_TMPDIR/backend.out" 2>"$BATS_TEST_TMPDIR/backend.err" 3>&- &
	BACKEND_PID=$!
	track_pid "$BACKEND_PID"
	wait_for grep -q BACKEND_START "$BATS_TEST_TMPDIR/backend.err"
	push_events "$port"
	wait_exit "$BACKEND_PID"
	[ "$WAIT_RC" -eq 0 ]
	run cat "$BATS_TEST_TMPDIR/backend.err"
	assert_line 'in: {"event":"CONNECT","conn":"'$CONN'","instance":"a","url":"ws://x/s","address":"127.0.0.1","path":"/s?k=1","origin":""}'
	# No instance a in this mesh: the send is refused here, and said so.
	assert_line 'in: {"error":"unknown instance","line":1}'
	[ ! -s "$BATS_TEST_TMPDIR/backend.out" ]
}

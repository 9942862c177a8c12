#!/usr/bin/env bats
# Applications on the mesh, the instance's side (DESIGN §9, sio(7)
# APPLICATIONS): events of every connection to the backends attached to an
# instance, commands back, private channels, the hold queue while no worker
# is attached, workers that die and the connections another adopts, and
# send_except across two instances. The backend is tests/helpers/app-harness
# (built by make test as a test tool): it attaches, prints each event as
# sio-backend's JSON line, and sends the command lines written to it.

load helpers

HARNESS="$SIO_ROOT/build/tests/app-harness"
declare -gA HOUT=() HFD=()

setup() {
	[[ -x $HARNESS ]] || skip "build/tests/app-harness not built (make test builds it)"
	INBOX_PORT=$(free_port)
	INBOX="tcp://127.0.0.1:$INBOX_PORT"
}

# serve [ARGS...]: sio-serve with its inbox on INBOX.
serve() { start_serve --bus-inbox "$INBOX" --heartbeat-ms 100 --dead-after-ms 500 "$@"; }

# backend NAME [ARGS...]: a harness attached to INBOX, its events in
# HOUT[NAME], its commands written with say NAME LINE.
backend() {
	local name=$1 fifo="$BATS_TEST_TMPDIR/$1.in" fd
	shift
	mkfifo "$fifo"
	HOUT[$name]="$BATS_TEST_TMPDIR/$name.out"
	"$HARNESS" --instance "${HINSTANCE:-$INBOX}" --id "$name" --beat-ms 100 "$@" \
		<"$fifo" >"${HOUT[$name]}" 2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	track_pid "$!"
	exec {fd}>"$fifo"
	HFD[$name]=$fd
}

say() { echo "$2" >&"${HFD[$1]}"; }
has() { grep -qE -- "$2" "${HOUT[$1]}"; }
# wait_event NAME REGEX: until a line of NAME's output matches.
wait_event() {
	if ! wait_for has "$1" "$2" 2>/dev/null; then
		echo "wait_event: no line of $1 matches $2:" >&2
		cat "${HOUT[$1]}" >&2
		return 1
	fi
}
count_of() { grep -cE -- "$2" "${HOUT[$1]}" || true; }
# count_is NAME REGEX N: N lines of NAME's output match (for wait_for).
count_is() { [[ $(count_of "$1" "$2") == "$3" ]]; }
# conn_id NAME N: the conn of the Nth CONNECT NAME saw.
conn_id() { grep '"event":"CONNECT"' "${HOUT[$1]}" | sed -n "${2:-1}p" | sed -E 's/.*"conn":"([^"]+)".*/\1/'; }

# client NAME STEPS...: wsraw in the background, its output in NAME.out.
client() {
	local name=$1
	shift
	python3 "$WSRAW" "$@" >"$BATS_TEST_TMPDIR/$name.cout" 2>&1 &
	track_pid "$!"
	BG[$name]=$!
}
cout() { cat "$BATS_TEST_TMPDIR/$1.cout"; }
client_has() { grep -qF -- "$2" "$BATS_TEST_TMPDIR/$1.cout"; }

READY='text:{"action":"CLIENT_READY","channel":""}'
sub() { echo "text:{\"action\":\"SUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"$1\"}"; }

attached() { metric_is 'sio_app_backends{role="worker"}' "$1"; }

@test "events: CONNECT with path, query and Origin; SUBSCRIBE, MESSAGE verbatim, DISCONNECT with the client's code" {
	serve
	backend w1
	wait_for attached 1
	client c1 --origin https://app.example "$SERVE_URL?room=7&x=y" "$READY" "$(sub news)" \
		'text:{"channel":"news","data":{"n": [1, 2.50, "é"]}}' 'recv:1' close
	wait_event w1 '"event":"DISCONNECT"'
	run conn_id w1 1
	[[ $output =~ \#[0-9a-f]{16}\.1$ ]]
	has w1 '"event":"CONNECT".*"url":"ws://127\.0\.0\.1:[0-9]+/socketiyo","address":"127\.0\.0\.1","path":"/socketiyo\?room=7&x=y","origin":"https://app\.example"'
	has w1 '"event":"SUBSCRIBE".*"channel":"news"'
	# The client's bytes, as it sent them.
	has w1 '"event":"MESSAGE".*"channel":"news","data":\{"n": \[1, 2\.50, "é"\]\}\}$'
	has w1 '"event":"DISCONNECT".*"code":1000,"reason":"","why":"client"'
	# In that order, each once.
	run grep -oE '"event":"[A-Z]+"' "${HOUT[w1]}"
	assert_output "$(printf '"event":"%s"\n' READY CONNECT SUBSCRIBE MESSAGE DISCONNECT)"
	metric_is 'sio_app_events_total{event="MESSAGE"}' 1
}

@test "events: no CONNECT before CLIENT_READY; every way out says why: idle, policy, drain" {
	serve --max-rejects 2 --idle-timeout 2 --ping-interval 1
	backend w1
	wait_for attached 1
	# Not ready: the backend never hears of it.
	python3 "$WSRAW" "$SERVE_URL" 'text:{"channel":"a","data":1}' close
	# Too many rejected frames: 1008, why policy.
	client pol "$SERVE_URL" "$READY" 'text:x' 'text:x' 'text:x' 'hold:5'
	wait_event w1 '"why":"policy"'
	has w1 '"code":1008'
	# Silent past the idle timeout (no pongs): 1001, why idle.
	client idle --no-pong "$SERVE_URL" "$READY" 'hold:8'
	SIO_WAIT=15 wait_event w1 '"why":"idle"'
	run count_of w1 '"event":"CONNECT"'
	assert_output 2
	# The drain closes the rest: why drain.
	client dr "$SERVE_URL" "$READY" 'hold:8'
	wait_for count_is w1 '"event":"CONNECT"' 3
	kill -TERM "$SERVE_PID"
	wait_event w1 '"why":"drain"'
	has w1 '"code":1001'
}

@test "relay off: client messages reach the backends only" {
	serve --no-relay
	backend w1
	wait_for attached 1
	client sub1 "$SERVE_URL" "$READY" "$(sub room)" 'hold:4'
	wait_event w1 '"event":"SUBSCRIBE"'
	python3 "$WSRAW" "$SERVE_URL" "$READY" 'text:{"channel":"room","data":"secret"}' close
	wait_event w1 '"event":"MESSAGE".*"data":"secret"'
	# A marker the backend sends comes after the message would have.
	say w1 "{\"cmd\":\"send\",\"conn\":\"$(conn_id w1 1)\",\"channel\":\"room\",\"data\":\"marker\"}"
	wait_for client_has sub1 '"marker"'
	run cout sub1
	refute_output --partial secret
}

@test "commands: send only to a subscriber or on \"\", close with the backend's code, subscribe and unsubscribe on its behalf" {
	serve --private-channel 'vip-*'
	backend w1
	wait_for attached 1
	client c1 "$SERVE_URL" "$READY" 'hold:8'
	wait_event w1 '"event":"CONNECT"'
	id=$(conn_id w1 1)
	say w1 "{\"cmd\":\"send\",\"conn\":\"$id\",\"channel\":\"vip-1\",\"data\":\"not yet\"}"
	say w1 "{\"cmd\":\"subscribe\",\"conn\":\"$id\",\"channel\":\"vip-1\"}"
	wait_event w1 '"event":"SUBSCRIBE".*"channel":"vip-1"'
	say w1 "{\"cmd\":\"send\",\"conn\":\"$id\",\"channel\":\"vip-1\",\"data\":\"welcome\"}"
	say w1 "{\"cmd\":\"send\",\"conn\":\"$id\",\"data\":{\"to\":\"you\"}}"
	wait_for client_has c1 '{"channel":"","data":{"to":"you"}}'
	client_has c1 '{"channel":"vip-1","data":"welcome"}'
	run cout c1
	refute_output --partial 'not yet'
	say w1 "{\"cmd\":\"unsubscribe\",\"conn\":\"$id\",\"channel\":\"vip-1\"}"
	wait_event w1 '"event":"UNSUBSCRIBE".*"channel":"vip-1"'
	say w1 "{\"cmd\":\"close\",\"conn\":\"$id\",\"code\":4001,\"reason\":\"bye now\"}"
	wait_for client_has c1 'CLOSE 4001 bye now'
	wait_event w1 '"event":"DISCONNECT".*"code":4001,"reason":"bye now","why":"closed"'
	metric_is 'sio_app_commands_total{cmd="send"}' 3
	metric_is 'sio_app_commands_total{cmd="close"}' 1
	metric_is 'sio_closed_total{reason="closed"}' 1
}

@test "commands: for a connection gone, GONE to the backend; malformed ones counted, never fatal" {
	serve
	backend w1
	wait_for attached 1
	python3 "$WSRAW" "$SERVE_URL" "$READY" close
	wait_event w1 '"event":"DISCONNECT"'
	id=$(conn_id w1 1)
	say w1 "{\"cmd\":\"send\",\"conn\":\"$id\",\"data\":1}"
	wait_event w1 "\"event\":\"GONE\",\"conn\":\"$id\",\"instance\":\"[^\"]+\",\"cmd\":\"send\""
	# Another instance's connection is not here either.
	say w1 '{"cmd":"close","conn":"elsewhere#0000000000000001.1"}'
	wait_event w1 '"event":"GONE".*"cmd":"close"'
	metric_is 'sio_app_commands_failed_total{reason="gone"}' 2
	say w1 'raw cmd {"v":1,"cmd":"explode"} 1'
	say w1 'raw cmd not-json'
	say w1 'raw cmd {"v":1,"cmd":"send","backend":"w1","conn":"x"} 1'
	wait_metric 'sio_app_commands_failed_total{reason="bad"}' 3
	grep -q 'APP_COMMAND_BAD' "$SERVE_LOG"
	[[ $(http_status /healthz) == 200 ]]
}

@test "private channels: a client's own subscribe is refused, counted, the connection kept" {
	serve --private-channel 'vip-*' --private-channel secret
	backend w1
	wait_for attached 1
	run python3 "$WSRAW" "$SERVE_URL" "$READY" "$(sub vip-gold)" "$(sub secret)" "$(sub open)" \
		'text:{"channel":"open","data":"still here"}' 'recv:1' close
	assert_output --partial '{"channel":"open","data":"still here"}'
	metric_is 'sio_rejected_frames_total{error="PRIVATE_CHANNEL_ERROR"}' 2
	grep -q 'PRIVATE_CHANNEL_ERROR.*reason="private channel"' "$SERVE_LOG"
	wait_event w1 '"event":"DISCONNECT"'
	run grep -c '"event":"SUBSCRIBE"' "${HOUT[w1]}"
	assert_output 1
}

@test "private channels are reloaded by SIGHUP" {
	printf 'serve: { private_channels = ["old-*"]; };\n' >"$BATS_TEST_TMPDIR/sio.conf"
	serve -c "$BATS_TEST_TMPDIR/sio.conf"
	python3 "$WSRAW" "$SERVE_URL" "$READY" "$(sub old-1)" "$(sub new-1)" close
	wait_metric 'sio_rejected_frames_total{error="PRIVATE_CHANNEL_ERROR"}' 1
	printf 'serve: { private_channels = ["new-*"]; };\n' >"$BATS_TEST_TMPDIR/sio.conf"
	kill -HUP "$SERVE_PID"
	wait_for grep -q ': RELOAD ' "$SERVE_LOG"
	python3 "$WSRAW" "$SERVE_URL" "$READY" "$(sub old-1)" "$(sub new-1)" close
	wait_metric 'sio_rejected_frames_total{error="PRIVATE_CHANNEL_ERROR"}' 2
	metric_is 'sio_subscriptions' 0
	[[ $(grep -c 'PRIVATE_CHANNEL_ERROR' "$SERVE_LOG") == 2 ]]
}

@test "hold queue: events wait for the first worker and come in order; past app_hold dropped and counted" {
	serve --app-hold 4
	# Five events, four held: CONNECT, SUBSCRIBE, MESSAGE, DISCONNECT; then
	# a second connection's CONNECT, dropped.
	python3 "$WSRAW" "$SERVE_URL" "$READY" "$(sub a)" 'text:{"channel":"a","data":1}' 'recv:1' 'close'
	wait_metric 'sio_app_events_total{event="DISCONNECT"}' 1
	client c2 "$SERVE_URL" "$READY" 'hold:6'
	wait_metric 'sio_app_events_total{event="CONNECT"}' 2
	metric_is 'sio_app_events_dropped_total{reason="no_backend"}' 1
	backend w1
	# What was held came in order; the connection whose CONNECT was dropped
	# is the worker's too, by an ADOPT from no one.
	wait_event w1 '"event":"ADOPT".*\.2",.*"from":""'
	run grep -oE '"event":"[A-Z]+"' "${HOUT[w1]}"
	assert_output "$(printf '"event":"%s"\n' READY CONNECT SUBSCRIBE MESSAGE DISCONNECT ADOPT)"
	id=$(sed -nE 's/.*"event":"ADOPT","conn":"([^"]+)".*/\1/p' "${HOUT[w1]}")
	say w1 "{\"cmd\":\"send\",\"conn\":\"$id\",\"data\":\"held ok\"}"
	wait_for client_has c2 'held ok'
}

@test "a relay-only instance pays a count for events once the hold queue is full" {
	serve --app-hold 0
	python3 "$WSRAW" "$SERVE_URL" "$READY" "$(sub a)" close
	wait_metric 'sio_app_events_dropped_total{reason="no_backend"}' 3
	metric_is 'sio_app_events_total{event="CONNECT"}' 1
}

@test "a backend that does not read: its events dropped and counted, the clients not slowed" {
	serve --app-queue 2
	backend w1
	wait_for attached 1
	say w1 pause
	local big
	big=$(head -c 60000 /dev/zero | tr '\0' x)
	# 200 messages of 60 kB, echoed by the instance to the sender's
	# subscription: the client gets every one while the backend reads none.
	run python3 "$WSRAW" "$SERVE_URL" "$READY" "$(sub s)" \
		"repeat:200:{\"channel\":\"s\",\"data\":\"$big\"}" 'recv:200' close
	assert_success
	[[ $(grep -c '"channel":"s"' <<<"$output") == 200 ]]
	wait_for metric_ge 'sio_app_events_dropped_total{reason="full"}' 1
	metric_is 'sio_app_events_total{event="MESSAGE"}' 200
	# Once it reads again, events flow.
	say w1 resume
	python3 "$WSRAW" "$SERVE_URL" "$READY" 'text:{"channel":"s","data":"after"}' close
	wait_event w1 '"data":"after"'
}

@test "workers: connections spread by rendezvous; a dead worker's connections are adopted with their channels" {
	serve
	backend w1
	backend w2
	backend obs --observer
	wait_for attached 2
	metric_is 'sio_app_backends{role="observer"}' 1
	for i in 1 2 3 4 5 6 7 8; do
		client "c$i" "$SERVE_URL" "$READY" "$(sub "ch$i")" 'hold:10'
	done
	wait_for count_is obs '"event":"SUBSCRIBE"' 8
	n1=$(count_of w1 '"event":"CONNECT"')
	n2=$(count_of w2 '"event":"CONNECT"')
	echo "# w1 $n1, w2 $n2"
	((n1 + n2 == 8))
	# w1 stops attaching: dead after dead_after_ms; w2 adopts its connections.
	say w1 silent
	wait_for attached 1
	wait_for count_is w2 '"event":"ADOPT"' "$n1"
	if ((n1 > 0)); then
		has w2 '"event":"ADOPT".*"channels":\["ch[0-9]"\],"from":"w1"'
	fi
	# Whatever w1 had now goes to w2, sticky.
	python3 "$WSRAW" "$SERVE_URL" "$READY" close
	wait_for count_is w2 '"event":"CONNECT"' "$((n2 + 1))"
	# The observer saw all, the adoptions too.
	[[ $(count_of obs '"event":"CONNECT"') == 9 ]]
	[[ $(count_of obs '"event":"ADOPT"') == "$n1" ]]
	metric_is 'sio_app_events_total{event="ADOPT"}' "$n1"
}

@test "a detach is at once; a worker coming back gets the orphans by ADOPT" {
	serve
	backend w1
	wait_for attached 1
	client c1 "$SERVE_URL" "$READY" "$(sub x)" 'hold:8'
	wait_event w1 '"event":"SUBSCRIBE"'
	say w1 detach
	wait_for attached 0
	grep -q 'APP_DETACH.*backend=w1.*why=detach' "$SERVE_LOG"
	backend w2
	wait_event w2 '"event":"ADOPT".*"channels":\["x"\],"from":"w1"'
}

@test "send_all and send_except reach every instance; send_except skips one connection" {
	local A_INBOX B_INBOX
	serve
	A_URL=$SERVE_URL
	A_PORT=$SERVE_PORT
	bus_a=$(sed -nE 's/.* BUS id=[^ ]+ bus=([^ ]+) .*/\1/p' "$SERVE_LOG" | head -n 1)
	A_INBOX=$INBOX
	INBOX="tcp://127.0.0.1:$(free_port)"
	B_INBOX=$INBOX
	serve --bus-peer "$bus_a"
	B_URL=$SERVE_URL
	HINSTANCE=$A_INBOX backend w1
	a_attached() { [[ $(SERVE_PORT=$A_PORT metric 'sio_app_backends{role="worker"}') == 1 ]]; }
	wait_for a_attached
	wait_for metric_is 'sio_peers_alive' 1
	client a1 "$A_URL" "$READY" "$(sub room)" 'hold:10'
	client a2 "$A_URL" "$READY" "$(sub room)" 'hold:10'
	client b1 "$B_URL" "$READY" "$(sub room)" 'hold:10'
	wait_for count_is w1 '"event":"SUBSCRIBE"' 2
	# B's interest in room reaches A asynchronously: probe until b1 hears.
	probe() {
		say w1 '{"cmd":"send_all","channel":"room","data":"probe"}'
		sleep 0.1
		client_has b1 probe
	}
	wait_for probe
	first=$(conn_id w1 1)
	say w1 "{\"cmd\":\"send_except\",\"conn\":\"$first\",\"channel\":\"room\",\"data\":\"not you\"}"
	say w1 '{"cmd":"send_all","channel":"room","data":"end"}'
	for c in a1 a2 b1; do wait_for client_has "$c" '"end"'; done
	# The excepted one is a1 or a2, whichever connected first.
	got=0
	for c in a1 a2 b1; do client_has "$c" 'not you' && got=$((got + 1)); done
	((got == 2))
	client_has b1 'not you'
	: "$B_INBOX"
}

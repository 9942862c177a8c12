#!/usr/bin/env bats
# A socketiyo application on the mesh (DESIGN §9): three instances with
# clients on every one, the application in backend processes (sio-backend
# running tests/helpers/appbackend.py as its coprocess, which logs every
# event line it gets). Greeting on CONNECT and sendAllExceptOne, the
# authentication flow with a private channel, a backend closing a
# connection, DISCONNECT for each way a connection ends, an instance killed,
# two backends sharing connections in order, a backend killed mid-stream,
# garbage from a backend, and events held while no backend is attached.

load helpers
load mesh

APPBACKEND="$SIO_ROOT/tests/helpers/appbackend.py"
declare -gA CFD=() BPID=() BLOG=()

# backend NAME [ARGS...]: sio-backend seeded with A, the test application as
# its coprocess; every event it gets in NAME.events; waits for READY.
backend() {
	local name=$1
	shift
	BLOG[$name]=$BATS_TEST_TMPDIR/$name.events
	: >"${BLOG[$name]}"
	# What each instance counts before: one more is this backend attached
	# (a count of at least one would pass with the first one alone).
	local i
	declare -A had=()
	for i in A B C; do
		[[ -n ${IPID[$i]:-} ]] || continue
		had[$i]=$(imetric "$i" 'sio_app_backends{role="worker"}' 2>/dev/null) || had[$i]=0
		[[ ${had[$i]} =~ ^[0-9]+$ ]] || had[$i]=0
	done
	"$SIO_BIN/sio-backend" --id "$name" --bus-peer "${IBUS[A]}" "$@" \
		--exec "exec python3 '$APPBACKEND' '${BLOG[$name]}'" \
		>"$BATS_TEST_TMPDIR/$name.out" 2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	BPID[$name]=$!
	track_pid "$!"
	wait_for grep -q '"event":"READY"' "${BLOG[$name]}" ||
		fail "backend $name: no READY: $(cat "$BATS_TEST_TMPDIR/$name.err")"
	# Every instance has it attached: it gets the events of their clients.
	for i in A B C; do
		[[ -n ${IPID[$i]:-} ]] || continue
		wait_for imetric_ge "$i" 'sio_app_backends{role="worker"}' $((had[$i] + 1)) ||
			fail "instance $i does not count backend $name"
	done
}

imetric_ge() {
	local v
	v=$(imetric "$1" "$2") && [[ $v =~ ^[0-9]+$ ]] && ((v >= $3))
}

# client NAME INSTANCE: a socketiyo client of INSTANCE (sio-cat --raw): each
# line given to say goes out as a frame, frames received land in NAME.out,
# its log (with the CLOSED line) in NAME.err.
client() {
	local name=$1 in=$BATS_TEST_TMPDIR/$1.in fd
	mkfifo "$in"
	"$SIO_BIN/sio-cat" "${IURL[$2]}" --raw <"$in" >"$BATS_TEST_TMPDIR/$name.out" \
		2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	BG[$name]=$!
	track_pid "$!"
	exec {fd}>"$in"
	CFD[$name]=$fd
}

say() { printf '%s\n' "$2" >&"${CFD[$1]}"; }
bye() { exec {CFD[$1]}>&-; }

got() { grep -qF -- "$2" "$BATS_TEST_TMPDIR/$1.out"; }
wait_got() { wait_for got "$@" || fail "$1 never got $2: $(cat "$BATS_TEST_TMPDIR/$1.out")"; }

# events NAME PATTERN: the backend's event lines matching PATTERN (ERE).
events() { grep -E -- "$2" "${BLOG[$1]}" || true; }
has_event() { grep -qE -- "$2" "${BLOG[$1]}"; }
wait_event() { wait_for has_event "$@" || fail "backend $1 never got $2: $(tail -n 20 "${BLOG[$1]}")"; }

# conn_of BACKEND CLIENT-MARK: the conn id of the connection whose MESSAGE
# carried MARK.
conn_of() {
	grep -F -- "$2" "${BLOG[$1]}" | sed -nE 's/.*"conn":"([^"]+)".*/\1/p' | head -n 1
}

setup() {
	command -v python3 >/dev/null || skip "no python3"
	chain --private-channel 'private/*'
	wait_mesh 2 A B C
}

@test "CONNECT: a greeting to that connection, 'new connection' to every other one" {
	backend app
	client c1 A
	wait_got c1 '{"channel":"","data":{"message":"welcome"}}'
	client c2 B
	wait_got c2 '{"channel":"","data":{"message":"welcome"}}'
	wait_got c1 '{"channel":"","data":{"message":"new connection"}}'
	client c3 C
	wait_got c3 '{"channel":"","data":{"message":"welcome"}}'
	wait_for got c2 'new connection'
	# c3 got its welcome after the others got their "new connection"
	# command, and never one of its own.
	! got c3 'new connection' || fail "c3 was told of itself"
	run grep -c 'new connection' "$BATS_TEST_TMPDIR/c1.out"
	assert_output 2
	# Each CONNECT names its instance, its URL, the address and the path.
	wait_event app '"event":"CONNECT".*"instance":"C".*"url":"ws://127.0.0.1:[0-9]+/socketiyo".*"address":"127.0.0.1","path":"/socketiyo"'
}

@test "authentication: the confirmation to that connection only; a private channel the backend subscribes it to" {
	backend app
	client ann B
	client eve C
	wait_got ann welcome
	wait_got eve welcome
	say ann '{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"AUTHENTICATE_CONFIRMATION"}'
	say eve '{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"AUTHENTICATE_CONFIRMATION"}'
	wait_event app '"event":"SUBSCRIBE".*"channel":"AUTHENTICATE_CONFIRMATION"'
	say eve '{"channel":"AUTHENTICATE","data":{"who":"eve","proof":"guess"}}'
	say ann '{"channel":"AUTHENTICATE","data":{"who":"ann","proof":"secret"}}'
	wait_got ann '{"channel":"AUTHENTICATE_CONFIRMATION","data":{"level":"user"}}'
	wait_event app '"event":"SUBSCRIBE".*"channel":"private/ann"'
	# eve's own subscribe to ann's private channel is refused, counted.
	say eve '{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"private/ann"}'
	wait_for imetric_ge C 'sio_rejected_frames_total{error="PRIVATE_CHANNEL_ERROR"}' 1
	# The service side writes to the private channel: only ann reads it.
	echo '"for ann"' | "$SIO_BIN/sio-cat" --bus-peer "${IBUS[A]}" --publish private/ann --timeout 10
	wait_got ann '{"channel":"private/ann","data":"for ann"}'
	say eve '{"channel":"echo","data":"marker"}'
	say eve '{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"echo"}'
	say eve '{"channel":"echo","data":"marker"}'
	wait_got eve '{"channel":"echo","data":"marker"}'
	! got eve 'AUTHENTICATE_CONFIRMATION' || fail "eve got a confirmation"
	! got eve 'for ann' || fail "eve read ann's private channel"
}

@test "a backend closes a connection: the client sees its code and reason; DISCONNECT why=closed" {
	backend app
	client k A
	wait_got k welcome
	say k '{"channel":"kick","data":null}'
	wait_exit "${BG[k]}"
	grep -q 'CLOSED code=4001 reason=bye' "$BATS_TEST_TMPDIR/k.err" || fail "$(cat "$BATS_TEST_TMPDIR/k.err")"
	wait_event app '"event":"DISCONNECT".*"code":4001.*"why":"closed"'
}

@test "DISCONNECT for every way a connection ends: the client, idle, policy, slow consumer, the drain" {
	# D closes the silent, the unruly and the slow quickly.
	instance D --bus-peer "${IBUS[A]}" --ping-interval 1 --idle-timeout 2 --max-rejects 2 \
		--reject-interval 60 --max-queue-frames 64 --max-queue-bytes 64K --slow-consumer-after 1
	backend app
	wait_for imetric_ge D 'sio_app_backends{role="worker"}' 1
	client leaves B
	wait_got leaves welcome
	bye leaves
	wait_event app '"event":"DISCONNECT".*"instance":"B".*"code":1000.*"why":"client"'
	python3 "$WSRAW" --no-pong "${IURL[D]}" "$(ready)" sleep:6 >/dev/null 2>&1 &
	track_pid "$!"
	SIO_WAIT=20 wait_event app '"event":"DISCONNECT".*"instance":"D".*"code":1001.*"why":"idle"'
	python3 "$WSRAW" "${IURL[D]}" "$(ready)" 'text:nope' 'text:nope' 'text:nope' expect-close \
		>/dev/null 2>&1 || true
	wait_event app '"event":"DISCONNECT".*"instance":"D".*"code":1008.*"why":"policy"'
	# A client that never reads, sent 4 MB on its channel.
	python3 "$SIO_ROOT/tests/helpers/badclient.py" nonreader "${IPORT[D]}" /socketiyo flood \
		>"$BATS_TEST_TMPDIR/slow.out" 2>&1 &
	track_pid "$!"
	wait_for grep -q '^subscribed$' "$BATS_TEST_TMPDIR/slow.out"
	wait_event app '"event":"SUBSCRIBE".*"instance":"D".*"channel":"flood"'
	python3 "$WSRAW" "${IURL[D]}" \
		"repeat:4000:{\"channel\":\"flood\",\"data\":\"$(printf 'x%.0s' $(seq 1000))\"}" close \
		>/dev/null 2>&1 || true
	SIO_WAIT=20 wait_event app '"event":"DISCONNECT".*"instance":"D".*"code":1008.*"why":"slow_consumer"'
	client drained C
	wait_got drained welcome
	stop_pid "${IPID[C]}"
	wait_event app '"event":"DISCONNECT".*"instance":"C".*"code":1001.*"why":"drain"'
}

@test "an instance killed: one LEAVE means all its connections are gone" {
	backend app
	client x C
	wait_got x welcome
	kill -KILL "${IPID[C]}"
	wait_event app '"event":"LEAVE".*"instance":"C"'
	run events app '"event":"DISCONNECT".*"instance":"C"'
	assert_output ''
}

@test "two backends share the connections; each connection's events go to one, in order" {
	backend one
	backend two
	local i n
	for i in $(seq 1 12); do
		client "s$i" "$(printf 'A\nB\nC\n' | sed -n "$(((i % 3) + 1))p")"
	done
	for i in $(seq 1 12); do
		wait_got "s$i" welcome
		for n in 1 2 3 4 5; do
			say "s$i" "{\"channel\":\"seq\",\"data\":\"s$i-$n\"}"
		done
	done
	for i in $(seq 1 12); do
		wait_for has_either "s$i-5"
	done
	local on_one on_two
	on_one=$(grep -c '"event":"CONNECT"' "${BLOG[one]}")
	on_two=$(grep -c '"event":"CONNECT"' "${BLOG[two]}")
	((on_one + on_two == 12)) || fail "CONNECT: $on_one + $on_two, 12 expected"
	((on_one > 0 && on_two > 0)) || fail "one backend took every connection ($on_one, $on_two)"
	for i in $(seq 1 12); do
		local b
		b=$(grep -lF "\"s$i-1\"" "${BLOG[one]}" "${BLOG[two]}")
		[[ $(echo "$b" | wc -l) -eq 1 ]] || fail "s$i's messages went to both backends"
		run bash -c "grep -oE '\"s$i-[0-9]\"' '$b' | tr -d '\"' | tr '\n' ' '"
		assert_output "s$i-1 s$i-2 s$i-3 s$i-4 s$i-5 "
	done
}

adopted() { (($(grep -c '"event":"ADOPT"' "${BLOG[$1]}") >= $2)); }

has_either() { grep -qF "\"$1\"" "${BLOG[one]}" "${BLOG[two]}"; }

@test "a backend killed mid-stream: its connections move to the other, which is told" {
	backend one
	backend two
	# Clients until one has connections of its own (rendezvous spreads them;
	# six make it near certain, twenty certain enough to fail otherwise).
	local i=0 n moved=0
	while ((i < 6 || (moved == 0 && i < 20))); do
		i=$((i + 1))
		client "m$i" "$(printf 'A\nB\nC\n' | sed -n "$(((i % 3) + 1))p")"
		wait_got "m$i" welcome
		moved=$(grep -c '"event":"CONNECT"' "${BLOG[one]}" || true)
	done
	((moved > 0)) || fail "backend one got none of $i connections"
	n=$i
	kill -KILL "${BPID[one]}"
	# After dead_after, the instances give one's connections to two.
	SIO_WAIT=20 wait_for adopted two "$moved"
	for i in $(seq "$n"); do
		say "m$i" "{\"channel\":\"after\",\"data\":\"m$i-after\"}"
	done
	for i in $(seq "$n"); do
		wait_event two "\"m$i-after\""
	done
}

@test "garbage from a backend: error lines, a GONE, nothing stops" {
	backend app
	client g A
	wait_got g welcome
	say g '{"channel":"junk","data":null}'
	wait_got g '{"channel":"","data":"still here"}'
	run cat "$BATS_TEST_TMPDIR/app.err"
	assert_output --partial 'not JSON'
	# The instance is alive and so is the backend.
	wait_for imetric_ge A 'sio_app_commands_total{cmd="send"}' 2
	kill -0 "${BPID[app]}"
}

@test "no backend attached: the events wait, then go to the first one that attaches" {
	client early B
	wait_for imetric_ge B 'sio_app_events_total{event="CONNECT"}' 1
	say early '{"channel":"hello","data":"before any backend"}'
	backend late
	wait_event late '"event":"CONNECT".*"instance":"B"'
	wait_event late '"before any backend"'
}

# node_app NAME EXAMPLE: the Node module's example EXAMPLE (socketiyo's own
# logic, only the line that creates the server changed) as the backend,
# seeded with A; its output in NAME.out. Waits until every instance counts it.
node_app() {
	command -v node >/dev/null || skip "no node"
	local name=$1 i
	(cd "$SIO_ROOT/node/sio-socketiyo" &&
		exec env SIO_BUS_PEER="${IBUS[A]}" SIO_BACKEND="$SIO_BIN/sio-backend" \
			node "examples/$2.js") >"$BATS_TEST_TMPDIR/$name.out" 2>&1 3>&- &
	track_pid "$!"
	for i in A B C; do
		wait_for imetric_ge "$i" 'sio_app_backends{role="worker"}' 1 ||
			fail "$name never attached: $(cat "$BATS_TEST_TMPDIR/$name.out")"
	done
}

@test "Node: socketiyo's example server runs on the mesh through the module" {
	node_app app exampleServer
	client n1 A
	client n2 C
	wait_got n1 '{"channel":"","data":{"message":"welcome"}}'
	wait_got n2 '{"channel":"","data":{"message":"welcome"}}'
	wait_got n1 '{"channel":"","data":{"message":"new connection"}}'
	# The time every 1.5 s, sent with sendAll, reaches clients of every instance.
	wait_for grep -qE '^\{"channel":"","data":[0-9]{13}\}$' "$BATS_TEST_TMPDIR/n2.out"
	wait_for grep -q 'websocket connected' "$BATS_TEST_TMPDIR/app.out"
}

@test "Node: socketiyo's authentication flow runs on the mesh through the module" {
	node_app app authentication
	client me B
	client other C
	say me '{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"AUTHENTICATE_CONFIRMATION"}'
	say other '{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"AUTHENTICATE_CONFIRMATION"}'
	say other '{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"chat"}'
	wait_for imetric_ge C sio_subscriptions 2
	say me '{"channel":"AUTHENTICATE","data":{"who":"Me","proof":"password"}}'
	wait_got me '{"channel":"AUTHENTICATE_CONFIRMATION","data":{"level":"user"}}'
	# Authenticated, it may chat; the message reaches the other instance.
	say me '{"channel":"chat","data":"hello"}'
	wait_got other '{"channel":"chat","data":{"who":"Me","text":"hello"}}'
	! got other AUTHENTICATE_CONFIRMATION || fail "the confirmation went to another socket"
	# Not authenticated: ignored.
	say other '{"channel":"chat","data":"spam"}'
	say me '{"channel":"chat","data":"marker"}'
	wait_got other '"text":"marker"'
	! got other '"text":"spam"' || fail "an unauthenticated socket chatted"
}

#!/usr/bin/env bats
# make run's demo (etc/demo.sh): it checks its ports before it starts, moves
# to free ones and says so; its application greets, signs in and gives a
# private channel; its spawn command takes the next free port; a stop ends
# exactly what it started, by PID, and leaves nothing behind.

load helpers

# listening PORT: something listens on TCP PORT.
listening() { [[ -n $(ss -Hltn "sport = :$1") ]]; }

# A base port whose demo set is free: base, base+1, base+10, base+11,
# base+10000, base+10001, and the same 100 higher, where a busy base moves
# the demo.
demo_base() {
	local b p ok
	for _ in $(seq 50); do
		b=$((20000 + RANDOM % 9000))
		ok=1
		for p in $b $((b + 1)) $((b + 10)) $((b + 11)) $((b + 10000)) $((b + 10001)) \
			$((b + 100)) $((b + 101)) $((b + 110)) $((b + 111)) $((b + 10100)) $((b + 10101)); do
			! listening "$p" || ok=
		done
		[[ -n $ok ]] && { echo "$b"; return; }
	done
	return 1
}

# holder PORT: a process that holds PORT on loopback; HOLDER_PID.
holder() {
	python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
print("held", flush=True); time.sleep(600)' "$1" >"$BATS_TEST_TMPDIR/holder" &
	HOLDER_PID=$!
	track_pid "$HOLDER_PID"
	wait_for grep -q held "$BATS_TEST_TMPDIR/holder"
}

joined() { [[ $(grep -c '^JOIN demo-' "$BATS_TEST_TMPDIR/demo.out") -ge 2 ]]; }

@test "make run's demo: a busy port moves it to free ones, it says so, and a stop leaves nothing" {
	local base
	base=$(demo_base) || skip "no free set of ports found"
	holder "$base"
	TMPDIR=$BATS_TEST_TMPDIR SIO_DEMO_PORT=$base sh "$SIO_ROOT/etc/demo.sh" \
		>"$BATS_TEST_TMPDIR/demo.out" 2>"$BATS_TEST_TMPDIR/demo.err" &
	local demo=$!
	track_pid "$demo"
	SIO_WAIT=30 wait_for joined || fail "no mesh: $(cat "$BATS_TEST_TMPDIR/demo.err")"
	run cat "$BATS_TEST_TMPDIR/demo.err"
	assert_output --partial "port $base is in use; trying the ports from $((base + 100))"
	assert_output --partial "http://127.0.0.1:$((base + 110))/"
	grep -q "^JOIN demo-$((base + 100)) " "$BATS_TEST_TMPDIR/demo.out"
	grep -q "^JOIN demo-$((base + 101)) " "$BATS_TEST_TMPDIR/demo.out"
	listening $((base + 110)) || fail "the announcer does not listen on $((base + 110))"
	# The monitor's live page, on the port after the announcer's.
	assert_output --partial "http://127.0.0.1:$((base + 111))/ to watch the mesh"
	run curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$((base + 111))/"
	assert_output --partial '<title>sio mesh</title>'

	# The application: a greeting, then sign-in and a private channel.
	local url="ws://127.0.0.1:$((base + 101))/socketiyo" in=$BATS_TEST_TMPDIR/client.in fd
	mkfifo "$in"
	"$SIO_BIN/sio-cat" "$url" --raw <"$in" >"$BATS_TEST_TMPDIR/client.out" 2>/dev/null 3>&- &
	track_pid "$!"
	exec {fd}>"$in"
	SIO_WAIT=30 wait_for grep -q '"data":"welcome, ' "$BATS_TEST_TMPDIR/client.out" ||
		fail "no greeting: $(cat "$BATS_TEST_TMPDIR/demo.err")"
	printf '%s\n' '{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"AUTHENTICATE_CONFIRMATION"}' \
		'{"channel":"AUTHENTICATE","data":{"who":"ann","proof":"demo"}}' >&"$fd"
	wait_for grep -qF '{"channel":"private/ann","data":"only ann reads this"}' \
		"$BATS_TEST_TMPDIR/client.out" || fail "$(cat "$BATS_TEST_TMPDIR/client.out")"
	grep -qF '{"channel":"AUTHENTICATE_CONFIRMATION","data":{"who":"ann","level":"user"}}' \
		"$BATS_TEST_TMPDIR/client.out"
	exec {fd}>&-

	stop_pid "$demo" 30
	assert_equal "$WAIT_RC" 0
	local p
	for p in $((base + 100)) $((base + 101)) $((base + 110)) $((base + 111)) $((base + 10100)); do
		! listening "$p" || fail "port $p is still held after the demo stopped"
	done
	# The instances drained and the monitor saw them leave.
	[[ $(grep -c "^LEAVE demo-.* shutdown$" "$BATS_TEST_TMPDIR/demo.out") -eq 2 ]] ||
		fail "$(cat "$BATS_TEST_TMPDIR/demo.out")"
	run compgen -G "$BATS_TEST_TMPDIR/sio-demo.*"
	assert_failure
}

@test "the demo's spawn command takes the next free port and records what it started" {
	local base run p pid
	base=$(demo_base) || skip "no free set of ports found"
	run=$BATS_TEST_TMPDIR/run
	mkdir "$run"
	holder $((base + 2))
	# No mesh to join: the seed only has to be well-formed.
	# Its standard error goes on with the instance's lines: to a file, not to
	# a pipe that run would read to its end.
	sh "$SIO_ROOT/etc/demo-spawn.sh" "$run" $((base + 2)) $((base + 9)) \
		tcp://127.0.0.1:1 --log-level warning 2>"$BATS_TEST_TMPDIR/spawn.err"
	pid=$(cat "$run/spawned")
	track_pid "$pid"
	wait_for listening $((base + 3))
	[[ $(readlink "/proc/$pid/exe") == */sio-serve ]] || fail "$pid is not the instance"
	grep -qF "spawned demo-$((base + 3)): ws://127.0.0.1:$((base + 3))/socketiyo" \
		"$BATS_TEST_TMPDIR/spawn.err" || fail "$(cat "$BATS_TEST_TMPDIR/spawn.err")"
	stop_pid "$pid"
	! listening $((base + 3))
}

@test "the demo's spawn command says so when no port is left" {
	local base run
	base=$(demo_base) || skip "no free set of ports found"
	run=$BATS_TEST_TMPDIR/run
	mkdir "$run"
	holder $((base + 2))
	run sh "$SIO_ROOT/etc/demo-spawn.sh" "$run" $((base + 2)) $((base + 2)) tcp://127.0.0.1:1
	assert_failure 1
	assert_output --partial "no free port from $((base + 2)) to $((base + 2))"
	[[ ! -e $run/spawned ]]
}

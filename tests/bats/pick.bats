#!/usr/bin/env bats
# sio-pick: an endpoint for a new client, from the URLs given, the lines of
# standard input, or the accepting instances of a live mesh (--bus-peer).
# The statistical checks run on fixed seeds, so they never vary; their bounds
# are several standard deviations wide all the same.

load helpers

# Instances of the mesh tests: fast heartbeats, a peer dead after 500 ms.
MESH=(--heartbeat-ms 100 --dead-after-ms 500)
# How long sio-pick listens to the mesh at most: it stops sooner, once it has
# heard every instance the mesh claims (or learned nothing for 10 heartbeats).
PICK_TIMEOUT=${PICK_TIMEOUT:-3}

pick() { "$SIO_BIN/sio-pick" "$@"; }

# pick_mesh ARGS...: sio-pick on the mesh seeded by instance A.
pick_mesh() {
	"$SIO_BIN/sio-pick" --bus-peer "$A_BUS" "${MESH[@]}" --timeout "$PICK_TIMEOUT" "$@"
}

# serve_as NAME [ARGS...]: start_serve on a bus endpoint of its own, with the
# mesh settings; sets NAME_PORT, NAME_URL, NAME_PID and NAME_BUS.
serve_as() {
	local name=$1 bus
	shift
	bus=tcp://127.0.0.1:$(free_port)
	start_serve --bus-bind "$bus" "${MESH[@]}" "$@" || return
	declare -g "${name}_PORT=$SERVE_PORT" "${name}_URL=$SERVE_URL" \
		"${name}_PID=$SERVE_PID" "${name}_BUS=$bus"
}

# on PORT CMD...: a helper of helpers.bash (metric, wait_metric...) run
# against the instance on PORT.
on() {
	local SERVE_PORT=$1
	shift
	"$@"
}

# hold URL N: N raw clients holding a connection to URL, in the background.
hold() {
	local SERVE_URL=$1 i
	for ((i = 0; i < $2; i++)); do
		ws_bg "held$((${#BG[@]} + 1))" sleep:60
	done
}

# picked URL: how many lines of $output are URL.
picked() { grep -cxF -- "$1" <<<"$output" || true; }

# between N LOW HIGH: LOW <= N <= HIGH, said when not.
between() {
	(($1 >= $2 && $1 <= $3)) || fail "$1 is not between $2 and $3"
}

# picks_include URL ARGS...: whether a pick of the mesh (ARGS: more options)
# returns URL at least once in 100 picks.
picks_include() {
	local url=$1
	shift
	pick_mesh --count 100 "$@" 2>/dev/null | grep -qxF -- "$url"
}

# --- URLs given --------------------------------------------------------------

@test "picks one of the URLs given" {
	run --separate-stderr pick --count 300 --seed 1 ws://a:1/s ws://b:2/s ws://c:3/s
	assert_success
	[ -z "$stderr" ]
	[ "${#lines[@]}" -eq 300 ]
	local a b c
	a=$(picked ws://a:1/s) b=$(picked ws://b:2/s) c=$(picked ws://c:3/s)
	[ $((a + b + c)) -eq 300 ] || fail "not one of the URLs given: $output"
	((a > 0 && b > 0 && c > 0)) || fail "not each of them: $a $b $c"

	run pick ws://only:1/socketiyo
	assert_success
	assert_output ws://only:1/socketiyo
}

@test "reads URLs from standard input, one a line: blank and # lines ignored" {
	printf '# the mesh\n\n  ws://a:1/s  \n\t\n#ws://commented:9/s\nws://b:2/s\r\n   # indented comment\n' \
		>"$BATS_TEST_TMPDIR/urls"
	run --separate-stderr pick --count 400 --seed 5 <"$BATS_TEST_TMPDIR/urls"
	assert_success
	[ "${#lines[@]}" -eq 400 ]
	local a b
	a=$(picked ws://a:1/s) b=$(picked ws://b:2/s)
	[ $((a + b)) -eq 400 ] || fail "other lines than the two URLs: $output"
	between "$a" 150 250
}

@test "--count N prints N independent picks, one by default" {
	run pick ws://a/s ws://b/s
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	run pick --count 7 ws://a/s ws://b/s
	assert_success
	[ "${#lines[@]}" -eq 7 ]
	run pick -n 1000 ws://a/s
	assert_success
	[ "${#lines[@]}" -eq 1000 ]
	[ "$(picked ws://a/s)" -eq 1000 ]
}

@test "--seed makes picks repeatable; another seed picks otherwise" {
	local mode first
	for mode in "" --weighted --two-choices; do
		run pick $mode --seed 42 --count 100 ws://a/s ws://b/s ws://c/s ws://d/s
		assert_success
		first=$output
		run pick $mode --seed 42 --count 100 ws://a/s ws://b/s ws://c/s ws://d/s
		assert_success
		[ "$output" = "$first" ] || fail "${mode:-uniform}: the same seed picked otherwise"
		run pick $mode --seed 43 --count 100 ws://a/s ws://b/s ws://c/s ws://d/s
		assert_success
		[ "$output" != "$first" ] || fail "${mode:-uniform}: seeds 42 and 43 picked alike"
	done
	# Without a seed, two runs of 100 picks from 4 differ.
	run pick --count 100 ws://a/s ws://b/s ws://c/s ws://d/s
	first=$output
	run pick --count 100 ws://a/s ws://b/s ws://c/s ws://d/s
	[ "$output" != "$first" ]
}

@test "a seed picks the same on every machine (xoshiro256**, seeded by splitmix64)" {
	run pick --seed 42 ws://a/s ws://b/s ws://c/s ws://d/s
	assert_success
	assert_output ws://c/s
	# The seed is read as C reads integers: 0x2a is 42.
	run pick --seed 0x2a ws://a/s ws://b/s ws://c/s ws://d/s
	assert_output ws://c/s
}

@test "uniform: 10,000 picks spread evenly over 4 URLs" {
	run pick --seed 2026 --count 10000 ws://a/s ws://b/s ws://c/s ws://d/s
	assert_success
	local u
	# 2500 each; one standard deviation is 43.
	for u in ws://a/s ws://b/s ws://c/s ws://d/s; do
		between "$(picked "$u")" 2300 2700
	done
}

@test "--weighted and --two-choices on plain URLs: each has room for one, so even" {
	local mode u
	for mode in --weighted --two-choices; do
		run pick "$mode" --seed 7 --count 10000 ws://a/s ws://b/s ws://c/s ws://d/s
		assert_success
		for u in ws://a/s ws://b/s ws://c/s ws://d/s; do
			between "$(picked "$u")" 2300 2700
		done
	done
}

# --- failures ------------------------------------------------------------------

@test "nothing to pick from: exit 69 and a message on stderr" {
	run --separate-stderr pick </dev/null
	assert_failure 69
	assert_output ''
	assert_equal "$stderr" "sio-pick: error: no endpoint available: standard input held no URL"

	printf '# nothing but comments\n\n   \n' >"$BATS_TEST_TMPDIR/urls"
	run --separate-stderr pick --count 5 <"$BATS_TEST_TMPDIR/urls"
	assert_failure 69
	assert_output ''
	[[ $stderr == *"no endpoint available"* ]]
}

@test "bad usage exits 64 with a message" {
	local args
	for args in "--bogus ws://a/s" "--count 0 ws://a/s" "--count -3 ws://a/s" \
		"--count 2.5 ws://a/s" "--count many ws://a/s" "--seed abc ws://a/s" \
		"--timeout -1 ws://a/s" "--timeout soon ws://a/s" "--count"; do
		# shellcheck disable=SC2086
		run --separate-stderr pick $args
		[ "$status" -eq 64 ] || fail "sio-pick $args: exit $status, expected 64"
		[ -z "$output" ] || fail "sio-pick $args printed: $output"
		[[ $stderr == sio-pick:* ]] || fail "sio-pick $args: stderr: $stderr"
	done
	run --separate-stderr pick --bus-peer tcp://127.0.0.1:1 ws://a/s
	assert_failure 64
	[[ $stderr == *"not both"* ]] || fail "stderr: $stderr"
}

@test "no URL and standard input a terminal: exit 64" {
	# A pseudo-terminal for every standard stream, from python's pty.
	run python3 -c '
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(st))' "$SIO_BIN/sio-pick"
	assert_failure 64
	assert_output --partial "no URL given"
}

@test "--check-config, --help and --version exit 0" {
	run pick --check-config
	assert_success
	assert_output ''
	run pick --help
	assert_success
	assert_line --index 0 --partial 'Usage: sio-pick'
	run pick --version
	assert_success
	assert_output --regexp '^sio-pick [0-9]'
}

# --- the live mesh ---------------------------------------------------------------

@test "--bus-peer: picks the instances of the mesh, those learned from the seed too" {
	serve_as A
	serve_as B --bus-peer "$A_BUS"
	# sio-pick is told of A only; B comes in A's list of endpoints, which
	# sio-pick waits for: every run knows both.
	wait_for picks_include "$B_URL"
	local a b i
	for i in 1 2 3; do
		run --separate-stderr pick_mesh --seed 9 --count 1000
		assert_success
		a=$(picked "$A_URL") b=$(picked "$B_URL")
		[ $((a + b)) -eq 1000 ] || fail "run $i: not the two instances: $output"
		between "$a" 400 600
	done
}

@test "--bus-peer: --weighted and --two-choices prefer the instance with more room" {
	# A: 4 of 8 taken (room 4); B: none of 8 (room 8). Both NORMAL.
	serve_as A --max-clients 8 --high-clients 8 --low-enough 1
	serve_as B --max-clients 8 --high-clients 8 --low-enough 1 --bus-peer "$A_BUS"
	hold "$A_URL" 4
	on "$A_PORT" wait_metric sio_clients 4
	on "$A_PORT" wait_metric 'sio_load_state{state="NORMAL"}' 1
	wait_for picks_include "$B_URL"

	local a b
	# Weighted by room: B 8/12 of the picks; a standard deviation is 0.005.
	run -0 pick_mesh --weighted --seed 11 --count 10000
	a=$(picked "$A_URL") b=$(picked "$B_URL")
	[ $((a + b)) -eq 10000 ] || fail "not the two instances: $output"
	between "$b" 6350 6950
	# Two choices of two: both are drawn every time, the roomier wins.
	run -0 pick_mesh --two-choices --seed 12 --count 10000
	[ "$(picked "$B_URL")" -eq 10000 ] || fail "A picked $(picked "$A_URL") times"
	# Uniform pays no heed to room.
	run -0 pick_mesh --seed 13 --count 10000
	between "$(picked "$B_URL")" 4700 5300
}

@test "--bus-peer: an instance in HIGH is not picked while one is NORMAL; alone, it is" {
	serve_as A --max-clients 3 --high-clients 2 --low-enough 1
	serve_as B --max-clients 3 --high-clients 2 --low-enough 1 --bus-peer "$A_BUS"
	hold "$A_URL" 2
	on "$A_PORT" wait_metric 'sio_load_state{state="HIGH"}' 1
	wait_for picks_include "$B_URL"
	local mode
	for mode in "" --weighted --two-choices; do
		run -0 pick_mesh $mode --seed 21 --count 500
		[ "$(picked "$B_URL")" -eq 500 ] || fail "${mode:-uniform}: A (HIGH) picked: $output"
	done

	# With B gone, A in HIGH still has room: it is the one to pick.
	stop_pid "$B_PID"
	run -0 pick_mesh --count 50
	[ "$(picked "$A_URL")" -eq 50 ] || fail "not A alone: $output"
}

@test "--bus-peer: an over-loaded instance is never picked; alone, exit 69" {
	serve_as A --max-clients 3 --high-clients 2 --low-enough 1
	hold "$A_URL" 3
	on "$A_PORT" wait_metric sio_clients 3
	# One more is refused with 1013: OVER until the count falls to 1.
	WS_TIMEOUT=5 run ws expect-close
	assert_output --partial 'CLOSE 1013'
	on "$A_PORT" wait_metric 'sio_load_state{state="OVER"}' 1
	local mode
	for mode in "" --weighted --two-choices; do
		run --separate-stderr pick_mesh $mode
		assert_failure 69
		assert_output ''
		[[ $stderr == *"no endpoint available"* ]] || fail "stderr: $stderr"
	done

	serve_as B --bus-peer "$A_BUS"
	wait_for picks_include "$B_URL"
	run -0 pick_mesh --weighted --seed 31 --count 500
	[ "$(picked "$B_URL")" -eq 500 ] || fail "A (OVER) picked: $output"
}

@test "--bus-peer: an instance killed with SIGKILL is not picked once dead" {
	serve_as A
	serve_as B --bus-peer "$A_BUS"
	wait_for picks_include "$B_URL"
	on "$A_PORT" wait_metric sio_peers_alive 1

	kill -KILL "$B_PID"
	# A's view: B silent for --dead-after-ms, dead.
	on "$A_PORT" wait_metric sio_peers_alive 0
	local mode
	for mode in "" --weighted --two-choices; do
		run -0 pick_mesh $mode --seed 51 --count 200
		[ "$(picked "$A_URL")" -eq 200 ] || fail "${mode:-uniform}: B picked after its death: $output"
	done
	# B as a seed too changes nothing: it is silent.
	run -0 pick_mesh --bus-peer "$B_BUS" --count 200
	[ "$(picked "$A_URL")" -eq 200 ] || fail "B picked after its death: $output"
}

@test "--bus-peer: a draining instance is never picked; alone, exit 69" {
	serve_as A
	serve_as B --bus-peer "$A_BUS" --drain-ms 60000
	wait_for picks_include "$B_URL"
	# One client keeps B draining for the whole minute.
	hold "$B_URL" 1
	on "$B_PORT" wait_metric sio_clients 1
	kill -TERM "$B_PID"
	on "$B_PORT" wait_metric sio_draining 1
	local mode
	for mode in "" --weighted --two-choices; do
		run -0 pick_mesh $mode --seed 41 --count 300
		[ "$(picked "$A_URL")" -eq 300 ] || fail "${mode:-uniform}: B (draining) picked: $output"
	done

	# B alone, still draining and heard on the bus: nothing to pick.
	stop_pid "$A_PID"
	pid_gone "$B_PID" && fail "B ended its drain early"
	run --separate-stderr "$SIO_BIN/sio-pick" --bus-peer "$B_BUS" "${MESH[@]}" --timeout "$PICK_TIMEOUT"
	assert_failure 69
	assert_equal "$stderr" "sio-pick: error: no endpoint available: none of the 1 instance heard through $B_BUS accepts new clients (over-loaded or draining)"
	on "$B_PORT" metric_is sio_draining 1
}

@test "--bus-peer: nothing on the bus within --timeout: exit 69" {
	local port
	port=$(free_port)
	run --separate-stderr pick --bus-peer "tcp://127.0.0.1:$port" --bus-peer tcp://127.0.0.1:1 --timeout 0.3
	assert_failure 69
	assert_output ''
	# What was tried is named, to be checked.
	assert_equal "$stderr" "sio-pick: error: no endpoint available: no instance heard within 0.3 s on the bus through tcp://127.0.0.1:$port, tcp://127.0.0.1:1 (does an instance's bus.bind listen there?)"
}

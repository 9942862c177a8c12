#!/usr/bin/env bats
# The paths a new user takes by mistake: each failure says what went wrong
# and what to do, with the exit code of its kind.

load helpers
load mesh

@test "--max-clients alone derives high_clients and low_enough (80 %, 60 %)" {
	run "$SIO_BIN/sio-serve" --max-clients 10 --check-config
	assert_success
	start_serve --max-clients 10
	run http_get /metrics
	assert_line --partial 'sio_limit_clients{limit="high"} 8'
	assert_line --partial 'sio_limit_clients{limit="low_enough"} 6'
}

@test "inconsistent thresholds name the values in force and what to set" {
	run "$SIO_BIN/sio-serve" --max-clients 10 --high-clients 9 --check-config
	assert_failure 78
	assert_output --partial 'low_enough (600000) must be below high_clients (9)'
	assert_output --partial 'set --high-clients and --low-enough'
}

# usage_error PROG ARGS...: exit 64, and the last line says where help is.
usage_error() {
	local prog=$1
	shift
	run --separate-stderr "$SIO_BIN/$prog" "$@" </dev/null
	[[ $status == 64 ]] || fail "$prog $*: exit $status, not 64 (${stderr})"
	[[ ${stderr##*$'\n'} == "Try '$prog --help'." ]] ||
		fail "$prog $*: the last line is not the --help hint: ${stderr}"
}

@test "every usage error of every program ends with the --help hint" {
	local p
	for p in sio-serve sio-cat sio-monitor sio-announce sio-pick sio-bench sio-backend; do
		usage_error "$p" --no-such-option
		usage_error "$p" -Z
		usage_error "$p" --log-level
	done
	usage_error sio-serve extra
	usage_error sio-cat
	usage_error sio-cat not-a-url
	usage_error sio-cat ws://127.0.0.1:1/a ws://127.0.0.1:2/b
	usage_error sio-cat --bus-peer tcp://127.0.0.1:1
	usage_error sio-monitor extra
	usage_error sio-announce
	usage_error sio-pick --seed x
	usage_error sio-bench nomode
	usage_error sio-bench relay
	usage_error sio-bench fanout --url not-a-url
	usage_error sio-bench hold --window 3
	usage_error sio-backend extra
}

@test "a peer's orderly shutdown is logged at info, a death at warning" {
	instance A --heartbeat-ms 100 --dead-after-ms 500
	instance B --bus-peer "${IBUS[A]}" --heartbeat-ms 100 --dead-after-ms 500
	instance C --bus-peer "${IBUS[A]}" --heartbeat-ms 100 --dead-after-ms 500
	wait_mesh 2 A B C
	kill -TERM "${IPID[B]}"
	wait_for grep -q 'LEAVE id=A peer=B .*why=shutdown' "${ILOG[A]}"
	run grep 'LEAVE id=A peer=B' "${ILOG[A]}"
	assert_output --regexp '^sio-serve: info: LEAVE id=A peer=B .*why=shutdown$'
	kill -KILL "${IPID[C]}"
	wait_for grep -q 'LEAVE id=A peer=C .*why=timeout' "${ILOG[A]}"
	run grep 'LEAVE id=A peer=C' "${ILOG[A]}"
	assert_output --regexp '^sio-serve: warning: LEAVE id=A peer=C .*why=timeout$'
}

@test "draining reads right for one connection" {
	start_serve --drain-ms 200
	"$SIO_BIN/sio-cat" "$SERVE_URL" --subscribe news >/dev/null 2>&1 &
	track_pid $!
	wait_metric sio_clients 1
	stop_serve
	run grep draining "$SERVE_LOG"
	assert_output --regexp 'draining 1 connection over 200 ms$'
}

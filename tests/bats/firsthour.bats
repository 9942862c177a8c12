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

alone_lines_at_least() { (($(grep -c BUS_ALONE "${ILOG[A]}") >= $1)); }

# beats_past NAME N: the instance published N heartbeats or more; the test's
# clock, so that "no line in 10 heartbeats" is waited for, never slept.
beats_past() { (($(imetric "$1" sio_bus_heartbeats_total) >= $2)); }

@test "a lone instance given seeds says so every 10 heartbeats, naming the seeds" {
	local dead
	dead=$(free_port)
	instance A --heartbeat-ms 100 --dead-after-ms 500 --bus-peer "tcp://127.0.0.1:$dead"
	wait_for grep -q 'BUS_ALONE' "${ILOG[A]}"
	run grep BUS_ALONE "${ILOG[A]}"
	assert_line --regexp "^sio-serve: warning: BUS_ALONE id=A seeds=tcp://127\\.0\\.0\\.1:$dead why=\"no peer heard for 1000 ms"
	# Again while it lasts, and no more often than every 10 heartbeats.
	SIO_WAIT=5 wait_for alone_lines_at_least 2
	local beats lines
	beats=$(imetric A sio_bus_heartbeats_total) lines=$(grep -c BUS_ALONE "${ILOG[A]}")
	wait_for beats_past A $((beats + 25))
	# 25 heartbeats: two or three more lines, never one a heartbeat.
	(($(grep -c BUS_ALONE "${ILOG[A]}") <= lines + 3)) ||
		fail "$(grep -c BUS_ALONE "${ILOG[A]}") BUS_ALONE lines, $lines 25 heartbeats before"

	# Heard by a peer: the warnings stop.
	instance B --heartbeat-ms 100 --dead-after-ms 500 --bus-peer "${IBUS[A]}"
	wait_mesh 1 A B
	local n
	n=$(grep -c BUS_ALONE "${ILOG[A]}")
	wait_for beats_past A $(($(imetric A sio_bus_heartbeats_total) + 15))
	assert_equal "$(grep -c BUS_ALONE "${ILOG[A]}")" "$n"
	refute grep -q BUS_ALONE "${ILOG[B]}"
}

@test "a bus endpoint without its transport is a configuration error naming the setting" {
	run --separate-stderr "$SIO_BIN/sio-serve" --bus-peer 127.0.0.1:18080 --check-config
	assert_failure 78
	assert_equal "$stderr" "sio-serve: error: --bus-peer: 127.0.0.1:18080: expected a ZeroMQ endpoint such as tcp://HOST:PORT (or ipc://PATH)"
	run --separate-stderr "$SIO_BIN/sio-cat" --bus-peer localhost:18080 --publish news
	assert_failure 78
	assert_output ''
	assert_equal "$stderr" "sio-cat: error: --bus-peer: localhost:18080: expected a ZeroMQ endpoint such as tcp://HOST:PORT (or ipc://PATH)"
}

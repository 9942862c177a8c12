#!/usr/bin/env bats
# Overload across the mesh degrades, never collapses (DESIGN.md §7): a
# publisher on A, subscribers on B, the rate raised until B cannot deliver
# all of it. B then sheds whole relayed messages at intake, counted
# (sio_shed_total), says LAGGING on the bus, tells A, which paces its
# publishers (PACED); every subscriber that reads stays connected, and once
# the rate falls B says CAUGHT_UP and delivers everything again. A client
# that does not read is closed with 1008 all the same, under overload or not.
#
# The overload rate is found here, not written down: it depends on the
# machine. No timing decides anything: the test waits on counters, events
# and log lines, each within a deadline.

load helpers
load mesh
source "$BATS_TEST_DIRNAME/../helpers/cpucap.bash"

# bench_relay N RATE SECONDS: sio-bench relay, N subscribers on B, the
# publisher on A; its JSON line in $output.
# B, not the load generator nor A, must be what runs out of CPU; but the
# generator reads every frame B sends and costs about as much, so on a
# machine of two cores it cannot outrun B by much. B therefore gets a share
# of one core through a CPU cgroup of its own (v2's cpu.max or v1's CFS
# quota). Where none can be made, the instances share one core and the
# generator has the other (then A, starved with B, is held back by TCP as
# much as B is behind, and B may never need to shed).
PIN_BENCH=()
CAP_DIR=""

# cap_cpu PERCENT PID...: the processes get PERCENT of one core between them.
cap_cpu() {
	local pct=$1
	shift
	sio_cpucap "sio-overload-$$-$BATS_TEST_NUMBER" "$pct" "$@"
	local rc=$?
	CAP_DIR=$CPUCAP_DIR
	return "$rc"
}

teardown() {
	sio_teardown
	# Empty once its processes are gone (sio_teardown waited for them).
	[[ -z $CAP_DIR ]] || rmdir "$CAP_DIR" 2>/dev/null || true
}

bench_relay() {
	run -0 --separate-stderr "${PIN_BENCH[@]}" "$SIO_BIN/sio-bench" relay -u "${IURL[B]}" -P "${IURL[A]}" \
		-n "$1" -r "$2" -d "$3" -s 128 -t 20 --json --quiet
}

# field NAME: a top-level number of the JSON line in $output.
field() {
	python3 -c 'import json, sys; v = json.loads(sys.argv[1]).get(sys.argv[2]); print(int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)' \
		"$output" "$1"
}

badclient_bg() {
	local name=$1
	shift
	python3 "$SIO_ROOT/tests/helpers/badclient.py" --timeout 60 "$@" \
		>"$BATS_TEST_TMPDIR/$name.out" 3>&- &
	BG[$name]=$!
	track_pid "$!"
}

monitor_bg() {
	"$SIO_BIN/sio-monitor" --events --bus-peer "${IBUS[A]}" >"$BATS_TEST_TMPDIR/mon.out" \
		2>"$BATS_TEST_TMPDIR/mon.err" 3>&- &
	BG[mon]=$!
	track_pid "$!"
}

# pair [OPTION...]: instances A and B in a mesh; with CAP=PERCENT, B is
# made to run out of CPU before A and the load generator (above).
pair() {
	instance A "$@"
	instance B --bus-peer "${IBUS[A]}" "$@"
	wait_mesh 1 A B
	[[ -n ${CAP:-} ]] || return 0
	if cap_cpu "$CAP" "${IPID[B]}"; then
		echo "# B has $CAP % of a core (cgroup ${CAP_DIR##*/})" >&3
	elif command -v taskset >/dev/null && (($(nproc) >= 2)); then
		taskset -a -pc 0 "${IPID[A]}" >/dev/null
		taskset -a -pc 0 "${IPID[B]}" >/dev/null
		PIN_BENCH=(taskset -c 1)
	fi
}

# flood_readers N: N clients of B on the channel flood (sub0 ...), which A
# relays to B.
flood_readers() {
	local i
	for ((i = 0; i < $1; i++)); do
		cat_bg "sub$i" "${IURL[B]}" --subscribe flood
	done
	wait_imetric B sio_subscriptions "$1"
	await_relay A flood sub0
}

# readers_caught_up N COUNT: B catches up by itself, and its N readers are all
# still there and get what comes next; how many of COUNT B shed is said.
readers_caught_up() {
	local i
	SIO_WAIT=30 wait_imetric B sio_lagging 0
	echo '"end"' | "$SIO_BIN/sio-cat" --bus-peer "${IBUS[A]}" --publish flood --timeout 10
	for ((i = 0; i < $1; i++)); do
		SIO_WAIT=60 wait_for bg_printed "sub$i" '"end"'
	done
	echo "# shed $(imetric B 'sio_shed_total{where="intake"}') of $2" >&3
}

@test "an overloaded relay sheds by counted drops, keeps its readers, paces the publisher and recovers" {
	local n=20 rate=1000 lost=0 found="" ok_rate=""
	CAP=5 pair --slow-consumer-after 3
	monitor_bg
	wait_for bg_printed mon '^JOIN B '

	# A client of B that never reads: it must go as a slow consumer even
	# while its instance is behind.
	badclient_bg stuck nonreader "${IPORT[B]}" /socketiyo bench
	wait_for bg_printed stuck '^subscribed$'

	while ((rate <= 512000)); do
		local shed0 gaps0 queue0
		shed0=$(imetric B 'sio_shed_total{where="intake"}')
		queue0=$(imetric B 'sio_shed_total{where="queue"}')
		gaps0=$(imetric B sio_bus_gaps_total)
		bench_relay "$n" "$rate" 2
		lost=$(field lost)
		local shed=$(($(imetric B 'sio_shed_total{where="intake"}') - shed0))
		local gaps=$(($(imetric B sio_bus_gaps_total) - gaps0))
		local queue=$(($(imetric B 'sio_shed_total{where="queue"}') - queue0))
		echo "# rate $rate: published $(field published) delivered $(field delivered)" \
			"lost $lost shed $shed gaps $gaps closed $(field dropped)" >&3
		# Every subscriber that reads stays connected, at every rate.
		assert_equal "$(field dropped)" 0
		assert_equal "$(field established)" "$n"
		# Every frame not delivered is counted: whole messages skipped at
		# intake (or missed on the way) once per subscriber, frames dropped
		# from a full queue one by one.
		((lost <= (shed + gaps) * n + queue)) ||
			fail "rate $rate: $lost frames lost, only $(((shed + gaps) * n + queue)) counted"
		if ((shed > 0)); then
			found=$rate
			break
		fi
		ok_rate=$rate
		rate=$((rate * 2))
	done
	[[ -n $found ]] || skip "no overload up to $rate messages a second on this machine"
	echo "# overloaded at $found messages a second (delivered in full at ${ok_rate:-none})" >&3

	# Reported: the event on the bus (sio-monitor), B's log and metrics,
	# and A heard of it and paced its publisher.
	wait_for bg_printed mon '^LAGGING B '
	log_has ': LAGGING id=B ' "${ILOG[B]}"
	wait_log ': PACED id=A peer=B ' "${ILOG[A]}"
	imetric_above B 'sio_events_total{event="LAGGING"}' 0

	# The client that does not read went as a slow consumer, the readers
	# did not (the bench saw none closed). Another one, while the rate is
	# still too high, goes the same way.
	wait_imetric B 'sio_closed_total{reason="slow_consumer"}' 1
	badclient_bg stuck2 nonreader "${IPORT[B]}" /socketiyo bench
	wait_for bg_printed stuck2 '^subscribed$'
	bench_relay "$n" "$found" 4
	assert_equal "$(field dropped)" 0
	SIO_WAIT=20 wait_imetric B 'sio_closed_total{reason="slow_consumer"}' 2

	# The rate falls: B catches up by itself, A lifts the pace, and a
	# modest rate is delivered in full again.
	SIO_WAIT=30 wait_imetric B sio_lagging 0
	wait_for bg_printed mon '^CAUGHT_UP B '
	SIO_WAIT=30 wait_log ': UNPACED id=A' "${ILOG[A]}"
	rate=$((${ok_rate:-200} / 2))
	((rate >= 100)) || rate=100
	bench_relay "$n" "$rate" 2
	assert_equal "$(field lost)" 0
	assert_equal "$(field dropped)" 0
}

@test "a client that stops reading is closed with 1008 on an instance that keeps up" {
	pair --slow-consumer-after 2
	badclient_bg stuck nonreader "${IPORT[B]}" /socketiyo slow
	wait_for bg_printed stuck '^subscribed$'
	wait_imetric B sio_subscriptions 1
	subscriber reader B slow
	await_relay A slow reader
	# Relayed messages, a few a second: far from any overload, but more
	# than the socket buffers of the one that does not read hold.
	local big i
	big=$(printf '"%s"' "$(head -c 200000 /dev/zero | tr '\0' x)")
	for ((i = 0; i < 100; i++)); do
		publish A slow "$big" >/dev/null
		imetric_is B 'sio_closed_total{reason="slow_consumer"}' 1 && break
	done
	wait_imetric B 'sio_closed_total{reason="slow_consumer"}' 1
	wait_log ': SLOW_CONSUMER id=B ' "${ILOG[B]}"
	# The instance was never behind, and the reader is still there.
	assert_equal "$(imetric B 'sio_events_total{event="LAGGING"}')" 0
	assert_equal "$(imetric B 'sio_shed_total{where="intake"}')" 0
	publish A slow '"after"' >/dev/null
	wait_for bg_printed reader '"after"'
}

@test "the service side slows down while an instance lags, and sends every message" {
	local n=20 count=400000
	CAP=10 pair --shed-after-ms 200
	flood_readers "$n"
	seq 1 "$count" >"$BATS_TEST_TMPDIR/lines"
	run -0 --separate-stderr timeout 300 "$SIO_BIN/sio-cat" --bus-peer "${IBUS[A]}" \
		--publish flood --timeout 280 <"$BATS_TEST_TMPDIR/lines"
	echo "$stderr" | grep -E 'PACED|PUBLISHED' | sed 's/^/# /' >&3
	# Nothing the service side had to send was dropped: when the instance
	# it speaks through had no room, or the mesh lagged, it waited instead
	# (ZeroMQ's queues take a burst this size, so whether it had to wait is
	# the machine's business: PACED is printed, not required).
	[[ $stderr == *"PUBLISHED messages=$count skipped=0"* ]] || fail "not all sent: $stderr"
	[[ $stderr != *dropped* ]] || fail "$stderr"
	imetric_above B 'sio_events_total{event="LAGGING"}' 0 ||
		skip "B kept up with $count messages to $n subscribers on this machine"
	# Every reader is still there and gets what comes next.
	readers_caught_up "$n" "$count"
}

@test "a backend's send_all waits while an instance lags: none refused, the readers stay" {
	local n=20 count=100000
	CAP=10 pair --shed-after-ms 200
	flood_readers "$n"
	# The backend's commands go to the least loaded instance, A (B holds
	# the subscribers): they cross the mesh to B, which lags.
	mkfifo "$BATS_TEST_TMPDIR/cmds"
	"$SIO_BIN/sio-backend" --id app --bus-peer "${IBUS[A]}" <"$BATS_TEST_TMPDIR/cmds" \
		>"$BATS_TEST_TMPDIR/app.out" 2>"$BATS_TEST_TMPDIR/app.err" 3>&- &
	local app=$!
	track_pid "$app"
	exec 4>"$BATS_TEST_TMPDIR/cmds"
	wait_for grep -q '"event":"READY"' "$BATS_TEST_TMPDIR/app.out"
	awk -v n="$count" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"cmd\":\"send_all\",\"channel\":\"flood\",\"data\":%d}\n", i }' >&4
	exec 4>&-
	SIO_WAIT=120 wait_exit "$app"
	assert_equal "$WAIT_RC" 0
	grep -E 'PACED|COMMAND_REFUSED' "$BATS_TEST_TMPDIR/app.err" | head -3 | sed 's/^/# /' >&3
	# Not one command refused: a send_all that came while the mesh lagged
	# waited for the pace, and the input waited behind it.
	run grep -c '"error"' "$BATS_TEST_TMPDIR/app.out"
	assert_output 0
	imetric_above B 'sio_events_total{event="LAGGING"}' 0 ||
		skip "B kept up with $count messages to $n subscribers on this machine"
	readers_caught_up "$n" "$count"
}

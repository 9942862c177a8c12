#!/usr/bin/env bats
# Three hosts under load, without faults and through planned restarts.

load hosts

setup() { hosts_check; }

# numbers_at_least NAME K: the subscriber printed K messages whose data is a
# number.
numbers_at_least() { (($(grep -c '"data":[0-9]*}$' "$BATS_TEST_TMPDIR/$1.out") >= $2)); }

@test "no fault: 100,000 messages from a client on h1 reach subscribers on h2 and h3, none lost, in order, no gap" {
	hosts_up 3
	# The subscribers are single sio-cat processes on a shared 2-core machine:
	# their queues may hold the whole run, so that the test is about the mesh,
	# not about slow consumers (which are cut off at the default limits) nor
	# about overload (the burst of cat's input is skipped at the default
	# shed depth, counted: see overload.bats).
	mesh_up 3 --max-queue-frames 200000 --max-queue-bytes 64M --shed-depth 100000
	subscriber s2 2 seq
	subscriber s3 3 seq
	await_relay 1 seq s2 s3
	local i
	for i in 1 2 3; do
		assert_equal "$(imetric "$i" sio_bus_gaps_total)" 0
	done
	seq 1 100000 >"$BATS_TEST_TMPDIR/pub.in"
	local t0
	t0=$(_now_us)
	cat_on pub 1 "${IURL[1]}" --publish seq
	SIO_WAIT=120 wait_for numbers_at_least s2 100000
	SIO_WAIT=120 wait_for numbers_at_least s3 100000
	figure "100,000 messages from h1 at the subscribers of h2 and h3 in $((($(_now_us) - t0) / 1000)) ms"
	wait_bg pub 30
	assert_equal "$WAIT_RC" 0

	seq 1 100000 >"$BATS_TEST_TMPDIR/expected"
	local s
	for s in s2 s3; do
		sed -nE 's/^\{"channel":"seq","data":([0-9]+)\}$/\1/p' "$BATS_TEST_TMPDIR/$s.out" >"$BATS_TEST_TMPDIR/got.$s"
		run diff -q "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/got.$s"
		assert_success
	done
	for i in 1 2 3; do
		assert_equal "$(imetric "$i" sio_bus_gaps_total)" 0
		assert_equal "$(imetric "$i" sio_bus_dropped_total)" 0
		assert_equal "$(imetric "$i" 'sio_closed_total{reason="slow_consumer"}')" 0
	done
	local out2 out3
	out2=$(imetric 2 'sio_relay_total{direction="in"}')
	out3=$(imetric 3 'sio_relay_total{direction="in"}')
	((out2 >= 100000 && out3 >= 100000)) || fail "relayed in: h2 $out2, h3 $out3"
}

swarm_events() { jq -c "select($1)" "$BATS_TEST_TMPDIR/swarm.out"; }
swarm_count() { swarm_events "$1" | wc -l; }
swarm_at_least() { (($(swarm_count "$1") >= $2)); }

# clients_sum_is N I...: the instances I count N clients together.
clients_sum_is() {
	local want=$1 i sum=0 c
	shift
	for i in "$@"; do
		c=$(imetric "$i" sio_clients) || return 1
		sum=$((sum + c))
	done
	((sum == want))
}

@test "paced drain: SIGTERM on an instance with 2,400 clients closes them over drain_ms, each naming another instance, which absorb them within max_clients" {
	hosts_up 4
	local n=2400 drain=4000 max=2000
	local -a s1 s2 s3
	mapfile -t s1 < <(seeds_for 1 3)
	mapfile -t s2 < <(seeds_for 2 3)
	mapfile -t s3 < <(seeds_for 3 3)
	# Neither survivor can take all of them: the hints must spread them.
	local limits=(--max-clients "$max" --high-clients 1500 --low-enough 1000)
	serve_on 1 "${s1[@]}" --drain-ms "$drain"
	serve_on 2 "${s2[@]}" "${limits[@]}"
	serve_on 3 "${s3[@]}" "${limits[@]}"
	wait_mesh 3
	local topen
	topen=$(_now_us)
	hx_bg swarm 4 python3 "$HOSTS_DIR/swarm.py" "${IURL[1]}" "$n" 100
	SIO_WAIT=120 wait_for swarm_at_least '.ev == "open"' 1
	figure "$n clients opened on h1 in $((($(_now_us) - topen) / 1000)) ms"
	assert_equal "$(swarm_events '.ev == "open"' | jq .n)" "$n"
	wait_imetric 1 sio_clients "$n"
	# h1 hears the survivors' counts of now before it names them.
	wait_mesh 3

	local t0 t0ms
	t0=$(_now_us)
	t0ms=$((t0 / 1000))
	kill -TERM "${IPID[1]}"
	SIO_WAIT=120 wait_for swarm_at_least '.ev == "moved" or .ev == "move_failed"' "$n"
	wait_exit "${IPID[1]}" 30
	assert_equal "$WAIT_RC" 0
	local drained_ms=$((($(_now_us) - t0) / 1000))

	# Every close: 1001, naming a survivor; every client got in there.
	assert_equal "$(swarm_count '.ev == "close" and .hop == 0')" "$n"
	assert_equal "$(swarm_count '.ev == "close" and .hop == 0 and .code == 1001')" "$n"
	local hint='server going away, try ws://10\\.231\\.0\\.[23]:8080/socketiyo'
	assert_equal "$(swarm_count ".ev == \"close\" and .hop == 0 and (.reason | test(\"^$hint\$\"))")" "$n"
	assert_equal "$(swarm_count '.ev == "moved"')" "$n"
	assert_equal "$(swarm_count '.ev == "move_failed"')" 0

	# The survivors hold them all, none over its max_clients, none refused.
	local c2 c3
	wait_for clients_sum_is "$n" 2 3
	c2=$(imetric 2 sio_clients)
	c3=$(imetric 3 sio_clients)
	assert_equal "$((c2 + c3))" "$n"
	((c2 <= max && c3 <= max)) || fail "h2 holds $c2, h3 $c3: above max_clients $max"
	assert_equal "$(imetric 2 'sio_connections_total{result="refused"}')" 0
	assert_equal "$(imetric 3 'sio_connections_total{result="refused"}')" 0
	assert_equal "$(swarm_count '.ev == "close" and .hop == 1')" 0

	# How the closes spread over the drain time, per tenth of it.
	local tenth=$((drain / 10)) hist first last
	hist=$(swarm_events '.ev == "close" and .hop == 0' | jq -rs --argjson t0 "$t0ms" --argjson w "$tenth" \
		'[.[] | ((.t - $t0) / $w | floor)] | group_by(if . > 10 then 10 else . end) |
		 map({k: (.[0] | if . > 10 then 10 else . end), n: length}) | map("\(.k * 10)%:\(.n)") | join(" ")')
	first=$(swarm_events '.ev == "close" and .hop == 0' | jq -s --argjson t0 "$t0ms" 'map(.t - $t0) | min')
	last=$(swarm_events '.ev == "close" and .hop == 0' | jq -s --argjson t0 "$t0ms" 'map(.t - $t0) | max')
	figure "drain of $n clients over $drain ms: first close after $first ms, last after $last ms," \
		"h1 exited after $drained_ms ms; h2 took $c2, h3 took $c3"
	figure "closes per 10 % of the drain time ($tenth ms) since SIGTERM: $hist"
	# Not all at once: spread over most of the drain time, no tenth of it
	# holding half of them.
	((last - first >= drain / 2)) || fail "the closes spread over $((last - first)) ms only"
	local most
	most=$(swarm_events '.ev == "close" and .hop == 0' | jq -s --argjson t0 "$t0ms" --argjson w "$tenth" \
		'[.[] | ((.t - $t0) / $w | floor)] | group_by(.) | map(length) | max')
	((most <= n / 2)) || fail "$most closes in one tenth of the drain time"
}

# received_more NAME STATS K: every client of a node_clients run received K
# more messages than in the stats line STATS.
received_more() {
	events "$1" '.ev == "stats"' | tail -n 1 |
		jq -e --argjson before "$2" --argjson k "$3" \
			'[.each, $before.each] | transpose | all(.[0] >= .[1] + $k)' >/dev/null
}

@test "rolling restart of every instance under steady traffic: module clients are never without a server beyond their reconnect delay; the mesh is whole at the end" {
	node_check
	hosts_up 4
	local drain=1000 delay=1000 n=30
	mesh_up 3 --drain-ms "$drain"
	announcer_on 4 3
	wait_for announced_is 1 2 3
	# Every client publishes five messages a second on one channel, which all
	# of them receive, wherever each is.
	node_clients roll 4 --announcer "$(announcer_url)" --count "$n" --delay "$delay" \
		--channel roll --every 200
	wait_for clients_sum_is "$n" 1 2 3

	local i t0
	local -a restart_ms=()
	local tstart
	tstart=$(_now_us)
	for i in 1 2 3; do
		local -a seeds_i
		mapfile -t seeds_i < <(seeds_for "$i" 3)
		# As an operator would, the next one goes once the service has settled:
		# a client still between two instances could be handed the next one
		# to go a moment before it drains, and would have to try again.
		wait_for all_open roll "$n"
		t0=$(_now_us)
		kill -TERM "${IPID[$i]}"
		wait_exit "${IPID[$i]}" 20
		assert_equal "$WAIT_RC" 0
		serve_on "$i" "${seeds_i[@]}" --drain-ms "$drain"
		wait_mesh 3
		wait_for announced_is 1 2 3
		restart_ms+=($((($(_now_us) - t0) / 1000)))
	done
	local took=$((($(_now_us) - tstart) / 1000))

	# Traffic still flows after the last restart, to every client.
	local stats
	stats=$(events roll '.ev == "stats"' | tail -n 1)
	wait_for received_more roll "$stats" 10
	wait_for clients_sum_is "$n" 1 2 3

	# Each close is followed by the client's next attempt, which opens: never
	# an endpoint that was gone. The time without a server is the delay the
	# module waits before it asks, plus the asking and the handshake.
	local closes failed max_gap
	closes=$(events_count roll '.ev == "close"')
	run jq -s '[.[] | select(.ev == "open" or .ev == "close")] | group_by(.c) |
		map(. as $e | range(0; length - 1) | select($e[.].ev == "close") |
		    {next: $e[. + 1].ev, gap: ($e[. + 1].t - $e[.].t)})' "$BATS_TEST_TMPDIR/roll.out"
	assert_success
	local pairs=$output
	failed=$(jq '[.[] | select(.next != "open")] | length' <<<"$pairs")
	max_gap=$(jq '[.[].gap] | max // 0' <<<"$pairs")
	figure "rolling restart of 3 instances (drain $drain ms) in $took ms," \
		"each restart ${restart_ms[*]} ms: $closes closes seen by $n module clients;" \
		"the longest time a client was without a server: $max_gap ms (reconnect delay $delay ms)"
	assert_equal "$failed" 0
	assert_equal "$(jq length <<<"$pairs")" "$closes"
	# Every instance went once at least: every client moved at least once.
	assert_equal "$(events roll '.ev == "close"' | jq -r .c | sort -u | wc -l)" "$n"
	assert_equal "$(events_count roll '.ev == "close" and .code != 1001')" 0
	((max_gap < delay + 3000)) || fail "a client was without a server for $max_gap ms"

	# The mesh is whole: an observer sees the three alive.
	run -0 hx 4 "$SIO_BIN/sio-monitor" --once --json --bus-peer "${IBUS[1]}" --timeout 10
	assert_equal "$(jq -s '[.[] | select(.alive)] | length' <<<"$output")" 3
	assert_equal "$(jq -rs 'map(.id) | sort | join(" ")' <<<"$output")" "h1 h2 h3"
	for i in 1 2 3; do
		assert_equal "$(imetric "$i" sio_peers_alive)" 2
	done
}

#!/usr/bin/env bats
# Real faults on a mesh of three hosts (network namespaces on one bridge,
# tests/hosts/hosts.bash), each host running one sio-serve on its own
# address, at the default heartbeat (250 ms) and dead-after (1000 ms):
#
# - SIGKILL: the survivors report LEAVE within dead-after; sio-announce and
#   sio-pick stop offering the dead instance; clients of the browser module
#   move to a live instance by themselves, clients that retry their one URL
#   come back only with the instance.
# - SIGSTOP, then SIGCONT: LEAVE, then JOIN again, the same process.
# - A partition cutting one host off, then healed: both sides report each
#   other dead, then rejoin; relay resumes; every message is delivered or
#   counted as a gap.
# - The same with a partition long enough for TCP to give up on the bus
#   links, and a bus link reset by TCP while both ends run.
#
# The detection times are measured from the moment of the fault to the
# moment the line is in the log (polled every 10 ms), printed in the TAP
# log, and checked against dead-after with slack for a loaded machine: they
# are the figures the issue asks for, the only clocks that decide anything.
# A peer falls silent up to a heartbeat after its last heartbeat, so a
# detection measured from the fault lies between dead-after less a heartbeat
# and dead-after plus a tick.

load hosts

DEAD_AFTER=1000
# Slack over dead-after for a loaded 2-core machine; a detector that works
# by timeout at all is far inside it, a broken one far outside.
DETECT_BOUND=$((DEAD_AFTER + 4000))

setup() { hosts_check; }

@test "SIGKILL: LEAVE within dead-after; announce and pick drop it; module clients move, fixed-URL clients wait for its return" {
	node_check
	hosts_up 4
	local -a s1 s2 s3
	mapfile -t s1 < <(seeds_for 1 3)
	mapfile -t s2 < <(seeds_for 2 3)
	mapfile -t s3 < <(seeds_for 3 3)
	# h1 alone at first: every client starts there.
	serve_on 1 "${s1[@]}"
	announcer_on 4 3
	wait_for announced_is 1
	# The module's reconnect delay is above dead-after plus a heartbeat: by
	# the time a client asks again, the announcer knows. (At the module's
	# default, 1000 ms, the same as dead-after, the first question races the
	# announcer's detection and may be answered with the dead URL once.)
	local delay=3000
	node_clients mod 4 --announcer "$(announcer_url)" --count 8 --delay "$delay"
	node_clients ref 4 --url "${IURL[1]}" --count 2 --delay 500
	wait_imetric 1 sio_clients 10
	serve_on 2 "${s2[@]}"
	serve_on 3 "${s3[@]}"
	wait_mesh 3
	wait_for announced_is 1 2 3

	local t0 t0ms announce_ms
	t0=$(_now_us)
	t0ms=$((t0 / 1000))
	kill -KILL "${IPID[1]}"
	detect "$t0" ': LEAVE id=NAME peer=h1 .*why=timeout$' 2 3
	local ms2=${DETECT_MS[2]} ms3=${DETECT_MS[3]}
	wait_for announced_is 2 3
	announce_ms=$((($(_now_us) - t0) / 1000))
	figure "SIGKILL -> LEAVE why=timeout: h2 after $ms2 ms, h3 after $ms3 ms;" \
		"sio-announce dropped it after $announce_ms ms (dead-after $DEAD_AFTER, heartbeat 250)"
	((ms2 < DETECT_BOUND)) || fail "h2 took $ms2 ms"
	((ms3 < DETECT_BOUND)) || fail "h3 took $ms3 ms"
	((announce_ms < DETECT_BOUND)) || fail "sio-announce took $announce_ms ms"
	wait_for pid_gone "${IPID[1]}"
	wait "${IPID[1]}" 2>/dev/null || true

	# sio-pick, asked afresh, never names it.
	run -0 hx 4 "$SIO_BIN/sio-pick" --bus-peer "${IBUS[2]}" --count 50 --timeout 5
	refute_output --partial "${IURL[1]}"
	assert_output --partial "${IURL[2]}"
	assert_output --partial "${IURL[3]}"

	# Each module client: the close from the dead instance, then its very next
	# attempt opens on a live one.
	local c next gap max_gap=0
	for c in {0..7}; do
		wait_for events_at_least mod ".c == $c and .ev == \"open\" and .t > $t0ms" 1
		next=$(events mod ".c == $c and .t > $t0ms and .ev != \"stats\"" | head -n 2)
		run jq -rs '[.[0].ev, .[0].url, .[1].ev, .[1].url, (.[1].t - .[0].t)] | @tsv' <<<"$next"
		assert_success
		local -a f
		IFS=$'\t' read -r -a f <<<"$output"
		assert_equal "${f[0]} ${f[1]}" "close ${IURL[1]}"
		assert_equal "${f[2]}" open
		[[ ${f[3]} == "${IURL[2]}" || ${f[3]} == "${IURL[3]}" ]] || fail "client $c went to ${f[3]}"
		gap=${f[4]}
		((gap > max_gap)) && max_gap=$gap
	done
	figure "module clients (reconnect delay $delay ms): the longest time without a server was $max_gap ms" \
		"($((max_gap - delay)) ms over the delay), each landing on a live instance at its first attempt"
	((max_gap < delay + 3000)) || fail "a module client was without a server for $max_gap ms"

	# The fixed-URL clients knock at the dead URL again and again, and stay out.
	wait_for events_at_least ref ".ev == \"close\" and .t > $t0ms" 6
	assert_equal "$(events_count ref ".ev == \"open\" and .t > $t0ms")" 0

	# The instance again, same host, same id: it rejoins, and they come back.
	mark_logs 2 3
	local t1
	t1=$(_now_us)
	serve_on 1 "${s1[@]}"
	detect "$t1" ': JOIN id=NAME peer=h1 ' 2 3
	figure "restarted h1 -> JOIN: h2 after ${DETECT_MS[2]} ms, h3 after ${DETECT_MS[3]} ms (process start included)"
	wait_mesh 3
	wait_for events_at_least ref ".ev == \"open\" and .t > $((t1 / 1000))" 2
	assert_equal "$(events ref ".ev == \"open\" and .t > $t0ms" | jq -r .url | sort -u)" "${IURL[1]}"
	local knocks back
	# (Each client's first close after the kill is the kill's own.)
	knocks=$(($(events_count ref ".ev == \"close\" and .t > $t0ms") - 2))
	back=$(events ref ".ev == \"open\" and .t > $t0ms" | jq -s "map(.t) | max - $((t1 / 1000))")
	figure "fixed-URL clients (retry every 500 ms): $knocks failed attempts at the dead URL," \
		"back on it $back ms after the restart began"
	wait_for announced_is 1 2 3
}

@test "SIGSTOP, then SIGCONT: reported dead (LEAVE), then back (JOIN), the same process" {
	hosts_up 3
	mesh_up 3
	local pid=${IPID[2]} t0 t1
	mark_logs 1 3
	t0=$(_now_us)
	kill -STOP "$pid"
	detect "$t0" ': LEAVE id=NAME peer=h2 .*why=timeout$' 1 3
	local leave1=${DETECT_MS[1]} leave3=${DETECT_MS[3]}
	wait_mesh 2 1 3
	mark_logs 1 3
	t1=$(_now_us)
	kill -CONT "$pid"
	detect "$t1" ': JOIN id=NAME peer=h2 ' 1 3
	local join1=${DETECT_MS[1]} join3=${DETECT_MS[3]}
	figure "SIGSTOP -> LEAVE why=timeout: h1 after $leave1 ms, h3 after $leave3 ms;" \
		"SIGCONT -> JOIN: h1 after $join1 ms, h3 after $join3 ms"
	((leave1 < DETECT_BOUND)) || fail "h1 took $leave1 ms"
	((leave3 < DETECT_BOUND)) || fail "h3 took $leave3 ms"
	((join1 < DETECT_BOUND)) || fail "h1 took $join1 ms to hear h2 again"
	((join3 < DETECT_BOUND)) || fail "h3 took $join3 ms to hear h2 again"
	wait_mesh 3
	# No restart: the same process, still up, started once.
	refute pid_gone "$pid"
	assert_equal "${IPID[2]}" "$pid"
	assert_equal "$(log_count ': LISTENING ' "${ILOG[2]}")" 1
	# h2 itself heard nobody while stopped; whatever it said of the others
	# on waking, they are alive in its view now.
	local woke
	woke=$(log_count ': LEAVE id=h2 peer=' "${ILOG[2]}")
	figure "h2 on waking reported $woke LEAVE of its peers (they were silent to it while it was stopped)"
	if ((woke)); then
		grep -E ': (LEAVE|JOIN) id=h2 peer=' "${ILOG[2]}" | tail -n +3 | sed 's/^/#   /' >&3
	fi
	wait_imetric 2 sio_peers_alive 2
}

@test "partition: one host cut off, then healed: both sides report each other dead, rejoin, relay resumes, gaps are counted" {
	hosts_up 3
	mesh_up 3
	# h1's messages cross to h3 (cut off) and to h2 (same side); h3's to h1.
	subscriber s2 2 p
	subscriber s3 3 p
	subscriber s1 1 q
	await_relay 1 p s2 s3
	await_relay 3 q s1
	local gaps1 gaps3
	gaps1=$(imetric 1 sio_bus_gaps_total)
	gaps3=$(imetric 3 sio_bus_gaps_total)
	assert_equal "$gaps1 $gaps3" "0 0"
	paced_publisher pub1 1 "${IURL[1]}" p h1 20
	paced_publisher pub3 3 "${IURL[3]}" q h3 20
	SIO_WAIT=60 wait_for got_at_least s3 h1 11

	local t0 t1
	t0=$(_now_us)
	link_down 3
	detect "$t0" ': LEAVE id=NAME peer=h3 .*why=timeout$' 1 2
	local l1=${DETECT_MS[1]} l2=${DETECT_MS[2]}
	detect "$t0" ': LEAVE id=NAME peer=h1 .*why=timeout$' 3
	local l31=${DETECT_MS[3]}
	detect "$t0" ': LEAVE id=NAME peer=h2 .*why=timeout$' 3
	local l32=${DETECT_MS[3]}
	wait_mesh 2 1 2
	wait_imetric 3 sio_peers_alive 0
	# The cut lasts until h1 has sent 100 more messages (2 s at its pace),
	# as h2, on its side, sees them: they pile up on the way to h3.
	local c2
	c2=$(origin_count s2 h1)
	SIO_WAIT=60 wait_for got_at_least s2 h1 $((c2 + 100))
	local cut_ms=$((($(_now_us) - t0) / 1000))
	figure "partition -> LEAVE why=timeout: h1 and h2 lost h3 after $l1 and $l2 ms;" \
		"h3 lost h1 and h2 after $l31 and $l32 ms"
	for ms in "$l1" "$l2" "$l31" "$l32"; do
		((ms < DETECT_BOUND)) || fail "a side took $ms ms to see the partition"
	done
	# The same side never stopped hearing each other.
	assert_equal "$(log_count ': LEAVE id=h1 peer=h2 ' "${ILOG[1]}")" 0
	assert_equal "$(log_count ': LEAVE id=h2 peer=h1 ' "${ILOG[2]}")" 0

	mark_logs 1 2 3
	t1=$(_now_us)
	link_up 3
	# A healed link carries again once TCP retransmits, whose backoff grew
	# while the link was down: seconds, not the heartbeat.
	SIO_WAIT=30 detect "$t1" ': JOIN id=NAME peer=h3 ' 1 2
	local j1=${DETECT_MS[1]} j2=${DETECT_MS[2]}
	SIO_WAIT=30 detect "$t1" ': JOIN id=NAME peer=h1 ' 3
	local j31=${DETECT_MS[3]}
	SIO_WAIT=30 detect "$t1" ': JOIN id=NAME peer=h2 ' 3
	local j32=${DETECT_MS[3]}
	figure "partition healed after $cut_ms ms -> JOIN: h1 and h2 heard h3 after $j1 and $j2 ms;" \
		"h3 heard h1 and h2 after $j31 and $j32 ms"
	wait_mesh 3

	# Relay resumes: messages sent after the heal cross both ways.
	local c1 c3
	c3=$(origin_count s3 h1)
	c1=$(origin_count s1 h3)
	SIO_WAIT=60 wait_for got_at_least s3 h1 $((c3 + 21))
	SIO_WAIT=60 wait_for got_at_least s1 h3 $((c1 + 21))
	stop_paced pub1
	local sent1=$PACED
	stop_paced pub3
	local sent3=$PACED

	# Every message sent is delivered or counted as missed, none hidden:
	# delivered + gaps = sent, once the last one is in.
	SIO_WAIT=30 wait_for got_message s3 h1 "$sent1"
	SIO_WAIT=30 wait_for got_message s1 h3 "$sent3"
	local got3 got1 got2
	got3=$(origin_count s3 h1)
	got1=$(origin_count s1 h3)
	got2=$(origin_count s2 h1)
	gaps3=$(imetric 3 sio_bus_gaps_total)
	gaps1=$(imetric 1 sio_bus_gaps_total)
	figure "across the partition: h1 -> h3 $got3 of $sent1 delivered, $gaps3 counted as gaps;" \
		"h3 -> h1 $got1 of $sent3 delivered, $gaps1 counted as gaps; h1 -> h2 (same side) $got2 of $sent1"
	assert_equal "$((got3 + gaps3))" "$sent1"
	assert_equal "$((got1 + gaps1))" "$sent3"
	assert_equal "$got2" "$sent1"
	assert_equal "$(imetric 2 sio_bus_gaps_total)" 0
	in_order s3 h1 || fail "h1's messages reached h3 out of order"
	in_order s1 h3 || fail "h3's messages reached h1 out of order"
	in_order s2 h1 || fail "h1's messages reached h2 out of order"
	# A gap, when there is one, is in the log too.
	if ((gaps3)); then log_has ': BUS_GAP id=h3 origin=h1 ' "${ILOG[3]}"; fi
	if ((gaps1)); then log_has ': BUS_GAP id=h1 origin=h3 ' "${ILOG[1]}"; fi
}


# Whether the publishing side of every bus link across the cut has given up:
# neither h1 nor h2 holds a connection to or from h3's bus port, nor h3 one
# of theirs.
tcp_gave_up() {
	(($(hx 1 ss -Htn state established "( sport = :18080 )" dst "$(host_ip 3)" | wc -l) == 0)) &&
		(($(hx 2 ss -Htn state established "( sport = :18080 )" dst "$(host_ip 3)" | wc -l) == 0)) &&
		(($(hx 3 ss -Htn state established "( sport = :18080 )" | wc -l) == 0))
}

@test "partition outlasting TCP's retransmissions: once healed, the mesh is whole again" {
	hosts_up 3
	# TCP gives up after about 3 s of unanswered retransmissions instead of
	# about 15 minutes (the default, 15): the same fault, sooner. The setting
	# belongs to each host's namespace.
	local i
	for i in 1 2 3; do
		hx "$i" sysctl -qw net.ipv4.tcp_retries2=3
	done
	mesh_up 3
	subscriber s3 3 p
	subscriber s1 1 q
	await_relay 1 p s3
	await_relay 3 q s1
	paced_publisher pub1 1 "${IURL[1]}" p h1 20
	paced_publisher pub3 3 "${IURL[3]}" q h3 20

	local t0 t1
	t0=$(_now_us)
	link_down 3
	detect "$t0" ': LEAVE id=NAME peer=h3 .*why=timeout$' 1 2
	detect "$t0" ': LEAVE id=NAME peer=h[12] .*why=timeout$' 3
	# The cut lasts until the publishing ends of the bus links gave up.
	SIO_WAIT=60 wait_for tcp_gave_up
	local cut_ms=$((($(_now_us) - t0) / 1000))
	mark_logs 1 2 3
	t1=$(_now_us)
	link_up 3
	SIO_WAIT=30 detect "$t1" ': JOIN id=NAME peer=h3 ' 1 2
	local j1=${DETECT_MS[1]} j2=${DETECT_MS[2]}
	SIO_WAIT=30 detect "$t1" ': JOIN id=NAME peer=h1 ' 3
	local j31=${DETECT_MS[3]}
	figure "partition of $cut_ms ms, TCP gave up: h1 and h2 heard h3 again after $j1 and $j2 ms," \
		"h3 heard h1 after $j31 ms"
	wait_mesh 3

	# Relay resumes both ways: messages sent after the heal cross. Until a
	# later message arrives, one lost on a link still being dialled cannot
	# be told from one still on its way, so the publishers go on until then.
	local c1 c3
	c3=$(origin_count s3 h1)
	c1=$(origin_count s1 h3)
	SIO_WAIT=60 wait_for got_at_least s3 h1 $((c3 + 21))
	SIO_WAIT=60 wait_for got_at_least s1 h3 $((c1 + 21))

	# What the dead links carried is missing, and counted.
	stop_paced pub1
	local sent1=$PACED
	stop_paced pub3
	local sent3=$PACED
	SIO_WAIT=30 wait_for got_message s3 h1 "$sent1"
	SIO_WAIT=30 wait_for got_message s1 h3 "$sent3"
	local got3 got1 gaps3 gaps1
	got3=$(origin_count s3 h1)
	got1=$(origin_count s1 h3)
	gaps3=$(imetric 3 sio_bus_gaps_total)
	gaps1=$(imetric 1 sio_bus_gaps_total)
	figure "h1 -> h3 $got3 of $sent1 delivered, $gaps3 gaps; h3 -> h1 $got1 of $sent3 delivered, $gaps1 gaps"
	assert_equal "$((got3 + gaps3))" "$sent1"
	assert_equal "$((got1 + gaps1))" "$sent3"
	in_order s3 h1
	in_order s1 h3
}

@test "a bus link reset while both instances run: relay resumes, what it lost is counted as gaps" {
	hosts_up 3
	mesh_up 3
	# Only h3 wants channel p from h1: h1's interest in p hangs on that link.
	subscriber s3 3 p
	await_relay 1 p s3
	paced_publisher pub1 1 "${IURL[1]}" p h1 5
	SIO_WAIT=60 wait_for got_at_least s3 h1 21

	# A reset on h3's subscription to h1's bus (as a middlebox or a peer
	# restarting its network would send): ZeroMQ connects again at once.
	local before
	before=$(origin_count s3 h1)
	run -0 hx 3 ss -K dst "$(host_ip 1)" dport = :18080
	SIO_WAIT=60 wait_for got_at_least s3 h1 $((before + 51))
	stop_paced pub1
	local sent=$PACED
	SIO_WAIT=30 wait_for got_message s3 h1 "$sent"
	local got gaps
	got=$(origin_count s3 h1)
	gaps=$(imetric 3 sio_bus_gaps_total)
	figure "bus link h1 -> h3 reset: $got of $sent delivered, $gaps counted as gaps"
	in_order s3 h1
	assert_equal "$((got + gaps))" "$sent"
	# None of the instances saw a peer die: the link came back within the heartbeat.
	for i in 1 2 3; do
		refute log_has ': LEAVE id=h[123] peer=' "${ILOG[$i]}"
	done
}

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
#
# The detection times are measured from the moment of the fault to the
# moment the line is in the log (polled every 10 ms), printed in the TAP
# log, and checked against dead-after with slack for a loaded machine: they
# are the figures the issue asks for, the only clocks that decide anything.

load hosts

DEAD_AFTER=1000
# Slack over dead-after for a loaded 2-core machine; a detector that works
# by timeout at all is far inside it, a broken one far outside.
DETECT_BOUND=$((DEAD_AFTER + 4000))

setup() { hosts_check; }

# seeds I...: --bus-peer options for the instances of hosts I.
seeds() {
	local i
	for i in "$@"; do
		printf -- '--bus-peer\ntcp://%s:18080\n' "$(host_ip "$i")"
	done
}

announced() {
	hx 4 curl -s --noproxy '*' --max-time 2 "http://$(host_ip 4):8090/endpoints.json" 2>/dev/null
}

announced_is() { [[ $(announced) == "$1" ]]; }

json_urls() {
	local u out=
	for u in "$@"; do
		out+="${out:+,}\"$u\""
	done
	echo "[$out]"
}

@test "SIGKILL: LEAVE within dead-after; announce and pick drop it; module clients move, fixed-URL clients wait for its return" {
	node_check
	hosts_up 4
	local -a s1 s2 s3 sall
	mapfile -t s1 < <(seeds 2 3)
	mapfile -t s2 < <(seeds 1 3)
	mapfile -t s3 < <(seeds 1 2)
	mapfile -t sall < <(seeds 1 2 3)
	# h1 alone at first: every client starts there.
	serve_on 1 "${s1[@]}"
	hx_bg announce 4 "$SIO_BIN/sio-announce" --strategy list --http "$(host_ip 4):8090" -q "${sall[@]}"
	wait_for announced_is "$(json_urls "${IURL[1]}")"
	# The module's reconnect delay is above dead-after plus a heartbeat: by
	# the time a client asks again, the announcer knows.
	local delay=3000
	node_clients mod 4 --announcer "http://$(host_ip 4):8090" --count 8 --delay "$delay"
	node_clients ref 4 --url "${IURL[1]}" --count 2 --delay 500
	wait_imetric 1 sio_clients 10
	serve_on 2 "${s2[@]}"
	serve_on 3 "${s3[@]}"
	wait_mesh 3
	wait_for announced_is "$(json_urls "${IURL[1]}" "${IURL[2]}" "${IURL[3]}")"

	local t0 t0ms announce_ms
	t0=$(_now_us)
	t0ms=$((t0 / 1000))
	kill -KILL "${IPID[1]}"
	detect "$t0" ': LEAVE id=NAME peer=h1 .*why=timeout$' 2 3
	local ms2=${DETECT_MS[2]} ms3=${DETECT_MS[3]}
	wait_for announced_is "$(json_urls "${IURL[2]}" "${IURL[3]}")"
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
	wait_for announced_is "$(json_urls "${IURL[1]}" "${IURL[2]}" "${IURL[3]}")"
	# Nobody else was declared dead on the way.
	assert_equal "$(log_count ': LEAVE .*peer=h[23] ' "${ILOG[2]}")" 0
	assert_equal "$(log_count ': LEAVE .*peer=h[23] ' "${ILOG[3]}")" 0
}

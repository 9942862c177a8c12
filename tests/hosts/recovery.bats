#!/usr/bin/env bats
# Moving clients without losing messages (sio(7) RECOVERY, REBALANCING), on
# hosts made of network namespaces (tests/hosts/hosts.bash), with clients of
# the browser module (web/sio-client.js, recover: true) under Node.js
# (tests/hosts/clients.mjs), a steady publisher among them:
#
# - SIGKILL of an instance holding subscribers: they resume elsewhere with
#   no message missing and none twice;
# - SIGKILL of the publisher's instance: every subscriber, moved or not,
#   ends with the same messages, none twice;
# - a drain (SIGTERM): its clients follow the URL of the 1001 and recover;
# - rebalancing four instances from all clients on one: within 10 % of the
#   average, no refusal, no instance moving them back, no client moved
#   twice, no message lost.
#
# In the first tests a subscriber that stays (sio-cat) on each instance keeps
# a history of the channel there, as any instance with clients of it does;
# in the rebalancing test the instances that receive the clients have none,
# and fetch it from the one that has (histreq over the bus). Figures go to
# the TAP log; waits poll to deadlines, no timing decides.

load hosts

setup() { hosts_check; }

# stats NAME: the last stats line of a node_clients run.
stats() { grep '"ev":"stats"' "$BATS_TEST_TMPDIR/$1.out" | tail -n 1; }

# each_got NAME N: every client of NAME received N messages or more.
each_got() { stats "$1" | jq -e --argjson n "$2" '.each | all(. >= $n)' >/dev/null; }

# sent_by NAME: messages the publishers of NAME sent.
sent_by() { stats "$1" | jq .sent; }

# anchors I...: a sio-cat subscriber of "r" on each instance I, so that each
# holds a history of it.
anchors() {
	local i
	for i in "$@"; do
		subscriber "anchor$i" "$i" r
	done
}

# settle NAME PUB: stops the publisher PUB, then waits until every client
# of NAME got all it sent.
settle() {
	local sent
	stop_pid "${BG[$2]}"
	sent=$(sent_by "$2")
	wait_for each_got "$1" "$sent"
	figure "$2 published $sent messages; $(stats "$1" | jq -c '{recv, dups, holes, gaps}')"
}

# three_and_subscribers: instances on hosts 1 to 3, each with a history of
# "r", an announcer on host 5, and 12 module clients on host 4 (sub), spread
# by the announcer, subscribed with recovery.
three_and_subscribers() {
	node_check
	hosts_up 5
	mesh_up 3 --history-messages 2000
	anchors 1 2 3
	announcer_on 5 3
	wait_for announced_is 1 2 3
	node_clients sub 4 --announcer "$(announcer_url)" --count 12 --channel r --recover 1 \
		--delay 1500
	wait_for all_open sub 12
	wait_for events_at_least sub ".ev == \"recovered\"" 12
}

# alike NAME: every client of NAME got as many messages, with the same
# holes, as the others.
alike() {
	stats "$1" | jq -e '(.each | unique | length == 1) and (.holesEach | unique | length == 1)' \
		>/dev/null
}

# complete NAME SENT: for every client of NAME, what it got and its holes
# make SENT.
complete() {
	stats "$1" | jq -e --argjson n "$2" '[.each, .holesEach] | transpose | all(add == $n)' \
		>/dev/null
}

# hit_subscribers SIGNAL: three_and_subscribers, a publisher on h3 (pub),
# then SIGNAL to whichever of h1 and h2 holds more subscribers (k), their
# number in on, the time in t0 (ms); returns once they are all back.
hit_subscribers() {
	three_and_subscribers
	node_clients pub 5 --url "${IURL[3]}" --channel r --every 20 --tag P --recover 1
	wait_for each_got sub 50
	k=1
	(($(imetric 2 sio_clients) > $(imetric 1 sio_clients))) && k=2
	on=$(($(imetric "$k" sio_clients) - 1))
	t0=$(($(_now_us) / 1000))
	kill "-$1" "${IPID[$k]}"
	wait_for events_at_least sub ".ev == \"open\" and .t > $t0" "$on"
	wait_for all_open sub 12
}

@test "SIGKILL of the subscribers' instance: module clients resume elsewhere with nothing missing, nothing twice" {
	local k on t0 served=0 replayed=0 i
	hit_subscribers KILL
	# Those of h$k came back elsewhere, and recover.
	wait_for each_got sub $(($(sent_by pub) + 50))
	settle sub pub
	run jq -e '.dups == 0 and .holes == 0 and .gaps == 0' <<<"$(stats sub)"
	assert_success
	for i in 1 2 3; do
		((i == k)) && continue
		served=$((served + $(imetric "$i" 'sio_recoveries_total{result="served",why="covered"}')))
		replayed=$((replayed + $(imetric "$i" sio_recovered_messages_total)))
	done
	figure "$on module clients of the killed h$k resumed elsewhere ($served recoveries served," \
		"$replayed messages replayed): none missing, none twice"
	((served >= on))
}

@test "SIGKILL of the publisher's instance: every subscriber ends with the same messages, none twice" {
	three_and_subscribers
	# The publisher asks the announcer too: it moves by itself.
	node_clients pub 5 --announcer "$(announcer_url)" --channel r --every 20 --tag P \
		--recover 1 --delay 1500
	wait_for all_open pub 1
	wait_for each_got sub 50
	local t0 on url k=0 i
	url=$(events pub '.ev == "open"' | tail -n 1 | jq -r .url)
	for i in 1 2 3; do
		[[ ${IURL[$i]} == "$url" ]] && k=$i
	done
	((k)) || fail "the publisher is on $url, no instance of the test"
	on=$(($(imetric "$k" sio_clients) - 2))
	t0=$(($(_now_us) / 1000))
	kill -KILL "${IPID[$k]}"
	wait_for events_at_least pub ".ev == \"open\" and .t > $t0" 1
	wait_for events_at_least sub ".ev == \"open\" and .t > $t0" "$on"
	wait_for all_open sub 12
	wait_for each_got sub $(($(sent_by pub) + 50))
	stop_pid "${BG[pub]}"
	# Every message sent either came or is a hole: all came in the end.
	wait_for complete sub "$(sent_by pub)" || { stats sub >&2; false; }
	# All alike: the same count and the same holes (what died with the
	# instance before its relay), none twice, no gap reported.
	alike sub || { stats sub >&2; false; }
	run jq -e '.dups == 0 and .gaps == 0' <<<"$(stats sub)"
	assert_success
	figure "publisher's h$k killed: $on subscribers moved with it; each of the 12 got" \
		"$(stats sub | jq '.each[0]') messages, the same ones, none twice;" \
		"$(stats sub | jq '.holesEach[0]') died with h$k before they were relayed"
}

@test "drain (SIGTERM): module clients follow the URL of the 1001 and lose nothing" {
	local k on t0
	hit_subscribers TERM
	# Each went where its close said, at once (not through the announcer).
	run jq -s -e --argjson t0 "$t0" '[.[] | select(.t > $t0 and (.ev == "close" or .ev == "open"))] |
		group_by(.c) | map(select(.[0].ev == "close")) |
		all(.[0].code == 1001 and (.[1].url as $u | .[0].reason | endswith($u)))' \
		"$BATS_TEST_TMPDIR/sub.out"
	assert_success
	wait_for each_got sub $(($(sent_by pub) + 50))
	settle sub pub
	run jq -e '.dups == 0 and .holes == 0 and .gaps == 0' <<<"$(stats sub)"
	assert_success
	figure "drain of h$k: its $on module clients followed the URL of the 1001 and recovered," \
		"none missing, none twice"
}

# within_10pct I...: each instance's count is within 10 % of their average.
within_10pct() {
	local i total=0 n=0
	local -a c
	for i in "$@"; do
		c[i]=$(imetric "$i" sio_clients) || return 1
		total=$((total + c[i]))
		n=$((n + 1))
	done
	for i in "$@"; do
		((c[i] * n * 10 >= total * 9 && c[i] * n * 10 <= total * 11)) || return 1
	done
	BALANCE="${c[*]}"
}

@test "rebalancing: four instances from all clients on one to within 10 % of the average, no refusal, no ping-pong, nothing lost" {
	node_check
	hosts_up 6
	# No subscriber elsewhere: the first clients moved to h2, h3 and h4
	# recover from h1's history, fetched over the bus.
	mesh_up 4 --rebalance --rebalance-rate 10 --rebalance-period 10
	hx_bg monitor 6 "$SIO_BIN/sio-monitor" --events $(seeds 1)
	local t0
	t0=$(_now_us)
	node_clients sub 5 --url "${IURL[1]}" --count 100 --channel r --recover 1 --delay 300
	wait_for all_open sub 100
	# Subscribed (RECOVERED answers the subscribe) before the first message.
	wait_for events_at_least sub '.ev == "recovered"' 100
	node_clients pub 6 --url "${IURL[1]}" --channel r --every 50 --tag P --recover 1 \
		--delay 300
	SIO_WAIT=120 wait_for within_10pct 1 2 3 4
	local took=$((($(_now_us) - t0) / 1000))
	wait_for grep -q 'REBALANCE id=h1 end' "${ILOG[1]}"
	settle sub pub
	local moved refused=0 i
	moved=$(imetric 1 sio_rebalance_moved_total)
	for i in 1 2 3 4; do
		refused=$((refused + $(imetric "$i" 'sio_connections_total{result="refused"}')))
	done
	figure "rebalanced 4 instances from all on h1 to $BALANCE in $took ms: $moved connections moved" \
		"($((moved * 1000 / (took > 0 ? took : 1))) reconnects/s), $refused refused"
	assert_equal "$refused" 0
	# Only h1 moved anyone: nobody sent them back.
	for i in 2 3 4; do
		assert_equal "$(imetric "$i" sio_rebalance_moved_total)" 0
	done
	# No client moved twice (within the period).
	run jq -s -e '[.[] | select(.ev == "close" and .code == 1012)] | group_by(.c) |
		all(length == 1)' "$BATS_TEST_TMPDIR/sub.out"
	assert_success
	run jq -s -e '[.[] | select(.ev == "close" and .code == 1013)] | length == 0' \
		"$BATS_TEST_TMPDIR/sub.out"
	assert_success
	# Nothing lost, nothing twice, no gap.
	run jq -e '.dups == 0 and .holes == 0 and .gaps == 0' <<<"$(stats sub)"
	assert_success
	local fetched=0
	for i in 2 3 4; do
		fetched=$((fetched + $(imetric "$i" sio_recoveries_from_peers_total)))
	done
	figure "$fetched recoveries served from h1's history, fetched over the bus"
	((fetched >= 3))
	# sio-monitor saw the round begin and end.
	wait_for grep -q '^REBALANCE .*start' "$BATS_TEST_TMPDIR/monitor.out"
	wait_for grep -q '^REBALANCE .*end moved=' "$BATS_TEST_TMPDIR/monitor.out"
}

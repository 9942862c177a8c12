#!/usr/bin/env bats
# The mesh (DESIGN.md §4, issue 3): instances seeded as a chain learn each
# other, relay channel messages to each other in order, carry the service
# side's messages both ways, report deaths (LEAVE why=timeout) and clean
# exits (LEAVE why=shutdown), take a restarted instance back, count and
# ignore garbage on their bus sockets, and refuse untrusted keys under CURVE.
#
# Every wait polls a condition up to a deadline. A subscriber on another
# instance only gets a channel once its instance's interest has reached the
# publisher's instance (ZeroMQ subscriptions travel asynchronously), so tests
# first publish probes until every subscriber printed one (await_relay).
# The only clocks read are the detection times the issue asks for, checked
# against generous bounds, and the time the 1,000 messages took (never
# checked); all are printed to the TAP log.

load helpers
load mesh

count_data() { data_lines "$1" | wc -l; }

has_count() { (($(count_data "$1") >= $2)); }

# zmtp MODE ARGS...: tests/helpers/busjunk.py, a ZeroMQ peer speaking ZMTP 3.0
# by hand (no ZeroMQ library needed), puts well-formed frames with bogus
# content, or noise, on a bus (its usage lists the modes).
zmtp() { python3 "$SIO_ROOT/tests/helpers/busjunk.py" "$@"; }

# --- discovery ---------------------------------------------------------------

@test "a chain of three (C knows only B, B only A): every instance learns the other two" {
	chain
	wait_mesh 2 A B C
	# A was told about nobody, C about B alone: both learned the rest.
	wait_log ': JOIN id=A peer=C ' "${ILOG[A]}"
	wait_log ': JOIN id=C peer=A ' "${ILOG[C]}"
	for n in A B C; do
		assert_equal "$(log_count ': JOIN ' "${ILOG[$n]}")" 2
		assert_equal "$(log_count ': LEAVE ' "${ILOG[$n]}")" 0
	done
}

# --- relay -------------------------------------------------------------------

@test "a client message on any instance reaches the subscribers on the other two" {
	chain
	wait_mesh 2 A B C
	subscriber sA A news
	subscriber sB B news
	subscriber sC C news

	await_relay A news sB sC
	await_relay B news sA sC
	await_relay C news sA sB
	# One message from each: every subscriber gets all three, once each.
	publish A news '{"from":"A"}'
	publish B news '{"from":"B"}'
	publish C news '{"from":"C"}'
	for s in sA sB sC; do
		for n in A B C; do
			wait_for bg_printed "$s" "^\\{\"channel\":\"news\",\"data\":\\{\"from\":\"$n\"\\}\\}$"
		done
	done
	for s in sA sB sC; do
		assert_equal "$(grep -c '"from"' "$BATS_TEST_TMPDIR/$s.out")" 3
	done
	for n in A B C; do
		assert_equal "$(imetric "$n" sio_bus_gaps_total)" 0
	done
}

@test "1,000 messages in a row from one client arrive at both other instances, none lost, in order" {
	chain
	wait_mesh 2 A B C
	subscriber sB B seq
	subscriber sC C seq
	await_relay A seq sB sC
	local gaps_before=$(($(imetric B sio_bus_gaps_total) + $(imetric C sio_bus_gaps_total)))
	assert_equal "$gaps_before" 0

	seq 1 1000 >"$BATS_TEST_TMPDIR/pub.in"
	local start=$(_now_us)
	cat_bg pub "${IURL[A]}" --publish seq
	wait_for has_count sB 1000
	wait_for has_count sC 1000
	echo "# 1000 messages from a client of A at subscribers of B and C in $((($(_now_us) - start) / 1000)) ms" >&3
	wait_bg pub
	assert_equal "$WAIT_RC" 0

	seq 1 1000 >"$BATS_TEST_TMPDIR/expected"
	data_lines sB >"$BATS_TEST_TMPDIR/got.B"
	data_lines sC >"$BATS_TEST_TMPDIR/got.C"
	run diff "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/got.B"
	assert_success
	run diff "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/got.C"
	assert_success
	assert_equal "$(imetric B sio_bus_gaps_total)" 0
	assert_equal "$(imetric C sio_bus_gaps_total)" 0
	assert_equal "$(imetric A sio_bus_dropped_total)" 0
	imetric_above A 'sio_relay_total{direction="out"}' 999
	imetric_above B 'sio_relay_total{direction="in"}' 999
	imetric_above C 'sio_relay_total{direction="in"}' 999
	# The message that made them subscribers aside, no lines but these.
	assert_equal "$(grep -vc '"probe-' "$BATS_TEST_TMPDIR/sB.out")" 1000
	assert_equal "$(grep -vc '"probe-' "$BATS_TEST_TMPDIR/sC.out")" 1000
}

# --- the service side -------------------------------------------------------

@test "service side: a publish on \"\" reaches every client of every instance" {
	chain
	wait_mesh 2 A B C
	# No subscription: the default channel reaches every ready connection.
	local n
	for n in A B C; do
		cat_bg "c$n" "${IURL[$n]}" --count 1 --timeout 20
		wait_imetric "$n" sio_clients 1
	done
	run --separate-stderr bash -c 'printf "%s\n" "{\"to\":\"everyone\"}" |
		"$1" --bus-peer "$2" --publish "" --timeout 20' _ "$SIO_BIN/sio-cat" "${IBUS[C]}"
	assert_success
	for n in A B C; do
		wait_bg "c$n"
		assert_equal "$WAIT_RC" 0
		assert_equal "$(bg_out "c$n")" '{"channel":"","data":{"to":"everyone"}}'
	done
}

@test "service side: --subscribe gets the client messages of a channel from all three instances" {
	chain
	wait_mesh 2 A B C
	cat_bg svc --bus-peer "${IBUS[A]}" --subscribe jobs --count 3 --timeout 30
	wait_for grep -q 'READY instances=3' "$BATS_TEST_TMPDIR/svc.err"
	publish A jobs '{"job":"A"}'
	publish B jobs '{"job":"B"}'
	publish C jobs '{"job":"C"}'
	wait_bg svc
	assert_equal "$WAIT_RC" 0
	run sort "$BATS_TEST_TMPDIR/svc.out"
	assert_output '{"channel":"jobs","data":{"job":"A"}}
{"channel":"jobs","data":{"job":"B"}}
{"channel":"jobs","data":{"job":"C"}}'
}

# --- deaths, restarts, departures ---------------------------------------------

@test "SIGKILL: LEAVE why=timeout within dead-after plus a heartbeat; the others relay on; a restart rejoins" {
	local fast=(--heartbeat-ms 100 --dead-after-ms 500)
	chain "${fast[@]}"
	wait_mesh 2 A B C
	subscriber sA A k
	subscriber sC C k

	local t0 ms_a ms_c
	t0=$(_now_us)
	kill -KILL "${IPID[B]}"
	detect "$t0" ': LEAVE id=NAME peer=B .*why=timeout$' A C
	ms_a=${DETECT_MS[A]} ms_c=${DETECT_MS[C]}
	echo "# SIGKILL -> LEAVE why=timeout: A after ${ms_a} ms, C after ${ms_c} ms (dead-after 500 + heartbeat 100)" >&3
	# 600 ms in theory; a loaded machine gets slack, a broken detector none.
	((ms_a < 5000)) || fail "A took $ms_a ms"
	((ms_c < 5000)) || fail "C took $ms_c ms"
	wait_for pid_gone "${IPID[B]}"
	wait "${IPID[B]}" 2>/dev/null || true
	wait_mesh 1 A C

	# The two survivors keep relaying to each other, both ways.
	await_relay A k sC
	await_relay C k sA

	# B again, on the same ports with the same id: it rejoins.
	local rc=0
	start_at B "${IPORT[B]}" "${IBUSPORT[B]}" --bus-peer "${IBUS[A]}" "${fast[@]}" || rc=$?
	((rc == 0)) || fail "restarting B on its ports failed ($rc)"
	wait_mesh 2 A B C
	wait_for bash -c '(($(grep -c ": JOIN id=A peer=B " "$1") == 2))' _ "${ILOG[A]}"
	wait_for bash -c '(($(grep -c ": JOIN id=C peer=B " "$1") == 2))' _ "${ILOG[C]}"
	subscriber sB B k
	await_relay A k sB
	await_relay B k sA sC
	await_relay C k sB
	for n in A B C; do
		assert_equal "$(imetric "$n" sio_bus_gaps_total)" 0
	done
}

@test "SIGTERM: LEAVE why=shutdown at once, long before dead-after" {
	# A dead-after far above any delay a loaded machine causes: only the
	# LEAVE message can explain a detection before it.
	local slow=(--heartbeat-ms 100 --dead-after-ms 30000)
	chain "${slow[@]}"
	wait_mesh 2 A B C

	local t0 ms_a ms_c
	t0=$(_now_us)
	kill -TERM "${IPID[B]}"
	detect "$t0" ': LEAVE id=NAME peer=B .*why=shutdown$' A C
	ms_a=${DETECT_MS[A]} ms_c=${DETECT_MS[C]}
	echo "# SIGTERM -> LEAVE why=shutdown: A after ${ms_a} ms, C after ${ms_c} ms (dead-after 30000)" >&3
	((ms_a < 15000)) || fail "A took $ms_a ms"
	((ms_c < 15000)) || fail "C took $ms_c ms"
	wait_exit "${IPID[B]}"
	assert_equal "$WAIT_RC" 0
	wait_mesh 1 A C
	refute log_has 'why=timeout' "${ILOG[A]}"
	refute log_has 'why=timeout' "${ILOG[C]}"
}

# --- garbage -----------------------------------------------------------------

@test "garbage on the bus sockets is counted and ignored: the instance keeps serving and relaying" {
	instance A
	instance B --bus-peer "${IBUS[A]}"
	wait_mesh 1 A B
	subscriber sB B g
	await_relay A g sB
	assert_equal "$(imetric A sio_bus_dropped_total)" 0
	assert_equal "$(imetric B sio_bus_dropped_total)" 0

	# Well-formed ZeroMQ messages into A's inbox, each wrong its own way: an
	# unknown kind, an unknown version, a NUL in a channel, too many frames,
	# a hello that is no JSON, a hello of another version.
	run -0 zmtp push "${IINBOX[A]}" '[["garbage"], ["pub","\u0009","g","1"],
		["pub","\u0001","g\u0000h","1"], ["pub","\u0001","g","1","5th"],
		["hello","not json"], ["hello","{\"v\":2,\"t\":\"hello\",\"id\":\"F\"}"]]'
	wait_imetric A sio_bus_dropped_total 6
	log_has 'BUS_DROPPED id=A what=inbox why="unknown message"' "${ILOG[A]}"
	log_has 'BUS_DROPPED id=A what=inbox why="unknown protocol version"' "${ILOG[A]}"
	log_has 'BUS_DROPPED id=A what=inbox why="too many frames"' "${ILOG[A]}"

	# A fake peer publishing bogus messages on the bus; a proper hello makes
	# A connect to it, and A's gossip takes B there too.
	local fake
	fake=$(free_port)
	python3 "$SIO_ROOT/tests/helpers/busjunk.py" pub "$fake" '[["@","not json"],
		["@","{\"v\":99,\"t\":\"hb\",\"id\":\"F\"}"], ["@"],
		["C\u0000","short","{}"], ["C\u0000","a","b","c","d"]]' \
		>"$BATS_TEST_TMPDIR/fake.out" 2>&1 3>&- &
	track_pid "$!"
	wait_for grep -q LISTENING "$BATS_TEST_TMPDIR/fake.out"
	run -0 zmtp push "${IINBOX[A]}" \
		'[["hello","{\"v\":1,\"t\":\"hello\",\"id\":\"F\",\"bus\":\"tcp://127.0.0.1:'"$fake"'\"}"]]'
	wait_imetric A sio_bus_dropped_total 11
	wait_imetric B sio_bus_dropped_total 5
	# (A's log lines are rate-limited by now: B's tell what was dropped.)
	log_has 'BUS_DROPPED id=B what=control why="not a JSON object"' "${ILOG[B]}"
	log_has 'BUS_DROPPED id=B what=control why="unknown protocol version"' "${ILOG[B]}"
	log_has 'BUS_DROPPED id=B what=control why="wrong number of frames"' "${ILOG[B]}"
	log_has 'BUS_DROPPED id=B what=relay ' "${ILOG[B]}"
	log_has 'BUS_DROPPED id=B what=bus why="too many frames"' "${ILOG[B]}"

	# No ZMTP at all, on both of A's sockets: ZeroMQ drops the connection
	# (what it may have parsed as messages is dropped and counted).
	run -0 zmtp noise "127.0.0.1:${IBUSPORT[A]}" 4096
	run -0 zmtp noise "${IINBOX[A]}" 4096
	NOISE_SEED=2 run -0 zmtp noise "${IINBOX[A]}" 4096

	# Still up, still serving, still relaying both ways, still one peer.
	refute pid_gone "${IPID[A]}"
	subscriber sA A g
	await_relay A g sB
	await_relay B g sA
	assert_equal "$(imetric A sio_peers_alive)" 1
	assert_equal "$(imetric B sio_peers_alive)" 1
	assert_equal "$(imetric A sio_bus_gaps_total)" 0
	assert_equal "$(imetric B sio_bus_gaps_total)" 0
	# The service side still goes through A's inbox.
	cat_bg cB "${IURL[B]}" --count 1 --timeout 20
	wait_imetric B sio_clients 2
	run --separate-stderr bash -c 'printf "%s\n" "\"after\"" |
		"$1" --bus-peer "$2" --publish "" --timeout 20' _ "$SIO_BIN/sio-cat" "${IBUS[A]}"
	assert_success
	wait_bg cB
	assert_equal "$(bg_out cB)" '{"channel":"","data":"after"}'
	refute pid_gone "${IPID[A]}"
}

@test "garbage: a service-side publish whose data is not JSON is dropped and counted" {
	instance A
	instance B --bus-peer "${IBUS[A]}"
	wait_mesh 1 A B
	subscriber sB B g
	await_relay A g sB
	assert_equal "$(imetric A sio_bus_dropped_total)" 0

	# Well-formed bus framing, data that is not JSON: never relayed...
	run -0 zmtp push "${IINBOX[A]}" '[["pub","\u0001","g","not json"]]'
	wait_log 'BUS_DROPPED id=A what=inbox why="data is not JSON"' "${ILOG[A]}"
	publish A g '"marker"'
	wait_for bg_printed sB '"marker"'
	refute bg_printed sB 'not json'
	# ...and, like every other dropped bus message, counted.
	wait_imetric A sio_bus_dropped_total 1
}

# --- CURVE -------------------------------------------------------------------

@test "CURVE: trusted instances join and relay; an untrusted key is refused and counted" {
	local t=$BATS_TEST_TMPDIR keyA keyB keyU
	keyA=$("$SIO_BIN/sio-serve" --gen-keys "$t/a.cert")
	keyB=$("$SIO_BIN/sio-serve" --gen-keys "$t/b.cert")
	keyU=$("$SIO_BIN/sio-serve" --gen-keys "$t/u.cert")
	assert_equal "${#keyA}" 40
	assert_equal "${#keyU}" 40
	mkdir "$t/trust"
	cp "$t/a.cert" "$t/b.cert" "$t/trust/"

	instance A --bus-cert "$t/a.cert" --bus-trust "$t/trust"
	local seed="${IBUS[A]}#$keyA"
	instance B --bus-cert "$t/b.cert" --bus-trust "$t/trust" --bus-peer "$seed"
	wait_mesh 1 A B
	wait_log ': JOIN id=A peer=B ' "${ILOG[A]}"
	wait_log ': JOIN id=B peer=A ' "${ILOG[B]}"

	# U's key is not in A's trust directory: A refuses it.
	instance U --bus-cert "$t/u.cert" --bus-trust "$t/trust" --bus-peer "$seed"
	wait_for imetric_above A sio_bus_auth_failures_total 0
	wait_log 'BUS_AUTH_FAILED id=A ' "${ILOG[A]}"

	# Client messages cross over CURVE, both ways.
	subscriber sA A sec
	subscriber sB B sec
	await_relay B sec sA
	await_relay A sec sB
	assert_equal "$(imetric A sio_bus_gaps_total)" 0

	# By now U would have been heard many times over: it never was.
	assert_equal "$(imetric A sio_peers_alive)" 1
	assert_equal "$(imetric B sio_peers_alive)" 1
	assert_equal "$(imetric U sio_peers_alive)" 0
	refute log_has ': JOIN .*peer=U ' "${ILOG[A]}"
	refute log_has ': JOIN .*peer=U ' "${ILOG[B]}"
	refute log_has ': JOIN ' "${ILOG[U]}"
	refute pid_gone "${IPID[A]}"
}

#!/usr/bin/env bats
# Bad links between three hosts: 20 % of the packets lost and the others
# 50 ms late, in each direction of every link, while the instances keep the
# default heartbeat (250 ms) and dead-after (1000 ms). netem is not in every
# kernel; here the loss is an nft rule (numgen random) and the delay
# nfq-delay (tests/hosts/nfq-delay.c), which holds the packets of an
# NFQUEUE, both inside each host's namespace on what it sends to the switch.
#
# What must hold over the window: relayed messages keep their order per
# origin, every message sent is delivered or counted as a gap, and no
# instance reports another dead.

load hosts

# How long the mesh is watched under loss and delay.
WINDOW_S=20

setup() {
	hosts_check
	impair_check
}

# rtt_ms I J: the time a TCP connect from host I to host J takes (a SYN and
# its answer: the round trip of the link), median of five, in ms.
rtt_ms() {
	hx "$1" python3 -c 'import socket, statistics, sys, time
t = []
for _ in range(5):
    a = time.monotonic()
    try:
        socket.create_connection((sys.argv[1], 9), timeout=5).close()
    except ConnectionRefusedError:
        pass
    except OSError:
        continue
    t.append((time.monotonic() - a) * 1000)
print(round(statistics.median(t)) if t else "lost")' "$(host_ip "$2")"
}

# lossy_mesh: three instances at the defaults, subscribers of channel q on
# h1 and h3 whose interest has reached the others, then loss and delay on
# every link.
lossy_mesh() {
	hosts_up 3
	mesh_up 3
	subscriber s3 3 q
	subscriber s1 1 q
	await_relay 1 q s3
	await_relay 2 q s1 s3
	local i rtt_before
	for i in 1 2 3; do
		assert_equal "$(imetric "$i" sio_bus_gaps_total)" 0
	done
	rtt_before=$(rtt_ms 1 2)
	for i in 1 2 3; do
		impair "$i" 20 50
	done
	figure "link h1-h2: TCP connect $rtt_before ms before, $(rtt_ms 1 2) ms with 20 % loss and 50 ms delay each way"
}

leaves_reported() { cat "${ILOG[1]}" "${ILOG[2]}" "${ILOG[3]}" | grep -c ': LEAVE id=h[123] peer=' || true; }

# watch_window [STOP_AT_LEAVE]: WINDOW_S seconds under loss and delay (ended
# by the first LEAVE when asked); LEAVES gets the number reported.
watch_window() {
	local t0 end
	t0=$(_now_us)
	end=$((t0 + WINDOW_S * 1000000))
	while (($(_now_us) < end)); do
		LEAVES=$(leaves_reported)
		[[ -n ${1:-} ]] && ((LEAVES)) && break
		sleep 0.2
	done
	LEAVES=$(leaves_reported)
	WATCHED_MS=$((($(_now_us) - t0) / 1000))
}

@test "20 % loss and 50 ms delay on every link: relay keeps its order per origin, every message delivered or counted" {
	lossy_mesh
	paced_publisher pub1 1 "${IURL[1]}" q h1 25
	paced_publisher pub2 2 "${IURL[2]}" q h2 25
	watch_window
	figure "$WATCHED_MS ms under loss and delay: $LEAVES LEAVE reported" \
		"(false deaths: the next test is about them)"
	if ((LEAVES)); then
		grep -h ': LEAVE id=h[123] peer=' "${ILOG[@]}" | sed 's/^/# /' >&3
	fi
	# Whatever was reported, every instance hears the two others in the end.
	wait_mesh 3
	# After a LEAVE a bus link is dialled again, and a message lost on it
	# shows as a gap only when a later one arrives: the publishers go on
	# until messages sent from now on have crossed.
	local c31 c32 c12
	c31=$(origin_count s3 h1)
	c32=$(origin_count s3 h2)
	c12=$(origin_count s1 h2)
	SIO_WAIT=60 wait_for got_at_least s3 h1 $((c31 + 5))
	SIO_WAIT=60 wait_for got_at_least s3 h2 $((c32 + 5))
	SIO_WAIT=60 wait_for got_at_least s1 h2 $((c12 + 5))

	stop_paced pub1
	local sent1=$PACED
	stop_paced pub2
	local sent2=$PACED
	# The last of each is on its way through the same loss: wait for it.
	SIO_WAIT=30 wait_for got_message s3 h1 "$sent1"
	SIO_WAIT=30 wait_for got_message s3 h2 "$sent2"
	SIO_WAIT=30 wait_for got_message s1 h2 "$sent2"

	local got31 got32 got12 gaps3 gaps1
	got31=$(origin_count s3 h1)
	got32=$(origin_count s3 h2)
	got12=$(origin_count s1 h2)
	gaps3=$(imetric 3 sio_bus_gaps_total)
	gaps1=$(imetric 1 sio_bus_gaps_total)
	figure "relayed under loss and delay: h1 -> h3 $got31 of $sent1, h2 -> h3 $got32 of $sent2 ($gaps3 gaps counted)," \
		"h2 -> h1 $got12 of $sent2 ($gaps1 gaps counted)"
	in_order s3 h1 || fail "h1's messages reached h3 out of order"
	in_order s3 h2 || fail "h2's messages reached h3 out of order"
	in_order s1 h2 || fail "h2's messages reached h1 out of order"
	assert_equal "$((got31 + got32 + gaps3))" "$((sent1 + sent2))"
	assert_equal "$((got12 + gaps1))" "$sent2"

	# The loss and the delay really were there: the nft rules dropped
	# packets, nfq-delay held the others.
	local i dropped=0 d
	for i in 1 2 3; do
		d=$(impair_dropped "$i")
		((d > 0)) || fail "the loss rule of h$i dropped nothing"
		dropped=$((dropped + d))
	done
	for i in 1 2 3; do
		stop_pid "${BG[delay$i]}"
		assert_equal "$WAIT_RC" 0
		grep -qE 'nfq-delay: done .* packets=[1-9][0-9]* ' "$BATS_TEST_TMPDIR/delay$i.err"
	done
	figure "the loss rules dropped $dropped packets; nfq-delay on h1 held" \
		"$(sed -nE 's/.*packets=([0-9]+).*max_held=([0-9]+).*/\1 packets, at most \2 at once/p' \
			"$BATS_TEST_TMPDIR/delay1.err")"
}

@test "20 % loss and 50 ms delay on every link: no false death over the window at the default heartbeat" {
	lossy_mesh
	watch_window stop
	figure "$WATCHED_MS ms under loss and delay: $LEAVES LEAVE reported"
	local i
	for i in 1 2 3; do
		refute log_has ': LEAVE id=h[123] peer=' "${ILOG[$i]}"
		assert_equal "$(log_count ': JOIN ' "${ILOG[$i]}")" 2
		assert_equal "$(imetric "$i" sio_peers_alive)" 2
	done
}

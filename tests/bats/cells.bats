#!/usr/bin/env bats
# The two-level mesh (sio(7) CAPACITY): two cells, a and b, of three
# instances each, two of them gateways, all seeded with one instance of
# cell a. An instance meshes with its own cell only; a gateway also with
# the other cell's gateways; a channel message crosses to the other cell
# once, through the gateway that carries, when that cell wants the
# channel; sio-monitor sees all six through one seed, each with its cell;
# the gateway that carries dies and the other takes over.

load helpers
load mesh

cells_up() {
	instance A1 --bus-cell a --bus-gateway
	local seed=("--bus-peer" "${IBUS[A1]}")
	instance A2 --bus-cell a --bus-gateway "${seed[@]}"
	instance A3 --bus-cell a "${seed[@]}"
	instance B1 --bus-cell b --bus-gateway "${seed[@]}"
	instance B2 --bus-cell b --bus-gateway "${seed[@]}"
	instance B3 --bus-cell b "${seed[@]}"
	# Ordinary instances hear their cell's two others; gateways also the
	# other cell's two gateways.
	wait_mesh 2 A3 B3
	wait_mesh 4 A1 A2 B1 B2
}

@test "cells: instances hear their own cell only, gateways the other cell's gateways too" {
	cells_up
	# A3 never took an instance of cell b for a peer.
	refute log_has ': JOIN id=A3 peer=B' "${ILOG[A3]}"
	refute log_has ': JOIN id=B3 peer=A' "${ILOG[B3]}"
	log_has ': JOIN id=A1 peer=B1 ' "${ILOG[A1]}"
}

@test "cells: a message in cell a reaches cell b's subscribers once, through a gateway; a channel cell b does not want does not cross" {
	cells_up
	subscriber sB3 B3 news
	subscriber sB2 B2 news
	subscriber sA2 A2 news
	await_relay A3 news sB3 sB2 sA2
	publish A3 news 1 2 3
	for s in sB3 sB2 sA2; do
		wait_for bg_printed "$s" '^\{"channel":"news","data":3\}$'
	done
	# Once each, in order.
	for s in sB3 sB2 sA2; do
		assert_equal "$(data_lines "$s" | tr '\n' ' ')" "1 2 3 "
	done
	# And back: cell b to cell a.
	subscriber sA3 A3 back
	await_relay B3 back sA3
	# Nobody in cell b wants "quiet": cell a's gateways never carry it.
	local before
	before=$(imetric B1 'sio_relay_total{direction="in"}')
	publish A3 quiet 1 2 3 4 5
	publish A3 news 4
	wait_for bg_printed sB3 '^\{"channel":"news","data":4\}$'
	local in1
	in1=$(imetric B1 'sio_relay_total{direction="in"}')
	# B1 heard news 4 at most (from cell a's carrying gateway and from B2
	# or its own cell), nothing of quiet.
	((in1 - before <= 3)) || fail "B1 heard $((in1 - before)) relays for one message"
}

@test "cells: sio-monitor sees all six instances through one seed, each with its cell" {
	cells_up
	run --separate-stderr "$SIO_BIN/sio-monitor" --once --json --bus-peer "${IBUS[B3]}" --timeout 20
	assert_success
	local n
	n=$(jq -s 'length' <<<"$output")
	assert_equal "$n" 6
	assert_equal "$(jq -r 'select(.id == "A3") | .cell' <<<"$output")" a
	assert_equal "$(jq -r 'select(.id == "B1") | .cell' <<<"$output")" b
	assert_equal "$(jq -r 'select(.id == "B1") | .gateway' <<<"$output")" true
}

@test "cells: the carrying gateway killed, the other carries on: cell b still gets cell a's messages" {
	cells_up
	subscriber sB3 B3 news
	await_relay A3 news sB3
	# A1 has the smaller id: it carries. Kill it.
	kill -KILL "${IPID[A1]}"
	wait_log ': LEAVE id=A3 peer=A1 ' "${ILOG[A3]}"
	wait_mesh 1 A3
	# A2 takes over (its cell saw A1 die): probes get through again.
	await_relay A3 news sB3
	publish A3 news 7
	wait_for bg_printed sB3 '^\{"channel":"news","data":7\}$'
	# B's gateways saw A1 die like a peer.
	wait_log ': LEAVE id=B1 peer=A1 ' "${ILOG[B1]}"
}

#!/usr/bin/env bats
# Cells formed by themselves (bus.cell_size, sio(7) CAPACITY): instances
# given one seed and no cell settings ask the seed where to go and fill
# cells of at most the size, in turn; each cell elects its two gateways
# (the live members with the smallest ids) once another cell exists, and
# another takes over when one dies. A mesh below the size stays flat. The
# gateways carry one summary of each cell, so an instance's view (the mesh
# size, the redirect hint of a full instance) covers every cell.

load helpers
load mesh

# cells_up NAME...: the first is the seed; each next one is seeded with it.
cells_up() {
	local first=$1 name
	shift
	instance "$first" --bus-cell-size 3
	for name in "$@"; do
		instance "$name" --bus-cell-size 3 --bus-peer "${IBUS[$first]}"
		decided "$name"
	done
}

# decided NAME: the instance chose its cell. Newcomers asking one seed at
# the same moment may both be told the same cell (sio(7): a few over the
# size); one at a time, the placement is exact, which these tests check.
decided() {
	wait_log " CELL id=$1 " "${ILOG[$1]}"
}

# cell_of NAME: the cell an instance chose (its log says so).
cell_of() {
	sed -nE 's/.* CELL id=[^ ]+ cell=([^ ]*) .*/\1/p' "${ILOG[$1]}" | head -n 1
}

# whole N NAME...: every named instance knows a mesh of N in C cells.
whole() {
	local n=$1 c=$2 name
	shift 2
	for name in "$@"; do
		wait_imetric "$name" sio_mesh_instances "$n"
		wait_imetric "$name" sio_cells "$c"
	done
}

@test "autocells: a mesh smaller than the cell size stays flat, no gateway" {
	cells_up A B C
	wait_mesh 2 A B C
	for name in A B C; do
		[[ $name == A ]] || assert_equal "$(cell_of "$name")" '""'
		imetric_is "$name" sio_cells 0 || fail "$name knows cells"
		imetric_is "$name" sio_gateway 0 || fail "$name is a gateway"
	done
	refute log_has 'GATEWAY id=' "${ILOG[A]}"
}

@test "autocells: instances that all list each other as seeds, started together, form one flat mesh" {
	local a b c
	a=$(free_port) b=$(free_port) c=$(free_port)
	# Each answers /healthz at once: all three are choosing at the same time.
	start_at A "$(free_port)" "$a" --bus-cell-size 3 --bus-peer "tcp://127.0.0.1:$b" --bus-peer "tcp://127.0.0.1:$c"
	start_at B "$(free_port)" "$b" --bus-cell-size 3 --bus-peer "tcp://127.0.0.1:$a" --bus-peer "tcp://127.0.0.1:$c"
	start_at C "$(free_port)" "$c" --bus-cell-size 3 --bus-peer "tcp://127.0.0.1:$a" --bus-peer "tcp://127.0.0.1:$b"
	wait_mesh 2 A B C
	for name in A B C; do
		assert_equal "$(cell_of "$name")" '""'
		imetric_is "$name" sio_cells 0 || fail "$name knows cells"
	done
}

@test "autocells: seven from one seed with cell size 3 form three cells, each with its gateways; a message crosses; sio-monitor sees seven" {
	cells_up A B C D E F G
	whole 7 3 A B C D E F G
	# In turn: the flat cell first, then c1, then c2.
	for name in B C; do assert_equal "$(cell_of "$name")" '""'; done
	for name in D E F; do assert_equal "$(cell_of "$name")" c1; done
	assert_equal "$(cell_of G)" c2
	# The two smallest ids of each cell are its gateways.
	for name in A B D E G; do wait_imetric "$name" sio_gateway 1; done
	for name in C F; do imetric_is "$name" sio_gateway 0 || fail "$name is a gateway"; done
	# An ordinary instance hears its own cell only.
	wait_mesh 2 C F
	refute log_has ': JOIN id=C peer=[DEFG] ' "${ILOG[C]}"
	# A message of c1 reaches the flat cell and c2, and back.
	subscriber sC C news
	subscriber sG G news
	await_relay F news sC sG
	publish F news 1 2 3
	wait_for bg_printed sG '^\{"channel":"news","data":3\}$'
	wait_for bg_printed sC '^\{"channel":"news","data":3\}$'
	assert_equal "$(data_lines sG | tr '\n' ' ')" "1 2 3 "
	assert_equal "$(data_lines sC | tr '\n' ' ')" "1 2 3 "
	subscriber sF F back
	await_relay C back sF
	# Every instance through one seed, each with its cell.
	run --separate-stderr "$SIO_BIN/sio-monitor" --once --json --bus-peer "${IBUS[F]}" --timeout 20
	assert_success
	assert_equal "$(jq -s 'length' <<<"$output")" 7
	assert_equal "$(jq -r 'select(.id == "G") | .cell' <<<"$output")" c2
	assert_equal "$(jq -s '[.[] | select(.gateway)] | length' <<<"$output")" 5
	# Random distribution through one seed picks in every cell.
	run --separate-stderr "$SIO_BIN/sio-pick" --bus-peer "${IBUS[G]}" --count 300 --timeout 20
	assert_success
	local name
	for name in A C D F G; do
		grep -qxF "${IURL[$name]}" <<<"$output" || fail "sio-pick never picked $name"
	done
}

@test "autocells: the carrying gateway killed, the third member of its cell becomes a gateway and messages cross again" {
	cells_up A B C D E F
	whole 6 2 A B C D E F
	wait_imetric C sio_gateway 0
	subscriber sD D news
	await_relay C news sD
	# A has the smallest id: it carries for the flat cell. Kill it.
	kill -KILL "${IPID[A]}"
	wait_log ': LEAVE id=C peer=A ' "${ILOG[C]}"
	wait_imetric C sio_gateway 1
	wait_log 'GATEWAY id=C cell="" on=yes' "${ILOG[C]}"
	await_relay C news sD
	publish C news 9
	wait_for bg_printed sD '^\{"channel":"news","data":9\}$'
	# And the other way, through B now.
	subscriber sC C back
	await_relay E back sC
	whole 5 2 B C D E F
}

@test "autocells: a full instance's redirect names an instance of another cell" {
	local full=(--max-clients 1 --high-clients 1 --low-enough 0)
	instance A --bus-cell-size 2 "${full[@]}"
	instance B --bus-cell-size 2 --bus-peer "${IBUS[A]}" "${full[@]}"
	decided B
	instance C --bus-cell-size 2 --bus-peer "${IBUS[A]}"
	decided C
	whole 3 2 A B C
	assert_equal "$(cell_of C)" c1
	# A and B each hold their one client: nobody in A's cell takes one.
	SERVE_URL=${IURL[A]} ws_bg holdA "$(ready)" sleep:120
	SERVE_URL=${IURL[B]} ws_bg holdB "$(ready)" sleep:120
	wait_imetric A sio_clients 1
	wait_imetric B sio_clients 1
	# A learns it from B's heartbeat, and C's room from c1's summary.
	refused_to_c() {
		SERVE_URL=${IURL[A]} run ws expect-close
		[[ $output == "CLOSE 1013 "*"${IURL[C]}"* ]]
	}
	wait_for refused_to_c || fail "A's refusal: $output"
}

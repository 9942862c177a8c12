#!/usr/bin/env bats
# The browser module's reconnects (web/sio-client.js) under Node.js with a
# scripted announcer, socket and clock (tests/helpers/backoff.mjs): waits
# grow from reconnectDelay to maxReconnectDelay with jitter, and an open
# connection starts them over. No real time passes.

bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

setup() {
	command -v node >/dev/null || skip "no node (make test-deps installs it)"
	# An ES module is an .mjs file to Node outside a package.
	cp "$ROOT/web/sio-client.js" "$BATS_TEST_TMPDIR/sio-client.mjs"
}

# waits FAILURES [OPEN_AFTER]: the delays the module asked for, one a line.
waits() {
	node "$ROOT/tests/helpers/backoff.mjs" "$BATS_TEST_TMPDIR/sio-client.mjs" "$@" >"$BATS_TEST_TMPDIR/out"
	[[ $(tail -n 1 "$BATS_TEST_TMPDIR/out") == END ]] || fail "backoff.mjs: $(cat "$BATS_TEST_TMPDIR/out")"
	sed -nE 's/^\{"attempt":[0-9]+,"delay":([0-9]+),"retryIn":([0-9]+)\}$/\1 \2/p' "$BATS_TEST_TMPDIR/out"
}

@test "each failed attempt doubles the wait, between half and all of it, up to the cap" {
	local i=0 delay told ceiling
	while read -r delay told; do
		ceiling=$((1000 << i))
		((ceiling > 8000)) && ceiling=8000
		((delay >= ceiling / 2 && delay <= ceiling)) ||
			fail "attempt $((i + 1)): waited $delay ms, not within [$((ceiling / 2)), $ceiling]"
		((told == delay)) || fail "attempt $((i + 1)): onClose said $told ms, waited $delay"
		i=$((i + 1))
	done < <(waits 9 | head -n 9)
	((i == 9)) || fail "$i waits, 9 expected"
}

@test "an open connection starts the waits over" {
	local -a d
	mapfile -t d < <(waits 5 2 | cut -d' ' -f1)
	((${#d[@]} == 8)) || fail "${#d[@]} waits, 8 expected: ${d[*]}"
	# The 6th wait follows the close of the connection that opened.
	((d[5] >= 500 && d[5] <= 1000)) || fail "after an open: ${d[5]} ms, not within [500, 1000]"
	((d[6] >= 1000 && d[6] <= 2000)) || fail "then ${d[6]} ms, not within [1000, 2000]"
}

@test "many clients do not retry in step" {
	local run distinct
	for run in 1 2 3 4 5 6 7 8; do
		waits 0 | head -n 1 | cut -d' ' -f1
	done >"$BATS_TEST_TMPDIR/first"
	distinct=$(sort -u "$BATS_TEST_TMPDIR/first" | wc -l)
	# Eight draws from 500 values: all eight equal has odds of 500^-7.
	((distinct > 1)) || fail "8 clients all waited $(head -n 1 "$BATS_TEST_TMPDIR/first") ms"
}

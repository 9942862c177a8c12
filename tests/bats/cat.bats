#!/usr/bin/env bats
# sio-cat, the command-line client, against a real sio-serve.

load helpers

setup() {
	[[ -x $SIO_BIN/sio-cat ]] || skip "bin/sio-cat is not built"
}

sio_cat() { timeout 20 "$SIO_BIN/sio-cat" "$@" 3>&-; }

@test "sio-cat: subscribe and publish round trip, --count exits 0" {
	start_serve
	cat_bg sub --subscribe room --subscribe other --count 2 --timeout 15 "$SERVE_URL"
	wait_metric sio_subscriptions 2
	printf '%s\n' '{"n":1}' '{"n":2}' >"$BATS_TEST_TMPDIR/in"
	run -0 sio_cat --publish room --timeout 15 "$SERVE_URL" <"$BATS_TEST_TMPDIR/in"
	wait_bg sub
	assert_equal "$WAIT_RC" 0
	assert_equal "$(bg_out sub)" $'{"channel":"room","data":{"n":1}}\n{"channel":"room","data":{"n":2}}'
	assert_equal "$(metric sio_published_total)" 2
}

@test "sio-cat: JSON input lines are sent as data, other lines as strings" {
	start_serve
	cat_bg sub --subscribe room --count 7 --timeout 15 "$SERVE_URL"
	wait_metric sio_subscriptions 1
	printf '%s\n' '{"x":[1,2]}' 'hello world' '42' '"quoted"' 'héllo "q" \ back' '[1,' 'null' \
		>"$BATS_TEST_TMPDIR/in"
	run -0 sio_cat --publish room --timeout 15 "$SERVE_URL" <"$BATS_TEST_TMPDIR/in"
	wait_bg sub
	assert_equal "$WAIT_RC" 0
	run bg_out sub
	assert_line -n 0 '{"channel":"room","data":{"x":[1,2]}}'
	assert_line -n 1 '{"channel":"room","data":"hello world"}'
	assert_line -n 2 '{"channel":"room","data":42}'
	assert_line -n 3 '{"channel":"room","data":"quoted"}'
	assert_line -n 4 '{"channel":"room","data":"héllo \"q\" \\ back"}'
	assert_line -n 5 '{"channel":"room","data":"[1,"}'
	assert_line -n 6 '{"channel":"room","data":null}'
}

@test "sio-cat: --raw sends lines as frames unchanged, --binary with the binary opcode" {
	start_serve
	cat_bg sub --subscribe r --count 2 --timeout 15 "$SERVE_URL"
	wait_metric sio_subscriptions 1
	printf '%s\n' 'not json' '{"channel":"r","data":[1, 2]}' >"$BATS_TEST_TMPDIR/in"
	run -0 sio_cat --raw --timeout 15 "$SERVE_URL" <"$BATS_TEST_TMPDIR/in"
	printf '%s\n' '{"channel":"r","data":"bin"}' >"$BATS_TEST_TMPDIR/in"
	run -0 sio_cat --raw --binary --timeout 15 "$SERVE_URL" <"$BATS_TEST_TMPDIR/in"
	wait_bg sub
	assert_equal "$WAIT_RC" 0
	assert_equal "$(bg_out sub)" $'{"channel":"r","data":[1, 2]}\n{"channel":"r","data":"bin"}'
	assert_equal "$(metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}')" 1
}

@test "sio-cat: CLIENT_READY is sent unless --no-ready" {
	start_serve
	cat_bg ready --subscribe a --timeout 60 "$SERVE_URL"
	cat_bg plain --subscribe b --no-ready --timeout 60 "$SERVE_URL"
	wait_metric sio_subscriptions 2
	wait_metric sio_clients 2
	assert_equal "$(metric sio_ready_clients)" 1
}

@test "sio-cat: a subscriber says READY on standard error once connected and subscribed" {
	start_serve
	cat_bg sub --subscribe a --subscribe b --timeout 60 "$SERVE_URL"
	wait_metric sio_subscriptions 2
	wait_for grep -q "READY url=$SERVE_URL subscriptions=2" "$BATS_TEST_TMPDIR/sub.err"
	assert_equal "$(bg_out sub)" ""
}

@test "sio-cat: cannot connect exits non-zero with a message" {
	local port
	port=$(free_port)
	run --separate-stderr sio_cat --subscribe a --timeout 10 "ws://127.0.0.1:$port/socketiyo"
	assert [ "$status" -ne 0 ]
	assert [ "$status" -ne 124 ]
	assert_regex "$stderr" "unable to connect.*127.0.0.1:$port"
	assert_equal "$output" ""
}

@test "sio-cat: --timeout exits non-zero with a message" {
	start_serve
	run --separate-stderr sio_cat --subscribe quiet --count 1 --timeout 1 "$SERVE_URL"
	assert_equal "$status" 1
	assert_regex "$stderr" 'timed out'
}

@test "sio-cat: a refusal with 1013 is visible" {
	start_serve --max-clients 1 --high-clients 1 --low-enough 0
	ws_bg holder "$(ready)" sleep:120
	wait_metric sio_clients 1
	run --separate-stderr sio_cat --subscribe a --timeout 15 "$SERVE_URL"
	assert_equal "$status" 1
	assert_regex "$stderr" 'CLOSED code=1013 reason=.*full'
	assert_equal "$output" ""
}

@test "sio-cat: the server's drain is visible as 1001" {
	start_serve --drain-ms 100
	cat_bg sub --subscribe a --timeout 30 "$SERVE_URL"
	wait_metric sio_subscriptions 1
	kill -TERM "$SERVE_PID"
	wait_bg sub 20
	assert_equal "$WAIT_RC" 1
	run cat "$BATS_TEST_TMPDIR/sub.err"
	assert_output --regexp 'CLOSED code=1001 reason='
}

@test "sio-cat: usage errors exit 64, --help exits 0" {
	run -0 "$SIO_BIN/sio-cat" --help
	assert_line -n 0 --regexp '^Usage: sio-cat'
	run -64 --separate-stderr "$SIO_BIN/sio-cat"
	run -64 --separate-stderr "$SIO_BIN/sio-cat" --count 0 ws://127.0.0.1:1/x
	run -64 --separate-stderr "$SIO_BIN/sio-cat" --bogus ws://127.0.0.1:1/x
	run -64 --separate-stderr "$SIO_BIN/sio-cat" not-a-url
}

@test "sio-cat --bus-peer: a dead seed is exit 69 naming it, with or without --timeout" {
	local port
	port=$(free_port)
	run --separate-stderr bash -c 'echo hello | "$1" --bus-peer "$2" --publish news --timeout 0.5' \
		_ "$SIO_BIN/sio-cat" "tcp://127.0.0.1:$port"
	assert_failure 69
	assert_output ''
	assert_regex "$stderr" "^sio-cat: error: no instance answered within 0\\.[0-9] s on the bus through tcp://127\\.0\\.0\\.1:$port \\(does an instance's bus.bind listen there\\?\\)$"
	# Without --timeout, after ten times --dead-after-ms: the same.
	run --separate-stderr bash -c 'echo hello | "$1" --bus-peer "$2" --publish news --heartbeat-ms 50 --dead-after-ms 100' \
		_ "$SIO_BIN/sio-cat" "tcp://127.0.0.1:$port"
	assert_failure 69
	assert_regex "$stderr" "^sio-cat: error: no instance answered within 1\\.[0-9] s on the bus through tcp://127\\.0\\.0\\.1:$port "
	[[ $stderr != *PUBLISHED* ]] || fail "a PUBLISHED line for nothing: $stderr"
}

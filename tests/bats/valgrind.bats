#!/usr/bin/env bats
# valgrind in the everyday run: the unit tests, and a short life of sio-serve
# (clients, a relay, bad frames, /metrics, a drain), without a memory error
# or a leak (definite or indirect). make asan runs every test under ASan and
# UBSan; this is the part cheap enough for every make test.

load helpers

VG=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect
	--error-exitcode=9)

setup() {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	# make asan runs the same files on ASan builds, which valgrind cannot run.
	[[ -z ${ASAN_OPTIONS:-} ]] || skip "an ASan build: make asan checks memory there"
}

@test "valgrind: every unit test binary, no error, no leak" {
	local t ran=0
	for t in "$SIO_ROOT"/build/tests/test_*; do
		[[ -x $t && $t != *.o && $t != *.d ]] || continue
		run "${VG[@]}" "$t"
		((status == 0)) || fail "${t##*/} under valgrind (status $status): $output"
		ran=$((ran + 1))
	done
	((ran > 0))
}

@test "valgrind: sio-serve serves, relays, refuses, drains and exits clean" {
	local port bus
	{ read -r port && read -r bus; } < <(free_port 2)
	"${VG[@]}" --log-file="$BATS_TEST_TMPDIR/vg.log" "$SIO_BIN/sio-serve" --port "$port" \
		--bus-bind "tcp://127.0.0.1:$bus" --drain-ms 100 --rate-limit 50 --rate-burst 5 \
		2>"$BATS_TEST_TMPDIR/serve.log" 3>&- &
	local pid=$!
	track_pid "$pid"
	SERVE_PORT=$port SERVE_LOG="$BATS_TEST_TMPDIR/serve.log"
	SERVE_URL="ws://127.0.0.1:$port/socketiyo"
	SIO_WAIT=60 wait_for _serve_answers
	ws_bg sub "$(sub v)" recv:2
	wait_metric sio_subscriptions 1
	run -0 ws "$(pub v '[1,2]')" 'text:not json' "frag:3:$(pub v '"pieces"' | cut -d: -f2-)" close
	wait_bg sub 30
	assert_equal "$(bg_out sub)" $'{"channel":"v","data":[1,2]}\n{"channel":"v","data":"pieces"}'
	wait_metric 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}' 1
	# The frames sio reads itself: pings a byte at a time, frames that break
	# RFC 6455, and reading held back by the rate limit in mid-read.
	run -0 ws "dribble:$(rawframe 89 "$(hexof hi)" | sed 's/^rawbytes://')" "pong:$(hexof hi)" close
	run -0 ws "hex:$(hexof '{"channel":"v","data":"')c0af" expect-close
	assert_output 'CLOSE 1007 invalid UTF-8'
	run -0 ws rawbytes:8100 expect-close
	assert_output 'CLOSE 1002 frame not masked'
	run -0 ws "repeat:20:$(pub w 1 | cut -d: -f2-)" close
	wait_metric sio_published_total 22
	(($(metric sio_rate_limited_total) >= 1))
	kill -TERM "$pid"
	wait_exit "$pid" 60
	assert_equal "$WAIT_RC" 0
	run cat "$BATS_TEST_TMPDIR/vg.log"
	assert_output ""
}

#!/usr/bin/env bats
# sio-monitor against real instances (DESIGN.md §3, §4, §6): what one seed
# learns of the mesh, the event lines and their exact counts, hooks, and the
# exit codes scripts rely on. Every wait polls a condition up to a deadline.

load helpers

LIMITS=(--max-clients 3 --high-clients 2 --low-enough 1)

declare -gA IPID=() IBUS=() IURL=() ILOG=()

# instance NAME [ARGS...]: sio-serve with id NAME on free ports; its pid, bus
# endpoint, URL and log go to IPID, IBUS, IURL and ILOG under NAME.
instance() {
	local name=$1
	shift
	start_serve --id "$name" "$@" || return
	IPID[$name]=$SERVE_PID
	IURL[$name]=$SERVE_URL
	ILOG[$name]=$SERVE_LOG
	# The instance says where its bus is before it answers /healthz.
	IBUS[$name]=$(sed -nE 's/.* BUS id=[^ ]+ bus=([^ ]+) .*/\1/p' "$SERVE_LOG" | head -n 1)
	[[ -n ${IBUS[$name]} ]] || {
		echo "instance $name: no BUS line in $SERVE_LOG" >&2
		return 1
	}
}

# monitor_bg NAME ARGS...: sio-monitor in the background; stdout in NAME.out
# (not a terminal: event lines by default), stderr in NAME.err.
monitor_bg() {
	local name=$1
	shift
	"$SIO_BIN/sio-monitor" "$@" >"$BATS_TEST_TMPDIR/$name.out" \
		2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	BG[$name]=$!
	track_pid "$!"
}

monitor() { "$SIO_BIN/sio-monitor" "$@"; }

# wait_line NAME ERE: polls the monitor's stdout for a matching line.
wait_line() {
	if ! wait_for bg_printed "$1" "$2" 2>/dev/null; then
		echo "wait_line: no line matching '$2' after ${SIO_WAIT}s in $1.out:" >&2
		cat "$BATS_TEST_TMPDIR/$1.out" "$BATS_TEST_TMPDIR/$1.err" >&2
		return 1
	fi
}

wait_err() {
	if ! wait_for grep -qE -- "$2" "$BATS_TEST_TMPDIR/$1.err" 2>/dev/null; then
		echo "wait_err: no line matching '$2' after ${SIO_WAIT}s in $1.err:" >&2
		cat "$BATS_TEST_TMPDIR/$1.err" >&2
		return 1
	fi
}

lines_matching() { grep -cE -- "$2" "$BATS_TEST_TMPDIR/$1.out" || true; }

file_has() { grep -qE -- "$2" "$1" 2>/dev/null; }

# url_re NAME: the instance's URL as an ERE.
url_re() { printf '%s' "${IURL[$1]}" | sed 's/[.]/\\./g'; }

# hold FIRST LAST: connections c FIRST..LAST to SERVE_URL, kept until ended.
hold() {
	local i
	for i in $(seq "$1" "$2"); do
		ws_bg "c$i" "$(ready)" sleep:120
	done
}

@test "one seed learns a chain of three: --once --json shows every instance" {
	instance A
	instance B --bus-peer "${IBUS[A]}"
	instance C --bus-peer "${IBUS[B]}"
	# The mesh is whole once C, which knows only B, has heard A through it.
	wait_log ': JOIN id=C peer=A ' "${ILOG[C]}"

	run --separate-stderr monitor --once --json --bus-peer "${IBUS[C]}" --timeout 20
	assert_success
	assert_equal "${#lines[@]}" 3
	run jq -rs 'map(.id) | join(" ")' <<<"$output"
	assert_output 'A B C'
	run --separate-stderr monitor --once --json --bus-peer "${IBUS[C]}" --id A --timeout 20
	assert_success
	run jq -e 'select(.id == "A" and .url == "'"${IURL[A]}"'" and .state == "NORMAL"
		and .clients == 0 and .high == 800000 and .max == 1000000 and .low == 600000
		and .draining == false and .alive == true and (.last_seen_ms | type) == "number")' \
		<<<"$output"
	assert_success

	run --separate-stderr monitor --once --bus-peer "${IBUS[A]}" --timeout 20
	assert_success
	assert_line --index 0 --regexp '^ID +URL +STATE +CLIENTS/HIGH/MAX +IN/S +OUT/S +SEEN$'
	assert_line --index 1 --regexp "^A +$(url_re A) +NORMAL +0/800000/1000000 "
	assert_equal "${#lines[@]}" 4
}

@test "load events: exactly one HIGH_LOAD, one OVER_LOAD, one AVAILABLE" {
	instance A "${LIMITS[@]}"
	monitor_bg mon --events --bus-peer "${IBUS[A]}"
	wait_line mon "^JOIN A $(url_re A) 0$"

	hold 1 3
	wait_metric sio_clients 3
	wait_line mon "^HIGH_LOAD A $(url_re A) 2$"
	run -0 ws expect-close
	assert_output --regexp '^CLOSE 1013 '
	run -0 ws expect-close
	assert_output --regexp '^CLOSE 1013 '
	wait_line mon "^OVER_LOAD A $(url_re A) 3$"
	stop_bg c1
	stop_bg c2
	stop_bg c3
	wait_line mon "^AVAILABLE A $(url_re A) 1$"
	wait_metric sio_clients 0

	# One bus carries them in order: nothing more can be on its way.
	assert_equal "$(lines_matching mon '^HIGH_LOAD ')" 1
	assert_equal "$(lines_matching mon '^OVER_LOAD ')" 1
	assert_equal "$(lines_matching mon '^AVAILABLE ')" 1
	assert_equal "$(lines_matching mon '^JOIN ')" 1
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/mon.out")" 4
}

@test "--json event lines carry event, id, url, clients, state, time and why" {
	instance A
	instance B --bus-peer "${IBUS[A]}"
	monitor_bg mon --events --json --bus-peer "${IBUS[A]}"
	wait_line mon '"event":"JOIN","id":"B"'
	stop_pid "${IPID[B]}"
	wait_line mon '"event":"LEAVE","id":"B"'
	run jq -ec 'select(.id == "B") | [.event, .url, .clients, .state, (.time | type), .why]' \
		"$BATS_TEST_TMPDIR/mon.out"
	assert_success
	assert_line "[\"JOIN\",\"${IURL[B]}\",0,\"NORMAL\",\"number\",null]"
	assert_line "[\"LEAVE\",\"${IURL[B]}\",0,\"NORMAL\",\"number\",\"shutdown\"]"
}

@test "--exec runs the hook with the event in its environment, not on stdout" {
	instance A
	local log=$BATS_TEST_TMPDIR/hook.log
	# A stale SIO_WHY must not reach a JOIN hook.
	SIO_WHY=stale monitor_bg mon --events --bus-peer "${IBUS[A]}" --exec \
		'echo "$SIO_EVENT|$SIO_ID|$SIO_URL|$SIO_CLIENTS|$SIO_STATE|${SIO_WHY-unset}" >>'"$log"'; echo from-hook'
	wait_for file_has "$log" '^JOIN\|'
	run cat "$log"
	assert_output "JOIN|A|${IURL[A]}|0|NORMAL|unset"
	wait_err mon '^from-hook$'
	run cat "$BATS_TEST_TMPDIR/mon.out"
	assert_output "JOIN A ${IURL[A]} 0"
}

@test "--exec: LEAVE hooks get SIO_WHY" {
	instance A
	instance B --bus-peer "${IBUS[A]}"
	local log=$BATS_TEST_TMPDIR/hook.log
	monitor_bg mon --bus-peer "${IBUS[A]}" --id B --exec \
		'echo "$SIO_EVENT $SIO_ID ${SIO_WHY-unset}" >>'"$log"
	wait_for file_has "$log" '^JOIN B unset$'
	kill -KILL "${IPID[B]}"
	wait_for file_has "$log" '^LEAVE B timeout$'
	refute file_has "$log" ' A '
}

@test "a hook that takes its time delays neither the next line nor the next hook" {
	instance A "${LIMITS[@]}"
	local log=$BATS_TEST_TMPDIR/hook.log release=$BATS_TEST_TMPDIR/release
	# The JOIN hook lasts until the test releases it (20 s at most, so that
	# it never outlives the test): a hook that blocked the monitor would hold
	# back every line and hook below.
	monitor_bg mon --events --bus-peer "${IBUS[A]}" --exec '
		if [ "$SIO_EVENT" = JOIN ]; then
			i=0
			while [ ! -e '"$release"' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
		fi
		echo "$SIO_EVENT done" >>'"$log"
	wait_line mon '^JOIN A '
	hold 1 2
	wait_line mon '^HIGH_LOAD A '
	wait_for file_has "$log" '^HIGH_LOAD done$'
	refute file_has "$log" '^JOIN done$'
	touch "$release"
	wait_for file_has "$log" '^JOIN done$'
}

@test "hooks beyond --max-hooks are skipped and counted; a failing hook is logged" {
	instance A "${LIMITS[@]}"
	local release=$BATS_TEST_TMPDIR/release
	monitor_bg mon --events --max-hooks 1 --bus-peer "${IBUS[A]}" --exec '
		i=0
		while [ ! -e '"$release"' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
		exit 3'
	wait_line mon '^JOIN A '
	hold 1 2
	wait_line mon '^HIGH_LOAD A '
	wait_err mon 'HOOK_SKIPPED event=HIGH_LOAD id=A running=1 skipped=1'
	touch "$release"
	wait_err mon '^sio-monitor: warning: hook failed: event=JOIN id=A status=exit:3$'
}

@test "--wait-for JOIN --id exits 0 when the instance starts, printing only its line" {
	instance A
	monitor_bg wait --wait-for JOIN --id X --bus-peer "${IBUS[A]}" --timeout 60
	instance X --bus-peer "${IBUS[A]}"
	wait_exit "${BG[wait]}"
	assert_equal "$WAIT_RC" 0
	run cat "$BATS_TEST_TMPDIR/wait.out"
	assert_output "JOIN X ${IURL[X]} 0"
}

@test "--wait-for exits 1 with a message when --timeout expires first" {
	instance A
	run --separate-stderr monitor --wait-for JOIN --id nobody --bus-peer "${IBUS[A]}" \
		--timeout 1
	assert_failure 1
	assert_output ''
	[[ $stderr == *'timed out after 1 s waiting for JOIN of nobody'* ]] ||
		fail "stderr: $stderr"
}

@test "kill -9 of an instance: LEAVE with why timeout" {
	instance A
	instance B --bus-peer "${IBUS[A]}"
	monitor_bg mon --events --bus-peer "${IBUS[A]}"
	wait_line mon "^JOIN B $(url_re B) 0$"
	kill -KILL "${IPID[B]}"
	wait_line mon "^LEAVE B $(url_re B) 0 timeout$"
	refute bg_printed mon '^LEAVE A '
	refute bg_printed mon '^DRAIN '
}

@test "SIGTERM of an instance: DRAIN, then LEAVE with why shutdown" {
	instance A
	instance B --bus-peer "${IBUS[A]}"
	monitor_bg mon --events --bus-peer "${IBUS[A]}"
	wait_line mon "^JOIN B $(url_re B) 0$"
	stop_pid "${IPID[B]}"
	assert_equal "$WAIT_RC" 0
	wait_line mon "^LEAVE B $(url_re B) 0 shutdown$"
	run grep -E '^(DRAIN|LEAVE) B ' "$BATS_TEST_TMPDIR/mon.out"
	assert_output "DRAIN B ${IURL[B]} 0
LEAVE B ${IURL[B]} 0 shutdown"
}

@test "SIGTERM ends the monitor with 0; --timeout ends --events with 0" {
	instance A
	monitor_bg mon --events --bus-peer "${IBUS[A]}"
	wait_line mon '^JOIN A '
	stop_pid "${BG[mon]}"
	assert_equal "$WAIT_RC" 0
	run --separate-stderr monitor --events --bus-peer "${IBUS[A]}" --timeout 0.5
	assert_success
}

@test "exit codes: usage 64, configuration 78, nothing heard 69, --help 0" {
	run --separate-stderr monitor --no-such-option
	assert_failure 64
	run --separate-stderr monitor --wait-for NOTHING
	assert_failure 64
	run --separate-stderr monitor --once --events
	assert_failure 64
	run --separate-stderr monitor an-argument
	assert_failure 64
	echo 'no_such_group = 1;' >"$BATS_TEST_TMPDIR/bad.conf"
	run --separate-stderr monitor -c "$BATS_TEST_TMPDIR/bad.conf"
	assert_failure 78
	run --separate-stderr monitor --help
	assert_success
	assert_line --index 0 'Usage: sio-monitor [OPTION]...'
	# Nothing listens on a port just found free.
	run --separate-stderr monitor --once --bus-peer "tcp://127.0.0.1:$(free_port)" --timeout 0.5
	assert_failure 69
	assert_output ''
}

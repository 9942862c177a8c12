#!/usr/bin/env bats
# sio-serve --workers: one command, several instances on consecutive ports,
# each a member of the mesh, under a supervisor that passes signals on and
# starts a worker that died again.

load helpers

# consecutive_ports N: a base port such that base .. base+N-1 and their
# default bus ports (+10000) were all free.
consecutive_ports() {
	python3 -c 'import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 30000)
    socks = []
    try:
        for p in [base + i for i in range(n)] + [base + 10000 + i for i in range(n)]:
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    break' "$1"
}

workers_seen() {
	"$SIO_BIN/sio-monitor" --bus-peer "tcp://127.0.0.1:$((BASE + 10000))" --once --json \
		>"$BATS_TEST_TMPDIR/mon.json" 2>/dev/null &&
		[[ $(jq -rs '[.[] | select(.alive)] | length' "$BATS_TEST_TMPDIR/mon.json") == "$1" ]]
}

worker_pids() { pgrep -P "$SUPERVISOR" | sort -n; }

@test "workers: three instances in one mesh; a killed one comes back; SIGTERM stops all" {
	BASE=$(consecutive_ports 3)
	[[ -n $BASE ]]
	"$SIO_BIN/sio-serve" --port "$BASE" --workers 3 --drain-ms 100 \
		2>"$BATS_TEST_TMPDIR/serve.log" 3>&- &
	SUPERVISOR=$!
	track_pid "$SUPERVISOR"
	SERVE_LOG="$BATS_TEST_TMPDIR/serve.log"
	wait_for workers_seen 3
	for i in 0 1 2; do
		jq -se --arg url "ws://127.0.0.1:$((BASE + i))/socketiyo" 'any(.[]; .url == $url)' \
			"$BATS_TEST_TMPDIR/mon.json" >/dev/null
	done
	# A message crosses from worker 0 to worker 2: they are one mesh.
	SERVE_URL="ws://127.0.0.1:$((BASE + 2))/socketiyo" ws_bg sub "$(sub w)" recv:1
	wait_for bash -c "curl -s http://127.0.0.1:$((BASE + 2))/metrics | grep -q '^sio_subscriptions 1'"
	run -0 python3 "$WSRAW" "ws://127.0.0.1:$BASE/socketiyo" "$(pub w '"across"')" close
	wait_bg sub
	assert_equal "$(bg_out sub)" '{"channel":"w","data":"across"}'

	# A worker killed outright is started again, on its port.
	local victim
	victim=$(worker_pids | sed -n 2p)
	kill -9 "$victim"
	wait_log 'WORKER_EXIT worker=[0-9] pid='"$victim"' status=137'
	SIO_WAIT=15 wait_for bash -c "[[ \$(grep -c WORKER_STARTED '$SERVE_LOG') == 4 ]]"
	SIO_WAIT=15 wait_for workers_seen 3
	assert_equal "$(worker_pids | wc -l)" 3

	kill -TERM "$SUPERVISOR"
	wait_exit "$SUPERVISOR" 15
	assert_equal "$WAIT_RC" 0
	assert_equal "$(grep -c 'EXIT id=' "$SERVE_LOG")" 3
	log_has 'all workers ended, status 0'
}

@test "workers: settings each worker derives itself are refused, exit 78" {
	run -78 "$SIO_BIN/sio-serve" --workers 2 --id one --check-config
	assert_output --partial "--id: each worker has its own: leave it unset with workers > 1"
	printf 'bus: {\n  bind = "tcp://127.0.0.1:5555";\n};\nserve: {\n  workers = 4;\n};\n' \
		>"$BATS_TEST_TMPDIR/w.conf"
	run -78 "$SIO_BIN/sio-serve" --config "$BATS_TEST_TMPDIR/w.conf" --check-config
	assert_output --partial "w.conf:2: bus.bind: each worker has its own"
	run -78 "$SIO_BIN/sio-serve" --port 65534 --workers 3 --check-config
	assert_output --partial "--workers: the last worker's port would be above 65535"
}

@test "workers: a port in use at the start stops them all, exit 1 naming the port" {
	BASE=$(consecutive_ports 3)
	[[ -n $BASE ]]
	python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
print("bound", flush=True); time.sleep(60)' "$((BASE + 1))" >"$BATS_TEST_TMPDIR/holder" &
	track_pid $!
	wait_for grep -q bound "$BATS_TEST_TMPDIR/holder"
	run --separate-stderr timeout 20 "$SIO_BIN/sio-serve" --port "$BASE" -w 3 --drain-ms 100
	assert_failure 1
	assert_regex "$stderr" "unable to listen on 127\.0\.0\.1:$((BASE + 1)): Address already in use"
	assert_regex "$stderr" "error: WORKER_FAILED worker=1 pid=[0-9]+ port=$((BASE + 1)) status=1 why=\"it ended before listening: stopping the other workers\""
	[[ $stderr != *WORKER_EXIT* ]] || fail "restarted: $stderr"
	# Nothing of it is left serving.
	run curl -s --noproxy '*' --max-time 1 "http://127.0.0.1:$BASE/healthz"
	assert_failure
}

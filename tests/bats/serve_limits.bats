#!/usr/bin/env bats
# Load states and events (DESIGN.md §3) and the idle policy (§2), with
# small limits: max_clients 4, high_clients 3, low_enough 1.

load helpers

LIMITS=(--max-clients 4 --high-clients 3 --low-enough 1 --id lim1)

# hold N: opens connections c1..cN that stay until the test ends them.
hold() {
	local i
	for i in $(seq "$1" "$2"); do
		ws_bg "c$i" "$(ready)" sleep:120
	done
}

@test "HIGH_LOAD is logged when the count reaches high_clients, not before" {
	start_serve "${LIMITS[@]}"
	hold 1 2
	wait_metric sio_clients 2
	refute log_has 'HIGH_LOAD'
	hold 3 3
	wait_metric sio_clients 3
	wait_log ': HIGH_LOAD id=lim1 clients=3( |$)'
	assert_equal "$(log_count 'HIGH_LOAD')" 1
	assert_equal "$(metric 'sio_load_state{state="HIGH"}')" 1
	assert_equal "$(metric 'sio_events_total{event="HIGH_LOAD"}')" 1
	# HIGH still takes clients and says so.
	assert_equal "$(http_status /healthz)" 200
	hold 4 4
	wait_metric sio_clients 4
	assert_equal "$(log_count 'HIGH_LOAD')" 1
	refute log_has 'OVER_LOAD'
}

@test "a connection beyond max_clients is closed with 1013; OVER_LOAD once, refusals counted" {
	start_serve "${LIMITS[@]}"
	hold 1 4
	wait_metric sio_clients 4
	assert_equal "$(http_status /healthz)" 200
	refute log_has 'OVER_LOAD'

	run -0 ws expect-close
	assert_output --regexp '^CLOSE 1013 .*full'
	wait_log ': OVER_LOAD id=lim1 clients=4( |$)'
	run -0 ws expect-close
	assert_output --regexp '^CLOSE 1013 .*full'
	run -0 ws "$(ready)" expect-close
	assert_output --regexp '^CLOSE 1013 .*full'

	wait_metric 'sio_connections_total{result="refused"}' 3
	assert_equal "$(metric 'sio_connections_total{result="accepted"}')" 4
	assert_equal "$(log_count 'OVER_LOAD')" 1
	assert_equal "$(metric 'sio_events_total{event="OVER_LOAD"}')" 1
	assert_equal "$(metric 'sio_load_state{state="OVER"}')" 1
	assert_equal "$(metric sio_clients)" 4
	assert_equal "$(metric sio_ready_clients)" 4
	assert_equal "$(http_status /healthz)" 503
	# The refused ones took nothing from those in place.
	run -0 ws "$(sub c)" expect-close
	assert_output --regexp '^CLOSE 1013 '
	assert_equal "$(metric sio_subscriptions)" 0
}

@test "AVAILABLE is logged when the count falls to low_enough, not before" {
	start_serve "${LIMITS[@]}"
	hold 1 4
	wait_metric sio_clients 4
	run -0 ws expect-close
	assert_output --regexp '^CLOSE 1013 '
	wait_log ': OVER_LOAD id=lim1 '
	assert_equal "$(http_status /healthz)" 503

	stop_bg c4
	wait_metric sio_clients 3
	stop_bg c3
	wait_metric sio_clients 2
	refute log_has 'AVAILABLE'
	stop_bg c2
	wait_metric sio_clients 1
	wait_log ': AVAILABLE id=lim1 clients=1( |$)'
	assert_equal "$(log_count 'AVAILABLE')" 1
	assert_equal "$(metric 'sio_load_state{state="NORMAL"}')" 1
	assert_equal "$(http_status /healthz)" 200
	stop_bg c1
	wait_metric sio_clients 0
	assert_equal "$(log_count 'AVAILABLE')" 1
}

@test "the events come again with the next episode, once each" {
	start_serve "${LIMITS[@]}"
	hold 1 3
	wait_metric sio_clients 3
	wait_log ': HIGH_LOAD id=lim1 clients=3( |$)'
	stop_bg c3
	stop_bg c2
	wait_metric sio_clients 1
	wait_log ': AVAILABLE id=lim1 clients=1( |$)'
	hold 4 5
	wait_metric sio_clients 3
	wait_for metric_is 'sio_events_total{event="HIGH_LOAD"}' 2
	assert_equal "$(log_count ': HIGH_LOAD id=lim1 clients=3( |$)')" 2
	assert_equal "$(log_count 'AVAILABLE')" 1
	refute log_has 'OVER_LOAD'
}

@test "each event line names the event, the instance id and the count" {
	start_serve --max-clients 2 --high-clients 2 --low-enough 0 --id 'node-7'
	hold 1 2
	wait_metric sio_clients 2
	run -0 ws expect-close
	stop_bg c1
	stop_bg c2
	wait_metric sio_clients 0
	wait_log 'AVAILABLE'
	local ev line
	for ev in HIGH_LOAD OVER_LOAD AVAILABLE; do
		line=$(grep -E ": $ev " "$SERVE_LOG")
		assert_regex "$line" "^sio-serve: [a-z]+: $ev id=node-7 clients=[0-9]+( |$)"
	done
	assert_regex "$(grep ': HIGH_LOAD ' "$SERVE_LOG")" ' clients=2( |$)'
	assert_regex "$(grep ': OVER_LOAD ' "$SERVE_LOG")" ' clients=2( |$)'
	assert_regex "$(grep ': AVAILABLE ' "$SERVE_LOG")" ' clients=0( |$)'
}

@test "the events are JSON lines with --log-format json" {
	start_serve --max-clients 1 --high-clients 1 --low-enough 0 --id j1 --log-format json
	hold 1 1
	wait_metric sio_clients 1
	wait_log '"event":"HIGH_LOAD"'
	run -0 python3 -c '
import json, sys
for line in open(sys.argv[1]):
    ev = json.loads(line)
    if ev.get("event") == "HIGH_LOAD":
        print(ev["id"], ev["clients"])' "$SERVE_LOG"
	assert_output 'j1 1'
}

@test "idle policy: a client that answers no ping is disconnected, one that answers stays" {
	start_serve --ping-interval 1 --idle-timeout 2
	ws_bg silent --no-pong --print-pings sleep:60
	# Sleeps well past the idle timeout, answering pings, then still works.
	ws_bg alive --print-pings sleep:5 "$(sub c)" "$(pub c '"alive"')" recv:1 close
	SIO_WAIT=30 wait_bg silent
	assert_equal "$WAIT_RC" 0
	run bg_out silent
	assert_line -n 0 PING
	assert_line --regexp '^(EOF|CLOSE [0-9]+)'
	SIO_WAIT=30 wait_bg alive
	assert_equal "$WAIT_RC" 0
	run bg_out alive
	assert_line -n 0 PING
	assert_line '{"channel":"c","data":"alive"}'
	assert_line 'CLOSE 1000 '
	refute_line EOF
}

@test "with a peer on the mesh that has room, the 1013 reason names its URL" {
	start_serve --id roomy
	local roomy_url=$SERVE_URL roomy_bus
	roomy_bus=$(sed -nE 's/.* BUS id=roomy bus=([^ ]+) .*/\1/p' "$SERVE_LOG")
	[[ -n $roomy_bus ]]
	start_serve --id full --max-clients 1 --high-clients 1 --low-enough 0 --bus-peer "$roomy_bus"
	wait_metric sio_peers_alive 1
	hold 1 1
	wait_metric sio_clients 1
	run -0 ws expect-close
	assert_output "CLOSE 1013 instance full, try $roomy_url"
}

@test "behind a load balancer (--public-url), the 1013 reason names the balancer, not a peer" {
	start_serve --id roomy
	local roomy_bus
	roomy_bus=$(sed -nE 's/.* BUS id=roomy bus=([^ ]+) .*/\1/p' "$SERVE_LOG")
	[[ -n $roomy_bus ]]
	start_serve --id full --max-clients 1 --high-clients 1 --low-enough 0 --bus-peer "$roomy_bus" \
		--public-url wss://chat.example.com/socketiyo
	wait_metric sio_peers_alive 1
	[[ $(http_get /accepting) == accepting ]]
	hold 1 1
	wait_metric sio_clients 1
	run -0 ws expect-close
	assert_output "CLOSE 1013 instance full, try wss://chat.example.com/socketiyo"
	# Full, and another instance has room: the balancer's health check
	# says no new clients, /healthz still says alive.
	[[ $(http_get /accepting) == high-load ]] || [[ $(http_get /accepting) == over-loaded ]]
	[[ $(http_status /accepting) == 503 ]]
}

@test "an idle connection costs the instance under 1.5 KiB: lws keeps nothing of it" {
	# Without held CONNECT events (--app-hold 0): what is left is the
	# connection's own (sio(7) MEMORY PER CONNECTION).
	local limit=1536
	if [[ -n ${ASAN_OPTIONS:-} ]]; then
		# make asan: freed memory would wait in ASan's quarantine (lws
		# frees its part of each connection after the handshake), and
		# every allocation has red zones: no quarantine, twice the bound.
		export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=0"
		limit=$((limit * 2))
	fi
	start_serve --app-hold 0
	run -0 --separate-stderr "$SIO_BIN/sio-bench" hold -u "$SERVE_URL" -n 2000 -d 1 -C 100 \
		--server-pid "$SERVE_PID" --json
	local per
	per=$(python3 -c 'import json, sys; o = json.loads(sys.argv[1])
assert o["established"] == 2000, o
print(int(o["server_rss_per_conn"]))' "$output") || fail "bad JSON: $output"
	echo "# $per bytes a connection" >&3
	((per <= limit)) || fail "$per bytes a connection"
	# Still served after the handshake: a ping gets its pong.
	run -0 ws "$(rawframe 89 "$(hexof x)")" "pong:$(hexof x)" close
}

# sockets_from FD_MIN FD_END: the server's sockets numbered in [MIN, END).
sockets_from() {
	find /proc/"$SERVE_PID"/fd -lname 'socket:*' -printf '%f\n' |
		awk -v lo="$1" -v hi="$2" '$1 >= lo && $1 < hi { n++ } END { print n + 0 }'
}

@test "connections past lws's table of descriptors are served, moved above it and, when full there, below" {
	# lws's table ends at 4,096 descriptors (lib/net/server.c lws_table);
	# under a hard limit of 9,000 there are 4,904 numbers above it, so
	# that of 6,000 connections some stay below.
	ulimit -n 9000
	start_serve --app-hold 0
	"$SIO_BIN/sio-bench" hold -u "$SERVE_URL" -n 6000 -d 30 -C 200 --json \
		>"$BATS_TEST_TMPDIR/hold.out" 2>&1 3>&- &
	local hold=$!
	track_pid "$hold"
	wait_metric sio_clients 6000
	local high low
	high=$(sockets_from 4096 9000)
	low=$(sockets_from 0 4096)
	echo "# $high sockets above lws's table, $low below" >&3
	((high >= 4800)) || fail "$high sockets above 4,096"
	((low >= 1000)) || fail "$low sockets below 4,096"
	# A new handshake still goes through lws, and is served after it.
	run -0 ws "$(rawframe 89 "$(hexof x)")" "pong:$(hexof x)" close
	# Every connection served: a fan-out to 6,000 loses nothing.
	stop_pid "$hold"
	run -0 --separate-stderr "$SIO_BIN/sio-bench" fanout -u "$SERVE_URL" -n 6000 -d 2 -C 200 --json
	python3 -c 'import json, sys; o = json.loads(sys.argv[1])
assert o["established"] == 6000 and o["lost"] == 0 and o["delivered"] > 0, o' "$output" ||
		fail "$output"
}

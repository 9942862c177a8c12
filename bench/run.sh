#!/usr/bin/env bash
# bench/run.sh: the suite of make bench. It measures sio-serve with sio-bench
# and, in the same run and the same way, the reference: a minimal socketiyo
# relay on the Node.js ws package (bench/reference/relay.js). Then it prints
# one table, both side by side with their ratio, and saves every figure.
#
# The limit, in the same run: bench/bare.c (build/bench/bare), a bare epoll
# WebSocket fan-out server with batched writes and nothing else, runs the
# hold, connect, fanout and rate points after the reference.
#
# The points (each against a fresh server, sio-serve first, then the
# reference, so that a machine that drifts weighs on both alike; defaults in
# brackets, every one an environment variable):
#
#   hold         HOLD_N [19500] idle connections held HOLD_S [25] seconds, the
#                server pinging them every PING [20] seconds (both servers):
#                resident memory per connection, and the server's CPU while
#                they idle (one round of pings included).
#   connect      CONNECT_N [10000] connections as fast as they open:
#                handshakes per second, and the server's CPU per connection.
#   fanout       FANOUT_N [10000] subscribers on one channel, one publisher
#                as fast as a window of FANOUT_WINDOW [8] messages allows,
#                SIZE [128] byte messages, for FANOUT_S [10] seconds:
#                delivered frames per second, the server's CPU time per
#                delivered frame (/proc/PID/stat), latency.
#   rate         RATE_N [1] subscribers, RATE [10000] messages per second for
#                RATE_S [10] seconds: the latency of one instance, against
#                which relay's is compared.
#   relay        the same between two sio-serve instances in a mesh (the
#                publisher on A, the subscribers on B): p99 added latency.
#   relay-fanout FANOUT_N subscribers on B, saturated: frames per second
#                against one instance's.
#   hop-connect, hop-fanout   the connect and fanout points through HAProxy
#                (etc/haproxy.cfg, its slots driven by sio-announce
#                --haproxy) in front of one instance, beside the same
#                points straight to an instance: the cost of the extra hop
#                of one public URL. HAProxy runs on SERVER_CPU with the
#                instance, and its CPU counts with the server's. Skipped
#                when haproxy is not installed.
#
# Recovery and rebalancing (sio(7) RECOVERY, REBALANCING), sio-serve alone:
#
#   history      fanout as above, once with the channel history on (its
#                defaults) and once with --history-messages 0: the cost of
#                history on fan-out, as a ratio.
#   history-mem  HIST_N [20000] messages of SIZE bytes kept in one channel's
#                history (one subscriber, HIST_RATE [20000] a second): the
#                server's resident memory per retained message, over its
#                payload size, against the same run with no history.
#   rebalance    REB_N [100] clients of the browser module (under Node.js,
#                tests/hosts/clients.mjs) on one of four instances with
#                --rebalance (--rebalance-rate REB_RATE [10] %/s, period 1 s):
#                the time until each holds within 10 % of the average, and
#                the reconnects per second that caused.
#
# Two more, not in the default suite (about 3 minutes together: POINTS="app-rtt
# app-events"), measure a socketiyo application on the mesh: echo (a message
# on "echo" back to its sender, socketiyo's send) and shout
# (sendAllExceptOne). Their anchor is the same application in one process,
# on ws (bench/reference/app.js); on the mesh it is a backend, each of the
# three ways in: the C library (bench/appbackend.c, "c"), the pipe program
# sio-backend ("pipe") and the Node module node/sio-socketiyo
# (bench/app-node.mjs, "node"). Instances run with --no-relay: a client's
# message reaches the application only, as in socketiyo.
#
#   app-rtt      APP_N [100] clients on instance B subscribed to "echo" send
#                on it, APP_RATES ["1000 10000"] messages per second in all,
#                APP_S [10] seconds each (sio-bench app-rtt); the answer
#                comes back to the sender through a backend attached through
#                instance A: round trip p50 and p99, against the anchor's.
#                Ways APP_WAYS ["c pipe node"]; pipe is sio-backend --exec
#                running appbackend pipe. The backend runs on SERVER_CPU
#                with the instances.
#   app-events   FLOOD_N [20] clients send as fast as one instance reads them
#                for FLOOD_S [5] seconds (sio-bench app-flood), on a channel
#                the application only counts: the MESSAGE events one backend
#                takes per second, from the first to the last, through each
#                way (pipe: sio-backend's output read by appbackend count);
#                the anchor's figure is the messages app.js takes. The
#                instance and sio-bench share SERVER_CPU; the backend (or
#                app.js, instance and application in one) has CLIENT_CPU to
#                itself. The instance's own count
#                of events dropped because the backend's queue was full says
#                whether the backend or the instance set the pace.
#
# The last point of the default suite (about 8 minutes alone: POINTS=sweep
# SWEEP_S=3 for a quick look) measures overload
# across the mesh against Socket.IO with its Redis adapter, the usual way to
# run Socket.IO on more than one server:
#
#   sweep        the publisher on instance A, SWEEP_N ["100 1000"]
#                subscribers on B, at each of SWEEP_RATES ["400 1000 2000
#                5000 10000 20000 50000"] messages a second (open loop) for
#                SWEEP_S [10] seconds: delivered frames a second, frames
#                lost, latency p50 and p99, subscribers closed. The same
#                against two Socket.IO 4.8 nodes (bench/reference/socketio.js)
#                sharing one Debian redis-server, measured by
#                bench/reference/socketio-bench.js (sio-bench speaks
#                socketiyo, not Socket.IO). Both instances, or both nodes and
#                Redis, run on SERVER_CPU. Its table is printed apart
#                (bench/sweep-report.js). SWEEP_TARGETS ["sio socketio"]
#                runs one side only. The table says how busy the instances
#                and sio-bench were: on two cores, the instances' core is
#                the limit past some 10 M frames a second. SWEEP_B_CPU=30
#                gives B alone 30 % of a core through a CPU cgroup (v2
#                cpu.max or v1 CFS quota, as tests/bats/overload.bats), so
#                that the instance saturates first, and shows what it
#                delivers past its own capacity (sio only: use it with
#                SWEEP_TARGETS=sio).
#
# Servers run on CPU SERVER_CPU [0] (both instances of relay), sio-bench on
# CPU CLIENT_CPU [1], when taskset is there and the machine has two CPUs or
# more. Each point is run REPEAT [1] times and the run with the median figure
# is kept. Other work on the machine skews every figure: run it quiet. Figures
# go to bench/results/bench-DATE.json (and .txt for the table, .jsonl for
# sio-bench's lines), which git ignores.
#
#   bench/run.sh                     the default suite (about 10 minutes)
#   POINTS="app-rtt app-events" bench/run.sh    a socketiyo application
#   REPEAT=3 bench/run.sh            median of 3
#   HOLD_N=5000 HOLD_S=5 FANOUT_N=1000 bench/run.sh    a quick look
#   POINTS="fanout" bench/run.sh     some points only
#
# Needs bin/ built (make), node, and bench/reference/node_modules (npm
# install --prefix bench/reference; make bench does both), and for the app
# points build/bench/appbackend (make bench builds it).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/helpers/cpucap.bash
source "$ROOT/tests/helpers/cpucap.bash"
BIN=${SIO_BIN:-$ROOT/bin}
RESULTS=${RESULTS:-$ROOT/bench/results}
REFERENCE=$ROOT/bench/reference

HOLD_N=${HOLD_N:-19500}
HOLD_S=${HOLD_S:-25}
CONNECT_N=${CONNECT_N:-10000}
FANOUT_N=${FANOUT_N:-10000}
FANOUT_S=${FANOUT_S:-10}
FANOUT_WINDOW=${FANOUT_WINDOW:-8}
SIZE=${SIZE:-128}
RATE_N=${RATE_N:-1}
RATE=${RATE:-10000}
RATE_S=${RATE_S:-10}
REPEAT=${REPEAT:-1}
POINTS=${POINTS:-hold connect fanout rate relay relay-fanout hop-connect hop-fanout history history-mem rebalance sweep}
HIST_N=${HIST_N:-20000}
HIST_RATE=${HIST_RATE:-20000}
REB_N=${REB_N:-100}
REB_RATE=${REB_RATE:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PING=${PING:-20}
APP_N=${APP_N:-100}
APP_RATES=${APP_RATES:-1000 10000}
APP_S=${APP_S:-10}
APP_WAYS=${APP_WAYS:-c pipe node}
FLOOD_N=${FLOOD_N:-20}
FLOOD_S=${FLOOD_S:-5}
APPBACKEND=${APPBACKEND:-$ROOT/build/bench/appbackend}
BARE=${BARE:-$ROOT/build/bench/bare}
# HAProxy holds two descriptors per connection (client and instance).
HOP_MAX=$(ulimit -Hn)
[[ $HOP_MAX == unlimited ]] && HOP_MAX=2000000
HOP_MAX=$((HOP_MAX / 2 - 500))
SWEEP_N=${SWEEP_N:-100 1000}
SWEEP_RATES=${SWEEP_RATES:-400 1000 2000 5000 10000 20000 50000}
SWEEP_S=${SWEEP_S:-10}
SWEEP_TARGETS=${SWEEP_TARGETS:-sio socketio}
export SWEEP_B_CPU=${SWEEP_B_CPU:-}

die() { echo "bench: $*" >&2; exit 1; }
want() { [[ " $POINTS " == *" $1 "* ]]; }

[[ -x $BIN/sio-serve && -x $BIN/sio-bench ]] || die "no $BIN/sio-serve or $BIN/sio-bench: run make first"
command -v node >/dev/null || die "node is not installed (make bench installs it)"
[[ -d $REFERENCE/node_modules/ws ]] ||
	die "the ws package is missing: npm install --prefix bench/reference"

if want sweep; then
	command -v redis-server >/dev/null || die "redis-server is not installed (make bench installs it)"
	[[ -d $REFERENCE/node_modules/socket.io && -d $REFERENCE/node_modules/@socket.io/redis-adapter ]] ||
		die "socket.io is missing: npm install --prefix bench/reference"
fi

if [[ " $POINTS " == *" app-"* ]]; then
	[[ -x $APPBACKEND ]] || die "no $APPBACKEND: make build/bench/appbackend (make bench builds it)"
fi

PIN_SERVER=() PIN_CLIENT=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
	PIN_SERVER=(taskset -c "$SERVER_CPU")
	PIN_CLIENT=(taskset -c "$CLIENT_CPU")
fi
PIN_BENCH=("${PIN_CLIENT[@]}")

mkdir -p "$RESULTS"
STAMP=$(date +%Y%m%d-%H%M%S)
LINES=$RESULTS/bench-$STAMP.jsonl
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sio-bench.XXXXXX")
: >"$LINES"

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$WORK"
	# Empty once their processes are gone.
	for p in "${CAP_DIRS[@]}"; do
		rmdir "$p" 2>/dev/null || true
	done
}
CAP_DIRS=()
trap cleanup EXIT
trap 'exit 130' INT TERM

# A TCP port nobody listens on, from 20000 up, not handed out before.
NEXT_PORT=20000
free_port() {
	while :; do
		NEXT_PORT=$((NEXT_PORT + 1))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$NEXT_PORT") 2>/dev/null &&
			! (exec 3<>"/dev/tcp/127.0.0.1/$((NEXT_PORT + 10000))") 2>/dev/null; then
			PORT=$NEXT_PORT
			return
		fi
	done
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT PID: until PORT accepts connections (10 s at most).
wait_port() {
	local i
	for ((i = 0; i < 200; i++)); do
		listening "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# start_sio [ARGS...]: sets SERVER_PID, SERVER_URL, BUS (its bus endpoint).
start_sio() {
	free_port
	BUS=tcp://127.0.0.1:$((PORT + 10000))
	"${PIN_SERVER[@]}" "$BIN/sio-serve" --port "$PORT" --bus-bind "$BUS" --log-level warning \
		--drain-ms 100 --ping-interval "$PING" --idle-timeout $((PING * 2)) "$@" \
		>"$WORK/serve-$PORT.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	SERVER_URL=ws://127.0.0.1:$PORT/socketiyo
	wait_port "$PORT" "$SERVER_PID" || { cat "$WORK/serve-$PORT.log" >&2; die "sio-serve did not start"; }
}

start_node() {
	free_port
	"${PIN_SERVER[@]}" node "$REFERENCE/relay.js" --port "$PORT" --ping-interval "$PING" \
		>"$WORK/node-$PORT.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	SERVER_URL=ws://127.0.0.1:$PORT/socketiyo
	wait_port "$PORT" "$SERVER_PID" || { cat "$WORK/node-$PORT.log" >&2; die "the reference did not start"; }
}

# start_bare: the limit, bench/bare.c, like start_node.
start_bare() {
	free_port
	"${PIN_SERVER[@]}" "$BARE" --port "$PORT" >"$WORK/bare-$PORT.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	SERVER_URL=ws://127.0.0.1:$PORT/socketiyo
	wait_port "$PORT" "$SERVER_PID" || { cat "$WORK/bare-$PORT.log" >&2; die "bare did not start"; }
}

# start TARGET: sio-serve, the node reference or the bare limit.
start_target() {
	case $1 in
	sio) start_sio ;;
	node) start_node ;;
	bare) start_bare ;;
	esac
}

# start_haproxy: HAProxy from etc/haproxy.cfg in front of the instance of
# start_sio (BUS), its slot set by sio-announce; sets LB_URL and LB_PID once
# a request through it reaches the instance.
start_haproxy() {
	local i
	free_port
	local lb_port=$PORT
	sed -e "s|^\tbind :80$|\tbind 127.0.0.1:$lb_port|" \
		-e "s|/run/haproxy/sio.sock|$WORK/haproxy.sock|" \
		-e "s|maxconn 50000|maxconn $HOP_MAX|" \
		"$ROOT/etc/haproxy.cfg" >"$WORK/haproxy.cfg"
	"${PIN_SERVER[@]}" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
	LB_PID=$!
	PIDS+=("$LB_PID")
	"${PIN_SERVER[@]}" "$BIN/sio-announce" --bus-peer "$BUS" --quiet --log-level warning \
		--haproxy "$WORK/haproxy.sock" >"$WORK/announce.log" 2>&1 &
	PIDS+=("$!")
	LB_URL=ws://127.0.0.1:$lb_port/socketiyo
	# The instance answers a plain GET on its path with 426; HAProxy with
	# 503 while it has no server.
	for ((i = 0; i < 200; i++)); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
			"http://127.0.0.1:$lb_port/socketiyo" 2>/dev/null) == 426 ]] && return 0
		sleep 0.05
	done
	cat "$WORK/haproxy.log" "$WORK/announce.log" >&2
	die "haproxy did not take the instance"
}

stop_servers() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}

# bench TARGET POINT SIO-BENCH-ARGS...: one run, its JSON line kept.
bench() {
	local target=$1 point=$2 line rc=0
	shift 2
	printf 'bench: %-6s %-13s ' "$target" "$point" >&2
	line=$("${PIN_BENCH[@]}" "$BIN/sio-bench" --json --quiet "$@" 2>"$WORK/err") || rc=$?
	if [[ -z $line ]]; then
		echo "failed" >&2
		sed 's/^/  /' "$WORK/err" >&2
		line='{"completed":false,"error":"no output"}'
	else
		echo "done${rc:+ (exit $rc)}" | sed 's/ (exit 0)//' >&2
	fi
	printf '{"target":"%s","point":"%s","result":%s}\n' "$target" "$point" "$line" >>"$LINES"
}


# --- the app points ---------------------------------------------------------

# start_app [CPU]: the anchor, app.js, like start_node (on CPU, or
# SERVER_CPU); its count goes to $WORK/stats-PORT.json at SIGTERM (APP_STATS).
start_app() {
	local pin=()
	if ((${#PIN_SERVER[@]})); then pin=(taskset -c "${1:-$SERVER_CPU}"); fi
	free_port
	APP_STATS=$WORK/stats-$PORT.json
	"${pin[@]}" node "$REFERENCE/app.js" --port "$PORT" --ping-interval "$PING" \
		--stats "$APP_STATS" >"$WORK/app-$PORT.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	SERVER_URL=ws://127.0.0.1:$PORT/socketiyo
	wait_port "$PORT" "$SERVER_PID" || { cat "$WORK/app-$PORT.log" >&2; die "app.js did not start"; }
}

# start_backend WAY BUS CPU: the application as a backend, attached to the
# mesh through BUS, pinned to CPU; sets BACKEND_PID and APP_STATS. WAY is c,
# pipe (sio-backend --exec appbackend pipe), count (sio-backend's output to
# appbackend count) or node. Returns once it is attached to every instance.
start_backend() {
	local way=$1 bus=$2 pin=() i
	if ((${#PIN_SERVER[@]})); then pin=(taskset -c "$3"); fi
	APP_STATS=$WORK/stats-$way-$RANDOM.json
	local log=$WORK/backend-$way.log
	: >"$log"
	case $way in
	c) "${pin[@]}" "$APPBACKEND" mesh --bus-peer "$bus" --stats "$APP_STATS" 2>>"$log" & ;;
	pipe)
		"${pin[@]}" "$BIN/sio-backend" --bus-peer "$bus" \
			--exec "$APPBACKEND pipe --stats $APP_STATS" 2>>"$log" &
		;;
	count)
		# Standard input stays open (a FIFO it holds both ends of): its
		# end would end sio-backend.
		[[ -p $WORK/hold ]] || mkfifo "$WORK/hold"
		"${pin[@]}" "$BIN/sio-backend" --bus-peer "$bus" 0<>"$WORK/hold" 2>>"$log" \
			> >("${pin[@]}" "$APPBACKEND" count --stats "$APP_STATS" 2>>"$log") &
		;;
	node)
		"${pin[@]}" node "$ROOT/bench/app-node.mjs" --bus-peer "$bus" \
			--sio-backend "$BIN/sio-backend" --stats "$APP_STATS" 2>>"$log" &
		;;
	esac
	BACKEND_PID=$!
	PIDS+=("$BACKEND_PID")
	for ((i = 0; i < 200; i++)); do
		grep -q '^READY' "$log" && break
		kill -0 "$BACKEND_PID" 2>/dev/null || break
		sleep 0.05
	done
	grep -q '^READY' "$log" || { cat "$log" >&2; die "the $way backend did not attach"; }
	# READY says one instance heard it; the others do within a heartbeat.
	sleep 0.6
}

# stop_counting PID: SIGTERM, then until APP_STATS is written (5 s at most).
stop_counting() {
	local i
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		[[ -s $APP_STATS ]] && return
		sleep 0.05
	done
}

# metric PORT NAME: the value of a /metrics line of the instance on PORT that
# begins with NAME (labels included), or null.
metric() {
	local v
	v=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" &&
		printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && cat <&3) 2>/dev/null |
		awk -v n="$2" 'index($0, n " ") == 1 { print $2; exit }')
	echo "${v:-null}"
}

# keep_count TARGET POINT PORT: one app-events run, its lines joined: the
# backend's count (or app.js's), sio-bench's flood, the instance's counters.
keep_count() {
	local target=$1 point=$2 port=$3 flood stats ok=false error="" full=null messages=null
	flood=$(tail -n 1 "$LINES")
	sed -i '$ d' "$LINES"
	stats=$(cat "$APP_STATS" 2>/dev/null || true)
	if [[ -n $stats ]]; then ok=true; else error='"error":"no count from the application",'; fi
	if [[ -n $port ]]; then
		full=$(metric "$port" 'sio_app_events_dropped_total{reason="full"}')
		messages=$(metric "$port" 'sio_app_events_total{event="MESSAGE"}')
	fi
	printf '{"target":"%s","point":"%s","result":{"completed":%s,%s"backend":%s,"dropped_full":%s,"instance_messages":%s,"flood":%s}}\n' \
		"$target" "$point" "$ok" "$error" "${stats:-null}" "$full" "$messages" \
		"$(jsonify "$flood")" >>"$LINES"
}

# The result of a line bench() kept (null when there is none).
jsonify() { local r=${1#*\"result\":}; echo "${r%\}}"; }

run_app_rtt() {
	local rate way
	for rate in $APP_RATES; do
		start_app
		bench node "app-rtt-$rate" app-rtt -u "$SERVER_URL" -n "$APP_N" -d "$APP_S" -s "$SIZE" \
			-r "$rate" --server-pid "$SERVER_PID"
		stop_servers
		for way in $APP_WAYS; do
			start_sio --no-relay
			local a_pid=$SERVER_PID a_bus=$BUS
			start_sio --no-relay --bus-peer "$a_bus"
			start_backend "$way" "$a_bus" "$SERVER_CPU"
			bench sio "app-rtt-$rate-$way" app-rtt -u "$SERVER_URL" -n "$APP_N" -d "$APP_S" \
				-s "$SIZE" -r "$rate" --server-pid "$a_pid" --server-pid "$SERVER_PID"
			stop_servers
		done
	done
}

run_app_events() {
	local way pid
	# The flood and the instance share one CPU, the application has the
	# other: what is measured is what one application process takes.
	PIN_BENCH=("${PIN_SERVER[@]}")
	start_app "$CLIENT_CPU"
	pid=$SERVER_PID
	bench node app-events app-flood -u "$SERVER_URL" -n "$FLOOD_N" -d "$FLOOD_S" -s "$SIZE"
	stop_counting "$pid"
	keep_count node app-events ""
	stop_servers
	for way in $APP_WAYS; do
		[[ $way == pipe ]] && way=count
		start_sio --no-relay
		local port=${SERVER_URL#ws://127.0.0.1:}
		port=${port%%/*}
		start_backend "$way" "$BUS" "$CLIENT_CPU"
		bench sio "app-events-$way" app-flood -u "$SERVER_URL" -n "$FLOOD_N" -d "$FLOOD_S" \
			-s "$SIZE" --server-pid "$SERVER_PID"
		# The backend's queue drains before it stops: events it takes late
		# are events it takes.
		sleep 1
		stop_counting "$BACKEND_PID"
		keep_count sio "app-events-${way/count/pipe}" "$port"
		stop_servers
	done
	PIN_BENCH=("${PIN_CLIENT[@]}")
}

# --- recovery and rebalancing -------------------------------------------------

# A sample of an instance's /metrics on PORT.
sample() {
	curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$1/metrics" |
		awk -v n="$2" '$1 == n { print $2 }'
}

rss_of() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }

run_history() {
	local label
	for label in history-on history-off; do
		if [[ $label == history-on ]]; then start_sio; else start_sio --history-messages 0; fi
		bench sio "$label" fanout -u "$SERVER_URL" -n "$FANOUT_N" -d "$FANOUT_S" \
			-s "$SIZE" --window "$FANOUT_WINDOW" -C 200 --server-pid "$SERVER_PID"
		stop_servers
	done
}

# Memory: the same publishing with a history holding all of it, and with none.
run_history_mem() {
	local hist kept before d=$(((HIST_N + HIST_RATE - 1) / HIST_RATE))
	local -A r k
	# Each run's growth, so that what a start costs cancels out.
	for hist in $HIST_N 0; do
		start_sio --history-messages "$hist" --history-bytes 1G --history-age 3600
		before=$(rss_of "$SERVER_PID")
		"${PIN_BENCH[@]}" "$BIN/sio-bench" --json --quiet fanout -u "$SERVER_URL" -n 1 -d "$d" \
			-s "$SIZE" -r "$HIST_RATE" >"$WORK/hist.json" 2>"$WORK/err" || true
		r[$hist]=$(($(rss_of "$SERVER_PID") - before))
		k[$hist]=$(sample "$PORT" sio_history_messages)
		stop_servers
	done
	kept=${k[$HIST_N]:-0}
	printf 'bench: %-6s %-13s done\n' sio history-mem >&2
	if ((kept > 0)); then
		printf '{"target":"sio","point":"history-mem","result":{"completed":true,"retained":%d,"size":%d,"rss_growth_with":%d,"rss_growth_without":%d,"per_message":%s}}\n' \
			"$kept" "$SIZE" "${r[$HIST_N]}" "${r[0]}" \
			"$(((${r[$HIST_N]} - ${r[0]}) / kept))" >>"$LINES"
	else
		printf '{"target":"sio","point":"history-mem","result":{"completed":false,"error":"nothing retained"}}\n' >>"$LINES"
	fi
}

# within_10pct PORT...: each instance's count within 10 % of their average.
within_10pct() {
	local p total=0 n=0
	local -A c
	for p in "$@"; do
		c[$p]=$(sample "$p" sio_clients)
		total=$((total + ${c[$p]:-0}))
		n=$((n + 1))
	done
	((total >= REB_N)) || return 1
	for p in "$@"; do
		((c[$p] * n * 10 >= total * 9 && c[$p] * n * 10 <= total * 11)) || return 1
	done
}

run_rebalance() {
	local -a ports=() args=(--rebalance --rebalance-rate "$REB_RATE" --rebalance-period 1)
	local first_bus i t0 t1 moved=0 ms
	start_sio "${args[@]}"
	ports+=("$PORT")
	first_bus=$BUS
	local first_url=$SERVER_URL
	for i in 2 3 4; do
		start_sio "${args[@]}" --bus-peer "$first_bus"
		ports+=("$PORT")
	done
	for ((i = 0; i < 100; i++)); do
		[[ $(sample "${ports[0]}" sio_peers_alive) == 3 ]] && break
		sleep 0.1
	done
	cp "$ROOT/web/sio-client.js" "$WORK/sio-client.mjs"
	"${PIN_CLIENT[@]}" node --experimental-websocket --no-warnings "$ROOT/tests/hosts/clients.mjs" \
		--module "$WORK/sio-client.mjs" --url "$first_url" --count "$REB_N" --delay 300 \
		>"$WORK/reb.out" 2>&1 &
	PIDS+=("$!")
	for ((i = 0; i < 300; i++)); do
		[[ $(sample "${ports[0]}" sio_clients) == "$REB_N" ]] && break
		sleep 0.1
	done
	t0=$(date +%s%N)
	printf 'bench: %-6s %-13s ' sio rebalance >&2
	for ((i = 0; i < 1200; i++)); do
		within_10pct "${ports[@]}" && break
		sleep 0.1
	done
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	moved=$(sample "${ports[0]}" sio_rebalance_moved_total)
	local counts="" p
	for p in "${ports[@]}"; do
		counts+="${counts:+,}$(sample "$p" sio_clients)"
	done
	if within_10pct "${ports[@]}"; then
		echo done >&2
		printf '{"target":"sio","point":"rebalance","result":{"completed":true,"clients":%d,"rate_pct":%d,"ms":%d,"moved":%d,"reconnects_per_s":%s,"counts":[%s]}}\n' \
			"$REB_N" "$REB_RATE" "$ms" "${moved:-0}" \
			"$(awk -v m="${moved:-0}" -v t="$ms" 'BEGIN { printf "%.2f", (t > 0 ? m * 1000 / t : 0) }')" \
			"$counts" >>"$LINES"
	else
		echo failed >&2
		printf '{"target":"sio","point":"rebalance","result":{"completed":false,"error":"not within 10 %% after 2 minutes: %s"}}\n' \
			"$counts" >>"$LINES"
	fi
	stop_servers
}

# --- the sweep ---------------------------------------------------------------

# start_socketio REDIS_PORT: one Socket.IO node on the Redis at REDIS_PORT.
start_socketio() {
	free_port
	"${PIN_SERVER[@]}" node "$REFERENCE/socketio.js" --port "$PORT" \
		--redis "redis://127.0.0.1:$1" >"$WORK/socketio-$PORT.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	SERVER_URL=http://127.0.0.1:$PORT
	wait_port "$PORT" "$SERVER_PID" || { cat "$WORK/socketio-$PORT.log" >&2; die "Socket.IO did not start"; }
}

# cap_cpu PERCENT PID: the process gets PERCENT of one core (a CPU cgroup).
cap_cpu() {
	local rc=0
	sio_cpucap "sio-bench-$$-$2" "$1" "$2" || rc=$?
	[[ -z $CPUCAP_DIR ]] || CAP_DIRS+=("$CPUCAP_DIR")
	return "$rc"
}

# sweep_sio N RATE: one point of the sweep against two sio-serve instances.
sweep_sio() {
	start_sio
	local a_url=$SERVER_URL a_pid=$SERVER_PID a_bus=$BUS
	start_sio --bus-peer "$a_bus"
	if [[ -n $SWEEP_B_CPU ]]; then
		cap_cpu "$SWEEP_B_CPU" "$SERVER_PID" || die "SWEEP_B_CPU: no CPU cgroup could be made"
	fi
	bench sio "sweep-$1-$2" relay -u "$SERVER_URL" -P "$a_url" -n "$1" -d "$SWEEP_S" \
		-s "$SIZE" -r "$2" -C 200 -t 20 --server-pid "$a_pid" --server-pid "$SERVER_PID"
	stop_servers
}

# sweep_socketio N RATE: the same against two Socket.IO nodes and Redis.
sweep_socketio() {
	local redis line rc=0
	free_port
	redis=$PORT
	"${PIN_SERVER[@]}" redis-server --port "$redis" --bind 127.0.0.1 --save '' \
		--appendonly no >"$WORK/redis-$redis.log" 2>&1 &
	PIDS+=("$!")
	wait_port "$redis" "$!" || die "redis-server did not start"
	start_socketio "$redis"
	local a_io=$SERVER_URL
	start_socketio "$redis"
	printf 'bench: %-6s %-13s ' socketio "sweep-$1-$2" >&2
	line=$("${PIN_BENCH[@]}" node "$REFERENCE/socketio-bench.js" --sub "$SERVER_URL" \
		--pub "$a_io" -n "$1" -r "$2" -d "$SWEEP_S" -s "$SIZE" -t 20 2>"$WORK/err") || rc=$?
	[[ -n $line ]] || line='{"completed":false,"error":"no output"}'
	echo "done${rc:+ (exit $rc)}" | sed 's/ (exit 0)//' >&2
	printf '{"target":"socketio","point":"%s","result":%s}\n' "sweep-$1-$2" "$line" >>"$LINES"
	stop_servers
}

run_sweep() {
	local n rate target
	for n in $SWEEP_N; do
		for rate in $SWEEP_RATES; do
			for target in $SWEEP_TARGETS; do
				"sweep_$target" "$n" "$rate"
			done
		done
	done
}

run_point() {
	local point=$1 target
	case $point in
	app-rtt) run_app_rtt; return ;;
	app-events) run_app_events; return ;;
	history) run_history; return ;;
	history-mem) run_history_mem; return ;;
	rebalance) run_rebalance; return ;;
	sweep) run_sweep; return ;;
	esac
	case $point in
	hop-*)
		if ! command -v haproxy >/dev/null; then
			echo "bench: $point skipped: no haproxy (apt-get install haproxy)" >&2
			return
		fi
		;;
	esac
	for target in sio node bare; do
		case $point in
		relay | relay-fanout) [[ $target == sio ]] || continue ;;
		esac
		[[ $target != bare || -x $BARE ]] || continue
		[[ $target != bare || $point != hop-* ]] || continue
		case $point in
		hop-connect | hop-fanout)
			# The reference column is the instance reached directly,
			# with as many connections as HAProxy can hold: two
			# descriptors each, under the hard limit.
			local t=direct n
			n=$([[ $point == hop-connect ]] && echo "$CONNECT_N" || echo "$FANOUT_N")
			((n <= HOP_MAX)) || n=$HOP_MAX
			start_sio
			local url=$SERVER_URL pids=(--server-pid "$SERVER_PID")
			if [[ $target == sio ]]; then
				t=haproxy
				start_haproxy
				url=$LB_URL
				pids+=(--server-pid "$LB_PID")
			fi
			if [[ $point == hop-connect ]]; then
				bench "$t" hop-connect connect-rate -u "$url" -n "$n" -C 200 "${pids[@]}"
			else
				bench "$t" hop-fanout fanout -u "$url" -n "$n" -d "$FANOUT_S" -s "$SIZE" \
					--window "$FANOUT_WINDOW" -C 200 "${pids[@]}"
			fi
			stop_servers
			continue
			;;
		esac
		case $point in
		hold)
			start_target "$target"
			bench "$target" hold hold -u "$SERVER_URL" -n "$HOLD_N" -d "$HOLD_S" \
				-C 200 --server-pid "$SERVER_PID"
			;;
		connect)
			start_target "$target"
			bench "$target" connect connect-rate -u "$SERVER_URL" -n "$CONNECT_N" \
				-C 200 --server-pid "$SERVER_PID"
			;;
		fanout)
			start_target "$target"
			bench "$target" fanout fanout -u "$SERVER_URL" -n "$FANOUT_N" -d "$FANOUT_S" \
				-s "$SIZE" --window "$FANOUT_WINDOW" -C 200 --server-pid "$SERVER_PID"
			;;
		rate)
			start_target "$target"
			bench "$target" rate fanout -u "$SERVER_URL" -n "$RATE_N" -d "$RATE_S" -s "$SIZE" \
				-r "$RATE" --server-pid "$SERVER_PID"
			;;
		relay | relay-fanout)
			start_sio
			local a_url=$SERVER_URL a_pid=$SERVER_PID a_bus=$BUS
			start_sio --bus-peer "$a_bus"
			if [[ $point == relay ]]; then
				bench sio relay relay -u "$SERVER_URL" -P "$a_url" -n "$RATE_N" -d "$RATE_S" \
					-s "$SIZE" -r "$RATE" --server-pid "$a_pid" --server-pid "$SERVER_PID"
			else
				bench sio relay-fanout relay -u "$SERVER_URL" -P "$a_url" -n "$FANOUT_N" \
					-d "$FANOUT_S" -s "$SIZE" --window "$FANOUT_WINDOW" -C 200 \
					--server-pid "$a_pid" --server-pid "$SERVER_PID"
			fi
			;;
		*) die "unknown point: $point" ;;
		esac
		stop_servers
	done
}

if ((${#PIN_SERVER[@]})); then
	PINNED="servers on CPU $SERVER_CPU, sio-bench on CPU $CLIENT_CPU"
else
	PINNED="unpinned"
fi
echo "bench: sio-serve against node $(node --version) ws $(node -p "require('$REFERENCE/node_modules/ws/package.json').version"), $PINNED" >&2
for point in hold connect fanout rate relay relay-fanout hop-connect hop-fanout history history-mem \
	rebalance app-rtt app-events sweep; do
	want "$point" || continue
	for ((i = 1; i <= REPEAT; i++)); do
		run_point "$point"
	done
done

node "$ROOT/bench/report.js" "$LINES" "$RESULTS/bench-$STAMP.json" | tee "$RESULTS/bench-$STAMP.txt"
if want sweep; then
	node "$ROOT/bench/sweep-report.js" "$LINES" | tee -a "$RESULTS/bench-$STAMP.txt"
fi
echo "bench: figures saved in ${RESULTS#"$ROOT"/}/bench-$STAMP.json" >&2

#!/usr/bin/env bash
# bench/run.sh: the suite of make bench. It measures sio-serve with sio-bench
# and, in the same run and the same way, the reference: a minimal socketiyo
# relay on the Node.js ws package (bench/reference/relay.js). Then it prints
# one table, both side by side with their ratio, and saves every figure.
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
#
# Servers run on CPU SERVER_CPU [0] (both instances of relay), sio-bench on
# CPU CLIENT_CPU [1], when taskset is there and the machine has two CPUs or
# more. Each point is run REPEAT [1] times and the run with the median figure
# is kept. Other work on the machine skews every figure: run it quiet. Figures
# go to bench/results/bench-DATE.json (and .txt for the table, .jsonl for
# sio-bench's lines), which git ignores.
#
#   bench/run.sh                     the default suite (about 2.5 minutes)
#   REPEAT=3 bench/run.sh            median of 3
#   HOLD_N=5000 HOLD_S=5 FANOUT_N=1000 bench/run.sh    a quick look
#   POINTS="fanout" bench/run.sh     some points only
#
# Needs bin/ built (make), node, and bench/reference/node_modules (npm
# install --prefix bench/reference; make bench does both).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
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
POINTS=${POINTS:-hold connect fanout rate relay relay-fanout}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PING=${PING:-20}

die() { echo "bench: $*" >&2; exit 1; }

[[ -x $BIN/sio-serve && -x $BIN/sio-bench ]] || die "no $BIN/sio-serve or $BIN/sio-bench: run make first"
command -v node >/dev/null || die "node is not installed (make bench installs it)"
[[ -d $REFERENCE/node_modules/ws ]] ||
	die "the ws package is missing: npm install --prefix bench/reference"

PIN_SERVER=() PIN_CLIENT=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
	PIN_SERVER=(taskset -c "$SERVER_CPU")
	PIN_CLIENT=(taskset -c "$CLIENT_CPU")
fi

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
}
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
	line=$("${PIN_CLIENT[@]}" "$BIN/sio-bench" --json --quiet "$@" 2>"$WORK/err") || rc=$?
	if [[ -z $line ]]; then
		echo "failed" >&2
		sed 's/^/  /' "$WORK/err" >&2
		line='{"completed":false,"error":"no output"}'
	else
		echo "done${rc:+ (exit $rc)}" | sed 's/ (exit 0)//' >&2
	fi
	printf '{"target":"%s","point":"%s","result":%s}\n' "$target" "$point" "$line" >>"$LINES"
}

want() { [[ " $POINTS " == *" $1 "* ]]; }

run_point() {
	local point=$1 target
	for target in sio node; do
		case $point in
		relay | relay-fanout) [[ $target == sio ]] || continue ;;
		esac
		case $point in
		hold)
			[[ $target == sio ]] && start_sio || start_node
			bench "$target" hold hold -u "$SERVER_URL" -n "$HOLD_N" -d "$HOLD_S" \
				-C 200 --server-pid "$SERVER_PID"
			;;
		connect)
			[[ $target == sio ]] && start_sio || start_node
			bench "$target" connect connect-rate -u "$SERVER_URL" -n "$CONNECT_N" \
				-C 200 --server-pid "$SERVER_PID"
			;;
		fanout)
			[[ $target == sio ]] && start_sio || start_node
			bench "$target" fanout fanout -u "$SERVER_URL" -n "$FANOUT_N" -d "$FANOUT_S" \
				-s "$SIZE" --window "$FANOUT_WINDOW" -C 200 --server-pid "$SERVER_PID"
			;;
		rate)
			[[ $target == sio ]] && start_sio || start_node
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
for point in hold connect fanout rate relay relay-fanout; do
	want "$point" || continue
	for ((i = 1; i <= REPEAT; i++)); do
		run_point "$point"
	done
done

node "$ROOT/bench/report.js" "$LINES" "$RESULTS/bench-$STAMP.json" | tee "$RESULTS/bench-$STAMP.txt"
echo "bench: figures saved in ${RESULTS#"$ROOT"/}/bench-$STAMP.json" >&2

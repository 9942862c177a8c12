#!/usr/bin/env bash
# bench/million.sh: the whole machine. One sio-serve --workers command runs
# INSTANCES [53] instances in one mesh on consecutive ports from BASE
# [21000], each under the 20,000-descriptor limit; sio-bench opens
# CONNECTIONS [1000000] connections spread evenly over them and holds them
# HOLD_S [60] seconds, answering pings (CONCURRENCY [2000] handshakes under way
# at once, all sio-bench processes together). While they are held it asks
# sio-monitor what the mesh sees (every instance, its client count), and
# reads the machine's memory and the instances' resident memory and CPU.
# Prints a summary and saves it under bench/results/million-DATE.txt.
#
#   make bench-million               (make all first)
#   INSTANCES=10 CONNECTIONS=100000 bench/million.sh    a smaller machine
#
# A benchmark, not a test: it takes the machine for a few minutes (about 14
# GiB of memory at a million, most of it the kernel's socket buffers).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SIO_BIN:-$ROOT/bin}
RESULTS=${RESULTS:-$ROOT/bench/results}
INSTANCES=${INSTANCES:-53}
CONNECTIONS=${CONNECTIONS:-1000000}
HOLD_S=${HOLD_S:-60}
BASE=${BASE:-21000}
# Two cores for 53 instances and the load generator: the machine runs at its
# limit, so the mesh gets the timings of a loaded network (a heartbeat a
# second, dead after 5 s of silence), and a million connections are pinged
# once a minute, not every 20 s (50,000 pings a second otherwise).
MESH_OPTS=${MESH_OPTS:---heartbeat-ms 1000 --dead-after-ms 5000}
SERVE_OPTS=${SERVE_OPTS:---ping-interval 60 --idle-timeout 150}
PER=$(((CONNECTIONS + INSTANCES - 1) / INSTANCES))

die() { echo "million: $*" >&2; exit 1; }
[[ -x $BIN/sio-serve && -x $BIN/sio-bench && -x $BIN/sio-monitor ]] || die "run make first"
((PER < 19800)) || die "$PER connections per instance: more than one process may hold; add INSTANCES"
command -v jq >/dev/null || die "needs jq"

mkdir -p "$RESULTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sio-million.XXXXXX")
OUT="$RESULTS/million-$(date +%Y%m%d-%H%M%S).txt"
SERVE_PID= BENCH_PID=
cleanup() {
	[[ -z $BENCH_PID ]] || kill "$BENCH_PID" 2>/dev/null || true
	if [[ -n $SERVE_PID ]]; then
		kill -TERM "$SERVE_PID" 2>/dev/null || true
		for _ in $(seq 1 600); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SERVE_PID" 2>/dev/null || true
	fi
	[[ -z ${KEEP:-} ]] && rm -rf "$WORK" || echo "million: logs kept in $WORK" >&2
}
trap cleanup EXIT

mem_used_kib() { awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { print t - a }' /proc/meminfo; }
instances_rss_kib() { ps -o rss= --ppid "$SERVE_PID" | awk '{ s += $1 } END { print s + 0 }'; }
instances_cpu_ticks() {
	local p t=0
	for p in $(pgrep -P "$SERVE_PID"); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

mem_before=$(mem_used_kib)
# Limits sized so that the even share of every instance fits, and a margin
# before HIGH_LOAD so the mesh shows them all in NORMAL.
"$BIN/sio-serve" --port "$BASE" --workers "$INSTANCES" --max-clients 19800 \
	--high-clients 19500 --low-enough 15000 --drain-ms 2000 --log-level warning \
	$MESH_OPTS $SERVE_OPTS \
	>/dev/null 2>"$WORK/serve.log" &
SERVE_PID=$!

monitor() {
	"$BIN/sio-monitor" --bus-peer "tcp://127.0.0.1:$((BASE + 10000))" --once --json \
		--timeout 15 $MESH_OPTS 2>/dev/null </dev/null | jq -s '{ alive: [.[] | select(.alive)] | length,
			clients: ([.[] | .clients] | add), normal: [.[] | select(.state == "NORMAL")] | length }'
}
for _ in $(seq 1 120); do
	seen=$(monitor 2>/dev/null) || seen='{}'
	[[ $(jq -r '.alive // 0' <<<"$seen" 2>/dev/null) == "$INSTANCES" ]] && break
	sleep 0.5
done
[[ $(jq -r '.alive // 0' <<<"$seen") == "$INSTANCES" ]] || die "the mesh did not form: $seen"
echo "million: $INSTANCES instances in the mesh; opening $CONNECTIONS connections" >&2

urls=()
for ((i = 0; i < INSTANCES; i++)); do urls+=(-u "ws://127.0.0.1:$((BASE + i))/socketiyo"); done
start=$(date +%s)
"$BIN/sio-bench" --json --quiet "${urls[@]}" -n "$CONNECTIONS" -d "$HOLD_S" -C "${CONCURRENCY:-2000}" -t 60 hold \
	>"$WORK/bench.json" 2>"$WORK/bench.err" </dev/null &
BENCH_PID=$!

# The hold begins once every connection is up: watch the mesh's count.
peak_clients=0 held_seen='{}'
while kill -0 "$BENCH_PID" 2>/dev/null; do
	seen=$(monitor 2>/dev/null) || seen='{}'
	c=$(jq -r '.clients // 0' <<<"$seen" 2>/dev/null) || c=0
	[[ $c =~ ^[0-9]+$ ]] || c=0
	if ((c > peak_clients)); then
		peak_clients=$c held_seen=$seen
		peak_mem=$(($(mem_used_kib) - mem_before)) peak_rss=$(instances_rss_kib)
		at=$(($(date +%s) - start))
	fi
	if ((c >= CONNECTIONS)); then
		if [[ -z ${cpu0:-} ]]; then
			cpu0=$(instances_cpu_ticks) cpu0_t=$(date +%s%N)
			deaths_at_peak=$(grep -c 'why=timeout' "$WORK/serve.log" || true)
		fi
		# While every connection is held: what the hold itself cost.
		cpu1=$(instances_cpu_ticks) cpu1_t=$(date +%s%N)
		deaths_held=$(grep -c 'why=timeout' "$WORK/serve.log" || true)
		held_polls=$((${held_polls:-0} + 1))
		full_views=$((${full_views:-0} + ($(jq -r '.alive // 0' <<<"$seen" 2>/dev/null || echo 0) == INSTANCES)))
	fi
	echo "million: $c connections seen by the mesh after $(($(date +%s) - start)) s" >&2
	sleep 2
done
wait "$BENCH_PID" || true
BENCH_PID=

idle_cpu=-
if [[ -n ${cpu0:-} ]]; then
	idle_cpu=$(awk -v t="$((cpu1 - cpu0))" -v ns="$((cpu1_t - cpu0_t))" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.1f %% of one core, all instances together", 100 * t / hz / (ns / 1e9) }')
fi
{
	echo "sio-serve --workers $INSTANCES, sio-bench hold -n $CONNECTIONS -d $HOLD_S"
	echo "  sio-bench:            $(jq -c '{established, failed, dropped, workers, connect_rate: .connect_rate}' "$WORK/bench.json" 2>/dev/null || cat "$WORK/bench.err")"
	echo "  mesh at its peak:     $peak_clients clients on $(jq -r .alive <<<"$held_seen") live instances ($(jq -r .normal <<<"$held_seen") NORMAL), ${at:-?} s after the start"
	echo "  memory used, machine: $((${peak_mem:-0} / 1024)) MiB more than before ($(awk -v k="${peak_mem:-0}" -v n="$peak_clients" 'BEGIN { if (n) printf "%.2f", k / n; else print "-" }') KiB per connection, both ends, kernel included)"
	echo "  instances' RSS:       $((${peak_rss:-0} / 1024)) MiB ($(awk -v k="${peak_rss:-0}" -v n="$peak_clients" 'BEGIN { if (n) printf "%.2f", k / n; else print "-" }') KiB per connection)"
	echo "  instances' CPU while held: $idle_cpu"
	echo "  errors in the instances' log: $(grep -c -E 'error|OUT_OF' "$WORK/serve.log" || true)"
	echo "  sio-monitor while held: ${full_views:-0} of ${held_polls:-0} looks showed all $INSTANCES instances with every connection"
	echo "  peers taken for dead while held: $(( ${deaths_held:-0} - ${deaths_at_peak:-0} )) (before: ${deaths_at_peak:-?}, during the teardown: $(( $(grep -c 'why=timeout' "$WORK/serve.log" || true) - ${deaths_held:-0} )))"
	echo "  options: $MESH_OPTS $SERVE_OPTS"
} | tee "$OUT"
echo "million: saved in $OUT" >&2

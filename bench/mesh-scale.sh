#!/usr/bin/env bash
# bench/mesh-scale.sh: what the mesh itself costs. Starts INSTANCES [64]
# idle sio-serve instances on consecutive ports from BASE [22000], all seeded
# with the first one's bus, at the default heartbeat and dead-after (or
# MESH_OPTS), waits until every one of them hears all the others, then reads
# each one's CPU time (/proc/PID/stat) over MEASURE_S [10] seconds and its
# resident memory. With CELL_SIZE set, the mesh is two-level: the instances
# form cells of at most CELL_SIZE by themselves (--bus-cell-size), or with
# HAND_CELLS=1 instance i is put in cell c<i / CELL_SIZE>, the first two of
# each cell its gateways; then a message published in the seed's cell must
# reach a subscriber in every other cell, and sio-monitor, seeded with one
# instance, must see them all. Without CELL_SIZE the mesh is flat
# (--bus-cell-size 0). Prints one line of figures.
#
#   bench/mesh-scale.sh                      64 instances, flat
#   INSTANCES=16 bench/mesh-scale.sh
#   INSTANCES=256 CELL_SIZE=64 bench/mesh-scale.sh
#   INSTANCES=256 CELL_SIZE=64 HAND_CELLS=1 bench/mesh-scale.sh
#
# A benchmark, not a test: nothing here fails on a figure. Each instance
# holds about 2 x INSTANCES descriptors in a flat mesh. Keep BASE + 10000 +
# INSTANCES below the system's ephemeral ports (32768 on Linux): inboxes
# and gateway endpoints bind ports from there.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SIO_BIN:-$ROOT/bin}
INSTANCES=${INSTANCES:-64}
BASE=${BASE:-22000}
MEASURE_S=${MEASURE_S:-10}
FORM_S=${FORM_S:-120}
MESH_OPTS=${MESH_OPTS:-}
CELL_SIZE=${CELL_SIZE:-}
HAND_CELLS=${HAND_CELLS:-}
PROFILE=${PROFILE:-}

die() { echo "mesh-scale: $*" >&2; exit 1; }
[[ -x $BIN/sio-serve ]] || die "run make first"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sio-mesh-scale.XXXXXX")
declare -a PIDS=() SUBS=()
declare -A seen=()
cleanup() {
	local p
	for p in "${SUBS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	[[ -z ${KEEP:-} ]] && rm -rf "$WORK" || echo "mesh-scale: logs kept in $WORK" >&2
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
seed="tcp://127.0.0.1:$((BASE + 10000))"
CELLS=1
[[ -n $CELL_SIZE ]] && CELLS=$(((INSTANCES + CELL_SIZE - 1) / CELL_SIZE))
# want I: the peers instance I hears once the mesh is whole.
want() {
	if [[ -z $CELL_SIZE ]]; then
		echo $((INSTANCES - 1))
	elif (($1 % CELL_SIZE < 2)); then
		echo $((CELL_SIZE - 1 + 2 * (CELLS - 1)))
	else
		echo $((CELL_SIZE - 1))
	fi
}
t0=$(now_ms)
for ((i = 0; i < INSTANCES; i++)); do
	port=$((BASE + i))
	peer=() cell_opts=()
	((i)) && peer=(--bus-peer "$seed")
	if [[ -z $CELL_SIZE ]]; then
		cell_opts=(--bus-cell-size 0)
	elif [[ -n $HAND_CELLS ]]; then
		cell_opts=(--bus-cell "c$((i / CELL_SIZE))")
		((i % CELL_SIZE < 2)) && cell_opts+=(--bus-gateway)
	else
		cell_opts=(--bus-cell-size "$CELL_SIZE")
	fi
	# shellcheck disable=SC2086
	"$BIN/sio-serve" --id "m$i" --port "$port" "${peer[@]}" "${cell_opts[@]}" \
		--log-level warning $MESH_OPTS 2>"$WORK/m$i.log" >/dev/null &
	PIDS+=($!)
	# Not all at once: a start costs more than a heartbeat.
	((i % 16 == 15)) && sleep "${STAGGER:-0.5}"
done

# gauge N NAME: a gauge of instance N's /metrics (-1 when it does not answer).
gauge() {
	curl -s --noproxy '*' --max-time 2 "http://127.0.0.1:$((BASE + $1))/metrics" 2>/dev/null |
		awk -v n="$2" '$1 == n { print $2; f = 1 } END { if (!f) print -1 }'
}
peers() { gauge "$1" sio_peers_alive; }
# Cells formed by themselves: each instance knows the whole mesh through
# its cell and the gateways' summaries.
AUTO=
[[ -n $CELL_SIZE && -z $HAND_CELLS ]] && AUTO=1
whole() {
	local i p
	[[ -n ${DEBUG:-} ]] && { for ((i = 0; i < INSTANCES; i++)); do
		printf "%s " "$(gauge "$i" "$([[ -n $AUTO ]] && echo sio_mesh_instances || echo sio_peers_alive)")"
	done; echo; } >&2
	for ((i = 0; i < INSTANCES; i++)); do
		if [[ -n $AUTO ]]; then
			p=$(gauge "$i" sio_mesh_instances)
			((p == INSTANCES)) || return 1
		else
			p=$(peers "$i")
			((p == $(want "$i"))) || return 1
		fi
	done
}
deadline=$(($(now_ms) + FORM_S * 1000))
until whole; do
	(($(now_ms) < deadline)) || die "the mesh did not form within ${FORM_S}s"
	for idx in "${!PIDS[@]}"; do
		kill -0 "${PIDS[$idx]}" 2>/dev/null || die "m$idx exited: $(head -n 3 "$WORK/m$idx.log")"
	done
	sleep 0.5
done
formed_ms=$(($(now_ms) - t0))

relay_ms=- monitor_saw=- gateways=-
if [[ -n $CELL_SIZE ]]; then
	# The cell of each instance, the seed's first, and one member of each
	# other cell (not a gateway when it has more than two) to subscribe.
	declare -A member=()
	publisher=$((CELL_SIZE > 2 ? 2 : 0))
	if [[ -n $AUTO ]]; then
		# Where each went, as sio-monitor sees them: "m<i> <cell>" lines.
		"$BIN/sio-monitor" --once --json --bus-peer "$seed" --timeout 60 2>/dev/null |
			jq -r '"\(.id) \(.cell // "")"' >"$WORK/cells"
		first=$(awk '$1 == "m0" { print $2 }' "$WORK/cells")
		while read -r id c; do
			i=${id#m}
			[[ $c == "$first" ]] && { ((i)) && publisher=$i; continue; }
			c=${c:-flat}
			# The third member, else whichever came.
			[[ -z ${member[$c]:-} || ${seen[$c]:-0} -lt 2 ]] && member[$c]=$i
			seen[$c]=$((${seen[$c]:-0} + 1))
		done <"$WORK/cells"
	else
		for ((c = 1; c < CELLS; c++)); do member[c$c]=$((c * CELL_SIZE + (CELL_SIZE > 2 ? 2 : 0))); done
	fi
	CELLS=$((${#member[@]} + 1))
	gateways=0
	for ((i = 0; i < INSTANCES; i++)); do
		(($(gauge "$i" sio_gateway) == 1)) && gateways=$((gateways + 1))
	done
	# A subscriber in each other cell; probes from the seed's cell until all
	# of them printed one: the subscriptions have reached the carrying
	# gateways.
	c=0
	for m in "${member[@]}"; do
		c=$((c + 1))
		"$BIN/sio-cat" "ws://127.0.0.1:$((BASE + m))/socketiyo" \
			--subscribe bench >"$WORK/sub$c.out" 2>/dev/null &
		SUBS+=($!)
	done
	r0=$(now_ms)
	deadline=$((r0 + 60000))
	got_all() {
		local c
		for ((c = 1; c < CELLS; c++)); do
			grep -q '"probe"' "$WORK/sub$c.out" 2>/dev/null || return 1
		done
	}
	until got_all; do
		(($(now_ms) < deadline)) || die "no message from cell 0 reached every other cell"
		echo '"probe"' | "$BIN/sio-cat" "ws://127.0.0.1:$((BASE + publisher))/socketiyo" \
			--publish bench --timeout 5 >/dev/null 2>&1 || true
		sleep 0.2
	done
	relay_ms=$(($(now_ms) - r0))
	for p in "${SUBS[@]}"; do kill "$p" 2>/dev/null || true; done
	monitor_saw=$("$BIN/sio-monitor" --once --json --bus-peer "tcp://127.0.0.1:$((BASE + 10000 + INSTANCES - 1))" \
		--timeout 60 2>/dev/null | jq -s length || true)
fi
sleep 2

# The CPU ticks of every instance, one a line, read in one pass so that
# the window is the same for all.
all_ticks() {
	local p files=()
	for p in "${PIDS[@]}"; do files+=("/proc/$p/stat"); done
	awk '{ print $14 + $15 }' "${files[@]}"
}
mapfile -t before < <(all_ticks)
m0=$(now_ms)
if [[ -n $PROFILE ]]; then
	perf record -q -e cpu-clock -g -o "$PROFILE" -p "${PIDS[$((INSTANCES / 2))]}" \
		-- sleep "$MEASURE_S" 2>/dev/null || sleep "$MEASURE_S"
else
	sleep "$MEASURE_S"
fi
mapfile -t after < <(all_ticks)
m1=$(now_ms)
hz=$(getconf CLK_TCK)
total=0 rss=0 maxcpu=0
for idx in "${!PIDS[@]}"; do
	p=${PIDS[$idx]}
	d=$((after[idx] - before[idx]))
	total=$((total + d))
	((d > maxcpu)) && maxcpu=$d
	rss=$((rss + $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status")))
done
el=$((m1 - m0))
# percent of a core, per instance and all together
awk -v t="$total" -v n="$INSTANCES" -v hz="$hz" -v el="$el" -v rss="$rss" -v f="$formed_ms" \
	-v mx="$maxcpu" -v cell="${CELL_SIZE:-flat}${HAND_CELLS:+,hand}" -v relay="$relay_ms" -v mon="$monitor_saw" \
	-v cells="$CELLS" -v gw="$gateways" 'BEGIN {
	all = t * 100 / hz / (el / 1000)
	printf "instances=%d cell=%s cells=%d gateways=%s formed_ms=%d cross_cell_relay_ms=%s monitor_saw=%s cpu_per_instance_pct=%.3f cpu_max_pct=%.2f cpu_all_pct=%.1f rss_per_instance_mb=%.1f\n",
		n, cell, cells, gw, f, relay, mon, all / n, mx * 100 / hz / (el / 1000), all, rss / n / 1024 }'

#!/usr/bin/env bash
# bench/meshsim.sh: the simulation's table (bench/meshsim.c): 1,000 and
# 10,000 instances, flat and two-level (cells of CELL [64]), with 0, 1 and
# 5 % of the messages lost; then the same lossy flat mesh without probes,
# to show what they buy. SECONDS_SIM [60] simulated seconds of steady state
# per row, SAMPLE [16] receivers with real registries. A few minutes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIM=${MESHSIM:-$ROOT/build/bench/meshsim}
CELL=${CELL:-64}
SECS=${SECONDS_SIM:-60}
SAMPLE=${SAMPLE:-16}
[[ -x $SIM ]] || { echo "meshsim: run make build/bench/meshsim first" >&2; exit 1; }

echo "| mesh | instances | cell | loss | new instance known everywhere (ms) | newcomer knows its cell (ms) | death seen in its cell, mean / max (ms after the kill) | death seen in other cells, max (ms) | false deaths per instance per hour | control messages in per instance per s | control KiB in per instance per s | gateway messages in per s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for n in 1000 10000; do
	for loss in 0 0.01 0.05; do
		# 10,000 flat: 10,000 registries of 10,000 would not fit; fewer
		# receivers and seconds suffice, every one of them hears 9,999.
		s=$SAMPLE t=$SECS
		((n == 10000)) && s=4 t=$((SECS / 4))
		"$SIM" --table --instances "$n" --loss "$loss" --sample "$s" --seconds "$t"
		"$SIM" --table --instances "$n" --cell "$CELL" --loss "$loss" --sample "$SAMPLE" --seconds "$SECS"
	done
done
echo
echo "Without probes (a late peer is not asked for direct heartbeats), 5 % loss:"
"$SIM" --table --no-probe --instances 1000 --loss 0.05 --sample "$SAMPLE" --seconds "$SECS"
"$SIM" --table --no-probe --instances 10000 --cell "$CELL" --loss 0.05 --sample "$SAMPLE" --seconds "$SECS"

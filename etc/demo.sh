#!/bin/sh
# The main job on loopback defaults: a small local mesh to watch.
#
#   instances   ws://127.0.0.1:8080/socketiyo and :8081 (buses 18080, 18081),
#               HIGH_LOAD at 3 clients so that a few browser tabs move it
#   monitor     prints every event of the mesh
#   announcer   http://127.0.0.1:8090/ serves a demo page and the current URL;
#               when both instances are busy it spawns a third on 8082
#
# Ctrl-C drains and stops everything.
set -eu
cd "$(dirname "$0")/.."
bin=bin
pids=""
limits="--max-clients 5 --high-clients 3 --low-enough 1 --drain-ms 1000"

stop() {
	trap - INT TERM EXIT
	[ -n "$pids" ] && kill -TERM $pids 2>/dev/null
	# The spawned instance is the announcer's child's; it knows its port.
	pkill -TERM -f "sio-serve --port 8082 --id demo-8082" 2>/dev/null || true
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	exit 0
}
trap stop INT TERM EXIT

bg() { "$@" & pids="$pids $!"; }

bg "$bin/sio-serve" --port 8080 --id demo-8080 $limits
bg "$bin/sio-serve" --port 8081 --id demo-8081 $limits --bus-peer tcp://127.0.0.1:18080
bg "$bin/sio-monitor" --events --bus-peer tcp://127.0.0.1:18080
bg "$bin/sio-announce" --quiet --bus-peer tcp://127.0.0.1:18080 \
	--http 127.0.0.1:8090 --http-root web \
	--spawn "exec $bin/sio-serve --port 8082 --id demo-8082 $limits --bus-peer tcp://127.0.0.1:18080 &"

cat >&2 <<MSG

sio demo: open http://127.0.0.1:8090/ in a browser (a few tabs: the fourth goes
to another instance). In a terminal:
  curl -s 127.0.0.1:8090/endpoint
  echo '"hello from the service side"' | $bin/sio-cat --bus-peer tcp://127.0.0.1:18080 --publish demo
  $bin/sio-cat ws://127.0.0.1:8081/socketiyo --subscribe demo
  $bin/sio-monitor --once --bus-peer tcp://127.0.0.1:18080
Ctrl-C stops the mesh.

MSG
wait

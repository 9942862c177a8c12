#!/bin/sh
# The main job on loopback defaults: a small local mesh of three sio-serve
# instances (ports 8080-8082, buses 18080-18082), seeded as a chain so that
# gossip has to do the rest. Ctrl-C drains and stops them all.
set -eu
cd "$(dirname "$0")/.."
bin=bin
pids=""

stop() {
	trap - INT TERM EXIT
	[ -n "$pids" ] && kill -TERM $pids 2>/dev/null
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	exit 0
}
trap stop INT TERM EXIT

start() { # port [seed-bus-port]
	if [ $# -gt 1 ]; then
		"$bin/sio-serve" --port "$1" --id "demo-$1" --drain-ms 1000 \
			--bus-peer "tcp://127.0.0.1:$2" &
	else
		"$bin/sio-serve" --port "$1" --id "demo-$1" --drain-ms 1000 &
	fi
	pids="$pids $!"
}

start 8080
start 8081 18080
start 8082 18081

cat >&2 <<MSG

sio demo: three instances on ws://127.0.0.1:8080-8082/socketiyo, one mesh.
In another terminal:
  $bin/sio-cat ws://127.0.0.1:8082/socketiyo --subscribe news
  echo '{"hello":"mesh"}' | $bin/sio-cat ws://127.0.0.1:8080/socketiyo --publish news
  curl -s 127.0.0.1:8081/metrics | grep ^sio_peers_alive
  [ -x $bin/sio-monitor ] && $bin/sio-monitor --bus-peer tcp://127.0.0.1:18080
Ctrl-C stops the mesh.

MSG
wait

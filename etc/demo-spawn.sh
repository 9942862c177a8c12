#!/bin/sh
# The demo's spawn command (etc/demo.sh): starts one more instance on the
# first free port from FIRST to LAST and records its PID, so that the demo
# stops exactly what it started.
#
#   demo-spawn.sh RUNDIR FIRST LAST SEED SIO-SERVE-OPTIONS...
set -eu
cd "$(dirname "$0")/.."
run=$1 first=$2 last=$3 seed=$4
shift 4

port_free() { [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

port=$first
while ! port_free "$port" || ! port_free $((port + 10000)); do
	port=$((port + 1))
	if [ "$port" -gt "$last" ]; then
		echo "sio demo: no free port from $first to $last for another instance" >&2
		exit 1
	fi
done
name=demo-$port
mkfifo "$run/$name.fifo"
sed -u "s/^/[$name] /" <"$run/$name.fifo" >&2 &
bin/sio-serve --port "$port" --id "$name" --bus-peer "$seed" "$@" 2>"$run/$name.fifo" &
echo $! >>"$run/spawned"
echo "[demo] spawned $name: ws://127.0.0.1:$port/socketiyo" >&2

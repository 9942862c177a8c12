#!/bin/sh
# The main job on loopback defaults: a small local mesh to watch.
#
#   instances   ws://127.0.0.1:8080/socketiyo and :8081 (buses 18080, 18081),
#               HIGH_LOAD at 3 clients so that a few browser tabs move it
#   monitor     prints every event of the mesh, once, and shows the mesh
#               live on http://127.0.0.1:8091/
#   announcer   http://127.0.0.1:8090/ serves a demo page and the current URL;
#               when both instances are busy it spawns a third on the next
#               free port (8082, then 8083 ...: etc/demo-spawn.sh)
#   application etc/demo-app.py behind sio-backend: greets every connection,
#               authenticates (any name, the password "demo") and subscribes
#               the client to its private channel, private/NAME
#
# The ports are checked first: when 8080 or one of its companions is taken,
# the demo says so and moves the whole set up by 100 (8180 ...), or starts
# from SIO_DEMO_PORT when it is set. Each program's lines are prefixed with
# its name; the instances show warnings and errors only, since the monitor
# already prints each event of the mesh once.
#
# Ctrl-C drains and stops everything the demo started, by PID.
set -eu
cd "$(dirname "$0")/.."
bin=bin
limits="--max-clients 5 --high-clients 3 --low-enough 1 --drain-ms 1000"
# Channels only the application can subscribe a client to.
private='private/*'

# port_free PORT: nothing listens on TCP PORT of this host.
port_free() { [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# set_free BASE: the demo's ports for BASE are all free: the two instances,
# their buses, the announcer's and the monitor's HTTP ports.
set_free() {
	for p in "$1" $(($1 + 1)) $(($1 + 10)) $(($1 + 11)) $(($1 + 10000)) $(($1 + 10001)); do
		port_free "$p" || { busy=$p; return 1; }
	done
}

if ! command -v ss >/dev/null; then
	echo "sio demo: ss (iproute2) is needed to check the ports: make deps installs it" >&2
	exit 1
fi
want=${SIO_DEMO_PORT:-8080}
base=$want
busy=
while ! set_free "$base"; do
	echo "sio demo: port $busy is in use; trying the ports from $((base + 100))" >&2
	base=$((base + 100))
	if [ "$base" -ge $((want + 1000)) ]; then
		echo "sio demo: no free set of ports between $want and $base: set SIO_DEMO_PORT" >&2
		exit 1
	fi
done
http=$((base + 10))
dash=$((base + 11))
seed=tcp://127.0.0.1:$((base + 10000))

run=$(mktemp -d "${TMPDIR:-/tmp}/sio-demo.XXXXXX")
serves=""
tools=""

# wait_gone PID...: until each has ended, 10 s at most (a drain takes
# drain_ms, 1 s, and then some). The spawned instances are not our
# children, so wait(1) cannot do it for them.
wait_gone() {
	n=0
	for p in "$@"; do
		while kill -0 "$p" 2>/dev/null && [ "$n" -lt 100 ]; do
			sleep 0.1
			n=$((n + 1))
		done
	done
}

# The announcer first, so that it spawns nothing more, and the application;
# then the instances, which drain; the monitor last, so that it shows their
# DRAIN and LEAVE.
stop() {
	trap - INT TERM EXIT
	kill -TERM $announcer $app 2>/dev/null || true
	wait_gone $announcer $app
	spawned=$(cat "$run/spawned" 2>/dev/null || true)
	kill -TERM $serves $spawned 2>/dev/null || true
	wait_gone $serves $spawned
	kill -TERM $tools 2>/dev/null || true
	wait_gone $tools
	wait
	rm -rf "$run"
	exit 0
}
trap stop INT TERM EXIT

# bg NAME COMMAND...: runs COMMAND in the background, its standard error
# prefixed with [NAME]; $! is its PID (not the prefixer's).
bg() {
	name=$1
	shift
	mkfifo "$run/$name.fifo"
	sed -u "s/^/[$name] /" <"$run/$name.fifo" >&2 &
	"$@" 2>"$run/$name.fifo" &
}

quiet="--log-level warning"
bg demo-$base "$bin/sio-serve" --port "$base" --id "demo-$base" $limits $quiet \
	--private-channel "$private"
serves="$serves $!"
bg demo-$((base + 1)) "$bin/sio-serve" --port $((base + 1)) --id "demo-$((base + 1))" $limits \
	$quiet --private-channel "$private" --bus-peer "$seed"
serves="$serves $!"
bg monitor "$bin/sio-monitor" --events --bus-peer "$seed" --http "127.0.0.1:$dash"
tools="$tools $!"
bg announce "$bin/sio-announce" --quiet --bus-peer "$seed" \
	--http "127.0.0.1:$http" --http-root web \
	--spawn "exec sh etc/demo-spawn.sh '$run' $((base + 2)) $((base + 9)) '$seed' $limits $quiet --private-channel '$private'"
announcer=$!
bg app "$bin/sio-backend" --id demo-app --bus-peer "$seed" --exec "exec python3 etc/demo-app.py"
app=$!

cat >&2 <<MSG

sio demo: open http://127.0.0.1:$http/ in a browser (a few tabs: the fourth goes
to another instance; sign in with any name and the password "demo" to get a
private channel), and http://127.0.0.1:$dash/ to watch the mesh. In a terminal,
in this order:
  $bin/sio-cat ws://127.0.0.1:$((base + 1))/socketiyo --subscribe demo
  echo '"hello from the service side"' | $bin/sio-cat --bus-peer $seed --publish demo
  curl -s 127.0.0.1:$http/endpoint
  $bin/sio-monitor --once --bus-peer $seed
Ctrl-C stops the mesh.

MSG
wait

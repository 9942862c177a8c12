# Meshes of sio-serve instances for the bats files that need several
# (load mesh, after load helpers): instances by name on free ports, their
# metrics, waits on the mesh, subscribers and publishers.

declare -gA IPID=() IPORT=() IBUSPORT=() IBUS=() IURL=() ILOG=() IINBOX=()

# start_at NAME PORT BUS_PORT [ARGS...]: sio-serve with id NAME on these
# ports, its log in NAME.N.log; waits until /healthz answers. Returns 2 when
# a port was taken by someone else, 1 on another failure.
start_at() {
	local name=$1 port=$2 busport=$3 log deadline
	shift 3
	SERVE_N=$((SERVE_N + 1))
	log="$BATS_TEST_TMPDIR/$name.$SERVE_N.log"
	SERVE_LOGS+=("$log")
	"$SIO_BIN/sio-serve" --id "$name" --port "$port" --bus-bind "tcp://127.0.0.1:$busport" \
		--drain-ms 100 "$@" >/dev/null 2>"$log" 3>&- &
	IPID[$name]=$!
	track_pid "$!"
	IPORT[$name]=$port
	IBUSPORT[$name]=$busport
	IBUS[$name]="tcp://127.0.0.1:$busport"
	IURL[$name]="ws://127.0.0.1:$port/socketiyo"
	ILOG[$name]=$log
	local SERVE_PORT=$port
	deadline=$(($(_now_us) + SIO_WAIT * 1000000))
	until _serve_answers; do
		if pid_gone "${IPID[$name]}"; then
			wait "${IPID[$name]}" 2>/dev/null || true
			grep -qi 'in use' "$log" && return 2
			echo "start_at $name: sio-serve exited at start:" >&2
			cat "$log" >&2
			return 1
		fi
		if (($(_now_us) >= deadline)); then
			echo "start_at $name: no answer on /healthz after ${SIO_WAIT}s" >&2
			cat "$log" >&2
			return 1
		fi
		sleep 0.05
	done
	# The instance names its inbox before it answers /healthz.
	IINBOX[$name]=$(sed -nE 's/.* BUS id=[^ ]+ bus=[^ ]+ inbox=tcp:\/\/([^ ]+) .*/\1/p' "$log" |
		head -n 1)
	[[ -n ${IINBOX[$name]} ]] || {
		echo "start_at $name: no BUS line in $log" >&2
		return 1
	}
}

# instance NAME [ARGS...]: start_at on free ports, again when one was taken.
instance() {
	local name=$1 attempt rc
	shift
	for attempt in 1 2 3; do
		rc=0
		start_at "$name" "$(free_port)" "$(free_port)" "$@" || rc=$?
		((rc == 2)) || return "$rc"
	done
	echo "instance $name: no free ports after 3 attempts" >&2
	return 1
}

# chain [ARGS...]: A, B seeded with A, C seeded with B only.
chain() {
	instance A "$@"
	instance B --bus-peer "${IBUS[A]}" "$@"
	instance C --bus-peer "${IBUS[B]}" "$@"
}

imetric() {
	curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:${IPORT[$1]}/metrics" |
		awk -v n="$2" '$1 == n { print $2; found = 1 } END { exit !found }'
}

imetric_is() { [[ "$(imetric "$1" "$2")" == "$3" ]]; }

imetric_above() {
	local v
	v=$(imetric "$1" "$2") && [[ $v =~ ^[0-9]+$ ]] && ((v > $3))
}

# wait_imetric NAME SAMPLE VALUE: polls the instance's /metrics.
wait_imetric() {
	if ! wait_for imetric_is "$@" 2>/dev/null; then
		echo "wait_imetric: $2 of $1 is '$(imetric "$1" "$2")', expected '$3'" >&2
		return 1
	fi
}

# wait_mesh N NAME...: every named instance has N peers alive.
wait_mesh() {
	local n=$1 name
	shift
	for name in "$@"; do
		wait_imetric "$name" sio_peers_alive "$n"
	done
}

# subscriber NAME INSTANCE CHANNEL: sio-cat subscribed to CHANNEL on INSTANCE,
# frames in NAME.out; returns once the instance counts the subscription.
subscriber() {
	local before
	before=$(imetric "$2" sio_subscriptions)
	cat_bg "$1" "${IURL[$2]}" --subscribe "$3"
	wait_imetric "$2" sio_subscriptions $((before + 1))
}

# publish INSTANCE CHANNEL LINE...: a client of INSTANCE sends each line
# (JSON, or a string) on CHANNEL, then leaves.
publish() {
	local name=$1 channel=$2
	shift 2
	printf '%s\n' "$@" | "$SIO_BIN/sio-cat" "${IURL[$name]}" --publish "$channel" --timeout 10
}

printed_all() {
	local pattern=$1 s
	shift
	for s in "$@"; do
		bg_printed "$s" "$pattern" || return 1
	done
}

# await_relay INSTANCE CHANNEL SUBSCRIBER...: a client of INSTANCE publishes
# probes on CHANNEL until every subscriber printed one: from then on the
# instance relays CHANNEL to theirs.
await_relay() {
	local from=$1 channel=$2 tag="probe-$1-$RANDOM" deadline
	shift 2
	deadline=$(($(_now_us) + SIO_WAIT * 1000000))
	until printed_all "\"$tag\"" "$@"; do
		if (($(_now_us) >= deadline)); then
			echo "await_relay: no probe from $from on '$channel' reached all of: $*" >&2
			for s in "$@"; do
				echo "--- $s.out:" >&2
				tail -n 5 "$BATS_TEST_TMPDIR/$s.out" >&2
			done
			return 1
		fi
		publish "$from" "$channel" "\"$tag\"" >/dev/null 2>&1 || true
		sleep 0.05
	done
}

# data_lines NAME: the numeric data a subscriber printed, one a line.
data_lines() { sed -nE 's/^\{"channel":"[^"]*","data":([0-9]+)\}$/\1/p' "$BATS_TEST_TMPDIR/$1.out"; }


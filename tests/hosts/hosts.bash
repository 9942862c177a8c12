# Hosts for the bats tests of tests/hosts/: each host a network namespace
# with its own address, all plugged into one Linux bridge that lives in a
# namespace of its own (the "switch"), so that nothing is added to the
# machine's own network and no packet leaves the namespaces:
#
#   switch ns TAG-sw: br0 -- p1 ... pN        (veth pairs)
#   host ns   TAG-hI: eth0 10.231.0.I/24, lo
#
#   load hosts              (at the top of a .bats file in tests/hosts/)
#   setup() { hosts_check; }
#   @test ... { hosts_up 4; mesh_up 3; ... }
#
# It loads ../bats/helpers.bash and follows it: every process a test starts
# is tracked by PID and stopped in teardown; waits poll a condition up to a
# deadline. teardown() stops the processes, then removes the namespaces. A
# namespace name carries the PID of the test process that made it; a reaper
# process removes them should that process die without its teardown (bats
# killed), and the next run removes any left by a run that is gone.
#
# Root is needed (namespaces, veths, nft); without it, or where `ip netns`
# does not work, hosts_check skips the test and says why.

# Deadlines of the waits: every step here runs several processes across
# namespaces, on a machine other test runs may load too.
SIO_WAIT="${SIO_WAIT:-20}"
load ../bats/helpers

HOSTS_DIR="$SIO_ROOT/tests/hosts"
HOSTS_PREFIX=siot
HOSTS_NET=10.231.0
NFQ_DELAY="${NFQ_DELAY:-$SIO_ROOT/build/tests/nfq-delay}"

HOSTS_TAG=
HOSTS_REAPER=
declare -gA IPID=() ILOG=() IURL=() IBUS=()

# --- checks ------------------------------------------------------------------

# hosts_check: skips the test unless namespaces can be made here.
hosts_check() {
	[[ $(id -u) == 0 ]] || skip "needs root: network namespaces, veth pairs and nft (CI runs as root)"
	command -v ip >/dev/null || skip "no ip command (Debian package iproute2)"
	local probe="$HOSTS_PREFIX-$BASHPID-probe"
	if ! ip netns add "$probe" 2>/dev/null; then
		skip "ip netns add does not work here (no network namespaces)"
	fi
	ip netns del "$probe" 2>/dev/null || true
}

# impair_check: skips the test unless loss and delay can be put on links.
impair_check() {
	command -v nft >/dev/null || skip "no nft: run 'make test-deps' (Debian package nftables)"
	[[ -x $NFQ_DELAY ]] || skip "no $NFQ_DELAY: run 'make test' or 'make test-hosts', which build it"
}

# node_check: skips the test unless Node.js has a WebSocket, which the
# browser module needs (Node 20 behind --experimental-websocket, 22 on).
node_check() {
	command -v node >/dev/null || skip "no node: the browser module runs under Node.js 20 or later"
	node --experimental-websocket -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' \
		2>/dev/null || skip "this node ($(node --version)) has no WebSocket: Node.js 20.10 or later needed"
}

# --- hosts -------------------------------------------------------------------

host_ns() { echo "$HOSTS_TAG-h$1"; }
host_ip() { echo "$HOSTS_NET.$1"; }

# hx I CMD...: runs CMD on host I.
hx() {
	local i=$1
	shift
	ip netns exec "$(host_ns "$i")" "$@"
}

# hx_bg NAME I CMD...: CMD on host I in the background, stdout in NAME.out,
# stderr in NAME.err, stdin from NAME.in when it exists; pid in BG[NAME].
# ip netns exec execs CMD: the pid is CMD's own.
hx_bg() {
	local name=$1 i=$2 in=/dev/null
	shift 2
	[[ -e $BATS_TEST_TMPDIR/$name.in ]] && in=$BATS_TEST_TMPDIR/$name.in
	ip netns exec "$(host_ns "$i")" "$@" <"$in" >"$BATS_TEST_TMPDIR/$name.out" \
		2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	BG[$name]=$!
	track_pid "$!"
}

# Namespaces of this prefix whose owner (the PID in their name) is gone.
_hosts_stale_tags() {
	local ns pid
	ip netns list 2>/dev/null | awk '{ print $1 }' | while read -r ns; do
		[[ $ns =~ ^$HOSTS_PREFIX-([0-9]+)-[0-9]+- ]] || continue
		pid=${BASH_REMATCH[1]}
		[[ -d /proc/$pid ]] || echo "${ns%-*}"
	done | sort -u
}

# _hosts_destroy TAG: removes every namespace of TAG, ending first what still
# runs in them (nothing, after a clean teardown: they stopped by their PID).
_hosts_destroy() {
	local tag=$1 ns pid left
	local -a nss
	mapfile -t nss < <(ip netns list 2>/dev/null | awk -v t="$tag-" 'index($1, t) == 1 { print $1 }')
	((${#nss[@]})) || return 0
	for ns in "${nss[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -CONT "$pid" 2>/dev/null || true
			kill -KILL "$pid" 2>/dev/null || true
		done
	done
	for ns in "${nss[@]}"; do
		# A namespace lives on while a process is in it.
		for left in {1..50}; do
			[[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && break
			sleep 0.1
		done
		ip netns del "$ns" 2>/dev/null || true
	done
}

# hosts_up N: the switch and hosts 1..N, each with eth0 on the bridge.
hosts_up() {
	local n=$1 i sw tag
	for tag in $(_hosts_stale_tags); do
		_hosts_destroy "$tag"
	done
	HOSTS_TAG="$HOSTS_PREFIX-$BASHPID-$RANDOM"
	sw="$HOSTS_TAG-sw"
	_hosts_reaper
	ip netns add "$sw"
	ip -n "$sw" link set lo up
	ip -n "$sw" link add br0 type bridge
	# No spanning tree, no learning delay: a port forwards once it is up.
	ip -n "$sw" link set br0 type bridge stp_state 0 forward_delay 0
	ip -n "$sw" link set br0 up
	for ((i = 1; i <= n; i++)); do
		ip netns add "$(host_ns "$i")"
		# Both ends are made from inside the switch: the root namespace never
		# holds one, not even for an instant.
		ip -n "$sw" link add "p$i" type veth peer name eth0 netns "$(host_ns "$i")"
		ip -n "$sw" link set "p$i" master br0 up
		ip -n "$(host_ns "$i")" link set lo up
		ip -n "$(host_ns "$i")" addr add "$(host_ip "$i")/24" dev eth0
		ip -n "$(host_ns "$i")" link set eth0 up
	done
	# The bridge forwards once it has learned the ports: wait until every
	# host reaches host 1 (and host 1 every host).
	for ((i = 2; i <= n; i++)); do
		wait_for _hosts_reach "$i" 1 || return 1
		wait_for _hosts_reach 1 "$i" || return 1
	done
}

# Whether host I reaches host J: a TCP connect to a closed port is answered
# with a reset, which needs the path both ways (no ping on a minimal system).
_hosts_reach() {
	hx "$1" python3 -c 'import socket, sys
try:
    socket.create_connection((sys.argv[1], 9), timeout=0.5).close()
except ConnectionRefusedError:
    pass' "$(host_ip "$2")" 2>/dev/null
}

# Watches the test process and removes the namespaces of its tag if it dies
# before its teardown did: a trap that nothing done to bats can lose, in a
# session of its own, so that even a kill of bats' process group spares it.
_hosts_reaper() {
	# (Taken here: in the background job, BASHPID would be the job's own.)
	local owner=$BASHPID
	setsid bash -c "$(declare -f _hosts_destroy)"'
		while [[ -d /proc/$1 ]]; do
			sleep 1
		done
		_hosts_destroy "$2"' _ "$owner" "$HOSTS_TAG" </dev/null >/dev/null 2>&1 3>&- &
	HOSTS_REAPER=$!
}

hosts_down() {
	if [[ -n $HOSTS_TAG ]]; then
		_hosts_destroy "$HOSTS_TAG"
		HOSTS_TAG=
	fi
	if [[ -n $HOSTS_REAPER ]]; then
		kill -TERM "$HOSTS_REAPER" 2>/dev/null || true
		wait "$HOSTS_REAPER" 2>/dev/null || true
		HOSTS_REAPER=
	fi
}

teardown() {
	local pid
	# A stopped process would hold its SIGTERM until the deadline.
	for pid in "${SIO_PIDS[@]}"; do
		kill -CONT "$pid" 2>/dev/null || true
	done
	sio_teardown
	hosts_down
}

# --- faults ------------------------------------------------------------------

# link_down I / link_up I: unplugs host I from the switch (its eth0 loses
# carrier; its sockets stay open), and plugs it back.
link_down() { ip -n "$HOSTS_TAG-sw" link set "p$1" down; }
link_up() { ip -n "$HOSTS_TAG-sw" link set "p$1" up; }

# impair I LOSS_PCT DELAY_MS: every packet host I sends on eth0 is dropped
# with probability LOSS_PCT %, and the others leave DELAY_MS later, in order.
# As each host impairs what it sends, a link between two impaired hosts has
# that loss and delay in each direction. The delay is nfq-delay's, in the
# background as delayI (BG[delayI], delayI.err).
impair() {
	local i=$1 loss=$2 delay=$3 queue
	hx_bg "delay$i" "$i" "$NFQ_DELAY" -q 0 -d "$delay"
	wait_for grep -q 'nfq-delay: ready' "$BATS_TEST_TMPDIR/delay$i.err" || {
		cat "$BATS_TEST_TMPDIR/delay$i.err" >&2
		return 1
	}
	# bypass: should nfq-delay be gone, packets pass instead of vanishing.
	queue='oifname "eth0" queue num 0 bypass'
	if ! _impair_rules "$i" "$loss" "$queue" 2>/dev/null; then
		# A kernel without nft's queue statement still has the xtables
		# NFQUEUE target, through nft's compatibility layer.
		_impair_rules "$i" "$loss" "" || return 1
		local ipt=iptables-nft
		command -v "$ipt" >/dev/null || ipt=iptables
		hx "$i" "$ipt" -A OUTPUT -o eth0 -j NFQUEUE --queue-num 0 --queue-bypass || return 1
	fi
}

# impair_dropped I: packets the loss rule of host I dropped so far.
impair_dropped() {
	hx "$1" nft list table inet sio_impair | sed -nE 's/.*counter packets ([0-9]+) .* drop.*/\1/p'
}

_impair_rules() {
	hx "$1" nft -f - <<EOF
table inet sio_impair {
	chain out {
		type filter hook output priority -10; policy accept;
		oifname "eth0" numgen random mod 100 < $2 counter drop
		$3
	}
}
EOF
}

# --- instances ---------------------------------------------------------------

_healthz_code() {
	hx "$1" curl -s --noproxy '*' -o /dev/null -w '%{http_code}' --max-time 2 \
		"http://$(host_ip "$1"):8080/healthz" 2>/dev/null
}

# serve_on I [ARGS...]: sio-serve on host I, id hI, listening on the host's
# address, port 8080, bus on port 18080; waits until /healthz answers. Its
# pid, log, URL and bus endpoint go to IPID, ILOG, IURL, IBUS under I. ARGS
# come after the test defaults (a short --drain-ms), so they win.
serve_on() {
	local i=$1 ip log deadline code
	shift
	ip=$(host_ip "$i")
	SERVE_N=$((SERVE_N + 1))
	log="$BATS_TEST_TMPDIR/h$i.$SERVE_N.log"
	SERVE_LOGS+=("$log")
	ip netns exec "$(host_ns "$i")" "$SIO_BIN/sio-serve" --id "h$i" --listen "$ip" --port 8080 \
		--bus-bind "tcp://$ip:18080" --drain-ms 100 "$@" >/dev/null 2>"$log" 3>&- &
	IPID[$i]=$!
	track_pid "$!"
	ILOG[$i]=$log
	IURL[$i]="ws://$ip:8080/socketiyo"
	IBUS[$i]="tcp://$ip:18080"
	deadline=$(($(_now_us) + SIO_WAIT * 1000000))
	while :; do
		code=$(_healthz_code "$i") || true
		[[ -n $code && $code != 000 ]] && return 0
		if pid_gone "${IPID[$i]}"; then
			wait "${IPID[$i]}" 2>/dev/null || true
			echo "serve_on $i: sio-serve exited at start:" >&2
			cat "$log" >&2
			return 1
		fi
		if (($(_now_us) >= deadline)); then
			echo "serve_on $i: no answer on /healthz after ${SIO_WAIT}s" >&2
			cat "$log" >&2
			return 1
		fi
		sleep 0.05
	done
}

# seeds I...: --bus-peer options naming the instances of hosts I, one word
# a line (for mapfile).
seeds() {
	local i
	for i in "$@"; do
		printf -- '--bus-peer\ntcp://%s:18080\n' "$(host_ip "$i")"
	done
}

# seeds_for I N: the seeds of every instance of 1..N but I, as an operator
# lists the mesh in each host's configuration.
seeds_for() {
	local i=$1 n=$2 j
	for ((j = 1; j <= n; j++)); do
		((j == i)) || seeds "$j"
	done
}

# mesh_up N [ARGS...]: an instance on each of hosts 1..N, seeded with the
# others; waits until each has heard the N-1 others.
mesh_up() {
	local n=$1 i
	shift
	local -a seeds
	for ((i = 1; i <= n; i++)); do
		mapfile -t seeds < <(seeds_for "$i" "$n")
		serve_on "$i" "${seeds[@]}" "$@" || return 1
	done
	wait_mesh "$n"
}

imetric() {
	hx "$1" curl -s --noproxy '*' --max-time 5 "http://$(host_ip "$1"):8080/metrics" |
		awk -v n="$2" '$1 == n { print $2; found = 1 } END { exit !found }'
}

imetric_is() { [[ "$(imetric "$1" "$2")" == "$3" ]]; }

# wait_imetric I SAMPLE VALUE: polls the instance's /metrics.
wait_imetric() {
	if ! wait_for imetric_is "$@" 2>/dev/null; then
		echo "wait_imetric: $2 of h$1 is '$(imetric "$1" "$2")', expected '$3'" >&2
		return 1
	fi
}

# wait_mesh N [I...]: the instances I (1..N) each have N-1 peers alive.
wait_mesh() {
	local n=$1 i
	shift
	local -a which=("$@")
	((${#which[@]})) || mapfile -t which < <(seq 1 "$n")
	for i in "${which[@]}"; do
		wait_imetric "$i" sio_peers_alive $((n - 1)) || return 1
	done
}

# detect (helpers.bash) names the instances h1, h2, ...
DETECT_ID_PREFIX=h

# mark_logs I...: detect looks only at what the logs of I get from now on.
mark_logs() {
	local i
	for i in "$@"; do
		DETECT_SKIP[$i]=$(wc -l <"${ILOG[$i]}")
	done
}

# --- clients -----------------------------------------------------------------

# cat_on NAME I ARGS...: sio-cat on host I in the background (see hx_bg).
cat_on() {
	local name=$1 i=$2
	shift 2
	hx_bg "$name" "$i" "$SIO_BIN/sio-cat" "$@"
}

# node_clients NAME I ARGS...: tests/hosts/clients.mjs on host I, driving
# clients of the browser module web/sio-client.js (see that file for ARGS);
# their events, JSON lines, in NAME.out.
node_clients() {
	local name=$1 i=$2
	shift 2
	# Node reads a .js file without package.json as CommonJS: the module
	# goes unchanged under the name that makes it an ES module.
	cp "$SIO_ROOT/web/sio-client.js" "$BATS_TEST_TMPDIR/sio-client.mjs"
	hx_bg "$name" "$i" node --experimental-websocket --no-warnings "$HOSTS_DIR/clients.mjs" \
		--module "$BATS_TEST_TMPDIR/sio-client.mjs" "$@"
}

# events NAME JQ_FILTER: the events of a node_clients run that match.
events() { jq -c "select($2)" "$BATS_TEST_TMPDIR/$1.out" 2>/dev/null; }
events_count() { events "$1" "$2" | wc -l; }
events_at_least() { (($(events_count "$1" "$2") >= $3)); }

# all_open NAME N: each of the N clients of a node_clients run is connected:
# its last open or close was an open.
all_open() {
	jq -s -e --argjson n "$2" '[.[] | select(.ev == "open" or .ev == "close")] | group_by(.c) |
		map(last | select(.ev == "open")) | length == $n' "$BATS_TEST_TMPDIR/$1.out" >/dev/null
}

# --- sio-announce ---------------------------------------------------------------

ANNOUNCER=

# announcer_on I N: sio-announce on host I, random distribution (the list
# strategy), seeded with the instances of 1..N, answering HTTP on the host's
# address, port 8090; background name "announce".
announcer_on() {
	local -a s
	mapfile -t s < <(seeds_for 0 "$2")
	ANNOUNCER=$1
	hx_bg announce "$1" "$SIO_BIN/sio-announce" --strategy list --http "$(host_ip "$1"):8090" -q "${s[@]}"
}

announcer_url() { echo "http://$(host_ip "$ANNOUNCER"):8090"; }

# announced: what GET /endpoints.json answers now.
announced() {
	hx "$ANNOUNCER" curl -s --noproxy '*' --max-time 2 "$(announcer_url)/endpoints.json" 2>/dev/null
}

# announced_is I...: the announcer offers the instances of hosts I, no other.
announced_is() {
	local i want=
	for i in "$@"; do
		want+="${want:+,}\"${IURL[$i]}\""
	done
	[[ $(announced) == "[$want]" ]]
}

# --- reporting -----------------------------------------------------------------

# figure TEXT: one line of the measured figures, in the TAP log.
figure() { echo "# $*" >&3; }

# paced_publisher NAME I URL CHANNEL ORIGIN INTERVAL_MS: a client of URL, on
# host I, publishing {"o":ORIGIN,"n":K} on CHANNEL every INTERVAL_MS, K from
# 1 on, until stop_paced NAME. The pacer (tests/hosts/pace.py) feeds sio-cat
# through a FIFO: two processes, each stopped by its own PID.
paced_publisher() {
	local name=$1 i=$2 url=$3 channel=$4 origin=$5 interval=$6
	mkfifo "$BATS_TEST_TMPDIR/$name.in"
	cat_on "$name" "$i" "$url" --publish "$channel"
	python3 "$HOSTS_DIR/pace.py" "$origin" "$interval" >"$BATS_TEST_TMPDIR/$name.in" \
		2>"$BATS_TEST_TMPDIR/$name.pace" 3>&- &
	BG[$name.pace]=$!
	track_pid "$!"
}

# stop_paced NAME: stops the pacer; sio-cat sends what it read and exits 0.
# PACED gets the number of messages published.
stop_paced() {
	stop_pid "${BG[$1.pace]}"
	wait_bg "$1" 20 || return 1
	[[ $WAIT_RC == 0 ]] || {
		echo "stop_paced: the publisher $1 exited $WAIT_RC:" >&2
		cat "$BATS_TEST_TMPDIR/$1.err" >&2
		return 1
	}
	PACED=$(sed -nE 's/^PACED n=([0-9]+)$/\1/p' "$BATS_TEST_TMPDIR/$1.pace")
	[[ -n $PACED ]]
}

# origin_nums NAME ORIGIN: the numbers a subscriber printed from ORIGIN's
# paced publisher, in the order received.
origin_nums() {
	sed -nE 's/^\{"channel":"[^"]*","data":\{"o":"'"$2"'","n":([0-9]+)\}\}$/\1/p' \
		"$BATS_TEST_TMPDIR/$1.out"
}

origin_count() { origin_nums "$@" | wc -l; }

# got_at_least NAME ORIGIN K: the subscriber printed K messages of ORIGIN.
got_at_least() { (($(grep -c "\"o\":\"$2\"" "$BATS_TEST_TMPDIR/$1.out") >= $3)); }

# got_message NAME ORIGIN N: the subscriber printed message N of ORIGIN.
got_message() { grep -q "\"o\":\"$2\",\"n\":$3}" "$BATS_TEST_TMPDIR/$1.out"; }

# in_order NAME ORIGIN: each number greater than the one before: order kept,
# nothing twice.
in_order() { origin_nums "$@" | awk 'NR > 1 && $1 <= prev { bad = 1 } { prev = $1 } END { exit bad }'; }

# subscriber NAME I CHANNEL: sio-cat on host I subscribed to CHANNEL on the
# instance of host I, frames in NAME.out; returns once the instance counts
# the subscription.
subscriber() {
	local before
	before=$(imetric "$2" sio_subscriptions)
	cat_on "$1" "$2" "${IURL[$2]}" --subscribe "$3"
	wait_imetric "$2" sio_subscriptions $((before + 1))
}

# publish I CHANNEL LINE...: a client of the instance of host I sends each
# line on CHANNEL, then leaves.
publish() {
	local i=$1 channel=$2
	shift 2
	printf '%s\n' "$@" | hx "$i" "$SIO_BIN/sio-cat" "${IURL[$i]}" --publish "$channel" --timeout 10
}

printed_all() {
	local pattern=$1 s
	shift
	for s in "$@"; do
		bg_printed "$s" "$pattern" || return 1
	done
}

# await_relay I CHANNEL SUBSCRIBER...: a client of instance I publishes probes
# on CHANNEL until every subscriber printed one: the interest of their
# instances has reached I (ZeroMQ subscriptions travel asynchronously).
await_relay() {
	local from=$1 channel=$2 tag="probe-$1-$RANDOM" deadline s
	shift 2
	deadline=$(($(_now_us) + SIO_WAIT * 1000000))
	until printed_all "\"$tag\"" "$@"; do
		if (($(_now_us) >= deadline)); then
			echo "await_relay: no probe from h$from on '$channel' reached all of: $*" >&2
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

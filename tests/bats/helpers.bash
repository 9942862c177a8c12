# Shared helpers of the bats integration tests: they run the real programs.
#
#   load helpers            (at the top of every .bats file)
#
# Every test gets its own server on a port the kernel picked, its own temp
# dir (BATS_TEST_TMPDIR), and a teardown that stops every process it
# started. Nothing here sleeps blindly: waits poll a condition until a
# deadline (SIO_WAIT seconds, 10 by default), and no test looks at a clock.

bats_require_minimum_version 1.5.0

for _sio_lib in bats-support bats-assert; do
	if [[ -f /usr/lib/bats/$_sio_lib/load.bash ]]; then
		load "/usr/lib/bats/$_sio_lib/load.bash"
	else
		bats_load_library "$_sio_lib"
	fi
done
unset _sio_lib

SIO_ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
SIO_BIN="${SIO_BIN:-$SIO_ROOT/bin}"
WSRAW="$SIO_ROOT/tests/helpers/wsraw.py"
SIO_WAIT="${SIO_WAIT:-10}"
# The raw client reads its steps from argv and prints frames as UTF-8,
# whatever the locale of the machine running the tests.
export PYTHONUTF8=1 PYTHONIOENCODING=utf-8
# curl and python must talk to the loopback server itself, never to a proxy.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

SIO_PIDS=()          # every background process a test started, in order
declare -gA BG=()    # name -> pid of background clients
SERVE_N=0
SERVE_HTTP=http
SERVE_LOGS=()

# --- time and polling ------------------------------------------------------

_now_us() {
	local t=${EPOCHREALTIME//[!0-9]/}
	echo "${t:-$(date +%s%6N)}"
}

# wait_for CMD...: runs CMD every 50 ms until it succeeds; fails after
# SIO_WAIT seconds (SIO_WAIT=N wait_for ... for another deadline).
wait_for() {
	local deadline=$(($(_now_us) + SIO_WAIT * 1000000))
	until "$@"; do
		if (($(_now_us) >= deadline)); then
			echo "wait_for: still false after ${SIO_WAIT}s: $*" >&2
			return 1
		fi
		sleep 0.05
	done
}

# --- processes ---------------------------------------------------------------

# free_port [N]: N (1) distinct TCP ports that were free on loopback, one a
# line, as the kernel picked them.
free_port() {
	python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))' "${1:-1}"
}

track_pid() { SIO_PIDS+=("$1"); }

# Whether the process has ended (a zombie not yet waited for counts as ended).
pid_gone() {
	local stat state
	[[ -r /proc/$1/stat ]] || return 0
	read -r stat <"/proc/$1/stat" 2>/dev/null || return 0
	state=${stat##*) }
	state=${state%% *}
	[[ $state == Z || $state == X ]]
}

# wait_exit PID [SECONDS]: waits for PID to end on its own; WAIT_RC gets its
# exit status. Fails when it is still running at the deadline.
wait_exit() {
	local pid=$1
	WAIT_RC=
	if ! SIO_WAIT=${2:-$SIO_WAIT} wait_for pid_gone "$pid"; then
		echo "wait_exit: process $pid still running" >&2
		return 1
	fi
	WAIT_RC=0
	wait "$pid" 2>/dev/null || WAIT_RC=$?
}

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after the deadline (5 s), and
# reaps it; WAIT_RC gets its exit status.
stop_pid() {
	local pid=$1
	WAIT_RC=
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	if ! SIO_WAIT=${2:-5} wait_for pid_gone "$pid" 2>/dev/null; then
		echo "stop_pid: $pid ignored SIGTERM, killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
		SIO_WAIT=5 wait_for pid_gone "$pid" || true
	fi
	WAIT_RC=0
	wait "$pid" 2>/dev/null || WAIT_RC=$?
}

# --- the server --------------------------------------------------------------

_serve_answers() {
	local code
	code=$(curl -sk --noproxy '*' -o /dev/null -w '%{http_code}' --max-time 2 \
		"$SERVE_HTTP://127.0.0.1:$SERVE_PORT/healthz" 2>/dev/null) || true
	[[ -n $code && $code != 000 ]]
}

# start_serve [ARGS...]: starts bin/sio-serve on a free port (and a free bus
# port), stderr in SERVE_LOG; sets SERVE_PID, SERVE_PORT, SERVE_URL, and
# waits until GET /healthz answers. ARGS come after the test defaults
# (a short --drain-ms), so they win. With --tls-cert, SERVE_URL is wss:// and
# SERVE_HTTP https.
start_serve() {
	local attempt bus_port path=/socketiyo prev="" a deadline ws=ws
	SERVE_HTTP=http
	for a in "$@"; do
		[[ $prev == --path ]] && path=$a
		[[ $a == --path=* ]] && path=${a#--path=}
		[[ $a == --tls-cert* ]] && SERVE_HTTP=https ws=wss
		prev=$a
	done
	for attempt in 1 2 3; do
		SERVE_N=$((SERVE_N + 1))
		SERVE_LOG="$BATS_TEST_TMPDIR/serve$SERVE_N.log"
		SERVE_LOGS+=("$SERVE_LOG")
		{ read -r SERVE_PORT && read -r bus_port; } < <(free_port 2)
		"$SIO_BIN/sio-serve" --port "$SERVE_PORT" --bus-bind "tcp://127.0.0.1:$bus_port" \
			--drain-ms 100 "$@" >"$BATS_TEST_TMPDIR/serve$SERVE_N.out" 2>"$SERVE_LOG" 3>&- &
		SERVE_PID=$!
		track_pid "$SERVE_PID"
		SERVE_URL="$ws://127.0.0.1:$SERVE_PORT$path"
		deadline=$(($(_now_us) + SIO_WAIT * 1000000))
		while :; do
			if _serve_answers; then
				return 0
			fi
			if pid_gone "$SERVE_PID"; then
				break
			fi
			if (($(_now_us) >= deadline)); then
				echo "start_serve: no answer on /healthz after ${SIO_WAIT}s" >&2
				return 1
			fi
			sleep 0.02
		done
		wait "$SERVE_PID" 2>/dev/null || true
		# Another process took the port between free_port and the bind: retry.
		if grep -qi 'in use' "$SERVE_LOG"; then
			continue
		fi
		echo "start_serve: sio-serve exited at start:" >&2
		cat "$SERVE_LOG" >&2
		return 1
	done
	echo "start_serve: no free port after 3 attempts" >&2
	return 1
}

# stop_serve [SECONDS]: SIGTERM, SIGKILL after the deadline; WAIT_RC.
stop_serve() { stop_pid "$SERVE_PID" "${1:-10}"; }

# --- HTTP --------------------------------------------------------------------

http_status() {
	curl -sk --noproxy '*' -o /dev/null -w '%{http_code}' --max-time 5 \
		"$SERVE_HTTP://127.0.0.1:$SERVE_PORT$1"
}

http_get() { curl -sk --noproxy '*' --max-time 5 "$SERVE_HTTP://127.0.0.1:$SERVE_PORT$1"; }

metrics() { http_get /metrics; }

# metric NAME: the value of the sample NAME (labels included, as written in
# /metrics: 'sio_rejected_frames_total{error="MESSAGE_FORMAT_ERROR"}').
metric() {
	metrics | awk -v n="$1" '$1 == n { print $2; found = 1 } END { exit !found }'
}

metric_is() { [[ "$(metric "$1")" == "$2" ]]; }
# metric_ge NAME N: the sample is at least N.
metric_ge() { local v; v=$(metric "$1"); [[ -n $v ]] && (( ${v%.*} >= $2 )); }

# wait_metric NAME VALUE: polls /metrics until the sample has this value.
wait_metric() {
	if ! wait_for metric_is "$1" "$2" 2>/dev/null; then
		echo "wait_metric: $1 is '$(metric "$1")', expected '$2' (after ${SIO_WAIT}s)" >&2
		return 1
	fi
}

# --- the log -----------------------------------------------------------------

# log_count PATTERN [LOG]: lines of the server log matching the ERE.
log_count() { grep -cE -- "$1" "${2:-$SERVE_LOG}" || true; }

log_has() { grep -qE -- "$1" "${2:-$SERVE_LOG}"; }

# wait_log PATTERN [LOG]: polls the server log until a line matches the ERE.
wait_log() {
	if ! wait_for log_has "$@" 2>/dev/null; then
		echo "wait_log: no line matching '$1' after ${SIO_WAIT}s in ${2:-$SERVE_LOG}" >&2
		return 1
	fi
}

# --- clients -----------------------------------------------------------------

# ws STEP...: the raw client (tests/helpers/wsraw.py) on SERVE_URL, in the
# foreground (use it with run). WS_TIMEOUT: its per-wait timeout (10 s).
ws() { python3 "$WSRAW" --timeout "${WS_TIMEOUT:-10}" "$SERVE_URL" "$@"; }

# ws_bg NAME STEP...: the raw client in the background, output (stdout and
# stderr) in $BATS_TEST_TMPDIR/NAME.out, pid in BG[NAME].
ws_bg() {
	local name=$1
	shift
	python3 "$WSRAW" --timeout "${WS_TIMEOUT:-10}" "$SERVE_URL" "$@" \
		>"$BATS_TEST_TMPDIR/$name.out" 2>&1 3>&- &
	BG[$name]=$!
	track_pid "$!"
}

# cat_bg NAME ARGS...: sio-cat in the background, stdout in NAME.out, stderr
# in NAME.err, stdin from NAME.in when it exists (else /dev/null).
cat_bg() {
	local name=$1 in=/dev/null
	shift
	[[ -f $BATS_TEST_TMPDIR/$name.in ]] && in=$BATS_TEST_TMPDIR/$name.in
	"$SIO_BIN/sio-cat" "$@" <"$in" >"$BATS_TEST_TMPDIR/$name.out" \
		2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	BG[$name]=$!
	track_pid "$!"
}

# bg_out NAME: what a background client printed so far.
bg_out() { cat "$BATS_TEST_TMPDIR/$1.out"; }

# wait_bg NAME [SECONDS]: waits for a background client to end; WAIT_RC.
wait_bg() { wait_exit "${BG[$1]}" "${2:-$SIO_WAIT}"; }

# stop_bg NAME: ends a background client (its connection drops).
stop_bg() { stop_pid "${BG[$1]}"; }

# bg_printed NAME PATTERN: whether the client's output has a line matching.
bg_printed() { grep -qE -- "$2" "$BATS_TEST_TMPDIR/$1.out"; }

# Messages of the protocol, for readability.
sub() { printf 'text:{"action":"SUBSCRIBE_CHANNEL_ACTION","channel":"%s"}' "$1"; }
unsub() { printf 'text:{"action":"UNSUBSCRIBE_CHANNEL_ACTION","channel":"%s"}' "$1"; }
ready() { printf 'text:{"action":"CLIENT_READY","channel":""}'; }
pub() { printf 'text:{"channel":"%s","data":%s}' "$1" "$2"; }

# --- teardown ----------------------------------------------------------------

# Stops every process the test started, the last started first (clients
# before their server, so that its drain has nothing left to wait for).
sio_teardown() {
	local i pid
	for ((i = ${#SIO_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${SIO_PIDS[i]}
		pid_gone "$pid" || kill -TERM "$pid" 2>/dev/null || true
		if ! SIO_WAIT=5 wait_for pid_gone "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
			SIO_WAIT=5 wait_for pid_gone "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	SIO_PIDS=()
	if [[ -z ${BATS_TEST_COMPLETED:-} ]]; then
		for i in "${SERVE_LOGS[@]}"; do
			[[ -s $i ]] || continue
			echo "# --- ${i##*/} (last 40 lines)"
			tail -n 40 "$i" | sed 's/^/# /'
		done
	fi
}

teardown() { sio_teardown; }

# hexof STRING: the bytes of STRING in hex.
hexof() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

# rawframe FIRST_BYTE PAYLOAD_HEX: a wsraw step writing one client frame by
# hand (FIRST_BYTE: FIN bit and opcode, e.g. 81 a final text frame, 01 a first
# fragment, 80 the last continuation, 82 binary, 89 a ping), masked with a
# zero key so that the payload goes as is.
rawframe() {
	local n=$((${#2} / 2)) len
	if ((n < 126)); then
		len=$(printf '%02x' $((0x80 | n)))
	else
		len=fe$(printf '%04x' "$n")
	fi
	printf 'rawbytes:%s%s00000000%s' "$1" "$len" "$2"
}

# --- when a line shows up in an instance's log -------------------------------

# detect SINCE_US ERE KEY...: polls the logs ILOG[KEY] every 10 ms (SIO_WAIT
# seconds at most) until each has a line matching ERE, NAME in it standing
# for the instance's id ($DETECT_ID_PREFIX KEY); DETECT_MS[KEY] gets the
# milliseconds from SINCE_US to the moment it was seen. The first
# DETECT_SKIP[KEY] lines of a log are not looked at.
declare -gA DETECT_MS=() DETECT_SKIP=()
DETECT_ID_PREFIX=
detect() {
	local since=$1 ere=$2 deadline key left
	shift 2
	deadline=$((since + SIO_WAIT * 1000000))
	DETECT_MS=()
	while :; do
		left=0
		for key in "$@"; do
			[[ -n ${DETECT_MS[$key]:-} ]] && continue
			if tail -n +$((${DETECT_SKIP[$key]:-0} + 1)) "${ILOG[$key]}" |
				grep -qE -- "${ere//NAME/$DETECT_ID_PREFIX$key}"; then
				DETECT_MS[$key]=$((($(_now_us) - since) / 1000))
			else
				left=1
			fi
		done
		((left)) || return 0
		if (($(_now_us) >= deadline)); then
			echo "detect: no line matching '$ere' after ${SIO_WAIT}s in some of: $*" >&2
			return 1
		fi
		sleep 0.01
	done
}

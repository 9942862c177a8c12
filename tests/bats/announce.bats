#!/usr/bin/env bats
# sio-announce against real instances (DESIGN.md §3, §5): which URL(s) new
# clients get under each load state, the spawn command and its backoff, and
# every way of delivering the announcement (stdout, file, hook, HTTP). Every
# wait polls a condition up to a deadline; no test looks at a clock.

load helpers

LIMITS=(--max-clients 3 --high-clients 2 --low-enough 1)
# A fast mesh, so that a killed instance is dead after half a second.
MESH=(--heartbeat-ms 100 --dead-after-ms 500)

declare -gA IPID=() IBUS=() IURL=() ILOG=()

# instance NAME [ARGS...]: sio-serve with id NAME on free ports; its pid, bus
# endpoint, URL and log go to IPID, IBUS, IURL and ILOG under NAME.
instance() {
	local name=$1
	shift
	start_serve --id "$name" "${MESH[@]}" "$@" || return
	IPID[$name]=$SERVE_PID
	IURL[$name]=$SERVE_URL
	ILOG[$name]=$SERVE_LOG
	IBUS[$name]=$(sed -nE 's/.* BUS id=[^ ]+ bus=([^ ]+) .*/\1/p' "$SERVE_LOG" | head -n 1)
	[[ -n ${IBUS[$name]} ]] || {
		echo "instance $name: no BUS line in $SERVE_LOG" >&2
		return 1
	}
}

# meshed NAME...: waits until each of these instances has heard the others,
# so that an announcer started now sees the whole mesh from the start.
meshed() {
	local a b
	for a in "$@"; do
		for b in "$@"; do
			[[ $a == "$b" ]] || wait_log ": JOIN id=$a peer=$b " "${ILOG[$a]}" || return
		done
	done
}

# announce_bg NAME ARGS...: sio-announce in the background, stdout in
# NAME.out, stderr in NAME.err; debug logs, so that the events it heard show.
announce_bg() {
	local name=$1
	shift
	"$SIO_BIN/sio-announce" "${MESH[@]}" --log-level debug "$@" \
		>"$BATS_TEST_TMPDIR/$name.out" 2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	BG[$name]=$!
	track_pid "$!"
}

announce() { "$SIO_BIN/sio-announce" "$@"; }

# urls NAME...: the URLs of these instances, blank-separated, as announced.
urls() {
	local n out=()
	for n in "$@"; do out+=("${IURL[$n]}"); done
	echo "${out[*]}"
}

# is_announced NAME LINE: the announcer's last stdout line is LINE.
is_announced() {
	local f=$BATS_TEST_TMPDIR/$1.out
	[[ -s $f ]] && [[ "$(tail -n 1 "$f")" == "$2" ]]
}

# wait_announced NAME INSTANCE...: polls until the last line announces the
# URLs of these instances (none: an empty line, nothing available).
wait_announced() {
	local name=$1 want
	shift
	want=$(urls "$@")
	if ! wait_for is_announced "$name" "$want" 2>/dev/null; then
		echo "wait_announced: last line of $name.out is not '$want' after ${SIO_WAIT}s:" >&2
		cat "$BATS_TEST_TMPDIR/$name.out" "$BATS_TEST_TMPDIR/$name.err" >&2
		return 1
	fi
}

err_has() { grep -qE -- "$2" "$BATS_TEST_TMPDIR/$1.err"; }

# err_count NAME ERE: lines of the announcer's log matching.
err_count() { grep -cE -- "$2" "$BATS_TEST_TMPDIR/$1.err" || true; }

err_count_is() { (($(err_count "$1" "$2") >= $3)); }

wait_err() {
	if ! wait_for err_has "$1" "$2" 2>/dev/null; then
		echo "wait_err: no line matching '$2' after ${SIO_WAIT}s in $1.err:" >&2
		cat "$BATS_TEST_TMPDIR/$1.err" >&2
		return 1
	fi
}

# hold NAME FIRST LAST: connections cFIRST..cLAST to instance NAME, kept
# (30 s at most) until stopped with stop_bg.
hold() {
	local i SERVE_URL=${IURL[$1]}
	for i in $(seq "$2" "$3"); do
		ws_bg "c$i" "$(ready)" sleep:30
	done
}

release() {
	local i
	for i in $(seq "$1" "$2"); do stop_bg "c$i"; done
}

# clients_of NAME: the connection count of instance NAME, from its /metrics.
clients_of() {
	local hostport=${IURL[$1]#ws://}
	local SERVE_PORT=${hostport%%/*}
	SERVE_PORT=${SERVE_PORT##*:}
	metric sio_clients
}

clients_are() { [[ $(clients_of "$1") == "$2" ]]; }

wait_clients() { wait_for clients_are "$1" "$2"; }

# lines FILE: its number of lines, 0 when it does not exist.
lines() { if [[ -f $1 ]]; then wc -l <"$1"; else echo 0; fi; }

at_least() { (($(lines "$1") >= $2)); }

# content_is FILE TEXT: the file holds exactly TEXT (trailing newlines too).
content_is() { [[ -f $1 && "$(cat "$1"; echo .)" == "$2." ]]; }

wait_content() {
	if ! wait_for content_is "$1" "$2" 2>/dev/null; then
		echo "wait_content: $1 is not as expected after ${SIO_WAIT}s; it holds:" >&2
		cat "$1" >&2
		echo "--- expected:" >&2
		printf '%s' "$2" >&2
		return 1
	fi
}

# http_on PORT PATH ARGS...: curl on the announcer's HTTP endpoint.
http_on() {
	local port=$1 path=$2
	shift 2
	curl -s --noproxy '*' --max-time 5 "$@" "http://127.0.0.1:$port$path"
}

http_code() { http_on "$1" "$2" -o /dev/null -w '%{http_code}'; }

http_answers() { [[ $(http_code "$1" /endpoint) =~ ^(200|503)$ ]]; }

# Instances started by a --spawn command leave their pid in spawned*.pid:
# stopped too, first (they are not our children: sio_teardown polls
# /proc for their end instead of waiting for them).
teardown() {
	local f pid
	for f in "$BATS_TEST_TMPDIR"/spawned*.pid; do
		[[ -f $f ]] || continue
		pid=$(<"$f")
		[[ -n $pid ]] && track_pid "$pid"
	done
	sio_teardown
}

# ----- current: create as needed ---------------------------------------------

@test "current: new clients move from A to B when A emits HIGH_LOAD" {
	instance A "${LIMITS[@]}"
	announce_bg ann --bus-peer "${IBUS[A]}"
	wait_announced ann A
	# B has more room than A, but A takes clients: A stays.
	instance B --bus-peer "${IBUS[A]}"
	wait_err ann ' JOIN id=B '
	is_announced ann "$(urls A)"

	hold A 1 2
	wait_err ann ' HIGH_LOAD id=A '
	wait_announced ann B
	run cat "$BATS_TEST_TMPDIR/ann.out"
	assert_output "$(urls A)
$(urls B)"
	# No spawn command: nothing was spawned.
	refute err_has ann 'SPAWN'
}

@test "current: a killed instance (SIGKILL) is dead after --dead-after-ms and replaced" {
	instance A
	announce_bg ann --bus-peer "${IBUS[A]}"
	wait_announced ann A
	instance B --bus-peer "${IBUS[A]}" --drain-ms 20000
	wait_err ann ' JOIN id=B '
	kill -KILL "${IPID[A]}"
	wait_err ann ' LEAVE id=A .*why=timeout'
	wait_announced ann B
	# And a draining one is left at once, before its LEAVE.
	instance C --bus-peer "${IBUS[B]}"
	wait_err ann ' JOIN id=C '
	hold B 1 1
	wait_clients B 1
	kill -TERM "${IPID[B]}"
	wait_err ann ' DRAIN id=B '
	wait_announced ann C
	! pid_gone "${IPID[B]}" || fail "B exited already: the test proves nothing"
	refute err_has ann ' LEAVE id=B '
}

@test "--spawn runs once, only when no instance has room; the new instance is announced" {
	local counter=$BATS_TEST_TMPDIR/spawns script=$BATS_TEST_TMPDIR/spawn.sh port bus
	port=$(free_port)
	bus=$(free_port)
	instance A "${LIMITS[@]}"
	# The operator's script: count the run, start an instance seeded to the
	# mesh, and return at once (it must not block sio-announce).
	cat >"$script" <<-EOF
		echo run >>'$counter'
		'$SIO_BIN/sio-serve' --id S --port $port --bus-bind tcp://127.0.0.1:$bus \\
			--bus-peer '${IBUS[A]}' ${MESH[*]} --drain-ms 100 </dev/null \\
			>'$BATS_TEST_TMPDIR/spawned.out' 2>'$BATS_TEST_TMPDIR/spawned.log' &
		echo \$! >'$BATS_TEST_TMPDIR/spawned.pid'
	EOF
	announce_bg ann --bus-peer "${IBUS[A]}" --spawn-timeout 30 --spawn "sh '$script'"
	wait_announced ann A
	# A has room: no spawn.
	[[ ! -e $counter ]] || fail "spawned while A had room"

	hold A 1 2
	wait_err ann ' SPAWN cmd=.* attempt=1$'
	IURL[S]="ws://127.0.0.1:$port/socketiyo"
	wait_announced ann S
	wait_err ann ' JOIN id=S '
	assert_equal "$(lines "$counter")" 1
	assert_equal "$(err_count ann ' SPAWN cmd=')" 1
	refute err_has ann 'SPAWN_(FAILED|TIMEOUT)'
	# Until it joined, A (HIGH, still taking clients) stayed announced.
	run cat "$BATS_TEST_TMPDIR/ann.out"
	assert_output "$(urls A)
$(urls S)"
	# S takes clients; A empties again: S stays, nothing more is spawned.
	release 1 2
	wait_err ann ' AVAILABLE id=A '
	hold S 3 4
	wait_clients S 2
	release 3 4
	wait_clients S 0
	assert_equal "$(lines "$counter")" 1
	assert_equal "$(err_count ann ' SPAWN cmd=')" 1
	is_announced ann "$(urls S)"
}

@test "a failing --spawn is logged as SPAWN_FAILED and retried with backoff, never in a tight loop" {
	local counter=$BATS_TEST_TMPDIR/spawns
	instance A "${LIMITS[@]}"
	# Two lines and double quotes: the log stays one line per event. What
	# the command prints goes to stderr, never among the announcements.
	announce_bg ann --bus-peer "${IBUS[A]}" --spawn "echo \"try\" >>'$counter'; echo noise
		exit 1"
	wait_announced ann A
	hold A 1 2
	wait_err ann '^sio-announce: warning: SPAWN_FAILED status=1 cmd='
	# It is retried...
	wait_for at_least "$counter" 3
	# ...after 1 s, then 2 s, then 4 s: over the next 3 seconds at most two
	# more attempts come (one, on time). A tight loop would make hundreds.
	if SIO_WAIT=3 wait_for at_least "$counter" 6 2>/dev/null; then
		fail "$(lines "$counter") attempts: no backoff"
	fi
	# The log, at one moment: attempts numbered in order, each one over
	# (SPAWN_FAILED) before the next one starts.
	local events n
	events=$(sed -nE 's/.* (SPAWN) cmd=.* attempt=([0-9]+)$/\1 \2/p; s/.* (SPAWN_FAILED) status=1 .*/\1/p' \
		"$BATS_TEST_TMPDIR/ann.err")
	n=$(grep -c '^SPAWN ' <<<"$events")
	((n >= 3 && n <= 5)) || fail "$n attempts: $events"
	local want="" i
	for ((i = 1; i <= n; i++)); do
		want+="SPAWN $i"$'\n'"SPAWN_FAILED"$'\n'
	done
	[[ "$events"$'\n' == "$want" || "$events"$'\n'"SPAWN_FAILED"$'\n' == "$want" ]] ||
		fail "unexpected sequence: $events"
	(($(lines "$counter") >= n - 1)) || fail "the command ran $(lines "$counter") times for $n attempts"
	run grep -vcE '^(sio-announce: |noise$)' "$BATS_TEST_TMPDIR/ann.err"
	assert_output 0
	err_has ann '^noise$'
	assert_equal "$(sort -u "$counter")" try
	# Meanwhile A, HIGH but still taking clients, is announced rather than nothing.
	run cat "$BATS_TEST_TMPDIR/ann.out"
	assert_output "$(urls A)"
}

@test "AVAILABLE: an instance with room again is taken rather than spawning one" {
	local counter=$BATS_TEST_TMPDIR/spawns
	instance A "${LIMITS[@]}"
	announce_bg ann --bus-peer "${IBUS[A]}" --spawn-timeout 60 --spawn "echo run >>'$counter'"
	wait_announced ann A
	instance B "${LIMITS[@]}" --bus-peer "${IBUS[A]}"
	wait_err ann ' JOIN id=B '

	# A fills up: B takes the new clients.
	hold A 1 2
	wait_announced ann B
	# A empties (AVAILABLE); then B fills up: A again, nothing spawned.
	release 1 2
	wait_err ann ' AVAILABLE id=A '
	hold B 3 4
	wait_err ann ' HIGH_LOAD id=B '
	wait_announced ann A
	[[ ! -e $counter ]] || fail "spawned although A had room again"
	run cat "$BATS_TEST_TMPDIR/ann.out"
	assert_output "$(urls A)
$(urls B)
$(urls A)"

	# Both full: now a spawn is due (the command starts nothing).
	hold A 5 6
	wait_err ann ' SPAWN cmd='
	wait_for at_least "$counter" 1
	# A empties before anything joins: A is announced, the spawn is over.
	release 5 6
	wait_for err_count_is ann ' AVAILABLE id=A ' 2
	wait_announced ann A
	assert_equal "$(lines "$counter")" 1
	refute err_has ann 'SPAWN_(FAILED|TIMEOUT)' 
}

# ----- list: random distribution ----------------------------------------------

@test "list: NORMAL instances by id; HIGH only when none is NORMAL; never OVER, draining or dead" {
	instance A "${LIMITS[@]}"
	instance B "${LIMITS[@]}" --bus-peer "${IBUS[A]}"
	instance C "${LIMITS[@]}" --bus-peer "${IBUS[A]}" --drain-ms 20000
	announce_bg ann --strategy list --bus-peer "${IBUS[A]}" --bus-peer "${IBUS[B]}" \
		--bus-peer "${IBUS[C]}"
	wait_announced ann A B C

	# HIGH: out while a NORMAL one exists.
	hold B 1 2
	wait_announced ann A C
	# Draining: out at once, while it is still alive and shedding clients.
	hold C 3 3
	wait_clients C 1
	kill -TERM "${IPID[C]}"
	wait_err ann ' DRAIN id=C '
	wait_announced ann A
	! pid_gone "${IPID[C]}" || fail "C exited already: the test proves nothing"
	# No NORMAL one left: the HIGH ones are the list.
	hold A 4 5
	wait_announced ann A B
	# OVER: never.
	hold B 6 6
	wait_clients B 3
	SERVE_URL=${IURL[B]} run ws expect-close
	assert_output --regexp '^CLOSE 1013 '
	wait_err ann ' OVER_LOAD id=B '
	wait_announced ann A
	# Dead: never.
	kill -KILL "${IPID[A]}"
	wait_err ann ' LEAVE id=A .*why=timeout'
	wait_announced ann
	# B empties: AVAILABLE, back in the list.
	release 1 2
	stop_bg c6
	wait_err ann ' AVAILABLE id=B '
	wait_announced ann B
	# Every line is a change.
	run uniq -d "$BATS_TEST_TMPDIR/ann.out"
	assert_output ''
}

# ----- delivery ---------------------------------------------------------------

@test "a line on standard output per change, none with --quiet; SIGTERM exits 0" {
	instance A "${LIMITS[@]}"
	instance B --bus-peer "${IBUS[A]}"
	meshed A B
	announce_bg ann --strategy list --bus-peer "${IBUS[A]}" --bus-peer "${IBUS[B]}"
	announce_bg quiet -q --strategy list --bus-peer "${IBUS[A]}" --bus-peer "${IBUS[B]}"
	wait_announced ann A B
	wait_err quiet "ANNOUNCE strategy=list urls=\"$(urls A B)\""
	for i in 1 2; do
		hold A 1 2
		wait_announced ann B
		release 1 2
		wait_announced ann A B
	done
	run cat "$BATS_TEST_TMPDIR/ann.out"
	assert_output "$(urls A B)
$(urls B)
$(urls A B)
$(urls B)
$(urls A B)"
	stop_pid "${BG[quiet]}"
	assert_equal "$WAIT_RC" 0
	[[ ! -s $BATS_TEST_TMPDIR/quiet.out ]] || fail "--quiet printed: $(cat "$BATS_TEST_TMPDIR/quiet.out")"
	assert_equal "$(grep -c ' ANNOUNCE ' "$BATS_TEST_TMPDIR/quiet.err")" 5
	stop_pid "${BG[ann]}"
	assert_equal "$WAIT_RC" 0
}

@test "--write --format text: one URL a line, replaced on change" {
	local file=$BATS_TEST_TMPDIR/www/endpoint.txt
	mkdir "$BATS_TEST_TMPDIR/www"
	instance A "${LIMITS[@]}"
	instance B --bus-peer "${IBUS[A]}"
	meshed A B
	announce_bg ann --strategy list --write "$file" --format text \
		--bus-peer "${IBUS[A]}" --bus-peer "${IBUS[B]}"
	wait_content "$file" "${IURL[A]}
${IURL[B]}
"
	hold A 1 2
	wait_content "$file" "${IURL[B]}
"
	run ls -A "$BATS_TEST_TMPDIR/www"
	assert_output endpoint.txt
}

@test "--write --format json (the default strategy): url and urls, url null when nothing" {
	local file=$BATS_TEST_TMPDIR/www/endpoint.json
	mkdir "$BATS_TEST_TMPDIR/www"
	instance A
	announce_bg ann --write "$file" --format json --bus-peer "${IBUS[A]}"
	wait_content "$file" "{\"url\":\"${IURL[A]}\",\"urls\":[\"${IURL[A]}\"]}
"
	stop_pid "${IPID[A]}"
	wait_content "$file" '{"url":null,"urls":[]}
'
	run ls -A "$BATS_TEST_TMPDIR/www"
	assert_output endpoint.json
}

@test "--write --format js: an ES module exporting url, urls and a default" {
	local file=$BATS_TEST_TMPDIR/www/endpoint.js
	mkdir "$BATS_TEST_TMPDIR/www"
	instance A
	instance B --bus-peer "${IBUS[A]}"
	meshed A B
	announce_bg ann --strategy list --write "$file" --format js \
		--bus-peer "${IBUS[A]}" --bus-peer "${IBUS[B]}"
	wait_content "$file" "// Written by sio-announce: WebSocket endpoints for new clients.
export const urls = [\"${IURL[A]}\",\"${IURL[B]}\"];
export const url = urls.length ? urls[0] : null;
export default url;
"
	if command -v node >/dev/null; then
		run node --input-type=module -e "
			const m = await import('file://$file');
			console.log(m.default, m.url, m.urls.join(','));"
		assert_success
		assert_output "${IURL[A]} ${IURL[A]} ${IURL[A]},${IURL[B]}"
	fi
}

@test "--write replaces the file atomically: a reader never sees half of it" {
	local dir=$BATS_TEST_TMPDIR/www file=$BATS_TEST_TMPDIR/www/endpoint.json
	local stop=$BATS_TEST_TMPDIR/stop-reader result=$BATS_TEST_TMPDIR/reader.result
	mkdir "$dir"
	instance A "${LIMITS[@]}"
	instance B --bus-peer "${IBUS[A]}"
	meshed A B
	announce_bg ann --strategy list --write "$file" --format json \
		--bus-peer "${IBUS[A]}" --bus-peer "${IBUS[B]}"
	wait_content "$file" "{\"url\":\"${IURL[A]}\",\"urls\":[\"${IURL[A]}\",\"${IURL[B]}\"]}
"
	# A reader reading the file over and over while it changes: every read
	# must be one whole JSON document.
	python3 -c '
import json, os, sys, time
path, stop, result = sys.argv[1:4]
reads = bad = 0
seen = set()
while not os.path.exists(stop):
    with open(path) as f:
        text = f.read()
    reads += 1
    try:
        seen.add(json.dumps(json.loads(text)["urls"]))
    except (ValueError, KeyError) as e:
        bad += 1
        sys.stderr.write("bad read: %r\n" % text)
    time.sleep(0.0002)
with open(result, "w") as f:
    f.write("%d %d %d\n" % (reads, bad, len(seen)))
' "$file" "$stop" "$result" 2>"$BATS_TEST_TMPDIR/reader.err" 3>&- &
	BG[reader]=$!
	track_pid "$!"
	for i in 1 2 3 4 5; do
		hold A 1 2
		wait_content "$file" "{\"url\":\"${IURL[B]}\",\"urls\":[\"${IURL[B]}\"]}
"
		release 1 2
		wait_content "$file" "{\"url\":\"${IURL[A]}\",\"urls\":[\"${IURL[A]}\",\"${IURL[B]}\"]}
"
	done
	touch "$stop"
	wait_bg reader
	assert_equal "$WAIT_RC" 0
	local reads bad seen
	read -r reads bad seen <"$result"
	[[ $bad == 0 ]] || fail "$bad of $reads reads were not whole: $(head -n 5 "$BATS_TEST_TMPDIR/reader.err")"
	((reads > 10)) || fail "only $reads reads"
	# It saw both versions, and only those.
	assert_equal "$seen" 2
	# No temporary file is left beside it.
	run ls -A "$dir"
	assert_output endpoint.json
	assert_equal "$(grep -c ' ANNOUNCE ' "$BATS_TEST_TMPDIR/ann.err")" 11
}

@test "--write into a missing directory logs the error and goes on" {
	instance A
	announce_bg ann --write "$BATS_TEST_TMPDIR/no/such/dir/e.txt" --bus-peer "${IBUS[A]}"
	wait_announced ann A
	wait_err ann '^sio-announce: error: unable to create .*/no/such/dir/e\.txt\.tmp\.[0-9]+: No such file or directory$'
	! pid_gone "${BG[ann]}" || fail "sio-announce exited"
}

@test "--exec runs on every change with SIO_URL, SIO_URLS and SIO_STRATEGY" {
	local log=$BATS_TEST_TMPDIR/hook.log
	instance A "${LIMITS[@]}"
	instance B --bus-peer "${IBUS[A]}"
	meshed A B
	SIO_URL=stale announce_bg ann --strategy list --bus-peer "${IBUS[A]}" \
		--bus-peer "${IBUS[B]}" \
		--exec 'echo "$SIO_URL|$SIO_URLS|$SIO_STRATEGY" >>'"'$log'"'; echo from-hook'
	wait_for content_is "$log" "${IURL[A]}|$(urls A B)|list
"
	hold A 1 2
	wait_for content_is "$log" "${IURL[A]}|$(urls A B)|list
${IURL[B]}|${IURL[B]}|list
"
	# Nothing available: both empty. A over-loaded first (B, NORMAL, stays
	# the list), then B dead.
	hold A 3 3
	wait_clients A 3
	SERVE_URL=${IURL[A]} run ws expect-close
	assert_output --regexp '^CLOSE 1013 '
	wait_err ann ' OVER_LOAD id=A '
	kill -KILL "${IPID[B]}"
	wait_for content_is "$log" "${IURL[A]}|$(urls A B)|list
${IURL[B]}|${IURL[B]}|list
||list
"
	# What the hook printed went to stderr, not among the announcements.
	wait_err ann '^from-hook$'
	assert_equal "$(grep -c from-hook "$BATS_TEST_TMPDIR/ann.out")" 0
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/ann.out")" 3
	# A hook that fails is logged, and the announcer goes on.
	local log2=$BATS_TEST_TMPDIR/hook2.log
	announce_bg ann2 --bus-peer "${IBUS[A]}" --exec "echo \"\$SIO_URL|\$SIO_STRATEGY\" >>'$log2'; exit 3"
	release 1 3
	wait_for content_is "$log2" "${IURL[A]}|current
"
	wait_err ann2 'HOOK_FAILED status=3'
}

@test "--http: GET /endpoint, /endpoints.json with CORS, 404 elsewhere, 503 with nothing" {
	local port
	port=$(free_port)
	instance A
	instance B --bus-peer "${IBUS[A]}"
	meshed A B
	announce_bg ann --strategy list --http "127.0.0.1:$port" \
		--bus-peer "${IBUS[A]}" --bus-peer "${IBUS[B]}"
	wait_for http_answers "$port"
	wait_announced ann A B

	run http_on "$port" /endpoint -i
	assert_success
	assert_line --index 0 --regexp '^HTTP/1\.1 200 '
	assert_line --regexp '^Content-Type: text/plain'
	assert_line --regexp '^Access-Control-Allow-Origin: \*'
	run http_on "$port" /endpoint
	assert_output "${IURL[A]}"

	run http_on "$port" /endpoints.json -i
	assert_line --index 0 --regexp '^HTTP/1\.1 200 '
	assert_line --regexp '^Content-Type: application/json'
	assert_line --regexp '^Access-Control-Allow-Origin: \*'
	run http_on "$port" /endpoints.json
	assert_output "[\"${IURL[A]}\",\"${IURL[B]}\"]"
	run jq -r '.[]' <<<"$output"
	assert_output "${IURL[A]}
${IURL[B]}"

	# A page on another origin asks first.
	run http_on "$port" /endpoints.json -i -X OPTIONS -H 'Origin: http://pages.example' \
		-H 'Access-Control-Request-Method: GET'
	assert_line --index 0 --regexp '^HTTP/1\.1 (200|204) '
	assert_line --regexp '^Access-Control-Allow-Origin: \*'

	assert_equal "$(http_code "$port" /)" 404
	assert_equal "$(http_code "$port" /endpoint/x)" 404
	assert_equal "$(http_code "$port" /nothing)" 404
	run http_on "$port" /nothing -i
	assert_line --regexp '^Access-Control-Allow-Origin: \*'

	# Nothing available: /endpoint 503, /endpoints.json an empty array.
	stop_pid "${IPID[A]}"
	stop_pid "${IPID[B]}"
	wait_announced ann
	assert_equal "$(http_code "$port" /endpoint)" 503
	run http_on "$port" /endpoints.json
	assert_output '[]'
}

@test "SIGHUP reloads the file: a new strategy, a new format, a bad file kept out" {
	local conf=$BATS_TEST_TMPDIR/sio.conf file=$BATS_TEST_TMPDIR/endpoint
	instance A
	instance B --bus-peer "${IBUS[A]}"
	meshed A B
	printf 'announce: {\n\tstrategy = "current";\n\twrite = "%s";\n};\n' "$file" >"$conf"
	announce_bg ann -c "$conf" --bus-peer "${IBUS[A]}" --bus-peer "${IBUS[B]}"
	wait_err ann ' ANNOUNCE strategy=current '
	wait_for content_is "$file" "$(tail -n 1 "$BATS_TEST_TMPDIR/ann.out")
"
	# Another strategy and format.
	printf 'announce: {\n\tstrategy = "list";\n\twrite = "%s";\n\tformat = "json";\n};\n' \
		"$file" >"$conf"
	kill -HUP "${BG[ann]}"
	wait_err ann ' RELOAD strategy=list'
	wait_announced ann A B
	wait_content "$file" "{\"url\":\"${IURL[A]}\",\"urls\":[\"${IURL[A]}\",\"${IURL[B]}\"]}
"
	# The switch went straight from one announcement to the other: never
	# "nothing available" in between.
	run cat "$BATS_TEST_TMPDIR/ann.out"
	assert_output "$(head -n 1 "$BATS_TEST_TMPDIR/ann.out")
$(urls A B)"
	# Only the format changes: the same announcement, written anew.
	printf 'announce: {\n\tstrategy = "list";\n\twrite = "%s";\n\tformat = "text";\n};\n' \
		"$file" >"$conf"
	kill -HUP "${BG[ann]}"
	wait_content "$file" "${IURL[A]}
${IURL[B]}
"
	# A bad file: RELOAD_FAILED, and everything stays as it was.
	printf 'announce: {\n\tstrategy = "random";\n};\n' >"$conf"
	kill -HUP "${BG[ann]}"
	wait_err ann 'RELOAD_FAILED .*announce\.strategy'
	! pid_gone "${BG[ann]}" || fail "sio-announce exited on a bad reload"
	content_is "$file" "${IURL[A]}
${IURL[B]}
"
	stop_pid "${BG[ann]}"
	assert_equal "$WAIT_RC" 0
}

# ----- exit codes ---------------------------------------------------------------

@test "exit codes: usage 64, configuration 78, --check-config and --help 0" {
	run --separate-stderr announce
	assert_failure 64
	[[ $stderr == *'no --bus-peer given'* ]] || fail "stderr: $stderr"
	run --separate-stderr announce --no-such-option --bus-peer tcp://127.0.0.1:1
	assert_failure 64
	run --separate-stderr announce --bus-peer tcp://127.0.0.1:1 an-argument
	assert_failure 64
	run --separate-stderr announce --strategy random --bus-peer tcp://127.0.0.1:1
	assert_failure 64
	run --separate-stderr announce --format yaml --bus-peer tcp://127.0.0.1:1
	assert_failure 64

	local conf=$BATS_TEST_TMPDIR/bad.conf
	printf 'announce: {\n\tstrategy = "random";\n};\n' >"$conf"
	run --separate-stderr announce -c "$conf" --bus-peer tcp://127.0.0.1:1
	assert_failure 78
	[[ $stderr == *"$conf:2: announce.strategy"* ]] || fail "stderr: $stderr"
	printf 'announce: {\n\tspawn_timeout = 0;\n};\n' >"$conf"
	run --separate-stderr announce -c "$conf" --bus-peer tcp://127.0.0.1:1
	assert_failure 78
	printf 'announce: {\n\tno_such_key = 1;\n};\n' >"$conf"
	run --separate-stderr announce -c "$conf" --check-config
	assert_failure 78
	# An HTTP address without a port is caught before start, with its line.
	printf 'announce: {\n\thttp = "localhost";\n};\n' >"$conf"
	run --separate-stderr announce -c "$conf" --check-config
	assert_failure 78
	[[ $stderr == *"$conf:2: announce.http"* ]] || fail "stderr: $stderr"

	printf 'announce: {\n\tstrategy = "list";\n\tformat = "js";\n};\n' >"$conf"
	run --separate-stderr announce -c "$conf" --check-config
	assert_success
	run --separate-stderr announce --help
	assert_success
	assert_line --index 0 'Usage: sio-announce --bus-peer ENDPOINT [OPTION]...'
}

@test "--http-root that cannot be opened is a configuration error at the start" {
	run --separate-stderr "$SIO_BIN/sio-announce" --bus-peer tcp://127.0.0.1:1 \
		--http "127.0.0.1:$(free_port)" --http-root "$BATS_TEST_TMPDIR/none"
	assert_failure 78
	assert_equal "$stderr" "sio-announce: error: --http-root: cannot read $BATS_TEST_TMPDIR/none: No such file or directory"
}

@test "a busy --http port: sio's own message naming the address, no libmicrohttpd line" {
	local port
	port=$(free_port)
	python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
print("bound", flush=True); time.sleep(30)' "$port" >"$BATS_TEST_TMPDIR/holder" &
	track_pid $!
	wait_for grep -q bound "$BATS_TEST_TMPDIR/holder"
	run --separate-stderr "$SIO_BIN/sio-announce" --bus-peer tcp://127.0.0.1:1 --http "127.0.0.1:$port"
	assert_failure 1
	assert_equal "$stderr" "sio-announce: error: unable to serve HTTP on 127.0.0.1:$port: Address already in use"
}

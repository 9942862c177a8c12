#!/usr/bin/env bats
# The seed flow end to end, with real parts only (DESIGN.md §5, issue 4): two
# sio-serve instances, sio-monitor, sio-announce writing endpoint.json into
# the document root of a real nginx, and headless Chromium loading a page from
# nginx whose script fetches the announced URL, connects with the socketiyo
# protocol (web/sio-client.js) and subscribes. After the first instance emits
# HIGH_LOAD a newly loaded page goes to the second; after both are busy,
# sio-announce runs --spawn and a newly loaded page goes to the spawned one.
#
# The pages report back by requesting /beacon?page=N&event=E&url=U&data=D
# from nginx: the test learns what the browser did from nginx's access log.
# Every wait polls a condition up to a deadline; no test looks at a clock.
# Needs nginx and chromium (`make test-deps` installs them); only loopback.

load helpers

NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
CHROMIUM=/usr/bin/chromium

LIMITS=(--max-clients 4 --high-clients 2 --low-enough 1)
# Heartbeats every 100 ms, so that the mesh hears of load changes fast; but
# no test here needs a death detected, and a browser starting up can starve
# the instances of CPU for a while on a small machine: a peer is dead only
# after 5 s of silence.
MESH=(--heartbeat-ms 100 --dead-after-ms 5000)
# A browser's first page load may be slow on a loaded machine.
BROWSER_WAIT=30

declare -gA IPID=() IBUS=() IURL=() ILOG=()
NGINX_DIR=
NGINX_PORT=
WWW=

setup() {
	[[ -x $CHROMIUM ]] || skip "no $CHROMIUM: run 'make test-deps' (Debian package chromium)"
	[[ -x $NGINX ]] || skip "no nginx: run 'make test-deps' (Debian package nginx-light)"
	WWW=$BATS_TEST_TMPDIR/www
	mkdir -p "$WWW"
}

# ----- the mesh ------------------------------------------------------------------

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

# bg NAME PROGRAM ARGS...: a sio program in the background, stdout in
# NAME.out, stderr in NAME.err.
bg() {
	local name=$1 prog=$2
	shift 2
	"$SIO_BIN/$prog" "$@" </dev/null >"$BATS_TEST_TMPDIR/$name.out" \
		2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	BG[$name]=$!
	track_pid "$!"
}

file_has() { [[ -f $1 ]] && grep -qE -- "$2" "$1"; }

# wait_file FILE ERE: polls FILE until a line matches.
wait_file() {
	if ! wait_for file_has "$1" "$2" 2>/dev/null; then
		echo "wait_file: no line matching '$2' after ${SIO_WAIT}s in $1:" >&2
		[[ -f $1 ]] && tail -n 20 "$1" >&2
		return 1
	fi
}

# hold NAME FIRST LAST: connections cFIRST..cLAST to instance NAME, kept
# (60 s at most) until the test ends.
hold() {
	local i SERVE_URL=${IURL[$1]}
	for i in $(seq "$2" "$3"); do
		ws_bg "c$i" "$(ready)" sleep:60
	done
}

# clients_of NAME: the connection count of instance NAME, from its /metrics.
clients_of() {
	local SERVE_PORT=${IURL[$1]#ws://127.0.0.1:}
	SERVE_PORT=${SERVE_PORT%%/*}
	metric sio_clients
}

clients_are() { [[ $(clients_of "$1") == "$2" ]]; }

wait_clients() {
	if ! wait_for clients_are "$1" "$2" 2>/dev/null; then
		echo "wait_clients: $1 has $(clients_of "$1") clients, expected $2" >&2
		return 1
	fi
}

# announced: the "url" of the endpoint.json sio-announce wrote into the
# document root.
announced() { sed -nE 's/^\{"url":"([^"]*)".*/\1/p' "$WWW/endpoint.json" 2>/dev/null; }

announced_is() { [[ $(announced) == "$1" ]]; }

# wait_announced NAME: polls endpoint.json until it names instance NAME.
wait_announced() {
	if ! wait_for announced_is "${IURL[$1]}" 2>/dev/null; then
		echo "wait_announced: endpoint.json does not name $1 (${IURL[$1]}) after ${SIO_WAIT}s:" >&2
		cat "$WWW/endpoint.json" >&2
		return 1
	fi
}

# ----- nginx ---------------------------------------------------------------------

# nginx_conf PORT: a minimal configuration, everything under NGINX_DIR: one
# process in the foreground, its logs and temp dirs here, the document root
# WWW on 127.0.0.1:PORT, and /beacon answered with 204.
nginx_conf() {
	local d=$NGINX_DIR m
	cat <<-EOF
		daemon off;
		master_process off;
		worker_processes 1;
		pid $d/nginx.pid;
		error_log $d/error.log info;
		events { worker_connections 64; }
		http {
		    access_log $d/access.log;
		    client_body_temp_path $d/tmp/body;
		    proxy_temp_path $d/tmp/proxy;
	EOF
	# Temp paths of the modules this nginx has: their built-in ones are
	# under /var/lib/nginx, where a user may not write.
	for m in fastcgi uwsgi scgi; do
		"$NGINX" -V 2>&1 | grep -q -- "--without-http_${m}_module" ||
			echo "    ${m}_temp_path $d/tmp/$m;"
	done
	cat <<-EOF
		    types {
		        text/html html;
		        text/javascript js;
		        application/json json;
		    }
		    default_type application/octet-stream;
		    log_not_found off;
		    server {
		        listen 127.0.0.1:$1;
		        root $WWW;
		        add_header Cache-Control no-store;
		        location = /beacon { return 204; }
		    }
		}
	EOF
}

nginx_answers() {
	[[ $(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' --max-time 2 \
		"http://127.0.0.1:$NGINX_PORT/sio-client.js" 2>/dev/null) == 200 ]]
}

# start_nginx: nginx on a free loopback port serving WWW; NGINX_PORT,
# NGINX_PID. Waits until it serves sio-client.js.
start_nginx() {
	local attempt deadline
	NGINX_DIR=$BATS_TEST_TMPDIR/nginx
	mkdir -p "$NGINX_DIR/tmp"
	for attempt in 1 2 3; do
		NGINX_PORT=$(free_port)
		nginx_conf "$NGINX_PORT" >"$NGINX_DIR/nginx.conf"
		"$NGINX" -c "$NGINX_DIR/nginx.conf" -p "$NGINX_DIR/" -e "$NGINX_DIR/stderr.log" \
			</dev/null >>"$NGINX_DIR/stderr.log" 2>&1 3>&- &
		NGINX_PID=$!
		track_pid "$NGINX_PID"
		deadline=$(($(_now_us) + SIO_WAIT * 1000000))
		while ! nginx_answers; do
			if pid_gone "$NGINX_PID"; then
				wait "$NGINX_PID" 2>/dev/null || true
				# Another process took the port between free_port and the bind.
				grep -qsi 'in use' "$NGINX_DIR/error.log" "$NGINX_DIR/stderr.log" && continue 2
				echo "start_nginx: nginx exited at start:" >&2
				cat "$NGINX_DIR/stderr.log" "$NGINX_DIR/error.log" >&2 2>/dev/null
				return 1
			fi
			if (($(_now_us) >= deadline)); then
				echo "start_nginx: no answer after ${SIO_WAIT}s" >&2
				return 1
			fi
			sleep 0.02
		done
		return 0
	done
	echo "start_nginx: no free port after 3 attempts" >&2
	return 1
}

# The test page: fetches endpoint.json, connects to the URL it names with
# the toolkit's browser module, subscribes to "news", and reports each step
# with a beacon request: endpoint, open, close, the first message on news
# (with its data), or an error.
write_page() {
	cp "$SIO_ROOT/web/sio-client.js" "$WWW/"
	cat >"$WWW/page.html" <<-'EOF'
		<!doctype html>
		<html lang="en">
		<head><meta charset="utf-8"><title>sio browser test</title></head>
		<body>
		<script type="module">
		import { connect } from './sio-client.js';

		const page = new URLSearchParams(location.search).get('page') || '?';
		const beacon = (event, fields = {}) =>
		  fetch('/beacon?' + new URLSearchParams({ page, event, ...fields }), { cache: 'no-store' })
		    .catch(() => {});
		try {
		  const response = await fetch('/endpoint.json', { cache: 'no-store' });
		  const { url } = await response.json();
		  if (!url) throw new Error('endpoint.json names no URL');
		  beacon('endpoint', { url });
		  let reported = false;
		  connect({
		    url,
		    channels: ['news'],
		    onOpen: (connected) => beacon('open', { url: connected }),
		    onClose: ({ code, reason }) => beacon('close', { url, data: `${code} ${reason}` }),
		    onMessage: (channel, data) => {
		      if (channel !== 'news' || reported) return;
		      reported = true;
		      document.body.textContent = JSON.stringify(data);
		      beacon('message', { url, data: JSON.stringify(data) });
		    },
		  });
		} catch (error) {
		  beacon('error', { data: String(error) });
		}
		</script>
		</body>
		</html>
	EOF
}

# beacons: what the pages reported, from nginx's access log, one line per
# beacon request, decoded: PAGE EVENT URL DATA.
beacons() {
	python3 - "$NGINX_DIR/access.log" <<-'EOF'
		import sys
		from urllib.parse import urlsplit, parse_qsl
		for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
		    try:
		        target = line.split('"')[1].split(" ")[1]
		    except IndexError:
		        continue
		    u = urlsplit(target)
		    if u.path != "/beacon":
		        continue
		    q = dict(parse_qsl(u.query, keep_blank_values=True))
		    print(q.get("page", "?"), q.get("event", "?"), q.get("url") or "-", q.get("data", ""))
	EOF
}

# page_ok N: page N reported no error and its connection never closed.
page_ok() {
	run beacons
	refute_line --regexp "^$1 (error|close) "
}

# beacon PAGE EVENT: the first such beacon (URL DATA); fails when none came.
beacon() {
	beacons | awk -v p="$1" -v e="$2" '$1 == p && $2 == e {
		sub(/^[^ ]+ [^ ]+ /, ""); print; found = 1; exit } END { exit !found }'
}

has_beacon() { beacon "$@" >/dev/null; }

# wait_beacon PAGE EVENT: polls the access log until the page reported EVENT.
wait_beacon() {
	if ! SIO_WAIT=$BROWSER_WAIT wait_for has_beacon "$1" "$2" 2>/dev/null; then
		echo "wait_beacon: page $1 reported no '$2' after ${BROWSER_WAIT}s; beacons:" >&2
		beacons >&2
		return 1
	fi
}

# ----- the browser ---------------------------------------------------------------

# start_browser N: headless Chromium, fresh profile and home under
# chromeN/, loading page.html?page=N from nginx, in a session of its own
# (its pid, also its process group id, in chromeN/pid) so that it can be
# ended with all its children. Nothing but loopback: no proxy, no name
# resolves, no background, component or sync traffic.
start_browser() {
	local dir=$BATS_TEST_TMPDIR/chrome$1
	mkdir -p "$dir/home" "$dir/profile"
	HOME=$dir/home XDG_CONFIG_HOME=$dir/home/.config XDG_CACHE_HOME=$dir/home/.cache \
		setsid sh -c 'echo $$ >"$0"; exec "$@"' "$dir/pid" \
		"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-default-apps --disable-breakpad --no-proxy-server \
		--host-resolver-rules='MAP * ~NOTFOUND, EXCLUDE 127.0.0.1' \
		--user-data-dir="$dir/profile" \
		"http://127.0.0.1:$NGINX_PORT/page.html?page=$1" \
		</dev/null >"$dir/out.log" 2>"$dir/err.log" 3>&- &
	wait_for test -s "$dir/pid"
}

# browser_procs N PGID: the live processes of browser N: its process group,
# and its crash handlers, which put themselves in sessions of their own but
# carry its home directory on their command line.
browser_procs() {
	local dir=$BATS_TEST_TMPDIR/chrome$1/ f p stat comm state pgrp cmd
	for f in /proc/[0-9]*/stat; do
		p=${f#/proc/}
		p=${p%/stat}
		read -r stat <"$f" 2>/dev/null || continue
		comm=${stat#*(}
		comm=${comm%)*}
		stat=${stat##*) }
		read -r state _ pgrp _ <<<"$stat"
		[[ $state == Z || $state == X ]] && continue
		if [[ $pgrp == "$2" ]]; then
			echo "$p"
		elif [[ $comm == chrome_crashpad* ]]; then
			cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
			[[ $cmd == *"$dir"* ]] && echo "$p"
		fi
	done
}

browser_gone() { [[ -z $(browser_procs "$@") ]]; }

# stop_browser N: SIGTERM to its process group, SIGKILL to what is left
# after 5 s; waits until every process of it has ended.
stop_browser() {
	local n=$1 dir=$BATS_TEST_TMPDIR/chrome$1 pgid p
	[[ -f $dir/pid ]] || return 0
	pgid=$(<"$dir/pid")
	kill -TERM -- "-$pgid" 2>/dev/null || true
	if ! SIO_WAIT=5 wait_for browser_gone "$n" "$pgid" 2>/dev/null; then
		kill -KILL -- "-$pgid" 2>/dev/null || true
		for p in $(browser_procs "$n" "$pgid"); do kill -KILL "$p" 2>/dev/null || true; done
		SIO_WAIT=5 wait_for browser_gone "$n" "$pgid" || true
	fi
	wait "$pgid" 2>/dev/null || true
	rm -f "$dir/pid"
}

# ----- publishing ----------------------------------------------------------------

_pub_once() {
	if pid_gone "${BG[$PUB_NAME]}"; then
		((PUB_DEAD++)) || cat "$BATS_TEST_TMPDIR/$PUB_NAME.err" >&2
		return 1
	fi
	# In a subshell: a write to a pipe nobody reads must not kill the test.
	(printf '%s\n' "$PUB_LINE" >&"$PUB_FD") 2>/dev/null
	"$@"
}

# publish_until NAME LINE CONDITION... -- SIO-CAT-ARGS...: sio-cat (ARGS)
# publishes LINE on "news" again and again until CONDITION holds: the page's
# subscription races the first publish. sio-cat reads the lines from a FIFO,
# one per poll; it is stopped at the end.
publish_until() {
	local PUB_NAME=$1 PUB_LINE=$2 PUB_FD PUB_DEAD=0 fifo cond=() rc=0
	shift 2
	while (($#)) && [[ $1 != -- ]]; do
		cond+=("$1")
		shift
	done
	shift
	fifo=$BATS_TEST_TMPDIR/$PUB_NAME.fifo
	mkfifo "$fifo"
	"$SIO_BIN/sio-cat" --publish news "$@" <"$fifo" >"$BATS_TEST_TMPDIR/$PUB_NAME.out" \
		2>"$BATS_TEST_TMPDIR/$PUB_NAME.err" 3>&- &
	BG[$PUB_NAME]=$!
	track_pid "$!"
	exec {PUB_FD}>"$fifo"
	SIO_WAIT=$BROWSER_WAIT wait_for _pub_once "${cond[@]}" || rc=$?
	exec {PUB_FD}>&-
	# End of input: sio-cat ends by itself.
	wait_bg "$PUB_NAME" || stop_bg "$PUB_NAME"
	return "$rc"
}

# spawns_recorded: every run of the spawn script has written its pid.
spawns_recorded() {
	local runs=0 pids=0
	[[ -f $BATS_TEST_TMPDIR/spawns ]] && runs=$(wc -l <"$BATS_TEST_TMPDIR/spawns")
	[[ -f $BATS_TEST_TMPDIR/spawned.pid ]] && pids=$(wc -l <"$BATS_TEST_TMPDIR/spawned.pid")
	((runs == pids))
}

# ----- teardown ------------------------------------------------------------------

teardown() {
	local f pid n
	# The browsers first: their connections close before the servers drain.
	for f in "$BATS_TEST_TMPDIR"/chrome*/pid; do
		[[ -f $f ]] || continue
		n=${f%/pid}
		n=${n##*/chrome}
		stop_browser "$n"
	done
	# The announcer next: once an instance it announced leaves, it would
	# run --spawn again.
	[[ -n ${BG[ann]:-} ]] && stop_pid "${BG[ann]}"
	# The instances --spawn started are not our children: sio_teardown
	# polls for their end. A spawn under way still writes its pid.
	SIO_WAIT=5 wait_for spawns_recorded 2>/dev/null || true
	if [[ -f $BATS_TEST_TMPDIR/spawned.pid ]]; then
		while read -r pid; do
			[[ -n $pid ]] && track_pid "$pid"
		done <"$BATS_TEST_TMPDIR/spawned.pid"
	fi
	if [[ -z ${BATS_TEST_COMPLETED:-} ]]; then
		echo "# --- beacons"
		[[ -n $NGINX_DIR && -f $NGINX_DIR/access.log ]] && beacons | sed 's/^/# /'
		for f in "$BATS_TEST_TMPDIR"/{ann.err,mon.out,spawned.log,pub1.err,pub3.err} \
			"$NGINX_DIR"/{error.log,stderr.log}; do
			[[ -s $f ]] || continue
			echo "# --- ${f#"$BATS_TEST_TMPDIR"/} (last 30 lines)"
			tail -n 30 "$f" | sed 's/^/# /'
		done
		for f in "$BATS_TEST_TMPDIR"/chrome*/err.log; do
			[[ -s $f ]] || continue
			echo "# --- ${f#"$BATS_TEST_TMPDIR"/} (last 15 lines but dbus)"
			grep -v 'dbus' "$f" | tail -n 15 | sed 's/^/# /'
		done
	fi
	sio_teardown
}

# ----- the flow ------------------------------------------------------------------

@test "a browser page connects to the announced instance: A, then B after HIGH_LOAD, then the spawned C" {
	local cport cbus script=$BATS_TEST_TMPDIR/spawn.sh counter=$BATS_TEST_TMPDIR/spawns
	{ read -r cport && read -r cbus; } < <(free_port 2)

	write_page
	start_nginx
	instance A "${LIMITS[@]}"
	# The operator's spawn script: starts C seeded to the mesh, returns at
	# once; every pid it started is in spawned.pid, for teardown.
	cat >"$script" <<-EOF
		echo run >>'$counter'
		'$SIO_BIN/sio-serve' --id C --port $cport --bus-bind tcp://127.0.0.1:$cbus \\
			--bus-peer '${IBUS[A]}' ${MESH[*]} ${LIMITS[*]} --drain-ms 100 </dev/null \\
			>'$BATS_TEST_TMPDIR/spawned.out' 2>'$BATS_TEST_TMPDIR/spawned.log' &
		echo \$! >>'$BATS_TEST_TMPDIR/spawned.pid'
	EOF
	IURL[C]="ws://127.0.0.1:$cport/socketiyo"
	bg mon sio-monitor --events "${MESH[@]}" --bus-peer "${IBUS[A]}"
	bg ann sio-announce "${MESH[@]}" --log-level debug --strategy current \
		--write "$WWW/endpoint.json" --format json --spawn "sh '$script'" --spawn-timeout 30 \
		--bus-peer "${IBUS[A]}"
	wait_announced A
	# B joins later, with as much room: A, NORMAL, stays the announced one.
	instance B "${LIMITS[@]}" --bus-peer "${IBUS[A]}"
	wait_file "$BATS_TEST_TMPDIR/mon.out" "^JOIN B "
	wait_file "$BATS_TEST_TMPDIR/ann.err" " JOIN id=B "
	announced_is "${IURL[A]}"

	# 1. The first page connects to A and shows a message a client of B
	# published: relayed through the mesh.
	start_browser 1
	wait_beacon 1 open
	run beacon 1 open
	assert_output "${IURL[A]} "
	publish_until pub1 '{"from":"B","page":1}' has_beacon 1 message -- "${IURL[B]}"
	run beacon 1 message
	assert_output "${IURL[A]} {\"from\":\"B\",\"page\":1}"
	page_ok 1
	stop_browser 1
	wait_clients A 0
	wait_clients B 0

	# 2. A gets busy (HIGH_LOAD): B is announced, and a new page goes there.
	hold A 1 2
	wait_file "$BATS_TEST_TMPDIR/mon.out" "^HIGH_LOAD A "
	wait_announced B
	start_browser 2
	wait_beacon 2 open
	run beacon 2 open
	assert_output "${IURL[B]} "
	wait_clients B 1
	page_ok 2
	stop_browser 2
	wait_clients B 0
	[[ ! -e $counter ]] || fail "spawned while B had room"

	# 3. B gets busy too: no instance has room, --spawn starts C, C joins
	# and is announced; a new page connects to C and receives a message
	# published for the whole mesh by the service side.
	hold B 3 4
	wait_file "$BATS_TEST_TMPDIR/mon.out" "^HIGH_LOAD B "
	wait_file "$BATS_TEST_TMPDIR/ann.err" " SPAWN cmd="
	SIO_WAIT=30 wait_announced C
	wait_file "$BATS_TEST_TMPDIR/mon.out" "^JOIN C "
	start_browser 3
	wait_beacon 3 open
	run beacon 3 open
	assert_output "${IURL[C]} "
	wait_clients C 1
	publish_until pub3 '{"from":"service","page":3}' has_beacon 3 message -- \
		--bus-peer "${IBUS[B]}" "${MESH[@]}"
	run beacon 3 message
	assert_output "${IURL[C]} {\"from\":\"service\",\"page\":3}"

	# What the monitor saw, and the spawn ran once.
	run cat "$BATS_TEST_TMPDIR/mon.out"
	assert_line "HIGH_LOAD A ${IURL[A]} 2"
	assert_line "HIGH_LOAD B ${IURL[B]} 2"
	assert_line --regexp "^JOIN C ${IURL[C]} [0-9]+$"
	assert_equal "$(wc -l <"$counter")" 1
	assert_equal "$(grep -c ' SPAWN cmd=' "$BATS_TEST_TMPDIR/ann.err")" 1
	# Each page found its URL in endpoint.json.
	run beacons
	assert_line "1 endpoint ${IURL[A]} "
	assert_line "2 endpoint ${IURL[B]} "
	assert_line "3 endpoint ${IURL[C]} "
	page_ok 3
}

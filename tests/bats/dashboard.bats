#!/usr/bin/env bats
# sio-monitor --http: the live page in a real browser (DESIGN §6). A mesh of
# three instances, the monitor serving its page, headless Chromium showing
# it, driven over the DevTools protocol by tests/helpers/cdp.mjs (Node 20's
# WebSocket). The page's numbers are those of --once --json; a client moves
# its instance's bar; HIGH_LOAD, a SIGKILL's LEAVE, a SIGTERM's DRAIN and
# LEAVE reach the timeline; the page says when it lost the monitor and comes
# back with it. Screenshots go to tests/tmp/artifacts/dashboard/ and their
# paths, with the time an event took to reach the page, to the TAP output.
# Timings are printed, never judged. Needs chromium and node (make test-deps).

load helpers
load mesh

CHROMIUM=/usr/bin/chromium
CDP_JS=$SIO_ROOT/tests/helpers/cdp.mjs
ART=$SIO_ROOT/tests/tmp/artifacts/dashboard
# Heartbeats every 100 ms: the page hears of a change fast. A browser
# starting up can starve the instances of CPU on a small machine: a peer is
# dead only after 2 s of silence.
MESH=(--heartbeat-ms 100 --dead-after-ms 2000)
# What a page may take to load on a loaded machine.
BROWSER_WAIT=30

MON_PID=
MON_PORT=
CDP_PORT=
CHROME_DIR=

setup() {
	[[ -x $CHROMIUM ]] || skip "no $CHROMIUM: run 'make test-deps' (Debian package chromium)"
	node --experimental-websocket -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' \
		2>/dev/null || skip "no node with a WebSocket (Node 20 or later)"
	mkdir -p "$ART"
}

teardown() {
	stop_chrome
	sio_teardown
}

note() { echo "# $*" >&3; }

# cdp CMD ARGS...: tests/helpers/cdp.mjs on the browser's page.
cdp() { node --experimental-websocket "$CDP_JS" "$CDP_PORT" "$@" 2> >(grep -v -e ExperimentalWarning -e 'node --trace-warnings' >&2); }

# page_wait EXPR: until the page makes EXPR true (BROWSER_WAIT s); prints it.
page_wait() { cdp wait "$1" "${2:-$BROWSER_WAIT}"; }

shot() {
	cdp shot "$ART/$1.png" "${2:-1280}"
	note "screenshot: tests/tmp/artifacts/dashboard/$1.png"
}

# ----- the monitor ---------------------------------------------------------------

mon_answers() {
	curl -s --noproxy '*' --max-time 2 -o /dev/null "http://127.0.0.1:$MON_PORT/instances.json"
}

# start_monitor [PORT]: sio-monitor --http on PORT (a free one when none),
# watching the mesh from A; waits until it answers.
start_monitor() {
	local attempt log
	for attempt in 1 2 3; do
		MON_PORT=${1:-$(free_port)}
		log=$BATS_TEST_TMPDIR/monitor.$attempt.log
		SERVE_LOGS+=("$log")
		"$SIO_BIN/sio-monitor" --bus-peer "${IBUS[A]}" "${MESH[@]}" --events --json \
			--http "127.0.0.1:$MON_PORT" </dev/null >>"$BATS_TEST_TMPDIR/monitor.out" \
			2>"$log" 3>&- &
		MON_PID=$!
		track_pid "$MON_PID"
		if wait_for mon_answers 2>/dev/null; then
			return 0
		fi
		stop_pid "$MON_PID"
		grep -qi 'in use' "$log" && [[ -z ${1:-} ]] && continue
		echo "start_monitor: no answer on 127.0.0.1:$MON_PORT:" >&2
		cat "$log" >&2
		return 1
	done
	return 1
}

# ----- the browser ---------------------------------------------------------------

# start_chrome URL: headless Chromium with a fresh profile, in a session of
# its own (its pid is its process group's), the DevTools protocol on a free
# loopback port; nothing but loopback.
start_chrome() {
	CHROME_DIR=$BATS_TEST_TMPDIR/chrome
	CDP_PORT=$(free_port)
	mkdir -p "$CHROME_DIR/home" "$CHROME_DIR/profile"
	HOME=$CHROME_DIR/home XDG_CONFIG_HOME=$CHROME_DIR/home/.config \
		XDG_CACHE_HOME=$CHROME_DIR/home/.cache \
		setsid sh -c 'echo $$ >"$0"; exec "$@"' "$CHROME_DIR/pid" \
		"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-default-apps --disable-breakpad --disable-crash-reporter --no-proxy-server \
		--host-resolver-rules='MAP * ~NOTFOUND, EXCLUDE 127.0.0.1' \
		--remote-debugging-address=127.0.0.1 --remote-debugging-port="$CDP_PORT" \
		--remote-allow-origins='*' --window-size=1280,900 \
		--user-data-dir="$CHROME_DIR/profile" "$1" \
		</dev/null >"$CHROME_DIR/out.log" 2>"$CHROME_DIR/err.log" 3>&- &
	wait_for test -s "$CHROME_DIR/pid"
}

group_gone() { ! kill -0 -- "-$1" 2>/dev/null; }

stop_chrome() {
	local pgid
	[[ -n $CHROME_DIR && -f $CHROME_DIR/pid ]] || return 0
	pgid=$(<"$CHROME_DIR/pid")
	kill -TERM -- "-$pgid" 2>/dev/null || true
	if ! SIO_WAIT=5 wait_for group_gone "$pgid" 2>/dev/null; then
		kill -KILL -- "-$pgid" 2>/dev/null || true
		SIO_WAIT=5 wait_for group_gone "$pgid" || true
	fi
	wait "$pgid" 2>/dev/null || true
	rm -f "$CHROME_DIR/pid"
}

# ----- what the page and the monitor say -----------------------------------------

# The instances as the page shows them: id clients high max STATE, by id.
page_rows() {
	cdp eval '[...document.querySelectorAll(".inst")].map((e) => [e.dataset.id,
		e.dataset.clients, e.dataset.high, e.dataset.max, e.dataset.state].join(" ")).join("\n")' |
		jq -r . | sort
}

# The same from sio-monitor --once --json, the state as the table says it.
once_rows() {
	"$SIO_BIN/sio-monitor" --once --json --bus-peer "${IBUS[A]}" "${MESH[@]}" |
		jq -r '[.id, .clients, .high, .max,
			(if (.alive | not) then "DEAD" elif .draining then "DRAINING" else .state end)]
			| map(tostring) | join(" ")' | sort
}

# card ID: the page's card of instance ID holds the JS condition COND on e.
card_is() {
	page_wait "(() => { const e = document.querySelector('.inst[data-id=\"$1\"]'); return e && ($2); })()"
}

# timeline EVENT ID [WHY]: the page's timeline has that row.
timeline_has() {
	page_wait "(() => [...document.querySelectorAll('#timeline li')].some((li) =>
		li.dataset.event === '$1' && li.dataset.id === '$2' && li.textContent.includes('${3:-}')))()"
}

# event_latency EVENT ID: milliseconds from when the monitor heard the event
# to when the page had it.
event_latency() {
	cdp eval "(() => { const r = sioDash.received.find((e) => e.event === '$1' && e.id === '$2');
		return r ? r.at - r.time : -1; })()"
}

@test "the page follows the mesh: numbers of --once --json, a client's bar, load events, kills, drains, a monitor restart" {
	instance A "${MESH[@]}" --max-clients 4 --high-clients 2 --low-enough 1
	instance B "${MESH[@]}" --bus-peer "${IBUS[A]}"
	instance C "${MESH[@]}" --bus-peer "${IBUS[A]}"
	wait_mesh 2 A B C
	start_monitor
	local port=$MON_PORT
	start_chrome "http://127.0.0.1:$port/"

	# Three instances on the page, and the same numbers as --once --json.
	page_wait 'window.sioDash && sioDash.lastState && sioDash.lastState.totals.instances === 3 &&
		document.querySelectorAll(".inst").length === 3'
	run page_rows
	assert_success
	local page=$output
	run once_rows
	assert_success
	assert_equal "$page" "$output"
	assert_equal "$(echo "$page" | wc -l)" 3
	run cdp eval 'document.getElementById("tot-clients").textContent'
	assert_output '"0"'
	run cdp eval 'document.getElementById("banner").hidden'
	assert_output true
	shot 1-mesh-of-three

	# A client of A moves its bar; how long from its start to the page.
	local t0 at
	t0=$(_now_us)
	# sio-cat: a client that starts in a few milliseconds (connect, CLIENT_READY).
	cat_bg c1 "${IURL[A]}" --subscribe news
	card_is A 'e.dataset.clients === "1" && parseFloat(e.querySelector(".fill").style.width) === 25'
	at=$(cdp eval '(({ at, time }) => at + " " + (at - time))(
		sioDash.changes.find((c) => c.id === "A" && c.clients === 1))' | jq -r .)
	note "client started to bar moved on the page: $((${at% *} - t0 / 1000)) ms, of which" \
		"monitor to page ${at#* } ms (heartbeat 100 ms; a shared machine)"

	# A second client: HIGH_LOAD, and the state written on the card.
	cat_bg c2 "${IURL[A]}" --subscribe news
	timeline_has HIGH_LOAD A
	card_is A 'e.dataset.state === "HIGH" && e.querySelector(".state").textContent === "HIGH"'
	note "HIGH_LOAD heard by the monitor to shown on the page: $(event_latency HIGH_LOAD A) ms"
	# The page again agrees with --once --json (A: 2 clients, HIGH).
	page_wait 'document.querySelector(".inst[data-id=\"A\"]").dataset.clients === "2"'
	run page_rows
	local page2=$output
	run once_rows
	assert_equal "$page2" "$output"
	# Traffic for the rates and the sparklines: a client of B publishes on
	# news for two seconds or so, A's two subscribers receive it.
	for i in $(seq 60); do echo "$i"; sleep 0.03; done |
		"$SIO_BIN/sio-cat" "${IURL[B]}" --publish news --timeout 20 >/dev/null 2>&1 3>&- &
	track_pid "$!"
	card_is A 'Number(e.querySelector(".nums b").textContent) >= 0 &&
		sioDash.lastState.instances.find((p) => p.id === "A").sent_rate > 0'
	page_wait 'sioDash.lastState.instances.find((p) => p.id === "B").published_rate > 0 &&
		document.getElementById("tot-out").textContent !== "0"'
	shot 2-high-load

	# C killed: LEAVE (timeout) once it has been silent for dead_after_ms.
	t0=$(_now_us)
	kill -KILL "${IPID[C]}"
	timeline_has LEAVE C timeout
	card_is C 'e.dataset.state === "DEAD"'
	note "SIGKILL to LEAVE on the page: $((($(_now_us) - t0) / 1000)) ms (dead after 2000 ms)"

	# B stopped: DRAIN, then LEAVE (shutdown).
	kill -TERM "${IPID[B]}"
	timeline_has DRAIN B
	timeline_has LEAVE B shutdown
	note "DRAIN heard by the monitor to shown on the page: $(event_latency DRAIN B) ms"
	shot 3-kill-and-drain
	shot 3-phone 390

	# The monitor restarts: the page says it lost it, then shows the mesh again.
	stop_pid "$MON_PID"
	page_wait '!document.getElementById("banner").hidden && !sioDash.connected'
	shot 4-monitor-lost
	local states
	states=$(cdp eval 'sioDash.states')
	t0=$(_now_us)
	start_monitor "$port"
	page_wait "document.getElementById('banner').hidden && sioDash.states > $states &&
		document.querySelector('.inst[data-id=\"A\"]')?.dataset.clients === '2'"
	at=$(cdp eval 'sioDash.back')
	note "monitor started again to the page showing the mesh: $((at - t0 / 1000)) ms" \
		"(the page retries every second)"
	shot 5-monitor-back

	# Instances that carry a cell (a mesh of cells) are grouped by it.
	run cdp eval '(() => {
		const p = (id, cell) => ({ id, cell, url: "ws://" + id + "/", state: "NORMAL", clients: 1,
			high: 8, max: 10, low: 6, draining: false, alive: true, last_seen_ms: 0,
			published_rate: 0, sent_rate: 0, gaps: 0 });
		drawInstances({ instances: [p("w1", "west"), p("e1", "east"), p("w2", "west"), p("x")] });
		return [...document.querySelectorAll("#instances h3")].map((h) => h.textContent + ":" +
			h.nextElementSibling.querySelectorAll(".inst").length).join(",");
	})()'
	assert_output '"No cell:1,Cell east:1,Cell west:2"'
}

@test "the JSON behind the page is what --once --json and --events --json print" {
	instance A "${MESH[@]}"
	instance B "${MESH[@]}" --bus-peer "${IBUS[A]}"
	wait_mesh 1 A B
	start_monitor
	local url=http://127.0.0.1:$MON_PORT
	have_two() { [[ $(curl -s --noproxy '*' "$url/instances.json" | wc -l) == 2 ]]; }
	wait_for have_two
	# The rows, ages apart (they are read at different moments).
	run diff <(curl -s --noproxy '*' "$url/instances.json" | jq -c 'del(.last_seen_ms)') \
		<("$SIO_BIN/sio-monitor" --once --json --bus-peer "${IBUS[A]}" "${MESH[@]}" |
			jq -c 'del(.last_seen_ms)')
	assert_success
	# The events: the monitor's own --events --json lines, as they were.
	stop_pid "${IPID[B]}"
	left() { curl -s --noproxy '*' "$url/events.json" | grep -q '"LEAVE"'; }
	wait_for left
	wait_for grep -q '"LEAVE"' "$BATS_TEST_TMPDIR/monitor.out"
	run diff <(curl -s --noproxy '*' "$url/events.json") "$BATS_TEST_TMPDIR/monitor.out"
	assert_success
	# The page itself, whole, with no outside reference.
	run curl -s --noproxy '*' "$url/"
	assert_output --partial '<title>sio mesh</title>'
	refute_output --regexp '(src|href)="(https?:)?//'
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code} %{content_type}' "$url/"
	assert_output '200 text/html; charset=utf-8'
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "$url/nothing"
	assert_output 404
	run curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -X POST "$url/"
	assert_output 405
}

@test "monitor.http: the key in the file, a port alone on loopback; a bad address is a configuration error" {
	run "$SIO_BIN/sio-monitor" --http nowhere --check-config
	assert_failure 78
	assert_output --partial 'HOST:PORT'
	printf 'monitor: { http = "127.0.0.1"; };\n' >"$BATS_TEST_TMPDIR/bad.conf"
	run "$SIO_BIN/sio-monitor" -c "$BATS_TEST_TMPDIR/bad.conf" --check-config
	assert_failure 78
	assert_output --partial 'bad.conf:1'
	instance A "${MESH[@]}"
	MON_PORT=$(free_port)
	# A port alone: on loopback.
	printf 'monitor: { http = "%s"; };\n' "$MON_PORT" >"$BATS_TEST_TMPDIR/ok.conf"
	"$SIO_BIN/sio-monitor" -c "$BATS_TEST_TMPDIR/ok.conf" --bus-peer "${IBUS[A]}" --events \
		</dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/mon.err" 3>&- &
	MON_PID=$!
	track_pid "$MON_PID"
	shows_a() {
		curl -s --noproxy '*' "http://127.0.0.1:$MON_PORT/instances.json" | grep -q '"id":"A"'
	}
	wait_for shows_a
	# --once is done as soon as it knows: it serves no page, even so configured.
	run "$SIO_BIN/sio-monitor" -c "$BATS_TEST_TMPDIR/ok.conf" --bus-peer "${IBUS[A]}" --once
	assert_success
}

@test "behind nginx with basic auth, as sio-monitor(1) shows: the page, the JSON, the stream unbuffered" {
	local nginx d port m
	nginx=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
	[[ -x $nginx ]] || skip "no nginx: run 'make test-deps' (Debian package nginx-light)"
	instance A "${MESH[@]}"
	start_monitor
	d=$BATS_TEST_TMPDIR/nginx
	mkdir -p "$d/tmp"
	printf 'operator:%s\n' "$(openssl passwd -apr1 secret)" >"$d/htpasswd"
	port=$(free_port)
	{
		printf 'daemon off; master_process off; worker_processes 1; pid %s/nginx.pid;\n' "$d"
		printf 'error_log %s/error.log; events { worker_connections 32; }\n' "$d"
		printf 'http { access_log off; client_body_temp_path %s/tmp/body;\n' "$d"
		# The temp paths of the modules this nginx has; their defaults are
		# under /var/lib/nginx.
		for m in proxy fastcgi uwsgi scgi; do
			"$nginx" -V 2>&1 | grep -q -- "--without-http_${m}_module" ||
				printf '  %s_temp_path %s/tmp/%s;\n' "$m" "$d" "$m"
		done
		# The server block of sio-monitor(1)'s example, on loopback, plain HTTP.
		cat <<-CONF
			  server {
			    listen 127.0.0.1:$port;
			    auth_basic "sio mesh";
			    auth_basic_user_file $d/htpasswd;
			    location / {
			      proxy_pass http://127.0.0.1:$MON_PORT;
			      proxy_http_version 1.1;
			      proxy_set_header Connection "";
			      proxy_buffering off;
			      proxy_read_timeout 1h;
			    }
			  }
			}
		CONF
	} >"$d/nginx.conf"
	"$nginx" -c "$d/nginx.conf" -p "$d/" -e "$d/stderr.log" </dev/null >/dev/null 2>&1 3>&- &
	track_pid "$!"
	nginx_up() { [[ $(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/") == 401 ]]; }
	wait_for nginx_up || { cat "$d/stderr.log" "$d/error.log" >&2; false; }
	run curl -s --noproxy '*' -u operator:wrong -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/"
	assert_output 401
	run curl -s --noproxy '*' -u operator:secret "http://127.0.0.1:$port/"
	assert_output --partial '<title>sio mesh</title>'
	shows_a() { curl -s --noproxy '*' -u operator:secret "http://127.0.0.1:$port/instances.json" | grep -q '"id":"A"'; }
	wait_for shows_a
	# The state comes once a second: within 5 s, at least the first and two
	# more have come through nginx, none held in its buffers.
	run curl -s --noproxy '*' -N -u operator:secret --max-time 5 "http://127.0.0.1:$port/events"
	[[ $(grep -c '^event: state$' <<<"$output") -ge 3 ]] || fail "stream through nginx: $output"
}

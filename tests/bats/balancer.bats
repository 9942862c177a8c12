#!/usr/bin/env bats
# One public URL (DESIGN §5): Debian's HAProxy, then nginx, in front of three
# instances, run from the example configurations (etc/haproxy.cfg,
# etc/nginx-sio.conf) with only their addresses and paths changed, and kept
# in step with the mesh by sio-announce (--haproxy, the runtime API;
# --nginx-upstream, a file and a reload). The clients are the browser module
# (web/sio-client.js) under Node, given the one URL and retrying it for ever:
# the reference socketiyo client's way, which leaves a dead instance only
# through a balancer. Each scenario runs against both balancers.
#
# Which instance a client landed on is read from the instances' /metrics;
# what the balancer does, from its own state (HAProxy's `show servers
# state`) or from where clients land. Waits poll to a deadline; the
# reconnect times are printed, never judged.

load helpers
load mesh

HAPROXY=$(command -v haproxy 2>/dev/null || echo /usr/sbin/haproxy)
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
CLIENTS="$SIO_ROOT/tests/hosts/clients.mjs"
# Heartbeats every 100 ms: the mesh, and the balancer behind it, hear of a
# change within a few tenths of a second, a death within dead_after_ms.
MESH=(--heartbeat-ms 100 --dead-after-ms 1000)
LB=
LB_PORT=
LB_DIR=
PUBLIC=

setup() {
	command -v node >/dev/null || skip "no node (make test-deps installs it)"
	cp "$SIO_ROOT/web/sio-client.js" "$BATS_TEST_TMPDIR/sio-client.mjs"
	LB_DIR=$BATS_TEST_TMPDIR/lb
	mkdir -p "$LB_DIR/tmp"
}

# ----- HAProxy ---------------------------------------------------------------

# hactl COMMAND: HAProxy's answer on its stats socket.
hactl() {
	python3 - "$LB_DIR/haproxy.sock" "$1" <<-'EOF'
		import socket, sys
		s = socket.socket(socket.AF_UNIX)
		s.settimeout(5)
		s.connect(sys.argv[1])
		s.sendall((sys.argv[2] + "\n").encode())
		out = b""
		while True:
		    d = s.recv(65536)
		    if not d:
		        break
		    out += d
		sys.stdout.write(out.decode())
	EOF
}

# haproxy_state PORT: ready, drain or maint: HAProxy's slot at that port
# (maint when none is).
haproxy_state() {
	hactl "show servers state sio" 2>/dev/null | awk -v p="$1" '
		/^#/ { for (i = 2; i <= NF; i++) col[$i] = i - 1; next }
		NF > 5 && $col["srv_port"] == p {
			a = $col["srv_admin_state"]
			# forced, inherited, resolution maintenance; drain
			if (int(a) % 4 >= 1 || int(a / 32) % 2) s = "maint"
			else if (int(a / 8) % 4 >= 1) s = "drain"
			else s = "ready"
		}
		END { print s ? s : "maint" }'
}

start_haproxy() {
	[[ -x $HAPROXY ]] || skip "no haproxy: run 'make test-deps' (Debian package haproxy)"
	sed -e "s|^\tbind :80$|\tbind 127.0.0.1:$LB_PORT|" \
		-e "s|/run/haproxy/sio.sock|$LB_DIR/haproxy.sock|" \
		-e "s|maxconn 50000|maxconn 1000|" \
		"$SIO_ROOT/etc/haproxy.cfg" >"$LB_DIR/haproxy.cfg"
	grep -q "bind 127.0.0.1:$LB_PORT" "$LB_DIR/haproxy.cfg" || fail "etc/haproxy.cfg: no 'bind :80'"
	"$HAPROXY" -db -f "$LB_DIR/haproxy.cfg" </dev/null >"$LB_DIR/haproxy.log" 2>&1 3>&- &
	LB_PID=$!
	track_pid "$LB_PID"
	wait_for hactl "show info" >/dev/null 2>&1 || {
		cat "$LB_DIR/haproxy.log" >&2
		return 1
	}
}

# ----- nginx -----------------------------------------------------------------

# nginx_state PORT: ready, drain (down) or maint (left out) in the upstream
# file sio-announce wrote; what nginx runs once it reloaded.
nginx_state() {
	awk -v p=":$1" '
		$1 == "server" && (index($2, p ";") || $2 ~ p "$") { s = ($3 == "down;") ? "drain" : "ready" }
		END { print s ? s : "maint" }' "$LB_DIR/upstream.conf" 2>/dev/null
}

nginx_conf() {
	local m
	cat <<-EOF
		daemon off;
		worker_processes 1;
		pid $LB_DIR/nginx.pid;
		error_log $LB_DIR/error.log info;
		events { worker_connections 512; }
		http {
		    access_log off;
		    client_body_temp_path $LB_DIR/tmp/body;
		    proxy_temp_path $LB_DIR/tmp/proxy;
	EOF
	for m in fastcgi uwsgi scgi; do
		"$NGINX" -V 2>&1 | grep -q -- "--without-http_${m}_module" ||
			echo "    ${m}_temp_path $LB_DIR/tmp/$m;"
	done
	echo "    include $LB_DIR/site.conf;"
	echo "}"
}

start_nginx() {
	[[ -x $NGINX ]] || skip "no nginx: run 'make test-deps' (Debian package nginx-light)"
	# nginx refuses to start without the servers sio-announce writes.
	wait_for test -s "$LB_DIR/upstream.conf"
	sed -e "s|^\tlisten 80;$|\tlisten 127.0.0.1:$LB_PORT;|" \
		-e "s|/etc/nginx/sio-upstream.conf|$LB_DIR/upstream.conf|" \
		"$SIO_ROOT/etc/nginx-sio.conf" >"$LB_DIR/site.conf"
	grep -q "listen 127.0.0.1:$LB_PORT" "$LB_DIR/site.conf" || fail "etc/nginx-sio.conf: no 'listen 80;'"
	nginx_conf >"$LB_DIR/nginx.conf"
	NGINX_RELOADS=$(grep -c ' NGINX_RELOAD ' "$BATS_TEST_TMPDIR/announce.log" || true)
	"$NGINX" -c "$LB_DIR/nginx.conf" -p "$LB_DIR/" -e "$LB_DIR/stderr.log" \
		</dev/null >>"$LB_DIR/stderr.log" 2>&1 3>&- &
	LB_PID=$!
	track_pid "$LB_PID"
	wait_for nginx_up 2>/dev/null || {
		cat "$LB_DIR/stderr.log" "$LB_DIR/error.log" >&2 2>/dev/null
		return 1
	}
}

nginx_up() {
	local code
	code=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' --max-time 2 \
		"http://127.0.0.1:$LB_PORT/" 2>/dev/null) || true
	[[ -n $code && $code != 000 ]]
}

# nginx_current: nginx started a worker for every reload sio-announce asked
# for since it runs: new connections follow the last file written.
nginx_current() {
	local asked started
	asked=$(($(grep -c ' NGINX_RELOAD ' "$BATS_TEST_TMPDIR/announce.log") - NGINX_RELOADS))
	started=$(grep -c 'start worker process' "$LB_DIR/error.log")
	((started >= 1 + asked))
}

# ----- either ----------------------------------------------------------------

# announce: sio-announce keeping the balancer LB in step with A's mesh.
announce() {
	local args=(--bus-peer "${IBUS[A]}" "${MESH[@]}" --quiet)
	if [[ $LB == haproxy ]]; then
		args+=(--haproxy "$LB_DIR/haproxy.sock")
	else
		args+=(--nginx-upstream "$LB_DIR/upstream.conf" --nginx-interval 0.5
			--nginx-reload "'$NGINX' -c '$LB_DIR/nginx.conf' -p '$LB_DIR/' -s reload")
	fi
	"$SIO_BIN/sio-announce" "${args[@]}" </dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/announce.log" 3>&- &
	ANNOUNCE_PID=$!
	track_pid "$!"
}

# lb_init LB: the balancer's port and public URL; HAProxy starts now,
# nginx once sio-announce wrote its servers (lb_follow).
lb_init() {
	LB=$1
	LB_PORT=$(free_port)
	PUBLIC="ws://127.0.0.1:$LB_PORT/socketiyo"
	[[ $LB == haproxy ]] && start_haproxy
	return 0
}

# lb_follow NAME...: sio-announce keeps the balancer in step with the mesh
# of the named instances (A first); each of them ends up ready on it.
lb_follow() {
	local name
	announce
	[[ $LB == nginx ]] && start_nginx
	for name in "$@"; do
		wait_state "$name" ready
	done
}

lb_state() { "${LB}_state" "${IPORT[$1]}"; }
state_is() { [[ $(lb_state "$1") == "$2" ]]; }

# wait_state NAME STATE: the balancer has the instance in STATE (for nginx:
# in the file, and a reload later in nginx).
wait_state() {
	if ! wait_for state_is "$1" "$2" 2>/dev/null; then
		echo "wait_state: $1 is $(lb_state "$1") on $LB, expected $2" >&2
		cat "$BATS_TEST_TMPDIR/announce.log" >&2
		return 1
	fi
	if [[ $LB == nginx ]] && ! wait_for nginx_current; then
		echo "wait_state: nginx did not reload" >&2
		return 1
	fi
}

# serve NAME [ARGS...]: an instance of the mesh that sends refused and
# drained clients back to the public URL.
serve() {
	local name=$1
	shift
	if [[ $name == A ]]; then
		instance A "${MESH[@]}" --public-url "$PUBLIC" "$@"
	else
		instance "$name" --bus-peer "${IBUS[A]}" "${MESH[@]}" --public-url "$PUBLIC" "$@"
	fi
}

# clients NAME COUNT [ARGS...]: COUNT clients of the browser module through
# the public URL, retrying it for ever; their events in NAME.out.
clients() {
	local name=$1 count=$2
	shift 2
	node --experimental-websocket "$CLIENTS" --module "$BATS_TEST_TMPDIR/sio-client.mjs" \
		--url "$PUBLIC" --count "$count" --delay 300 "$@" \
		</dev/null >"$BATS_TEST_TMPDIR/$name.out" 2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	BG[$name]=$!
	track_pid "$!"
}

# opened NAME: clients of NAME whose last event is an open.
opened() {
	node -e '
		const last = new Map();
		for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) {
			if (!l) continue;
			const e = JSON.parse(l);
			if (e.ev === "open" || e.ev === "close") last.set(e.c, e.ev);
		}
		console.log([...last.values()].filter((v) => v === "open").length);
	' "$BATS_TEST_TMPDIR/$1.out"
}

opened_is() { [[ $(opened "$1") == "$2" ]]; }

# clients_on NAME...: connections the instances hold, summed.
clients_on() {
	local n=0 name v
	for name in "$@"; do
		v=$(imetric "$name" sio_clients) || v=0
		n=$((n + v))
	done
	echo "$n"
}

clients_on_is() { local want=$1; shift; [[ $(clients_on "$@") == "$want" ]]; }

# wait_clients N NAME...: the instances hold N connections between them.
wait_clients() {
	local n=$1
	shift
	if ! wait_for clients_on_is "$n" "$@" 2>/dev/null; then
		echo "wait_clients: $(clients_on "$@") on $*, expected $n" >&2
		return 1
	fi
}

# reconnect_times NAME SINCE_MS: for each client closed after SINCE_MS, the
# time from SINCE_MS to its next open, in ms, one a line (sorted).
reconnect_times() {
	node -e '
		const since = Number(process.argv[2]);
		const closed = new Map(), back = [];
		for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) {
			if (!l) continue;
			const e = JSON.parse(l);
			if (e.t < since) continue;
			if (e.ev === "close" && !closed.has(e.c)) closed.set(e.c, e.t);
			if (e.ev === "open" && closed.has(e.c) && closed.get(e.c) !== null) {
				back.push(e.t - since);
				closed.set(e.c, null);
			}
		}
		console.log(back.sort((a, b) => a - b).join("\n"));
	' "$BATS_TEST_TMPDIR/$1.out" "$2"
}

now_ms() { local t=$(_now_us); echo $((t / 1000)); }

# ----- the scenarios, for either balancer ------------------------------------

# three LB [ARGS...]: A, B and C (ARGS for C) behind LB.
three() {
	lb_init "$1"
	shift
	serve A
	serve B
	serve C "$@"
	wait_mesh 2 A B C
	lb_follow A B C
}

# nine [ARGS...]: nine clients (c) through the one URL, every one connected.
nine() {
	clients c 9 "$@"
	wait_for opened_is c 9
	wait_clients 9 A B C
}

spread() {
	three "$1"
	# The browser module, subscribed and publishing: frames cross the
	# balancer both ways and the mesh between the instances.
	nine --channel news --every 200
	local a b c
	a=$(clients_on A) b=$(clients_on B) c=$(clients_on C)
	echo "# $1: 9 clients spread as A=$a B=$b C=$c" >&3
	((a > 0 && b > 0 && c > 0)) || fail "not spread over the three: A=$a B=$b C=$c"
	wait_for grep -qE '"ev":"stats","recv":[1-9]' "$BATS_TEST_TMPDIR/c.out"
}

high_keeps_its_own() {
	lb_init "$1"
	# A alone at first: its two clients come through the balancer, and
	# at HIGH_LOAD with no instance having more room it still takes
	# clients (the mesh's rule): it stays ready.
	serve A --max-clients 10 --high-clients 2 --low-enough 1
	lb_follow A
	clients a 2
	wait_for opened_is a 2
	wait_clients 2 A
	wait_imetric A 'sio_load_state{state="HIGH"}' 1
	wait_state A ready
	# Instances with room come: A takes no new client, keeps its own.
	serve B
	serve C
	wait_mesh 2 A B C
	wait_state A drain
	wait_state B ready
	wait_state C ready
	[[ $(curl -s --noproxy '*' "http://127.0.0.1:${IPORT[A]}/accepting") == high-load ]]
	[[ $(curl -s --noproxy '*' "http://127.0.0.1:${IPORT[A]}/healthz") == ok ]]
	clients n 6
	wait_for opened_is n 6
	wait_clients 6 B C
	clients_on_is 2 A || fail "A holds $(clients_on A), expected its 2"
	! grep '"ev":"close"' "$BATS_TEST_TMPDIR/a.out" || fail "A's clients were closed"
}

kill_reconnects() {
	three "$1"
	nine
	local on_c since times
	on_c=$(clients_on C)
	((on_c > 0)) || fail "no client on C"
	since=$(now_ms)
	kill -KILL "${IPID[C]}"
	wait_state C maint
	wait_for opened_is c 9
	wait_clients 9 A B
	times=$(reconnect_times c "$since")
	(($(wc -l <<<"$times") >= on_c)) || fail "$on_c clients on C, $(wc -l <<<"$times") reconnected"
	echo "# $1: SIGKILL of an instance with $on_c clients: all back through the one URL in" \
		"$(tail -n 1 <<<"$times") ms (first $(head -n 1 <<<"$times") ms; the module waits" \
		"150-300 ms before a retry)" >&3
}

# watch_state NAME STATE FILE: in the background, the wall clock (ms) at
# which the balancer first has NAME in STATE (nginx: reloaded), into FILE.
watch_state() {
	(
		until state_is "$1" "$2" && { [[ $LB != nginx ]] || nginx_current; }; do
			sleep 0.01
		done
		now_ms >"$3"
	) </dev/null >/dev/null 2>&1 3>&- &
	track_pid "$!"
}

term_drains() {
	three "$1" --drain-ms 2000
	nine
	local on_c since out_ms first
	on_c=$(clients_on C)
	((on_c > 0)) || fail "no client on C"
	watch_state C maint "$BATS_TEST_TMPDIR/out.ms"
	since=$(now_ms)
	kill -TERM "${IPID[C]}"
	wait_for test -s "$BATS_TEST_TMPDIR/out.ms"
	wait_exit "${IPID[C]}"
	wait_for opened_is c 9
	wait_clients 9 A B
	out_ms=$(cat "$BATS_TEST_TMPDIR/out.ms")
	# The first close of the drain: 1001, and the one URL to come back to.
	first=$(grep '"ev":"close"' "$BATS_TEST_TMPDIR/c.out" | head -n 1)
	[[ $first =~ \"t\":([0-9]+) ]] || fail "no close: $first"
	[[ $first == *'"code":1001'* ]] || fail "first close: $first"
	[[ $first == *"try $PUBLIC"* ]] || fail "the close reason names no public URL: $first"
	echo "# $1: SIGTERM: out of the balancer after $((out_ms - since)) ms," \
		"first close after $((BASH_REMATCH[1] - since)) ms" >&3
	((out_ms <= BASH_REMATCH[1])) || fail "first close before the balancer let C go"
}

new_instance_gets_clients() {
	lb_init "$1"
	serve A
	serve B
	wait_mesh 1 A B
	lb_follow A B
	clients c 4
	wait_for opened_is c 4
	wait_clients 4 A B
	local before
	before=$(reloads)
	serve C
	wait_state C ready
	# nginx: the file may name C while its reload still waits for the
	# interval; the clients must come after a reload that followed C.
	if [[ $1 == nginx ]]; then
		wait_for reloaded_since "$before"
		wait_for nginx_current
	fi
	clients n 4
	wait_for opened_is n 4
	wait_clients 8 A B C
	local c
	c=$(clients_on C)
	echo "# $1: the new instance got $c of 4 new clients" >&3
	((c > 0)) || fail "C got no client"
}

# slots: HAProxy's servers in use, "name=port" sorted.
slots() {
	hactl "show servers state sio" | awk '
		/^#/ { for (i = 2; i <= NF; i++) col[$i] = i - 1; next }
		NF > 5 && $col["srv_port"] != 9 { print $col["srv_name"] "=" $col["srv_port"] }' | sort
}

# reloads: the nginx reloads sio-announce ran.
reloads() { grep -c ' NGINX_RELOAD ' "$BATS_TEST_TMPDIR/announce.log" || true; }
reloaded_since() { (($(reloads) > $1)); }

# ----- HAProxy ---------------------------------------------------------------

@test "haproxy: a restarted sio-announce leaves the instances in their slots; a restarted HAProxy is put right" {
	three haproxy
	local before
	before=$(slots)
	stop_pid "$ANNOUNCE_PID"
	announce
	wait_for grep -q HAPROXY_CONNECTED "$BATS_TEST_TMPDIR/announce.log"
	wait_state A ready
	wait_state B ready
	wait_state C ready
	[[ $(slots) == "$before" ]] || fail "slots moved: $before -> $(slots)"
	! grep -q ' addr ' "$BATS_TEST_TMPDIR/announce.log" || fail "addresses set again"
	# HAProxy starts again from its configuration: every slot disabled.
	stop_pid "$LB_PID"
	start_haproxy
	wait_state A ready
	wait_state B ready
	wait_state C ready
	clients c 3
	wait_for opened_is c 3
	wait_clients 3 A B C
}

@test "haproxy: clients through the one URL spread over the instances; the browser module works" {
	spread haproxy
}

@test "haproxy: an instance at HIGH_LOAD keeps its clients and gets no new one" {
	high_keeps_its_own haproxy
}

@test "haproxy: SIGKILL of an instance: its clients reconnect through the one URL" {
	kill_reconnects haproxy
}

@test "haproxy: SIGTERM: out of the balancer before the first close, clients come back through it" {
	term_drains haproxy
}

@test "haproxy: a new instance gets clients" {
	new_instance_gets_clients haproxy
}

# ----- nginx -----------------------------------------------------------------

@test "nginx: clients through the one URL spread over the instances; the browser module works" {
	spread nginx
}

@test "nginx: an instance at HIGH_LOAD keeps its clients and gets no new one" {
	high_keeps_its_own nginx
}

@test "nginx: SIGKILL of an instance: its clients reconnect through the one URL" {
	kill_reconnects nginx
}

@test "nginx: SIGTERM: out of the balancer before the first close, clients come back through it" {
	term_drains nginx
}

@test "nginx: while the mesh flaps, reloads are paced and the last change is applied" {
	lb_init nginx
	serve A
	lb_follow A
	local start elapsed n i
	start=$(now_ms)
	n=$(reloads)
	# Four instances join one after the other, then all leave: eight
	# changes, each as soon as the mesh tells of it.
	for i in 1 2 3 4; do
		serve "F$i"
	done
	for i in 1 2 3 4; do
		wait_for state_is "F$i" ready
	done
	for i in 1 2 3 4; do
		kill -TERM "${IPID[F$i]}"
	done
	for i in 1 2 3 4; do
		wait_exit "${IPID[F$i]}"
		wait_state "F$i" maint
	done
	elapsed=$(($(now_ms) - start))
	n=$(($(reloads) - n))
	echo "# nginx: 8 changes of the mesh in $elapsed ms: $n reloads (--nginx-interval 0.5)" >&3
	((n <= elapsed / 500 + 1)) || fail "$n reloads in $elapsed ms, more than one per 500 ms"
	[[ $(grep -c '^server ' "$LB_DIR/upstream.conf") == 1 ]] || fail "$(cat "$LB_DIR/upstream.conf")"
	clients c 2
	wait_for opened_is c 2
	wait_clients 2 A
}

@test "nginx: a new instance gets clients" {
	new_instance_gets_clients nginx
}

#!/usr/bin/env bats
# Operating sio-serve (DESIGN.md §6): HTTP endpoints, signals, configuration
# file and options, exit codes.

load helpers

# conf NAME: writes stdin to $BATS_TEST_TMPDIR/NAME and prints its path.
conf() {
	cat >"$BATS_TEST_TMPDIR/$1"
	printf '%s' "$BATS_TEST_TMPDIR/$1"
}

# serve_once ARGS...: sio-serve in the foreground on free ports, for the
# cases where it must exit by itself (bounded: a server that wrongly starts
# is stopped after 10 s, exit 124).
serve_once() {
	timeout 10 "$SIO_BIN/sio-serve" --port "$(free_port)" \
		--bus-bind "tcp://127.0.0.1:$(free_port)" "$@" 3>&-
}

limits_file() {
	conf "$1" <<EOF
# limits for the test
serve: {
	max_clients = $2;
	high_clients = $3;
	low_enough = $4;
};
EOF
}

# --- HTTP --------------------------------------------------------------------

@test "GET /healthz answers 200" {
	start_serve
	assert_equal "$(http_status /healthz)" 200
	assert_equal "$(http_get /healthz)" ok
}

@test "GET /metrics answers in the Prometheus text format" {
	start_serve --id m1
	run -0 curl -s --noproxy '*' -D "$BATS_TEST_TMPDIR/head" --max-time 5 \
		"http://127.0.0.1:$SERVE_PORT/metrics"
	grep -qiE '^content-type: text/plain' "$BATS_TEST_TMPDIR/head"
	grep -qE '^HTTP/1\.[01] 200' "$BATS_TEST_TMPDIR/head"
	assert_line --regexp '^sio_info\{id="m1",version="[0-9][^"]*"\} 1$'
	assert_line 'sio_clients 0'
	assert_line '# TYPE sio_clients gauge'
	assert_line '# TYPE sio_connections_total counter'
	assert_line 'sio_limit_clients{limit="max"} 1000000'
	# Every line is a comment or "name[{labels}] value".
	local bad
	bad=$(grep -vE '^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+)$' <<<"$output" || true)
	assert_equal "$bad" ""
}

@test "any other path answers 404" {
	start_serve
	local p
	for p in / /nope /healthz/x /metricsx /socketiyo/x /HEALTHZ; do
		assert_equal "$p $(http_status "$p")" "$p 404"
	done
}

@test "the WebSocket path with a plain GET does not answer 200" {
	start_serve
	run -0 http_status /socketiyo
	refute_output 200
	assert_output --regexp '^4[0-9][0-9]$'
}

@test "--path moves the WebSocket endpoint" {
	start_serve --path /ws/v1
	run -0 ws "$(sub c)" "$(pub c 1)" recv:1 close
	assert_line -n 0 '{"channel":"c","data":1}'
	run -3 python3 "$WSRAW" "ws://127.0.0.1:$SERVE_PORT/socketiyo" close
	refute_output --partial 'CLOSE'
	assert_not_equal "$(http_status /ws/v1)" 200
}

# --- signals -----------------------------------------------------------------

@test "SIGTERM drains: clients closed with 1001, DRAIN logged, exit 0" {
	start_serve --id dr1 --drain-ms 300
	local i
	for i in 1 2 3; do
		WS_TIMEOUT=30 ws_bg c$i "$(ready)" expect-close
	done
	wait_metric sio_clients 3
	kill -TERM "$SERVE_PID"
	wait_exit "$SERVE_PID" 20
	assert_equal "$WAIT_RC" 0
	for i in 1 2 3; do
		wait_bg c$i
		assert_equal "$WAIT_RC" 0
		run bg_out c$i
		assert_output --regexp '^CLOSE 1001( |$)'
	done
	log_has ': DRAIN id=dr1 clients=3( |$)'
	log_has ': EXIT id=dr1'
}

@test "SIGTERM with a peer on the mesh: the 1001 reason names the peer's URL" {
	start_serve --id stays
	local stays_url=$SERVE_URL stays_bus
	stays_bus=$(sed -nE 's/.* BUS id=stays bus=([^ ]+) .*/\1/p' "$SERVE_LOG")
	[[ -n $stays_bus ]]
	start_serve --id goes --bus-peer "$stays_bus"
	wait_metric sio_peers_alive 1
	WS_TIMEOUT=30 ws_bg c1 expect-close
	wait_metric sio_clients 1
	kill -TERM "$SERVE_PID"
	wait_exit "$SERVE_PID" 20
	assert_equal "$WAIT_RC" 0
	wait_bg c1
	assert_equal "$(bg_out c1)" "CLOSE 1001 server going away, try $stays_url"
}

@test "SIGINT drains as SIGTERM does" {
	start_serve --id dr2
	WS_TIMEOUT=30 ws_bg c1 expect-close
	wait_metric sio_clients 1
	kill -INT "$SERVE_PID"
	wait_exit "$SERVE_PID" 20
	assert_equal "$WAIT_RC" 0
	wait_bg c1
	run bg_out c1
	assert_output --regexp '^CLOSE 1001( |$)'
	log_has ': DRAIN id=dr2 '
}

@test "SIGTERM with no client: exit 0 at once" {
	start_serve --drain-ms 600000
	kill -TERM "$SERVE_PID"
	wait_exit "$SERVE_PID" 10
	assert_equal "$WAIT_RC" 0
	log_has ': DRAIN '
}

@test "during a long drain /healthz answers 503 and new clients are turned away" {
	start_serve --id dr3 --drain-ms 600000
	ws_bg held "$(ready)" sleep:120
	wait_metric sio_clients 1
	kill -TERM "$SERVE_PID"
	wait_log ': DRAIN id=dr3 '
	wait_for metric_is sio_draining 1
	assert_equal "$(http_status /healthz)" 503
	assert_equal "$(http_get /healthz)" draining
	# A new WebSocket handshake is refused.
	run -3 ws "$(ready)" close
	assert_output --partial 'connect failed'
	# The last client gone, it exits.
	stop_bg held
	wait_exit "$SERVE_PID" 10
	assert_equal "$WAIT_RC" 0
}

@test "SIGHUP applies a good file: RELOAD logged, new thresholds in /metrics" {
	local f
	f=$(limits_file sio.conf 10 8 5)
	start_serve -c "$f" --id hup1
	assert_equal "$(metric 'sio_limit_clients{limit="max"}')" 10
	limits_file sio.conf 20 15 10 >/dev/null
	kill -HUP "$SERVE_PID"
	wait_log ': RELOAD id=hup1 '
	wait_metric 'sio_limit_clients{limit="max"}' 20
	assert_equal "$(metric 'sio_limit_clients{limit="high"}')" 15
	assert_equal "$(metric 'sio_limit_clients{limit="low_enough"}')" 10
	assert_equal "$(metric 'sio_events_total{event="RELOAD"}')" 1
	log_has ': RELOAD id=hup1 .*max=20'
	refute log_has 'RELOAD_FAILED'
	assert_equal "$(http_status /healthz)" 200
}

@test "SIGHUP: new limits act at once (max lowered below the count: refused with 1013)" {
	local f
	f=$(limits_file sio.conf 10 8 5)
	start_serve -c "$f" --id hup2
	ws_bg c1 "$(ready)" sleep:120
	wait_metric sio_clients 1
	limits_file sio.conf 1 1 0 >/dev/null
	kill -HUP "$SERVE_PID"
	wait_metric 'sio_limit_clients{limit="max"}' 1
	wait_log ': HIGH_LOAD id=hup2 clients=1( |$)'
	run -0 ws expect-close
	assert_output --regexp '^CLOSE 1013 '
	# The one already there keeps its connection.
	assert_equal "$(metric sio_clients)" 1
}

@test "SIGHUP with a file that does not parse: refused with file:line, old config kept" {
	local f
	f=$(limits_file sio.conf 10 8 5)
	start_serve -c "$f" --id hup3
	printf 'serve: {\n\tmax_clients = 20\n\thigh_clients = 15;\n};\n' >"$f"
	kill -HUP "$SERVE_PID"
	wait_log ': RELOAD_FAILED id=hup3 '
	log_has "RELOAD_FAILED .*$f:[0-9]+"
	assert_equal "$(metric 'sio_limit_clients{limit="max"}')" 10
	refute log_has ': RELOAD id='
	# Still serving.
	assert_equal "$(http_status /healthz)" 200
	run -0 ws "$(sub c)" "$(pub c '"still"')" recv:1 close
	assert_line -n 0 '{"channel":"c","data":"still"}'
}

@test "SIGHUP with bad thresholds: refused naming file:line and key, old config kept" {
	local f
	f=$(limits_file sio.conf 10 8 5)
	start_serve -c "$f" --id hup4
	limits_file sio.conf 20 15 15 >/dev/null
	kill -HUP "$SERVE_PID"
	wait_log ': RELOAD_FAILED id=hup4 '
	log_has "RELOAD_FAILED .*$f:5: serve.low_enough: low_enough \\(15\\) must be below high_clients \\(15\\)"
	assert_equal "$(metric 'sio_limit_clients{limit="max"}')" 10
	assert_equal "$(metric 'sio_limit_clients{limit="low_enough"}')" 5
	assert_equal "$(http_status /healthz)" 200
	# A later good file is taken.
	limits_file sio.conf 30 15 10 >/dev/null
	kill -HUP "$SERVE_PID"
	wait_metric 'sio_limit_clients{limit="max"}' 30
}

@test "SIGHUP with an unknown key: refused, old config kept" {
	local f
	f=$(limits_file sio.conf 10 8 5)
	start_serve -c "$f" --id hup5
	printf 'serve: {\n\tmax_clients = 20;\n\tmax_cleints = 30;\n};\n' >"$f"
	kill -HUP "$SERVE_PID"
	wait_log ': RELOAD_FAILED id=hup5 '
	log_has "RELOAD_FAILED .*$f:3: serve.max_cleints: unknown key"
	assert_equal "$(metric 'sio_limit_clients{limit="max"}')" 10
}

@test "SIGHUP reloads the log level" {
	local f
	f=$(conf sio.conf <<'EOF'
log: { level = "warning"; };
EOF
)
	start_serve -c "$f" --id hup6
	refute log_has 'LISTENING'
	printf 'log: { level = "info"; };\n' >"$f"
	kill -HUP "$SERVE_PID"
	wait_log ': RELOAD id=hup6 '
}

@test "SIGHUP: a setting that needs a restart is reported and kept" {
	local f
	f=$(conf sio.conf <<'EOF'
serve: { path = "/socketiyo"; };
EOF
)
	start_serve -c "$f" --id hup7
	printf 'serve: {\n\tpath = "/elsewhere";\n\tmax_clients = 50;\n\thigh_clients = 40;\n\tlow_enough = 30;\n};\n' >"$f"
	kill -HUP "$SERVE_PID"
	wait_log ': RELOAD_IGNORED id=hup7 key=serve.path '
	wait_metric 'sio_limit_clients{limit="max"}' 50
	run -0 ws "$(sub c)" "$(pub c 1)" recv:1 close
	assert_line -n 0 '{"channel":"c","data":1}'
}

# --- configuration errors (exit 78) -------------------------------------------

@test "config: unknown key exits 78 with FILE:LINE: serve.KEY: unknown key" {
	local f
	f=$(conf bad.conf <<'EOF'
serve: {
	max_clients = 10;
	max_clientz = 10;
};
EOF
)
	run -78 --separate-stderr serve_once -c "$f"
	assert_equal "$output" ""
	assert_regex "$stderr" "$f:3: serve.max_clientz: unknown key"
	run -78 --separate-stderr serve_once -c "$f" --check-config
	assert_regex "$stderr" "$f:3: serve.max_clientz: unknown key"
}

@test "config: unknown group exits 78 naming file:line" {
	local f
	f=$(conf bad.conf <<'EOF'
serv: { max_clients = 10; };
EOF
)
	run -78 --separate-stderr serve_once -c "$f"
	assert_regex "$stderr" "$f:1: serv"
}

@test "config: a value of the wrong type exits 78 naming file:line and key" {
	local f
	f=$(conf bad.conf <<'EOF'
serve: {
	max_clients = "many";
};
EOF
)
	run -78 --separate-stderr serve_once -c "$f"
	assert_regex "$stderr" "$f:2: serve.max_clients: "
	f=$(conf bad2.conf <<'EOF'
serve: { relay = "yes"; };
EOF
)
	run -78 --separate-stderr serve_once -c "$f"
	assert_regex "$stderr" "$f:1: serve.relay: "
	f=$(conf bad3.conf <<'EOF'
serve: { max_channels = 0; };
EOF
)
	run -78 --separate-stderr serve_once -c "$f"
	assert_regex "$stderr" "$f:1: serve.max_channels: "
}

@test "config: low_enough >= high_clients exits 78 naming file:line" {
	local f
	f=$(conf bad.conf <<'EOF'
serve: {
	max_clients = 10;
	high_clients = 8;
	low_enough = 8;
};
EOF
)
	run -78 --separate-stderr serve_once -c "$f"
	assert_regex "$stderr" "$f:4: serve.low_enough: low_enough \\(8\\) must be below high_clients \\(8\\); set --high-clients and --low-enough"
}

@test "config: high_clients > max_clients exits 78 naming file:line" {
	local f
	f=$(conf bad.conf <<'EOF'
serve: {
	max_clients = 10;
	high_clients = 11;
	low_enough = 5;
};
EOF
)
	run -78 --separate-stderr serve_once -c "$f"
	assert_regex "$stderr" "$f:3: serve.high_clients: high_clients \\(11\\) must not exceed max_clients \\(10\\)"
}

@test "config: thresholds broken by the command line name the option" {
	run -78 --separate-stderr serve_once --max-clients 10 --high-clients 8 --low-enough 9
	assert_regex "$stderr" 'low.enough'
	# max_clients alone derives the other two; with one of them, it does not.
	run -78 --separate-stderr serve_once --max-clients 10 --low-enough 5
	assert_equal "$stderr" "sio-serve: error: --max-clients: high_clients (800000) must not exceed max_clients (10); set --high-clients and --low-enough (high_clients and low_enough in the file), or max_clients alone to derive them"
}

@test "config: a syntax error exits 78 with file:line" {
	local f
	f=$(conf bad.conf <<'EOF'
serve: {
	max_clients = 10;
	high_clients = = 8;
	low_enough = 5;
};
EOF
)
	run -78 --separate-stderr serve_once -c "$f"
	assert_regex "$stderr" "$f:3: "
}

@test "config: a file that cannot be read exits 78 naming it" {
	run -78 --separate-stderr serve_once -c "$BATS_TEST_TMPDIR/missing.conf"
	assert_regex "$stderr" "missing.conf"
}

@test "--check-config on a good file exits 0 (the documented etc/sio.conf too)" {
	local f
	f=$(limits_file good.conf 10 8 5)
	run -0 "$SIO_BIN/sio-serve" -c "$f" --check-config
	assert_output --partial "$f"
	run -0 "$SIO_BIN/sio-serve" -c "$SIO_ROOT/etc/sio.conf" --check-config
	run -0 "$SIO_BIN/sio-serve" --check-config
}

# --- the command line ----------------------------------------------------------

@test "an unknown option exits 64 naming it" {
	run -64 --separate-stderr "$SIO_BIN/sio-serve" --bogus-option
	assert_regex "$stderr" 'bogus-option'
	assert_equal "$output" ""
	run -64 --separate-stderr "$SIO_BIN/sio-serve" -Z
	run -64 --separate-stderr "$SIO_BIN/sio-serve" stray-argument
	assert_regex "$stderr" 'stray-argument'
}

@test "a bad option value exits 64 naming the option" {
	local args
	for args in '--max-clients abc' '--max-clients 0' '--port 70000' '--port x' \
		'--log-level loud' '--max-length 5Q' '--drain-ms -1'; do
		# shellcheck disable=SC2086
		run -64 --separate-stderr serve_once $args
		assert_regex "$stderr" "${args%% *}"
	done
	run -64 --separate-stderr "$SIO_BIN/sio-serve" --max-clients
}

@test "--help prints the usage on stdout and exits 0" {
	run -0 --separate-stderr "$SIO_BIN/sio-serve" --help
	assert_line -n 0 --regexp '^Usage: sio-serve'
	assert_line --partial '--max-clients'
	assert_line --partial '--drain-ms'
	assert_equal "$stderr" ""
	run -0 "$SIO_BIN/sio-serve" -h
}

@test "--version prints the version and exits 0" {
	run -0 --separate-stderr "$SIO_BIN/sio-serve" --version
	assert_output --regexp '^sio-serve [0-9]+\.[0-9]+\.[0-9]+'
	assert_equal "$stderr" ""
}

@test "a port already in use: exit 1 with a clear message" {
	start_serve
	run -1 --separate-stderr timeout 10 "$SIO_BIN/sio-serve" --port "$SERVE_PORT" \
		--bus-bind "tcp://127.0.0.1:$(free_port)"
	assert_regex "$stderr" "$SERVE_PORT"
	assert_regex "$stderr" '[Aa]ddress already in use'
	# The first one is unharmed.
	assert_equal "$(http_status /healthz)" 200
}

@test "the command line beats the file, the file beats the default" {
	local f
	f=$(conf sio.conf <<'EOF'
serve: {
	max_clients = 10;
	high_clients = 8;
	low_enough = 5;
	id = "from-file";
	max_channels = 3;
};
EOF
)
	start_serve -c "$f" --max-clients 20 --max-channels 1
	assert_equal "$(metric 'sio_limit_clients{limit="max"}')" 20
	assert_equal "$(metric 'sio_limit_clients{limit="high"}')" 8
	assert_equal "$(metric 'sio_limit_clients{limit="low_enough"}')" 5
	metrics | grep -qE '^sio_info\{id="from-file",'
	run -0 ws "$(sub a)" "$(sub b)" "$(pub b 1)" "$(pub a 2)" recv:1 close
	assert_line -n 0 '{"channel":"a","data":2}'
	# Defaults where neither says anything.
	run -0 ws "$(sub "$(printf 'c%.0s' $(seq 99))")" "$(pub "$(printf 'c%.0s' $(seq 99))" 3)" \
		recv:1 close
	assert_line -n 0 --partial '"data":3'
}

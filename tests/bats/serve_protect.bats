#!/usr/bin/env bats
# Protection of an instance that faces the internet: TLS for clients, the
# Origin allow-list, the per-address connection limit, the per-connection
# message rate limit, the reassembly budget and the privilege drop.

load helpers

# make_cert NAME DAYS: a self-signed certificate NAME.crt and key NAME.key
# for localhost in the test's directory.
make_cert() {
	openssl req -x509 -newkey rsa:2048 -nodes -days "$2" -subj /CN=localhost \
		-keyout "$BATS_TEST_TMPDIR/$1.key" -out "$BATS_TEST_TMPDIR/$1.crt" 2>/dev/null
}

# served_cert_end: the notAfter of the certificate the instance presents now.
served_cert_end() {
	openssl s_client -connect "127.0.0.1:$SERVE_PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -enddate
}

file_cert_end() { openssl x509 -noout -enddate -in "$BATS_TEST_TMPDIR/$1.crt"; }

@test "tls: wss:// and https:// with a self-signed certificate" {
	make_cert a 2
	start_serve --tls-cert "$BATS_TEST_TMPDIR/a.crt" --tls-key "$BATS_TEST_TMPDIR/a.key"
	[[ $SERVE_URL == wss://* ]]
	log_has "LISTENING .*url=wss://127.0.0.1:$SERVE_PORT/socketiyo"
	assert_equal "$(http_get /healthz)" ok
	ws_bg sub "$(sub news)" recv:1
	wait_metric sio_subscriptions 1
	run -0 ws "$(pub news '"over tls"')" close
	wait_bg sub
	assert_equal "$(bg_out sub)" '{"channel":"news","data":"over tls"}'
	# Trusting exactly this certificate works too: it is the one presented.
	run -0 python3 "$WSRAW" --cafile "$BATS_TEST_TMPDIR/a.crt" \
		"wss://localhost:$SERVE_PORT/socketiyo" "$(ready)" close
	assert_output --partial "CLOSE 1000"
	# sio reads the frames over TLS as over TCP, and holds them to RFC 6455.
	run -0 ws --close-wait 2 rawbytes:880203e8 expect-close
	assert_output $'CLOSE 1002 frame not masked\nTCP closed'
	run -0 ws "hex:$(hexof '{"channel":"c","data":"')c0af$(hexof '"}')" expect-close
	assert_output 'CLOSE 1007 invalid UTF-8'
	run -0 ws "$(rawframe 89 "$(hexof hi)")" "pong:$(hexof hi)" "$(ready)" close
	assert_output $'PONG 6869\nCLOSE 1000 '
	# A plain ws:// client on the TLS port gets no WebSocket.
	run -3 python3 "$WSRAW" --timeout 3 "ws://127.0.0.1:$SERVE_PORT/socketiyo" close
}

@test "tls: SIGHUP picks up a renewed certificate; a broken one keeps the old" {
	make_cert old 2
	make_cert new 30
	cp "$BATS_TEST_TMPDIR/old.crt" "$BATS_TEST_TMPDIR/live.crt"
	cp "$BATS_TEST_TMPDIR/old.key" "$BATS_TEST_TMPDIR/live.key"
	start_serve --tls-cert "$BATS_TEST_TMPDIR/live.crt" --tls-key "$BATS_TEST_TMPDIR/live.key"
	assert_equal "$(served_cert_end)" "$(file_cert_end old)"
	ws_bg held "$(ready)" hold:30
	wait_metric sio_clients 1

	cp "$BATS_TEST_TMPDIR/new.crt" "$BATS_TEST_TMPDIR/live.crt"
	cp "$BATS_TEST_TMPDIR/new.key" "$BATS_TEST_TMPDIR/live.key"
	kill -HUP "$SERVE_PID"
	wait_log TLS_RELOADED
	assert_equal "$(served_cert_end)" "$(file_cert_end new)"

	# A renewal caught half-written: a certificate without its key.
	cp "$BATS_TEST_TMPDIR/old.crt" "$BATS_TEST_TMPDIR/live.crt"
	kill -HUP "$SERVE_PID"
	wait_log 'RELOAD_FAILED .*what=tls'
	log_has 'RELOAD_FAILED .*does not belong'
	assert_equal "$(served_cert_end)" "$(file_cert_end new)"
	# The connection made before any of it never noticed.
	assert_equal "$(metric sio_clients)" 1
}

@test "tls: bad certificate settings exit 78 naming the file and line" {
	make_cert a 2
	printf 'serve: {\n  tls_cert = "%s";\n}\n' "$BATS_TEST_TMPDIR/a.crt" >"$BATS_TEST_TMPDIR/only-cert.conf"
	run -78 "$SIO_BIN/sio-serve" --config "$BATS_TEST_TMPDIR/only-cert.conf" --check-config
	assert_output --partial "only-cert.conf:2: serve.tls_cert: tls_cert and tls_key go together"

	echo "not a certificate" >"$BATS_TEST_TMPDIR/junk.crt"
	printf 'serve: {\n  tls_cert = "%s";\n  tls_key = "%s";\n}\n' \
		"$BATS_TEST_TMPDIR/junk.crt" "$BATS_TEST_TMPDIR/a.key" >"$BATS_TEST_TMPDIR/junk.conf"
	run -78 "$SIO_BIN/sio-serve" --config "$BATS_TEST_TMPDIR/junk.conf" --check-config
	assert_output --partial "junk.conf:2: serve.tls_cert: not a usable PEM certificate"

	make_cert b 2
	run -78 "$SIO_BIN/sio-serve" --tls-cert "$BATS_TEST_TMPDIR/a.crt" \
		--tls-key "$BATS_TEST_TMPDIR/b.key" --check-config
	assert_output --partial "--tls-key: this key does not belong to the certificate"

	# A missing file is said as the system says it, not as an OpenSSL error.
	run -78 "$SIO_BIN/sio-serve" --tls-cert "$BATS_TEST_TMPDIR/missing.crt" \
		--tls-key "$BATS_TEST_TMPDIR/a.key" --check-config
	assert_output "sio-serve: error: --tls-cert: cannot read $BATS_TEST_TMPDIR/missing.crt: No such file or directory"
	run -78 "$SIO_BIN/sio-serve" --tls-cert "$BATS_TEST_TMPDIR/a.crt" \
		--tls-key "$BATS_TEST_TMPDIR/missing.key"
	assert_output "sio-serve: error: --tls-key: cannot read $BATS_TEST_TMPDIR/missing.key: No such file or directory"
}

@test "allow-origin: other Origins get 403, counted and logged; no Origin passes" {
	start_serve --allow-origin 'https://*.example.com' --allow-origin 'http://localhost:*'
	run -0 python3 "$WSRAW" --origin https://app.example.com "$SERVE_URL" "$(ready)" close
	assert_output --partial "CLOSE 1000"
	run -0 python3 "$WSRAW" --origin HTTP://LOCALHOST:8000 "$SERVE_URL" "$(ready)" close
	run -3 python3 "$WSRAW" --origin https://evil.example.org "$SERVE_URL" close
	assert_output --partial "403"
	run -3 python3 "$WSRAW" --origin null "$SERVE_URL" close
	assert_output --partial "403"
	# Clients that are not browsers send no Origin, and are not the concern.
	run -0 python3 "$WSRAW" "$SERVE_URL" "$(ready)" close
	wait_metric 'sio_handshakes_refused_total{reason="origin"}' 2
	log_has 'HANDSHAKE_REFUSED .*why=origin status=403 origin="https://evil.example.org"'
	assert_equal "$(metric 'sio_connections_total{result="accepted"}')" 3
}

@test "allow-origin: SIGHUP replaces the list" {
	printf 'serve: {\n  allow_origin = [ "https://a.example" ];\n}\n' >"$BATS_TEST_TMPDIR/o.conf"
	start_serve --config "$BATS_TEST_TMPDIR/o.conf"
	run -3 python3 "$WSRAW" --origin https://b.example "$SERVE_URL" close
	printf 'serve: {\n  allow_origin = [ "https://b.example" ];\n}\n' >"$BATS_TEST_TMPDIR/o.conf"
	kill -HUP "$SERVE_PID"
	wait_log RELOAD
	run -0 python3 "$WSRAW" --origin https://b.example "$SERVE_URL" "$(ready)" close
	run -3 python3 "$WSRAW" --origin https://a.example "$SERVE_URL" close
}

@test "max-per-address: one address over its limit gets 429; others still come in" {
	start_serve --max-per-address 3
	for i in 1 2 3; do
		ws_bg "c$i" "$(ready)" hold:30
	done
	wait_metric sio_clients 3
	run -3 python3 "$WSRAW" "$SERVE_URL" close
	assert_output --partial "429"
	wait_metric 'sio_handshakes_refused_total{reason="address"}' 1
	log_has 'HANDSHAKE_REFUSED .*why=address status=429 address=127.0.0.1 limit=3'
	# Another address is another client.
	run -0 python3 "$WSRAW" --source 127.0.0.2 "$SERVE_URL" "$(ready)" close
	# A slot given back is a slot again.
	stop_bg c1
	wait_metric sio_clients 2
	run -0 python3 "$WSRAW" "$SERVE_URL" "$(ready)" close
	assert_equal "$(metric 'sio_handshakes_refused_total{reason="address"}')" 1
}

@test "rate-limit: a fast sender is read slower, nothing lost, others unaffected" {
	start_serve --rate-limit 50 --rate-burst 10
	local steps=() want="" i
	for i in $(seq 1 100); do
		steps+=("$(pub flood "$i")")
		want+='{"channel":"flood","data":'$i'}'$'\n'
	done
	ws_bg sub "$(sub flood)" recv:100
	ws_bg calm "$(sub calm)" recv:1
	wait_metric sio_subscriptions 2
	ws_bg flooder "${steps[@]}" hold:30
	# While the flooder is held back, another client's message goes through.
	wait_for metric_ge sio_rate_limited_total 1
	run -0 ws "$(pub calm '"hello"')" close
	wait_bg calm
	assert_equal "$(bg_out calm)" '{"channel":"calm","data":"hello"}'
	SIO_WAIT=30 wait_bg sub
	assert_equal "$(bg_out sub)" "${want%$'\n'}"
	assert_equal "$(metric sio_published_total)" 101
	(($(metric sio_rate_limited_total) >= 1))
	log_has 'RATE_LIMITED .*rate=50 burst=10'
}

@test "reassembly budget: unfinished messages past it close with 1013, others go on" {
	start_serve --max-reassembly 64K --max-length 1M
	ws_bg sub "$(sub news)" recv:1
	wait_metric sio_subscriptions 1
	# 40 KiB held by one sender, never finished, fits; the next message of
	# 40 KiB in fragments does not: it is read to its end, dropped, and
	# answered. (A message that comes whole in one read is parsed where it
	# lies and holds nothing.)
	ws_bg first part:20000 part:20000 hold:30
	wait_for metric_ge sio_received_bytes_total 40000
	run -0 ws "frag:4:$(printf 'x%.0s' $(seq 40000))" expect-close
	assert_output "CLOSE 1013 server busy, try again later"
	wait_metric 'sio_closed_total{reason="busy"}' 1
	log_has 'REASSEMBLY_BUDGET .*budget=65536'
	run -0 ws "$(pub news '"still here"')" close
	wait_bg sub
	assert_equal "$(bg_out sub)" '{"channel":"news","data":"still here"}'
}

@test "user: started as root, runs as the configured user once bound" {
	[[ $(id -u) == 0 ]] || skip "needs root"
	getent passwd nobody >/dev/null || skip "no user nobody"
	start_serve --user nobody
	wait_log LISTENING
	log_has "running as nobody"
	read -r _ uid _ < <(grep '^Uid:' "/proc/$SERVE_PID/status")
	assert_equal "$uid" "$(id -u nobody)"
	read -r _ ruid euid suid fsuid < <(grep '^Uid:' "/proc/$SERVE_PID/status")
	assert_equal "$ruid $euid $suid $fsuid" "$uid $uid $uid $uid"
	run -0 ws "$(ready)" close
	assert_output --partial "CLOSE 1000"
}

@test "user: an unknown user or group exits 78 naming the setting" {
	run -78 "$SIO_BIN/sio-serve" --user no-such-user-sio --check-config
	assert_output --partial "--user: no such user: no-such-user-sio"
	printf 'serve: {\n\n  user = "nobody:no-such-group-sio";\n}\n' >"$BATS_TEST_TMPDIR/u.conf"
	run -78 "$SIO_BIN/sio-serve" --config "$BATS_TEST_TMPDIR/u.conf" --check-config
	assert_output --partial "u.conf:3: serve.user: no such group: no-such-group-sio"
}

#!/usr/bin/env bats
# The layers of DESIGN §8, checked on what the compiler made of them:
# lib/core/ is pure (no sockets, no libwebsockets, no ZeroMQ, no processes),
# the library never prints to stdout, exits or installs a signal handler, a
# function's prefix names its file, and each program loads only the
# libraries it uses.

bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BIN=${SIO_BIN:-$ROOT/bin}
OBJ=$ROOT/build/lib

setup() {
	compgen -G "$OBJ/core/*.o" >/dev/null || skip "build/lib/ is not built (make build)"
}

# undefined SYMBOL-REGEX OBJECTS...: "object: symbol" for every symbol the
# objects call that matches.
undefined() {
	local re=$1 o
	shift
	for o in "$@"; do
		nm -u "$o" | awk -v re="$re" -v o="${o#"$ROOT"/}" \
			'{ s = $NF; sub(/@.*/, "", s) } s ~ re { print o ": " s }'
	done
}

@test "lib/core/ calls no socket, libwebsockets, ZeroMQ, HTTP, event-loop or process function" {
	local re='^(lws_|zmq_|zsock_|zcert|zactor|zpoller|MHD_|ev_|socket$|connect$|bind$|listen$|accept4?$|send(to|msg)?$|recv(from|msg)?$|poll$|ppoll$|select$|epoll_|getaddrinfo$|fork$|exec|posix_spawn|kill$|waitpid$|pipe2?$)'
	run undefined "$re" "$OBJ"/core/*.o
	assert_output ''
}

@test "lib/core/ sources include no header of the layers above or of sockets" {
	run grep -nE '#include [<"](libwebsockets|zmq|czmq|microhttpd|ev|sys/socket|netdb|poll|sys/epoll|netinet/[a-z]+|arpa/inet|bus|server|wsclient|httpd|instance|service|command|deliver|privileges|tls)\.h[>"]' \
		"$ROOT"/lib/core/*.[ch]
	assert_output ''
}

@test "the library never prints to stdout, exits or installs a signal handler" {
	local re='^(printf|puts|putchar|vprintf|exit|_exit|_Exit|abort|signal|sigaction|stdout)$'
	run undefined "$re" "$OBJ"/*/*.o
	assert_output ''
}

# needed PROGRAM: the shared libraries PROGRAM was linked against.
needed() {
	readelf -d "$BIN/$1" | sed -nE 's/.*\(NEEDED\).*\[(lib[^].]+)\..*/\1/p'
}

@test "each program loads only the libraries it uses" {
	local p
	for p in sio-pick sio-monitor; do
		run needed "$p"
		refute_line libwebsockets
		refute_line libev
		refute_line libssl
		refute_line libsystemd
	done
	run needed sio-pick
	refute_line libmicrohttpd
	# The dashboard (--http).
	run needed sio-monitor
	assert_line libmicrohttpd
	run needed sio-bench
	refute_line libwebsockets
	refute_line libzmq
	refute_line libmicrohttpd
	run needed sio-announce
	refute_line libwebsockets
	assert_line libmicrohttpd
	run needed sio-serve
	assert_line libwebsockets
	assert_line libzmq
	refute_line libmicrohttpd
	for p in "$BIN"/sio-*; do
		run needed "${p##*/}"
		refute_line libsio
	done
}

@test "a function's prefix names its file: sio_foo_* lives in foo.c" {
	local o f
	for o in "$OBJ"/*/*.o "$ROOT"/build/cmd/*/*.o; do
		f=${o##*/}
		f=${f%.o}
		[[ $f == main ]] && continue
		# Objects of sources that are gone (renamed) are not the tree's;
		# names in __ are the compiler's (ASan's __odr_asan.*).
		compgen -G "$ROOT/lib/*/$f.c" >/dev/null || compgen -G "$ROOT/cmd/*/$f.c" >/dev/null ||
			continue
		nm -g --defined-only "$o" | awk -v f="$f" -v o="${o#"$ROOT"/}" \
			'$3 !~ "^sio_" f "(_|$)" && $3 !~ /^__/ { print o ": " $3 }'
	done >"$BATS_TEST_TMPDIR/strays"
	run cat "$BATS_TEST_TMPDIR/strays"
	assert_output ''
}

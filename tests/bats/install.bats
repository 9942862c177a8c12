#!/usr/bin/env bats
# make install and make uninstall (issue 6): the tree a DESTDIR install makes
# for PREFIX=/usr/local and PREFIX=/opt/sio, installed programs that run
# from where they were put (libsio is linked into each, so nothing of sio's
# goes to LIBDIR), systemd units that name the installed paths and pass
# systemd-analyze verify, and an uninstall that leaves no file behind.

load helpers

# mk ARGS...: make in the source tree, with nothing of the caller's
# environment in the way: no exported PREFIX, no outer make's flags (its
# jobserver descriptors are not ours: bats uses descriptor 3). Only the
# build variables given to an outer make (make asan: OPT and SAN) carry
# over, so that programs linked again at install time match the objects.
mk() {
	local words=() vars=() w
	if [[ ${MAKEFLAGS:-} == *" -- "* ]]; then
		# make writes a space inside a value as "\ ": read keeps it.
		read -a words <<<"${MAKEFLAGS#* -- }"
		for w in "${words[@]}"; do
			case $w in
			CC=* | CFLAGS=* | LDFLAGS=* | OPT=* | SAN=*) vars+=("$w") ;;
			esac
		done
	fi
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u PREFIX -u DESTDIR -u BINDIR \
		-u LIBDIR -u MANDIR -u SYSCONFDIR -u DATADIR -u SYSTEMDUNITDIR \
		-u BASHCOMPDIR -u ZSHCOMPDIR \
		make -C "$SIO_ROOT" --no-print-directory "${vars[@]}" "$@"
}

# mk_log TARGET ARGS...: mk, its output in $BATS_TEST_TMPDIR/TARGET.log,
# shown when it fails.
mk_log() {
	local log=$BATS_TEST_TMPDIR/$1.log
	if ! mk "$@" >"$log" 2>&1; then
		echo "make $* failed:" >&2
		cat "$log" >&2
		return 1
	fi
}

# The programs and pages make install is to install, from the sources.
programs() {
	local c
	# cmd/NAME.c, or cmd/NAME/main.c for a program with modules of its own.
	for c in "$SIO_ROOT"/cmd/sio-*.c "$SIO_ROOT"/cmd/sio-*/main.c; do
		c=${c%/main.c}
		c=${c##*/}
		echo "${c%.c}"
	done | sort
}
pages() {
	local s
	for s in "$SIO_ROOT"/man/*.scd; do
		s=${s##*/}
		echo "${s%.scd}"
	done
}
units() {
	local u
	for u in "$SIO_ROOT"/etc/systemd/*.in; do
		u=${u##*/}
		echo "${u%.in}"
	done
}

# files_in DIR: the files and links under DIR, one a line, sorted.
files_in() { (cd "$1" && find . ! -type d | sort); }

# check_tree ROOT PREFIX SYSCONFDIR: every installed file is where it should
# be under ROOT (DESTDIR), with the contents of its source.
check_tree() {
	local root=$1 prefix=$2 etc=$3 p m s u
	local bin=$root$prefix/bin man=$root$prefix/share/man data=$root$prefix/share
	local unitdir=$root$prefix/lib/systemd/system
	for p in $(programs); do
		[[ -x $bin/$p && -f $bin/$p ]] || fail "$bin/$p: not installed"
		[[ -f $man/man1/$p.1 ]] || fail "$p has no man page in $man/man1"
		cmp -s "$SIO_ROOT/completions/bash/$p" "$data/bash-completion/completions/$p" ||
			fail "$p: no bash completion in $data/bash-completion/completions"
	done
	for m in $(pages); do
		s=${m##*.}
		cmp -s "$SIO_ROOT/man/$m" "$man/man$s/$m" || fail "$m: not in $man/man$s"
	done
	cmp -s "$SIO_ROOT/completions/zsh/_sio" "$data/zsh/site-functions/_sio" ||
		fail "_sio: not in $data/zsh/site-functions"
	[[ ! -e $root$prefix/lib/sio ]] || fail "something was installed in $prefix/lib/sio"
	cmp -s "$SIO_ROOT/etc/sio.conf" "$root$etc/sio/sio.conf.example" ||
		fail "$etc/sio/sio.conf.example: missing or not etc/sio.conf"
	cmp -s "$SIO_ROOT/web/sio-client.js" "$data/sio/web/sio-client.js" ||
		fail "sio-client.js: not in $prefix/share/sio/web"
	cmp -s "$SIO_ROOT/web/index.html" "$data/sio/web/index.html" ||
		fail "index.html: not in $prefix/share/sio/web"
	cmp -s "$SIO_ROOT/etc/haproxy.cfg" "$data/sio/haproxy.cfg" ||
		fail "haproxy.cfg: not in $prefix/share/sio"
	cmp -s "$SIO_ROOT/etc/nginx-sio.conf" "$data/sio/nginx-sio.conf" ||
		fail "nginx-sio.conf: not in $prefix/share/sio"
	for u in sio-serve@.service sio-announce.service sio-monitor.service; do
		[[ -f $unitdir/$u ]] || fail "$u: not in $prefix/lib/systemd/system"
	done
	for u in $(units); do
		[[ -f $unitdir/$u ]] || fail "$u: not in $prefix/lib/systemd/system"
		! grep -n '@[A-Z]*@' "$unitdir/$u" || fail "$u: a placeholder is left"
		# Every command a unit runs is an installed program, by its
		# installed path (without DESTDIR).
		grep -E '^Exec[A-Za-z]*=' "$unitdir/$u" | grep -v '=/bin/kill ' |
			while IFS= read -r line; do
				[[ $line =~ ^Exec[A-Za-z]*=(/[^ ]+) ]] || fail "$u: $line"
				[[ ${BASH_REMATCH[1]} == "$prefix/bin/sio-"* ]] ||
					fail "$u runs ${BASH_REMATCH[1]}, not a program of $prefix/bin"
				[[ -x $root${BASH_REMATCH[1]} ]] || fail "$u: ${BASH_REMATCH[1]} is not installed"
			done
	done
	grep -qxF "ExecStart=$prefix/bin/sio-serve -c $etc/sio/%i.conf" "$unitdir/sio-serve@.service" ||
		fail "sio-serve@.service does not run $prefix/bin/sio-serve -c $etc/sio/%i.conf"
}

# check_runs BINDIR: the installed programs run from BINDIR, with no libsio
# to find (it is linked into each of them).
check_runs() {
	local bin=$1 p
	for p in $(programs); do
		run env -u LD_LIBRARY_PATH "$bin/$p" --version
		assert_success
		assert_output --regexp "^$p [0-9]"
		run -0 env -u LD_LIBRARY_PATH ldd "$bin/$p"
		refute_output --partial libsio
	done
}

# install_check PREFIX [MAKE ARGS...]: install into a fresh DESTDIR, check,
# run, uninstall, check that no file is left.
install_check() {
	local prefix=$1 d=$BATS_TEST_TMPDIR/destdir
	shift
	rm -rf "$d"
	mk_log install install DESTDIR="$d" PREFIX="$prefix" "$@"
	check_tree "$d" "$prefix" /etc
	check_runs "$d$prefix/bin"
	# The example configuration, installed, is a valid one.
	run -0 env -u LD_LIBRARY_PATH "$d$prefix/bin/sio-serve" \
		-c "$d/etc/sio/sio.conf.example" --check-config
	mk_log uninstall uninstall DESTDIR="$d" PREFIX="$prefix" "$@"
	run files_in "$d"
	assert_output ''
}

@test "make install DESTDIR PREFIX=/usr/local: the whole tree; it runs; make uninstall removes it" {
	install_check /usr/local
}

@test "make install DESTDIR PREFIX=/opt/sio: the whole tree; it runs; make uninstall removes it" {
	install_check /opt/sio
}

@test "an installed sio-serve serves: /healthz and /metrics from DESTDIR/usr/local/bin" {
	local d=$BATS_TEST_TMPDIR/destdir
	mk_log install install DESTDIR="$d" PREFIX=/usr/local
	SIO_BIN=$d/usr/local/bin start_serve --id installed
	assert_equal "$(http_get /healthz)" ok
	metrics | grep -qE '^sio_info\{id="installed",version="[0-9][^"]*"\} 1$' ||
		fail "no sio_info of the installed server in /metrics"
	[[ $(readlink "/proc/$SERVE_PID/exe") == "$d/usr/local/bin/sio-serve" ]] ||
		fail "the server running is $(readlink "/proc/$SERVE_PID/exe")"
}

@test "BINDIR, MANDIR, SYSCONFDIR and DATADIR are honoured" {
	local d=$BATS_TEST_TMPDIR/destdir p m
	local vars=(PREFIX=/usr BINDIR=/usr/sbin MANDIR=/usr/man SYSCONFDIR=/etc/opt
		DATADIR=/usr/data)
	mk_log install install DESTDIR="$d" "${vars[@]}"
	for p in $(programs); do
		[[ -x $d/usr/sbin/$p ]] || fail "$p is not in BINDIR"
		[[ -f $d/usr/man/man1/$p.1 ]] || fail "$p.1 is not in MANDIR/man1"
		[[ -f $d/usr/data/bash-completion/completions/$p ]] ||
			fail "$p: no bash completion in DATADIR"
	done
	[[ -f $d/etc/opt/sio/sio.conf.example ]] || fail "no SYSCONFDIR/sio/sio.conf.example"
	[[ -f $d/usr/data/zsh/site-functions/_sio ]] || fail "no zsh completion in DATADIR"
	[[ -f $d/usr/data/sio/web/sio-client.js ]] || fail "no browser module in DATADIR/sio/web"
	grep -qxF 'ExecStart=/usr/sbin/sio-serve -c /etc/opt/sio/%i.conf' \
		"$d/usr/lib/systemd/system/sio-serve@.service" ||
		fail "the unit does not name BINDIR and SYSCONFDIR"
	check_runs "$d/usr/sbin"
	mk_log uninstall uninstall DESTDIR="$d" "${vars[@]}"
	run files_in "$d"
	assert_output ''
}

@test "make uninstall keeps the configuration made from the example" {
	local d=$BATS_TEST_TMPDIR/destdir
	mk_log install install DESTDIR="$d"
	cp "$d/etc/sio/sio.conf.example" "$d/etc/sio/web1.conf"
	mk_log uninstall uninstall DESTDIR="$d"
	run files_in "$d"
	assert_output './etc/sio/web1.conf'
}

@test "the installed systemd units pass systemd-analyze verify" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	# A unit known to be good tells whether verify can run here at all.
	local probe=$BATS_TEST_TMPDIR/probe
	mkdir -p "$probe"
	printf '[Service]\nExecStart=/bin/true\n' >"$probe/sio-probe.service"
	run systemd-analyze verify "$probe/sio-probe.service"
	[[ $status -eq 0 && -z $output ]] ||
		skip "systemd-analyze verify cannot run here: $output"

	# Installed without DESTDIR under a temporary root, so that the paths
	# the units name exist; the man pages they name are found on MANPATH.
	local r=$BATS_TEST_TMPDIR/root u
	mk_log install install PREFIX="$r/usr" SYSCONFDIR="$r/etc"
	local dir=$r/usr/lib/systemd/system
	for u in $(units); do
		run env MANPATH="$r/usr/share/man:" systemd-analyze verify "$dir/$u"
		[[ $status -eq 0 && -z $output ]] ||
			fail "systemd-analyze verify $u (status $status): $output"
	done
	# The properties the units are for, as systemd reads them.
	local serve=$dir/sio-serve@.service
	grep -qx 'Type=notify' "$serve" || fail "sio-serve@.service is not Type=notify"
	grep -qx 'WatchdogSec=10' "$serve" || fail "sio-serve@.service has no watchdog"
	grep -qxF 'ExecReload=/bin/kill -HUP $MAINPID' "$serve" || fail "no SIGHUP reload"
	grep -qx 'DynamicUser=yes' "$serve" || fail "sio-serve@.service is not sandboxed"
	grep -qxF "ExecStart=$r/usr/bin/sio-monitor -c $r/etc/sio/sio.conf --events --exec $r/etc/sio/hooks/event" \
		"$dir/sio-monitor.service" || fail "sio-monitor.service does not run the hook"
	grep -qxF "ExecStart=$r/usr/bin/sio-announce -c $r/etc/sio/sio.conf" \
		"$dir/sio-announce.service" || fail "sio-announce.service does not read sio.conf"
	# systemd stops an instance only after a drain at the default pace.
	local stop drain
	stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$serve")
	drain=$(sed -nE 's/^[[:space:]]*drain_ms = ([0-9]+);/\1/p' "$SIO_ROOT/etc/sio.conf")
	[[ -n $stop && -n $drain ]] || fail "TimeoutStopSec or drain_ms not found"
	((stop * 1000 > drain + 5000)) ||
		fail "TimeoutStopSec=$stop is not well above drain_ms=$drain"
	mk_log uninstall uninstall PREFIX="$r/usr" SYSCONFDIR="$r/etc"
	run files_in "$r"
	assert_output ''
}

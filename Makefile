# sio: build, test, install. See README.md.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DATADIR    ?= $(PREFIX)/share
# Where systemd looks for units of this PREFIX (/usr/local/lib/systemd/system
# is on its path, /opt/... is not: see README.md), and for completions.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
DESTDIR    ?=

CC         ?= cc
PKGS       := libwebsockets libzmq libczmq libconfig jansson libsystemd libmicrohttpd openssl
CSTD       := -std=c11 -D_GNU_SOURCE
WARN       := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
OPT        ?= -O2 -g
SAN        ?=
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
BASE_CFLAGS := $(CSTD) $(WARN) $(OPT) $(SAN) $(PKG_CFLAGS) -DSIO_VERSION='"$(VERSION)"' $(CFLAGS)
# A quiet build shows "CC file" per step; V=1 shows the whole commands.
ifeq ($(V),1)
Q :=
say = @:
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
endif
# --as-needed: a library named on a link line but not used is not loaded.
ALL_LDFLAGS := $(SAN) -Wl,--as-needed $(LDFLAGS)

# The library in three layers (DESIGN §8), each a folder of lib/:
#   core  pure modules: no I/O but the log, no sockets, no libwebsockets,
#         no ZeroMQ (make test checks it: tests/bats/layers.bats)
#   os    the operating system's plumbing: processes, files, privileges, TLS files
#   net   the socket glue: the WebSocket server and client, the bus, HTTP
# A layer sees the headers of those below it and its own, nothing above:
# the compiler keeps core from reaching into os or net.
CORE_INC   := -Ilib/core
OS_INC     := $(CORE_INC) -Ilib/os
NET_INC    := $(OS_INC) -Ilib/net
CORE_OBJ   := $(patsubst lib/%.c,build/lib/%.o,$(sort $(wildcard lib/core/*.c)))
OS_OBJ     := $(patsubst lib/%.c,build/lib/%.o,$(sort $(wildcard lib/os/*.c)))
NET_OBJ    := $(patsubst lib/%.c,build/lib/%.o,$(sort $(wildcard lib/net/*.c)))
LIB_OBJ    := $(CORE_OBJ) $(OS_OBJ) $(NET_OBJ)
# One static archive: each program takes from it the objects it calls and
# nothing else (as s6 links its programs), and names its own libraries below.
LIB        := build/libsio.a

# A program is cmd/NAME.c, or cmd/NAME/ with main.c and the modules only it
# uses (the load generator in sio-bench/, the worker supervisor in sio-serve/).
PROG_NAMES := $(sort $(patsubst cmd/%.c,%,$(wildcard cmd/sio-*.c)) \
              $(patsubst cmd/%/main.c,%,$(wildcard cmd/sio-*/main.c)))
PROGS      := $(PROG_NAMES:%=bin/%)
CMD_SRC    := $(sort $(wildcard cmd/sio-*.c cmd/sio-*/*.c))
CMD_OBJ    := $(CMD_SRC:cmd/%.c=build/cmd/%.o)
# What every program's main does alike (signals to a self-pipe, exit codes),
# which the library must not do: cmd/common/, linked into every program.
COMMON_SRC := $(sort $(wildcard cmd/common/*.c))
COMMON_OBJ := $(COMMON_SRC:cmd/%.c=build/cmd/%.o)
prog_objs   = $(filter build/cmd/$(1).o build/cmd/$(1)/%.o,$(CMD_OBJ)) $(COMMON_OBJ) $(EMBED_$(1))

# Files a program carries inside it, made into C arrays at build time:
# sio-monitor's dashboard page (one HTML file, its CSS and script inline).
EMBED_sio-monitor := build/gen/dashboard_html.o

# What each program links, beyond libsio.a: pkg-config modules, then others.
LIBS_sio-serve    := libwebsockets libzmq libczmq libconfig jansson libsystemd openssl
LIBS_sio-cat      := libzmq libczmq libconfig jansson libcrypto
LIBS_sio-monitor  := libzmq libczmq libconfig jansson libmicrohttpd
LIBS_sio-announce := libzmq libczmq libconfig jansson libmicrohttpd
LIBS_sio-pick     := libzmq libczmq libconfig jansson
LIBS_sio-backend  := libzmq libczmq libconfig jansson
LIBS_sio-bench    := libconfig jansson libcrypto
# libev has no pkg-config file on Debian.
XLIBS_sio-serve   := -lev
XLIBS_sio-cat     := -lm
XLIBS_sio-monitor := -lm
prog_libs   = $(shell pkg-config --libs $(LIBS_$(1)) 2>/dev/null) $(XLIBS_$(1))
# The unit tests and the fuzzers link the whole library.
ALL_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lm

UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=build/tests/%)

MAN_SRC    := $(sort $(wildcard man/*.scd))
MAN_OUT    := $(MAN_SRC:%.scd=%)

DEB_PKGS   := build-essential pkg-config libwebsockets-dev libzmq3-dev \
              libconfig-dev libjansson-dev uthash-dev libcmocka-dev libczmq-dev \
              libmicrohttpd-dev libssl-dev libev-dev libwebsockets-evlib-ev \
              libsystemd-dev bats bats-support bats-assert scdoc mandoc \
              python3 procps iproute2 binutils xxd

# What only the tests need: a real front-end web server, a load balancer
# (HAProxy, beside nginx, in front of a mesh) and a real browser, zsh to
# parse its completions, promtool to check /metrics, jq for JSON in shell,
# clang for the fuzzers, valgrind for valgrind.bats.
TEST_PKGS  := nginx-light haproxy zsh chromium jq clang libclang-rt-14-dev prometheus valgrind

.PHONY: all build deps test-deps install-pkgs test unit asan valgrind clean install uninstall man run
# pkg-config answers at parse time, so the build runs in a second make once
# the Debian packages are there.
all: deps
	@$(MAKE) --no-print-directory build

build: $(PROGS) man

# Installs the Debian packages sio needs, only those missing.
deps:
	@$(MAKE) --no-print-directory install-pkgs PKGS_WANTED="$(DEB_PKGS)"

# node runs the browser module's tests; any node on the PATH will do.
test-deps:
	@$(MAKE) --no-print-directory install-pkgs PKGS_WANTED="$(TEST_PKGS)"
	@command -v node >/dev/null || $(MAKE) --no-print-directory install-pkgs PKGS_WANTED=nodejs

install-pkgs:
	@missing=""; for p in $(PKGS_WANTED); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "sio: installing Debian packages:$$missing" >&2; \
	  if [ "$$(id -u)" != 0 ]; then echo "sio: run 'make deps' as root" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi

build/lib/core/%.o: lib/core/%.c
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(BASE_CFLAGS) $(CORE_INC) -MMD -MP -c $< -o $@

build/lib/os/%.o: lib/os/%.c
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(BASE_CFLAGS) $(OS_INC) -MMD -MP -c $< -o $@

build/lib/net/%.o: lib/net/%.c
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(BASE_CFLAGS) $(NET_INC) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

# xxd -i writes the bytes; the names and the length are sio's own.
build/gen/%_html.c: web/%.html
	@mkdir -p $(@D)
	$(call say,EMBED,$<)
	$(Q){ printf '#include <stddef.h>\n\nconst unsigned char sio_$*_html[] = {\n'; \
	  xxd -i <$<; printf '};\nconst size_t sio_$*_html_len = sizeof sio_$*_html;\n'; } >$@.tmp
	$(Q)mv $@.tmp $@

build/gen/%.o: build/gen/%.c
	$(call say,CC,$<)
	$(Q)$(CC) $(BASE_CFLAGS) -c $< -o $@

# A program's own folder comes first on its include path.
build/cmd/%.o: cmd/%.c
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(BASE_CFLAGS) -I$(<D) -Icmd/common $(NET_INC) -MMD -MP -c $< -o $@

# Objects stay: a second make has nothing to do.
.SECONDARY:
.SECONDEXPANSION:
bin/%: $$(call prog_objs,%) $(LIB)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(call prog_objs,$*) $(LIB) $(call prog_libs,$*)

build/tests/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(BASE_CFLAGS) $(NET_INC) -MMD -MP -c $< -o $@

build/tests/%: build/tests/%.o $(LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(ALL_LIBS) -lcmocka

# man breaks lines after a hyphen and hyphenates words: --log-level would
# end a line as "--log-", a word as "to-". In text lines every - becomes \-
# (groff breaks after a hyphen, never after \-, and renders it as -), and
# .nh comes after .TH, whose an.tmac turns hyphenation back on.
man: $(MAN_OUT)
man/%: man/%.scd Makefile
	$(call say,SCDOC,$@)
	$(Q)scdoc < $< | perl -pe 'if (/^\.TH /) { $$_ .= ".nh\n" } elsif (!/^[.\x27]/) { s/(?<!\\)-/\\-/g }' > $@.tmp
	$(Q)mv $@.tmp $@

# One prove run over the C unit tests (TAP from cmocka) and the bats files
# (TAP when not on a terminal), so CI reads one summary.
# tests/hosts/ runs instances on network-namespace hosts (root only; the
# files skip with a reason otherwise); TEST_TOOLS are what they build.
test: deps test-deps
	@$(MAKE) --no-print-directory build $(UNIT_BIN) $(TEST_TOOLS)
	@CMOCKA_MESSAGE_OUTPUT=TAP SIO_BIN="$(CURDIR)/bin" prove --exec '' $(PROVE_FLAGS) \
	  $(UNIT_BIN) $(sort $(wildcard tests/bats/*.bats)) $(sort $(wildcard tests/hosts/*.bats))

unit: deps
	@$(MAKE) --no-print-directory build $(UNIT_BIN)
	@CMOCKA_MESSAGE_OUTPUT=TAP prove --exec '' $(UNIT_BIN)

# The same tests with ASan and UBSan. Servers started by the bats tests log
# their findings under build/sanitizer/; any report there fails the run.
SAN_DIR := $(CURDIR)/build/sanitizer
asan:
	$(MAKE) clean
	mkdir -p $(SAN_DIR)
	ASAN_OPTIONS=log_path=$(SAN_DIR)/asan:detect_leaks=1 \
	UBSAN_OPTIONS=log_path=$(SAN_DIR)/ubsan:print_stacktrace=1 \
	  $(MAKE) test OPT='-O1 -g -fno-omit-frame-pointer' \
	  SAN='-fsanitize=address,undefined -fno-sanitize-recover=all'
	@# A file holding only "Suppressions used" (the fuzzers' known libconfig
	@# leaks) is no finding; an ERROR or a runtime error is.
	@if grep -l -E "ERROR: |runtime error" $(SAN_DIR)/* 2>/dev/null; then \
	  echo "sanitizer reports:"; head -n 40 $$(grep -l -E "ERROR: |runtime error" $(SAN_DIR)/*); \
	  exit 1; fi
	@echo "asan: no sanitizer report"

valgrind: build $(UNIT_BIN)
	@for t in $(UNIT_BIN); do \
	  valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
	    --error-exitcode=9 $$t >/dev/null || exit 1; done; echo "valgrind: unit tests clean"

# The main job on loopback defaults: see README.md.
run: all
	@sh etc/demo.sh

clean:
	rm -rf bin build $(MAN_OUT)

# What make install puts in place, and make uninstall removes: nothing else.
UNIT_IN    := $(sort $(wildcard etc/systemd/*.in))
UNITS      := $(UNIT_IN:etc/systemd/%.in=%)
WEB_FILES  := web/sio-client.js web/index.html
BASH_COMP  := $(sort $(wildcard completions/bash/sio-*))
# The units name the installed paths.
UNIT_SED   := -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
              -e 's|@DATADIR@|$(DATADIR)|g'

# The programs are linked statically against libsio: nothing of sio's goes
# to LIBDIR, and a DESTDIR tree runs where it is.
# Load balancers in front of a mesh (one public URL, sio(7)): examples,
# installed beside the browser module.
LB_EXAMPLES := etc/haproxy.cfg etc/nginx-sio.conf

install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(SYSCONFDIR)/sio \
	  $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(SYSTEMDUNITDIR) \
	  $(DESTDIR)$(DATADIR)/sio/web
	install -m 755 $(PROGS) $(DESTDIR)$(BINDIR)/
	for m in $(MAN_OUT); do s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; done
	install -m 644 etc/sio.conf $(DESTDIR)$(SYSCONFDIR)/sio/sio.conf.example
	install -m 644 $(BASH_COMP) $(DESTDIR)$(BASHCOMPDIR)/
	install -m 644 completions/zsh/_sio $(DESTDIR)$(ZSHCOMPDIR)/_sio
	for u in $(UNITS); do \
	  sed $(UNIT_SED) etc/systemd/$$u.in >$(DESTDIR)$(SYSTEMDUNITDIR)/$$u && \
	  chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; \
	done
	install -m 644 $(WEB_FILES) $(DESTDIR)$(DATADIR)/sio/web/
	install -m 644 $(LB_EXAMPLES) $(DESTDIR)$(DATADIR)/sio/

# Removes the files install put in place, and the directories that are sio's
# own once empty (SYSCONFDIR/sio keeps the configuration files made from the
# example).
uninstall:
	rm -f $(PROGS:bin/%=$(DESTDIR)$(BINDIR)/%)
	for m in $(MAN_OUT); do s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; done
	rm -f $(DESTDIR)$(SYSCONFDIR)/sio/sio.conf.example
	rm -f $(BASH_COMP:completions/bash/%=$(DESTDIR)$(BASHCOMPDIR)/%)
	rm -f $(DESTDIR)$(ZSHCOMPDIR)/_sio
	rm -f $(UNITS:%=$(DESTDIR)$(SYSTEMDUNITDIR)/%)
	rm -f $(WEB_FILES:web/%=$(DESTDIR)$(DATADIR)/sio/web/%)
	rm -f $(LB_EXAMPLES:etc/%=$(DESTDIR)$(DATADIR)/sio/%)
	for d in $(DESTDIR)$(DATADIR)/sio/web $(DESTDIR)$(DATADIR)/sio \
	  $(DESTDIR)$(SYSCONFDIR)/sio; do \
	  [ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d || exit 1; \
	done

# A tiny application backend that drives an instance's side of the backend
# protocol (tests/bats/app_instance.bats).
APP_HARNESS := build/tests/app-harness
TEST_TOOLS  += $(APP_HARNESS)

$(APP_HARNESS): tests/helpers/app-harness.c $(LIB)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CORE_INC) -o $@ $< $(LIB) $(ALL_LIBS)

# Benchmarks and fuzzers keep their rules beside their sources.
-include bench/bench.mk tests/fuzz/fuzz.mk tests/hosts/hosts.mk

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d) $(COMMON_OBJ:.o=.d) $(UNIT_SRC:tests/unit/%.c=build/tests/%.d)

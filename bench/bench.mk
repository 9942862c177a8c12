# make bench: the performance suite, sio-serve against a reference (a minimal
# socketiyo relay on the Node.js ws package; for the overload sweep,
# Socket.IO with its Redis adapter), measured in the same run. See
# bench/run.sh for the points and the knobs (REPEAT=3, POINTS=, HOLD_N=,
# ...: make bench passes them through the environment), and bench/results/
# for the figures. A benchmark, not a test: nothing here is
# part of make test, and no figure fails anything.

BENCH_REF := bench/reference
# The application of the app points as a backend of the mesh (the C library,
# and sio-backend's coprocess and reader): bench/appbackend.c.
BENCH_APP := build/bench/appbackend
# The limit sio-serve is measured against: bench/bare.c.
BENCH_BARE := build/bench/bare

.PHONY: bench bench-deps bench-million

bench: all bench-deps $(BENCH_APP) $(BENCH_BARE) $(MESHSIM)
	@bash bench/run.sh
	@bash bench/meshsim.sh

$(BENCH_APP): bench/appbackend.c $(LIB)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(NET_INC) -o $@ $< $(LIB) $(ALL_LIBS)

$(BENCH_BARE): bench/bare.c
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -o $@ $< -lcrypto

# The whole machine: a million connections over a mesh of 53 instances (see
# bench/million.sh for the knobs). Minutes long, and most of the memory.
bench-million: all
	@$(MAKE) --no-print-directory install-pkgs PKGS_WANTED="jq"
	@bash bench/million.sh

# node and npm (nodejs on Debian), then the ws and Socket.IO packages, from npm, once and
# whenever package.json changes. package.json pins the version; no lock file
# is kept (it would only repeat the pin, with the registry's addresses).
# redis-server (Debian's) for the Socket.IO reference of the sweep.
bench-deps: $(BENCH_REF)/node_modules/.package-lock.json
	@$(MAKE) --no-print-directory install-pkgs PKGS_WANTED="redis-server"

$(BENCH_REF)/node_modules/.package-lock.json: $(BENCH_REF)/package.json
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  $(MAKE) --no-print-directory install-pkgs PKGS_WANTED="nodejs npm" || exit 1; \
	fi
	npm install --prefix $(BENCH_REF) --no-audit --no-fund --no-package-lock --loglevel=error
	@touch $@

# bench.bats checks the limit of make bench with sio-bench.
TEST_TOOLS += $(BENCH_BARE)

# The mesh's control plane on a simulated clock and network (bench/meshsim.c,
# sio's registry and encoder): 1,000 and 10,000 instances, flat and
# two-level, 0, 1 and 5 % loss; and the cost of a real idle mesh
# (bench/mesh-scale.sh). The small cases run in make test (meshsim.bats).
MESHSIM := build/bench/meshsim
TEST_TOOLS += $(MESHSIM)

$(MESHSIM): bench/meshsim.c $(LIB)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -Ilib/core -o $@ $< $(LIB) $(ALL_LIBS)

.PHONY: bench-mesh
bench-mesh: all $(MESHSIM)
	@bash bench/meshsim.sh

#!/usr/bin/env bats
# The fuzz targets build and run clean for a moment: the client frame
# handler, the bus decoders, the application protocol's and the
# configuration (tests/fuzz/). This is only the shortest pass, FUZZ_SECONDS
# (3) per target to keep make test fast; make fuzz-smoke (10 s) is CI's pass
# and make fuzz (60 s) the real one.
# Skipped where clang cannot link a libFuzzer target.

bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

setup() {
	local cc=${FUZZ_CC:-clang}
	command -v "$cc" >/dev/null ||
		skip "no $cc: the fuzz targets need clang with libFuzzer (make fuzz-deps)"
	echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; return (int)n * 0; }' |
		"$cc" -x c - -fsanitize=fuzzer,address,undefined -o "$BATS_TEST_TMPDIR/probe" \
			>/dev/null 2>&1 ||
		skip "$cc cannot link -fsanitize=fuzzer,address,undefined (make fuzz-deps: libclang-rt-14-dev)"
	pkg-config --exists jansson libconfig ||
		skip "no jansson or libconfig for pkg-config (make deps)"
}

@test "fuzz-smoke: every fuzz target builds and runs ${FUZZ_SECONDS:-3} s without a finding" {
	cd "$ROOT"
	run make --no-print-directory -f Makefile -f tests/fuzz/fuzz.mk fuzz-smoke \
		FUZZ_SECONDS="${FUZZ_SECONDS:-3}"
	assert_success
	# One line per target, each saying it found nothing.
	for t in fuzz_frame fuzz_bus fuzz_app fuzz_config; do
		assert_line --regexp "^$t: [0-9]+ runs in ${FUZZ_SECONDS:-3} s, cov: [0-9]+, corpus [0-9]+: no finding$"
	done
}

#!/usr/bin/env bats
# The Node.js module node/sio-socketiyo (socketiyo's server facade over
# sio-backend): its own tests, run by Node's test runner against a scripted
# sio-backend. Any failing test fails this one, with the runner's report.

bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

setup() {
	command -v node >/dev/null || skip "no node (make test-deps installs it)"
	# node --test reports its own counts; the module asks for Node 18 or later.
	local major
	major=$(node -p 'process.versions.node.split(".")[0]')
	((major >= 18)) || skip "node $major is older than the module's 18"
}

@test "node --test node/sio-socketiyo/test/: every test passes" {
	cd "$ROOT"
	run node --test node/sio-socketiyo/test/
	[ "$status" -eq 0 ] || fail "node --test failed (status $status):
$output"
	# A runner that found nothing to run passes too: some tests must have run.
	[[ $output =~ (^|$'\n')'# pass '([1-9][0-9]*) ]] || fail "no test ran:
$output"
	[[ $output =~ (^|$'\n')'# fail 0'($'\n'|$) ]] || fail "$output"
}

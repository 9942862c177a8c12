#!/usr/bin/env bats
# The paths a new user takes by mistake: each failure says what went wrong
# and what to do, with the exit code of its kind.

load helpers

@test "--max-clients alone derives high_clients and low_enough (80 %, 60 %)" {
	run "$SIO_BIN/sio-serve" --max-clients 10 --check-config
	assert_success
	start_serve --max-clients 10
	run http_get /metrics
	assert_line --partial 'sio_limit_clients{limit="high"} 8'
	assert_line --partial 'sio_limit_clients{limit="low_enough"} 6'
}

@test "inconsistent thresholds name the values in force and what to set" {
	run "$SIO_BIN/sio-serve" --max-clients 10 --high-clients 9 --check-config
	assert_failure 78
	assert_output --partial 'low_enough (600000) must be below high_clients (9)'
	assert_output --partial 'set --high-clients and --low-enough'
}

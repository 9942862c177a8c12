#!/usr/bin/env bats
# The mesh simulation (bench/meshsim.c: sio's registry and heartbeat
# encoder on a simulated clock and network) at small sizes: what make bench
# reports at 1,000 and 10,000 instances must hold here too. Simulated time
# is deterministic for a seed: these are properties of the protocol, not
# timings of this machine.

load helpers

SIM="$SIO_ROOT/build/bench/meshsim"

setup() {
	[[ -x $SIM ]] || skip "build/bench/meshsim not built (make test builds it)"
}

# field NAME: the value of NAME= in $output.
field() { sed -nE "s/.* $1=([0-9.-]+).*/\1/p" <<<"$output"; }
# below A B: A < B, as numbers.
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

@test "flat mesh of 50, no loss: every heartbeat heard, no false death, a death seen within dead-after plus half a heartbeat, a newcomer known" {
	run -0 "$SIM" --instances 50 --seconds 10 --sample 8
	[[ $output == mode=flat* ]]
	assert_equal "$(field msgs_in_per_instance_s)" 196.0
	assert_equal "$(field false_deaths_per_instance_hour)" 0.000
	assert_equal "$(field probes_per_instance_s)" 0.00
	below "$(field death_local_max_ms)" $((1000 + 125 + 2))
	below 0 "$(field join_everywhere_ms)"
	below "$(field join_everywhere_ms)" 2000
}

@test "flat mesh of 50, 5 % loss: late peers are probed; with probes no false death, without them some" {
	run -0 "$SIM" --instances 50 --loss 0.05 --seconds 120 --sample 16
	below 0 "$(field probes_per_instance_s)"
	assert_equal "$(field false_deaths_per_instance_hour)" 0.000
	run -0 "$SIM" --instances 50 --loss 0.3 --seconds 120 --sample 16 --no-probe
	below 0 "$(field false_deaths_per_instance_hour)"
}

@test "two-level, 200 instances in cells of 32: an instance hears its cell, not the mesh; deaths and newcomers reach the other cells" {
	run -0 "$SIM" --instances 200 --loss 0.01 --seconds 10
	local flat
	flat=$(field msgs_in_per_instance_s)
	run -0 "$SIM" --instances 200 --cell 32 --loss 0.01 --seconds 10
	[[ $output == mode=two-level* ]]
	assert_equal "$(field cells)" 7
	below "$(field msgs_in_per_instance_s)" "$flat"
	below 0 "$(field death_remote_max_ms)"
	below "$(field death_remote_max_ms)" $((1000 + 125 + 2 * 250 + 10))
	below 0 "$(field join_everywhere_ms)"
}

@test "bad arguments: usage, exit 64" {
	run -64 "$SIM" --instances 2
	run -64 "$SIM" --loss 1.5
	run -64 "$SIM" --bogus
}

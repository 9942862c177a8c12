#!/bin/sh
# run.sh SECONDS TARGET...: runs each fuzz target of build/fuzz/ for SECONDS
# (libFuzzer's -max_total_time), one after the other, from the repository
# root. Each starts from its working corpus build/fuzz/corpus/TARGET (new
# inputs go there) and the seeds of tests/fuzz/corpus/TARGET, with
# tests/fuzz/TARGET.dict. Its output goes to build/fuzz/log/TARGET.log; a
# line a target tells what it did. Exits 1 when any target found something
# (crash, leak, undefined behaviour, timeout, out of memory): the input that
# did it is in build/fuzz/artifacts/TARGET/, the end of the log is shown.
#
# FUZZ_FLAGS adds libFuzzer flags (e.g. -jobs=2 -workers=2, -seed=1).
set -u

secs=$1
shift
dir=build/fuzz
status=0

max_len() {
	case $1 in
	fuzz_config) echo 16384 ;;   # etc/sio.conf, a seed, is 8 KiB
	*) echo 4096 ;;
	esac
}

for t in "$@"; do
	mkdir -p "$dir/corpus/$t" "$dir/artifacts/$t" "$dir/log"
	log=$dir/log/$t.log
	stamp=$dir/log/$t.start
	: >"$stamp"   # this run's artifacts are the ones newer than the stamp
	dict=
	[ -f "tests/fuzz/$t.dict" ] && dict=-dict=tests/fuzz/$t.dict
	# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
	"$dir/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len="$(max_len "$t")" -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/$t/" $dict ${FUZZ_FLAGS:-} \
		"$dir/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	corpus=$(find "$dir/corpus/$t" -type f | wc -l)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		echo "$t: ${runs:-?} runs in ${secs} s, ${cov:-cov: ?}, corpus $corpus: no finding"
	else
		status=1
		echo "$t: FINDING (libFuzzer exit $rc) after ${runs:-?} runs; log: $log" >&2
		tail -n 60 "$log" >&2
		find "$dir/artifacts/$t" -type f -newer "$stamp" | while read -r a; do
			echo "$t: input: $a (hex: $(od -An -v -tx1 "$a" | tr -d ' \n' | cut -c1-512))" >&2
			echo "$t: reproduce: $dir/$t $a" >&2
		done
	fi
done
exit $status

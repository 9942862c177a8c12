# sio_cpucap NAME PERCENT PID...: the processes get PERCENT of one core
# between them, through a CPU cgroup NAME made for them (v2 cpu.max, or v1
# CFS quota), with a 20 ms period so that a capped process runs in short
# slices. CPUCAP_DIR names the cgroup once made (also when a later step
# failed), for the caller to remove once its processes are gone. Returns 1
# where no such cgroup can be made (no cgroupfs, no rights).
# Shared by tests/bats/overload.bats and bench/run.sh (SWEEP_B_CPU).
sio_cpucap() {
	local name=$1 pct=$2 period=20000 dir pid
	shift 2
	local quota=$((period * pct / 100))
	CPUCAP_DIR=""
	if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
		grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null ||
			echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || return 1
		dir=/sys/fs/cgroup/$name
		mkdir "$dir" 2>/dev/null || return 1
		CPUCAP_DIR=$dir
		echo "$quota $period" >"$dir/cpu.max" 2>/dev/null || return 1
	elif [[ -w /sys/fs/cgroup/cpu/cgroup.procs ]]; then
		dir=/sys/fs/cgroup/cpu/$name
		mkdir "$dir" 2>/dev/null || return 1
		CPUCAP_DIR=$dir
		{ echo "$period" >"$dir/cpu.cfs_period_us" && echo "$quota" >"$dir/cpu.cfs_quota_us"; } \
			2>/dev/null || return 1
	else
		return 1
	fi
	for pid; do
		echo "$pid" >"$dir/cgroup.procs" 2>/dev/null || return 1
	done
}

#!/usr/bin/env bash
# What listening for a v1 memory cgroup's reclaim costs the engine thread
# (docs/policy.md, "the kernel reclaims in the cgroup while that threshold
# cannot tell"; docs/benchmarks.md, "Listening for the cgroup's reclaim"):
# a process holding 64 MiB in its ring sits in a 256 MiB cgroup while a
# writer in the same cgroup streams a file through it, so the cgroup stays at
# its limit and the kernel reclaims its page cache the whole time. Prints
# the engine thread's wake-ups (context switches) and CPU time, idle for 5 s
# and during the stream.
#   bench/cgroup_reclaim_wakes.sh BUILD_DIR [MIB] [DIR]
# BUILD_DIR is a build with tests (the policy helper); MIB the size of the
# stream (default 10240); DIR a disk-backed directory for the file (default
# BUILD_DIR; a tmpfs file would be shared memory, not page cache). Needs
# root and cgroup v1's memory controller.
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [MIB] [DIR]}
mib=${2:-10240}
dir=${3:-$build}
helper="$build/tests/policy/vmreclaim_policy_helper"
[ -x "$helper" ] || { echo "no $helper (a build with tests)" >&2; exit 2; }
if ! [[ $mib =~ ^[1-9][0-9]*$ ]]; then
  echo "MIB must be a positive number, not $mib" >&2
  exit 2
fi
root=/sys/fs/cgroup/memory
[ -w "$root/cgroup.procs" ] || { echo "needs root and the v1 memory controller at $root" >&2; exit 2; }
cg="$root/vmreclaim-bench-$$"
file="$dir/vmreclaim-bench-stream-$$"
fifo=$(mktemp -u /tmp/vmreclaim-bench-XXXXXX)
holder=""
cleanup() {
  exec 7>&- 2>/dev/null || true
  [ -z "$holder" ] || wait "$holder" 2>/dev/null || true
  rm -f "$file" "$fifo"
  # The cgroup goes once its processes are gone and its cache uncharged.
  for _ in 1 2 3 4 5; do rmdir "$cg" 2>/dev/null && break; sleep 0.2; done
}
trap cleanup EXIT
mkdir "$cg"
echo $((256 << 20)) >"$cg/memory.limit_in_bytes"
mkfifo "$fifo"
(echo "$BASHPID" >"$cg/cgroup.procs" && exec env VMRECLAIM_PRESSURE=normal "$helper" hold 64 <"$fifo" >/dev/null) &
holder=$!
exec 7>"$fifo"
sleep 1.5
engine=""
for t in /proc/"$holder"/task/*; do
  [ "$(cat "$t/comm")" = vm_reclaim ] && engine=${t##*/}
done
[ -n "$engine" ] || { echo "the helper has no engine thread" >&2; exit 1; }
# Context switches and CPU ticks (user + system) of the engine thread.
snap() {
  local s
  s=$(awk '/^(non)?voluntary_ctxt_switches/ {n += $2} END {print n}' "/proc/$holder/task/$engine/status")
  echo "$s $(awk '{print $14 + $15}' "/proc/$holder/task/$engine/stat")"
}
hz=$(getconf CLK_TCK)
read -r w0 c0 <<<"$(snap)"
sleep 5
read -r w1 c1 <<<"$(snap)"
echo "idle, 5 s: $((w1 - w0)) wake-ups, $(((c1 - c0) * 1000 / hz)) ms CPU"
read -r w0 c0 <<<"$(snap)"
t0=$(date +%s%N)
(echo "$BASHPID" >"$cg/cgroup.procs" && exec dd if=/dev/zero of="$file" bs=1M count="$mib" status=none)
t1=$(date +%s%N)
read -r w1 c1 <<<"$(snap)"
ms=$(((t1 - t0) / 1000000))
echo "streaming $mib MiB through the cgroup, $ms ms: $((w1 - w0)) wake-ups ($(((w1 - w0) * 1000 / ms)) a second)," \
  "$(((c1 - c0) * 1000 / hz)) ms CPU"

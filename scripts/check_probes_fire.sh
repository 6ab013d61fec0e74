#!/usr/bin/env bash
# Checks that the library's USDT probes fire, not only that they exist
# (tests/observability/probes_test.cpp reads the notes): attaches them with
# `perf probe`, runs a program that uses the library, and requires each of
# the probes it must pass to have fired at least once (`perf stat`).
#   check_probes_fire.sh LIBRARY PROGRAM [ARG...]
# Exit 77 (skipped) without perf, root or tracefs, except on the CI machine
# (CI=true), whose set-up installs perf and runs as root.
set -euo pipefail
lib=$(readlink -f "$1")
shift
skip() {
  if [[ ${CI:-} == true ]]; then
    echo "CI=true and $1" >&2
    exit 1
  fi
  echo "skipped: $1"
  exit 77
}
command -v perf >/dev/null 2>&1 || skip "perf is not installed (apt-get install linux-perf)"
[[ ${EUID} -eq 0 ]] || skip "attaching uprobes needs root"
if [[ ! -e /sys/kernel/tracing/uprobe_events ]]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || skip "tracefs is not available"
fi
[[ -e /sys/kernel/tracing/uprobe_events ]] || skip "the kernel has no uprobe events"

# The probes the program passes: the ring's allocation, its flush, and one
# per entry reclaimed.
probes=(reclaim_ring_allocate reclaim_flush vm_reclaim_entry)
# perf names the events after the provider; a previous run's are removed first.
cleanup() { perf probe -q -d 'sdt_vmreclaim:*' >/dev/null 2>&1 || true; }
cleanup
trap cleanup EXIT
# The cache by build-id: an entry of an identical library elsewhere (another
# build directory, since removed) would hide this file's notes.
perf buildid-cache --remove "${lib}" >/dev/null 2>&1 || true
perf buildid-cache --add "${lib}"
events=()
for p in "${probes[@]}"; do
  perf probe -q -x "${lib}" -a "sdt_vmreclaim:${p}"
  events+=(-e "sdt_vmreclaim:${p}")
done
out=$(mktemp)
trap 'cleanup; rm -f "${out}"' EXIT
perf stat -x, -o "${out}" "${events[@]}" -- "$@"
cat "${out}"
status=0
for p in "${probes[@]}"; do
  n=$(awk -F, -v ev="sdt_vmreclaim:${p}" '$3 == ev { print $1 }' "${out}")
  if [[ -z ${n} || ! ${n} =~ ^[0-9]+$ || ${n} -eq 0 ]]; then
    echo "FAIL: probe ${p} did not fire (count '${n}')" >&2
    status=1
  else
    echo "probe ${p}: fired ${n} times"
  fi
done
exit "${status}"

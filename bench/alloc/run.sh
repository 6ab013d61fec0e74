#!/usr/bin/env bash
# Reproduces the allocator comparison in docs/benchmarks.md ("Allocator
# comparison"): builds the layer and the workload in Release, then runs every
# allocator through every measurement and writes CSV + PNG to docs/bench-data/.
#   bench/alloc/run.sh [--quick] [--build DIR]
# Needs: perf (syscall counts), python3-matplotlib (plots), xz, the Debian
# packages libjemalloc2, libtcmalloc-minimal4, libmimalloc2.0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build-bench-alloc"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DVMRECLAIM_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target alloc_churn vmreclaim_malloc >/dev/null
exec /usr/bin/python3 "$here/compare.py" \
  --churn "$build/bench/alloc/alloc_churn" \
  --layer "$build/alloc/libvmreclaim-malloc.so" \
  --out "$root/docs/bench-data" "${args[@]+"${args[@]}"}"

#!/usr/bin/env bash
# The layer's cost on small objects (docs/benchmarks.md, "Small objects: the
# layer in front of each backend"): mimalloc-bench's glibc-simple,
# glibc-thread, cfrac and rptest under each allocator alone and under the
# layer in front of it.
#   bench/alloc/small_objects.sh MIMALLOC_BENCH_DIR [--work DIR] [--layer SO] [--reps N]
#                                [--backends glibc,mimalloc,...] [--no-instructions]
# MIMALLOC_BENCH_DIR is a checkout of github.com/daanx/mimalloc-bench (its
# bench/ sources are enough; also taken from $MIMALLOC_BENCH). It is built out
# of tree in the work directory (default /tmp/vmreclaim-mb), never in this
# repository. Two measures:
#   - instructions (cachegrind "I refs"; deterministic, so independent of
#     the machine's load), on shortened runs: glibc-simple with 100 000
#     iterations instead of 2 000 000 and glibc-thread with 300 000
#     iterations per thread instead of 2 s (copies of the two sources, made in
#     the work directory), cfrac on a 35-digit number, rptest with 50 loops;
#   - CPU seconds (user + sys, and the programs' own ops per CPU second),
#     medians of --reps interleaved runs of the suite's own arguments, with
#     the median wall time beside them and the load average before and after
#     (other work on the machine moves CPU time too: on a 2-vCPU guest a busy
#     sibling slows a run by up to 2x).
# --backends picks the allocators (each alone and with the layer in front);
# --no-instructions skips the cachegrind runs.
# Needs valgrind and the Debian packages libmimalloc2.0, libjemalloc2,
# libtcmalloc-minimal4. Prints two Markdown tables.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
src=${MIMALLOC_BENCH:-}
work=/tmp/vmreclaim-mb
layer=""
reps=3
backends=glibc,mimalloc,jemalloc,tcmalloc
instructions=1
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2 ;;
    --layer) layer="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --backends) backends="$2"; shift 2 ;;
    --no-instructions) instructions=0; shift ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) src="$1"; shift ;;
  esac
done
if [ -z "$src" ] || [ ! -d "$src/bench" ]; then
  echo "usage: $0 MIMALLOC_BENCH_DIR (with its bench/ sources)" >&2
  exit 2
fi
[ "$instructions" = 0 ] || command -v valgrind >/dev/null || { echo "valgrind is needed for the instruction counts" >&2; exit 2; }
case "$work" in "$root"|"$root"/*) echo "the work directory must be outside the repository" >&2; exit 2 ;; esac
mkdir -p "$work"
if [ -z "$layer" ]; then
  cmake -S "$root" -B "$work/layer-build" -DCMAKE_BUILD_TYPE=Release -DVMRECLAIM_BUILD_TESTS=OFF \
    -DVMRECLAIM_BUILD_BENCH=OFF -DVMRECLAIM_BUILD_TOOLS=OFF >/dev/null
  cmake --build "$work/layer-build" -j2 --target vmreclaim_malloc >/dev/null
  layer="$work/layer-build/alloc/libvmreclaim-malloc.so"
fi

# The suite, out of tree. Its CMakeLists needs two parts this checkout lacks
# (the shbench sources and the security tests): a copy without them.
if [ ! -x "$work/build/cfrac" ]; then
  rm -rf "$work/src" && cp -r "$src/bench" "$work/src"
  sed -i 's/^if(NOT APPLE)/if(FALSE)/; s/^add_subdirectory(security)/# &/' "$work/src/CMakeLists.txt"
  cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_POLICY_VERSION_MINIMUM=3.5 >/dev/null
  cmake --build "$work/build" -j2 --target glibc-simple glibc-thread cfrac rptest >/dev/null
fi
mkdir -p "$work/short"
sed 's/#define NUM_ITERS 2000000/#define NUM_ITERS 100000/' "$work/src/glibc-bench/bench-malloc-simple.c" >"$work/short/gs.c"
sed 's/while (!timeout)/while (iters < 300000)/' "$work/src/glibc-bench/bench-malloc-thread.c" >"$work/short/gt.c"
cc -O2 -o "$work/short/glibc-simple" "$work/short/gs.c" -lpthread
cc -O2 -o "$work/short/glibc-thread" "$work/short/gt.c" -lpthread -lm

L=/usr/lib/x86_64-linux-gnu
configs=()
IFS=, read -r -a chosen <<<"$backends"
for c in "${chosen[@]}"; do
  case "$c" in
    glibc | mimalloc | jemalloc | tcmalloc) configs+=("$c") ;;
    *) echo "unknown backend $c (glibc, mimalloc, jemalloc, tcmalloc)" >&2; exit 2 ;;
  esac
done
for c in "${chosen[@]}"; do configs+=("layer+$c"); done
env_of() {
  case "$1" in
    glibc) echo "" ;;
    mimalloc) echo "LD_PRELOAD=$L/libmimalloc.so.2" ;;
    jemalloc) echo "LD_PRELOAD=$L/libjemalloc.so.2" ;;
    tcmalloc) echo "LD_PRELOAD=$L/libtcmalloc_minimal.so.4" ;;
    layer+jemalloc) echo "LD_PRELOAD=$layer:$L/libjemalloc.so.2 VMRECLAIM_MALLOC_BACKEND=jemalloc" ;;
    layer+*) echo "LD_PRELOAD=$layer VMRECLAIM_MALLOC_BACKEND=${1#layer+}" ;;
  esac
}
benches=(glibc-simple glibc-thread cfrac rptest)
short_cmd() {
  case "$1" in
    glibc-simple) echo "$work/short/glibc-simple" ;;
    glibc-thread) echo "$work/short/glibc-thread 2" ;;
    cfrac) echo "$work/build/cfrac 41757646344123832613190542166099121" ;;
    rptest) echo "$work/build/rptest 2 0 1 2 50 1000 100 8 16000" ;;
  esac
}
full_cmd() {
  case "$1" in
    glibc-simple) echo "$work/build/glibc-simple" ;;
    glibc-thread) echo "$work/build/glibc-thread 2" ;;
    cfrac) echo "$work/build/cfrac 17545186520507317056371138836327483792789528" ;;
    rptest) echo "$work/build/rptest 2 0 1 2 500 1000 100 8 16000" ;;
  esac
}

# rptest writes its results into the current directory: run in the work one.
cd "$work"
declare -A ins cpu wall
for c in "${configs[@]}"; do
  [ "$instructions" = 1 ] || break
  for b in "${benches[@]}"; do
    # shellcheck disable=SC2046
    n=$(env $(env_of "$c") valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
      $(short_cmd "$b") 2>&1 >/dev/null | awk '/I *refs/ {gsub(",", "", $NF); print $NF}')
    ins[$c,$b]=$n
  done
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for _ in $(seq 1 "$reps"); do
  for b in "${benches[@]}"; do
    for c in "${configs[@]}"; do
      out=$(mktemp)
      # shellcheck disable=SC2046
      env $(env_of "$c") /usr/bin/time -f "TIME %U %S %e" $(full_cmd "$b") >"$out" 2>&1
      secs=$(awk '/^TIME/ {print $2 + $3}' "$out")
      wall[$c,$b]+="$(awk '/^TIME/ {print $4}' "$out") "
      # Only glibc-thread and rptest print a count of operations.
      ops=$(grep -o "[0-9]* iterations\|[0-9.]* memory ops/CPU second" "$out" | awk '{sub(/^\.+/, "", $1); print $1}' | head -1 || true)
      cpu[$c,$b]+="$secs/${ops:-0} "
      rm -f "$out"
    done
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

if [ "$instructions" = 1 ]; then
echo "Instructions (millions; the layer's rows: change against the allocator alone)"
echo
echo "| allocator | glibc-simple | glibc-thread | cfrac | rptest |"
echo "|---|---|---|---|---|"
for c in "${configs[@]}"; do
  row="| $c |"
  for b in "${benches[@]}"; do
    v=${ins[$c,$b]}
    if [[ $c == layer+* ]]; then
      base=${ins[${c#layer+},$b]}
      row+=" $(awk -v v="$v" -v b="$base" 'BEGIN {printf "%.1f (%+.1f %%)", v / 1e6, (v - b) * 100 / b}') |"
    else
      row+=" $(awk -v v="$v" 'BEGIN {printf "%.1f", v / 1e6}') |"
    fi
  done
  echo "$row"
done
echo
fi
echo "Load average (1, 5, 15 min) before the timed runs: $load_before; after: $load_after"
echo
echo "CPU seconds, medians of $reps (glibc-thread and rptest: ops per CPU second, higher is better)"
echo
echo "(the layer's rows: change against the allocator alone; in brackets the median wall seconds)"
echo
echo "| allocator | glibc-simple (s) | glibc-thread (ops/CPU s) | cfrac (s) | rptest (ops/CPU s) |"
echo "|---|---|---|---|---|"
declare -A med
for c in "${configs[@]}"; do
  row="| $c |"
  for b in "${benches[@]}"; do
    case "$b" in
      glibc-thread)
        v=$(for x in ${cpu[$c,$b]}; do awk -v s="${x%/*}" -v o="${x#*/}" 'BEGIN {printf "%.0f\n", o / s}'; done | median) ;;
      rptest) v=$(for x in ${cpu[$c,$b]}; do echo "${x#*/}"; done | median) ;;
      *) v=$(for x in ${cpu[$c,$b]}; do echo "${x%/*}"; done | median) ;;
    esac
    med[$c,$b]=$v
    w=$(echo "${wall[$c,$b]}" | median)
    if [[ $c == layer+* ]]; then
      base=${med[${c#layer+},$b]}
      # Seconds: more is worse; ops per second: fewer is worse. Both shown
      # as the layer's extra cost in per cent.
      case "$b" in
        glibc-thread | rptest) d=$(awk -v v="$v" -v b="$base" 'BEGIN {printf "%+.1f %%", (b / v - 1) * 100}') ;;
        *) d=$(awk -v v="$v" -v b="$base" 'BEGIN {printf "%+.1f %%", (v / b - 1) * 100}') ;;
      esac
      v="$v ($d)"
    fi
    row+=" $v [$w] |"
  done
  echo "$row"
done

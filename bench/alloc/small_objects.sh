#!/usr/bin/env bash
# The layer's cost on small objects (docs/benchmarks.md, "Small objects: the
# layer in front of each backend"): mimalloc-bench's glibc-simple,
# glibc-thread, cfrac and rptest under each allocator alone and under the
# layer in front of it.
#   bench/alloc/small_objects.sh MIMALLOC_BENCH_DIR [--work DIR] [--layer SO] [--generic SO]
#                                [--reps N] [--backends glibc,mimalloc,...] [--floor]
#                                [--pin CPU] [--programs glibc-simple,...] [--no-instructions]
# MIMALLOC_BENCH_DIR is a checkout of github.com/daanx/mimalloc-bench (its
# bench/ sources are enough; also taken from $MIMALLOC_BENCH). It is built out
# of tree in the work directory (default /tmp/vmreclaim-mb), never in this
# repository. The layer is preloaded as `vmreclaim run --with B` does: the
# default build (--layer) in front of mimalloc, the generic build (--generic;
# default: beside --layer) in front of the others (docs/allocator.md, "Two
# builds of the layer"). Without --layer both are built in the work directory.
# Two measures:
#   - instructions (cachegrind "I refs"; deterministic, so independent of
#     the machine's load), on shortened runs: glibc-simple with 100 000
#     iterations instead of 2 000 000 and glibc-thread with 300 000
#     iterations per thread instead of 2 s (copies of the two sources, made in
#     the work directory), cfrac on a 35-digit number, rptest with 50 loops;
#   - CPU seconds (user + sys, and the programs' own ops per CPU second) of
#     the suite's own arguments, in --reps rounds, each running every
#     configuration once in turn: medians, and the change against the
#     allocator alone taken per round, median and quartiles (the guest's speed
#     moves between rounds more than the layer's cost), with the median wall
#     time beside them and the load average before and after.
# --floor adds, for each backend, bare_interposer.c in front of it: a malloc
# and a free that only jump to the backend's, the least any preloaded layer
# costs. --pin CPU runs the single-threaded programs (glibc-simple, cfrac) on
# that CPU only (on a guest whose vCPUs run at different speeds); the two
# 2-thread programs run unpinned. --backends picks the allocators, --programs
# the programs (default all four); --no-instructions skips the cachegrind runs.
# Needs valgrind and the Debian packages libmimalloc2.0, libjemalloc2,
# libtcmalloc-minimal4. Prints Markdown tables.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
src=${MIMALLOC_BENCH:-}
work=/tmp/vmreclaim-mb
layer=""
generic=""
reps=3
floor=0
pin=""
backends=glibc,mimalloc,jemalloc,tcmalloc
instructions=1
programs=glibc-simple,glibc-thread,cfrac,rptest
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2 ;;
    --layer) layer="$2"; shift 2 ;;
    --generic) generic="$2"; shift 2 ;;
    --floor) floor=1; shift ;;
    --pin) pin="$2"; shift 2 ;;
    --programs) programs="$2"; shift 2 ;;
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
  cmake --build "$work/layer-build" -j2 --target vmreclaim_malloc vmreclaim_malloc_generic >/dev/null
  layer="$work/layer-build/alloc/libvmreclaim-malloc.so"
fi
[ -n "$generic" ] || generic="$(dirname "$layer")/libvmreclaim-malloc-generic.so"
for so in "$layer" "$generic"; do
  [ -f "$so" ] || { echo "no layer library $so (--layer, --generic)" >&2; exit 2; }
done
if [ -n "$pin" ] && ! taskset -c "$pin" true 2>/dev/null; then
  echo "--pin $pin: not a CPU this process may run on" >&2
  exit 2
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
floor_so="$work/short/bare_interposer.so"
[ "$floor" = 0 ] || cc -O2 -Wall -Wextra -Werror -fPIC -shared -o "$floor_so" "$here/bare_interposer.c" -ldl

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
[ "$floor" = 0 ] || for c in "${chosen[@]}"; do configs+=("floor+$c"); done
lib_of() {
  case "$1" in
    mimalloc) echo "$L/libmimalloc.so.2" ;;
    jemalloc) echo "$L/libjemalloc.so.2" ;;
    tcmalloc) echo "$L/libtcmalloc_minimal.so.4" ;;
  esac
}
env_of() {
  case "$1" in
    glibc) echo "" ;;
    mimalloc | jemalloc | tcmalloc) echo "LD_PRELOAD=$(lib_of "$1")" ;;
    layer+mimalloc) echo "LD_PRELOAD=$layer VMRECLAIM_MALLOC_BACKEND=mimalloc" ;;
    layer+jemalloc) echo "LD_PRELOAD=$generic:$L/libjemalloc.so.2 VMRECLAIM_MALLOC_BACKEND=jemalloc" ;;
    layer+*) echo "LD_PRELOAD=$generic VMRECLAIM_MALLOC_BACKEND=${1#layer+}" ;;
    floor+glibc) echo "LD_PRELOAD=$floor_so" ;;
    floor+*) echo "LD_PRELOAD=$floor_so:$(lib_of "${1#floor+}")" ;;
  esac
}
pin_of() {
  case "$1" in
    glibc-simple | cfrac) [ -z "$pin" ] || echo "taskset -c $pin" ;;
  esac
}
IFS=, read -r -a benches <<<"$programs"
for b in "${benches[@]}"; do
  case "$b" in
    glibc-simple | glibc-thread | cfrac | rptest) ;;
    *) echo "unknown program $b (glibc-simple, glibc-thread, cfrac, rptest)" >&2; exit 2 ;;
  esac
done
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
      $(pin_of "$b") env $(env_of "$c") /usr/bin/time -f "TIME %U %S %e" $(full_cmd "$b") >"$out" 2>&1
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
# A table's two header lines, a column per program; $1 follows the names of
# the programs measured in seconds, $2 those measured in operations.
header() {
  local names="| allocator |" rule="|---|" b
  for b in "${benches[@]}"; do
    case "$b" in
      glibc-thread | rptest) names+=" $b$2 |" ;;
      *) names+=" $b$1 |" ;;
    esac
    rule+="---|"
  done
  echo "$names"
  echo "$rule"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

if [ "$instructions" = 1 ]; then
echo "Instructions (millions; the layer's and the floor's rows: change against the allocator alone)"
echo
header "" ""
for c in "${configs[@]}"; do
  row="| $c |"
  for b in "${benches[@]}"; do
    v=${ins[$c,$b]}
    if [[ $c == *+* ]]; then
      base=${ins[${c#*+},$b]}
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
echo "(the layer's and the floor's rows: change of the medians against the allocator alone; in brackets the median wall seconds)"
echo
header " (s)" " (ops/CPU s)"
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
    if [[ $c == *+* ]]; then
      base=${med[${c#*+},$b]}
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

# The change per round: each round ran every configuration once in turn, so
# its ratio to the allocator alone in that round is the figure least moved by
# the guest's speed (docs/benchmarks.md). The cost per round is CPU seconds,
# CPU seconds per operation for glibc-thread, and CPU seconds per operation
# (1 / its rate) for rptest.
cost_of() {
  case "$1" in
    glibc-thread) awk -v s="${2%/*}" -v o="${2#*/}" 'BEGIN {if (o > 0) printf "%.12g\n", s / o}' ;;
    rptest) awk -v o="${2#*/}" 'BEGIN {if (o > 0) printf "%.12g\n", 1 / o}' ;;
    *) echo "${2%/*}" ;;
  esac
}
echo
echo "Change per round against the allocator alone: median (quartiles) of $reps rounds"
echo
header "" ""
for c in "${configs[@]}"; do
  [[ $c == *+* ]] || continue
  row="| $c |"
  for b in "${benches[@]}"; do
    read -r -a mine <<<"${cpu[$c,$b]}"
    read -r -a base <<<"${cpu[${c#*+},$b]}"
    cell=$(for i in "${!mine[@]}"; do
      paste <(cost_of "$b" "${mine[$i]}") <(cost_of "$b" "${base[$i]}")
    done | awk '$1 > 0 && $2 > 0 {print $1 / $2}' | sort -g | awk '
      function at(q,   p, i) { p = (NR - 1) * q; i = int(p); return a[i + 1] + (p - i) * (a[i + 2] - a[i + 1]) }
      {a[NR] = $1}
      END {
        if (NR == 0) { print "—"; exit }
        a[NR + 1] = a[NR]
        printf "%+.1f %% (%+.1f / %+.1f)", (at(0.5) - 1) * 100, (at(0.25) - 1) * 100, (at(0.75) - 1) * 100
      }')
    row+=" $cell |"
  done
  echo "$row"
done

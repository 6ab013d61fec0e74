#!/usr/bin/env bash
# The herd benchmark (docs/benchmarks.md, "Herd"): `vmreclaim demo --mode
# herd` for each configuration, both squeezes (a lowered cgroup limit, a
# fast-growing neighbour), without a daemon and — with --daemon PATH, or
# when the build holds a vmreclaimd — with it. Writes one JSON per
# configuration, a summary table and a plot into OUT.
#
# usage: bench/herd/run.sh [--out DIR] [--daemon PATH] [--configs "8x128 4x64"] [-- demo options...]
#   VMRECLAIM_BUILD_DIR  build directory (default: build)
# Needs root and the cgroup v1 memory controller (the demo says so otherwise).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${VMRECLAIM_BUILD_DIR:-${root}/build}
out=herd-results
daemon=""
configs="8x128 4x64"
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --daemon) daemon=$2; shift 2 ;;
    --configs) configs=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "herd: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
cli=${build}/tools/vmreclaim/vmreclaim
if [[ ! -x ${cli} ]]; then
  echo "herd: ${cli} not built (cmake --build ${build} --target vmreclaim_cli)" >&2
  exit 1
fi
if [[ -z ${daemon} ]]; then
  for candidate in "${build}/tools/vmreclaimd/vmreclaimd" "${build}/vmreclaimd" "${build}/src/daemon/vmreclaimd"; do
    [[ -x ${candidate} ]] && daemon=${candidate} && break
  done
fi
daemon_args=()
if [[ -n ${daemon} ]]; then
  daemon_args=(--daemon "${daemon}")
else
  echo "herd: no vmreclaimd given or built: the runs without a daemon only" >&2
fi
mkdir -p "${out}"
files=()
for cfg in ${configs}; do
  n=${cfg%x*}
  mib=${cfg#*x}
  if ! [[ ${n} =~ ^[0-9]+$ && ${mib} =~ ^[0-9]+$ ]]; then
    echo "herd: configuration '${cfg}' is not NxMIB" >&2
    exit 2
  fi
  json=${out}/herd-${n}x${mib}.json
  echo "herd: ${n} processes x ${mib} MiB" >&2
  "${cli}" demo --mode herd --processes "${n}" --unused-mib "${mib}" "${daemon_args[@]}" --json "${extra[@]}" > "${json}"
  files+=("${json}")
done
"${root}/bench/herd/report.py" "${out}/herd.png" "${files[@]}"

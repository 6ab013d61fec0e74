#!/usr/bin/env bash
# Sets up a Debian 12 machine (scripts/setup.sh), builds the vmreclaim
# command and runs `vmreclaim demo`. Arguments go to the demo (e.g. --json,
# --ops 20000, --mode ring; see --help).
#   VMRECLAIM_BUILD_DIR  build directory (default: build)
#   JOBS                 parallel build jobs (default: 2)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${VMRECLAIM_BUILD_DIR:-${root}/build}

"${root}/scripts/setup.sh"
cmake -S "${root}" -B "${build}" --log-level=WARNING
cmake --build "${build}" -j"${JOBS:-2}" --target vmreclaim_cli
exec "${build}/tools/vmreclaim/vmreclaim" demo "$@"

#!/usr/bin/env bash
# Sets up a Debian 12 machine (scripts/setup.sh), builds the vmreclaim
# command and runs `vmreclaim demo`. Arguments go to the demo (e.g. --json,
# --ops 20000, --mode ring; see --help). `scripts/demo.sh --mode herd` (as root,
# cgroup v1) squeezes N ring-holding processes in one memory cgroup
# (--processes, --unused-mib, --squeeze, --daemon PATH; docs/daemon-views.md).
#   VMRECLAIM_BUILD_DIR  build directory (default: build)
#   JOBS                 parallel build jobs (default: 2)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${VMRECLAIM_BUILD_DIR:-${root}/build}

"${root}/scripts/setup.sh"
cmake -S "${root}" -B "${build}" --log-level=WARNING
cmake --build "${build}" -j"${JOBS:-2}" --target vmreclaim_cli
exec "${build}/tools/vmreclaim/vmreclaim" demo "$@"

#!/usr/bin/env bash
# Sets up a Debian 12 machine (scripts/setup.sh), builds everything and runs
# the tests with CTest. Arguments go to the CMake configure step, e.g.
#   scripts/test.sh -DVMRECLAIM_WERROR=ON
#   VMRECLAIM_BUILD_DIR=build-tsan scripts/test.sh -DVMRECLAIM_SANITIZE=thread -DVMRECLAIM_BUILD_BENCH=OFF
#   VMRECLAIM_BUILD_DIR  build directory (default: build)
#   JOBS                 parallel build jobs (default: 2)
#   CTEST_PARALLEL_LEVEL tests run at once (CTest's own variable; default 1)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${VMRECLAIM_BUILD_DIR:-${root}/build}

"${root}/scripts/setup.sh"
cmake -S "${root}" -B "${build}" --log-level=WARNING "$@"
cmake --build "${build}" -j"${JOBS:-2}"
ctest --test-dir "${build}" --output-on-failure

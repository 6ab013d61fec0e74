#!/bin/sh
# A test that stands for others that cannot run here: skipped (exit 77) with
# the reason, except on the CI machine (CI=true), whose set-up installs what
# they need, so that there a missing tool fails the stage instead of turning
# it into a skip that passes.
#   skip_unless_ci.sh "<reason>"
if [ "${CI:-}" = true ]; then
  echo "CI=true and $1: the CI set-up (scripts/setup.sh) should have installed it" >&2
  exit 1
fi
echo "skipped: $1"
exit 77

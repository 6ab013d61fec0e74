#!/usr/bin/env bash
# Installs what building, testing and comparing vmreclaim needs on Debian 12
# (bookworm), with apt-get, and only what is missing. Silent when there is
# nothing to do, so the build and test scripts can always call it.
# Needs root, or sudo.
set -euo pipefail

# Needed to build and test.
required=(
  build-essential cmake pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev systemtap-sdt-dev libsystemd-dev libcivetweb-dev
  procps python3 python3-prometheus-client
)
# Allocators the benchmarks compare against, clang tools, the SPIN model
# checker: installed when the distribution has them, skipped otherwise.
optional=(
  libjemalloc2 libjemalloc-dev libgoogle-perftools-dev libmimalloc2.0 libmimalloc-dev
  clang llvm libclang-rt-14-dev clang-format clang-tidy spin
  python3-matplotlib linux-perf xz-utils
)

say() { echo "setup: $*" >&2; }

if [[ ${EUID} -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  say "run as root or install sudo: packages have to be installed with apt-get"
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "apt-get not found: this script is for Debian 12 (install the packages it lists by hand)"
  exit 1
fi

# "name installed candidate" for each package apt-cache knows; packages it
# does not know (no lists yet, or not in the distribution) are left out.
policy() {
  apt-cache policy "$@" 2>/dev/null | awk '
    /^[^ ].*:$/ { if (name != "") print name, inst, cand; name = $0; sub(/:.*/, "", name); inst = cand = "(none)" }
    /^  Installed:/ { inst = $2 }
    /^  Candidate:/ { cand = $2 }
    END { if (name != "") print name, inst, cand }'
}

# Packages of the list given that are not installed.
missing_of() {
  local -A installed=()
  local name inst cand
  while read -r name inst cand; do
    [[ ${inst} != "(none)" ]] && installed[${name}]=1
  done < <(policy "$@")
  for name in "$@"; do
    [[ -n ${installed[${name}]:-} ]] || echo "${name}"
  done
}

# Packages of the list given that apt can install.
available_of() {
  local name inst cand
  while read -r name inst cand; do
    [[ ${cand} != "(none)" ]] && echo "${name}"
  done < <(policy "$@")
}

mapfile -t missing_required < <(missing_of "${required[@]}")
mapfile -t missing_optional < <(missing_of "${optional[@]}")
if [[ ${#missing_required[@]} -eq 0 && ${#missing_optional[@]} -eq 0 ]]; then
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
say "updating the package lists (missing: ${missing_required[*]} ${missing_optional[*]})"
"${as_root[@]}" apt-get update -qq

install=()
mapfile -t can < <(available_of "${missing_required[@]}")
for name in "${missing_required[@]}"; do
  if [[ " ${can[*]} " != *" ${name} "* ]]; then
    say "required package ${name} is not available from apt: is this Debian 12?"
    exit 1
  fi
  install+=("${name}")
done
if [[ ${#missing_optional[@]} -gt 0 ]]; then
  mapfile -t can < <(available_of "${missing_optional[@]}")
  for name in "${missing_optional[@]}"; do
    if [[ " ${can[*]} " == *" ${name} "* ]]; then
      install+=("${name}")
    else
      say "skipping ${name} (not in this distribution)"
    fi
  done
fi
if [[ ${#install[@]} -eq 0 ]]; then
  exit 0
fi
say "installing ${install[*]}"
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${install[@]}" >/dev/null
say "done"

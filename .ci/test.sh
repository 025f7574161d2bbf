#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test.
#   1. release build, warnings as errors, all tests (unit, peers, process, cross build, corpus replays)
#   2. ASan + UBSan build of every unit test
# Usage: bash .ci/test.sh        (as root on a fresh Debian 12 machine, or with the packages installed)
# Env:   JOBS (default: nproc), SCENTRACK_SKIP_ASAN=1 to skip step 2 while iterating locally.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh

jobs=${JOBS:-$(nproc)}
t0=$(date +%s)

echo "== release build (-Werror) and every test" >&2
cmake -S . -B build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCENTRACK_WERROR=ON >/dev/null
cmake --build build/ci -j"$jobs"
ctest --test-dir build/ci -j"$jobs" --output-on-failure --timeout 900

if [ "${SCENTRACK_SKIP_ASAN:-0}" != 1 ]; then
  echo "== AddressSanitizer + UndefinedBehaviorSanitizer build, unit tests" >&2
  cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DSCENTRACK_WERROR=ON \
        -DSCENTRACK_SANITIZE=address,undefined >/dev/null
  cmake --build build/asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/asan -j"$jobs" -L unit --output-on-failure --timeout 900
fi
echo "== all tests passed in $(( $(date +%s) - t0 )) s" >&2

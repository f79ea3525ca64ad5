#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite through CTest (release build, warnings as
# errors). Usage: scripts/test.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc)
cmake --preset ci >/dev/null
cmake --build --preset ci -j"$jobs"
ctest --preset ci -j"$jobs" "$@"

#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite through CTest (release build, warnings as
# errors): the fast suites first, then the slow ones (label "slow": soak, crash, end-to-end
# server and README runs) in a stage of their own. Prints each stage's time and, last, one line
# "tests: N passed, M failed" over both stages; exits non-zero if any test failed.
# Usage: scripts/test.sh [extra ctest args, given to both stages]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/stages.sh
scripts/setup.sh --tests
jobs=$(nproc)

stage "configure + build (ci preset)"
cmake --preset ci >/dev/null
cmake --build --preset ci -j"$jobs"
stage_done

stage "tests: fast suites"
run_ctest -- ctest --preset ci -j"$jobs" -LE slow "$@"
stage_done

stage "tests: slow suites (label slow)"
run_ctest -- ctest --preset ci -j"$jobs" -L slow "$@"
stage_done

print_totals tests

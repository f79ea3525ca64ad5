#!/usr/bin/env bash
# Builds the libFuzzer harnesses (the asan-ubsan preset: clang, ASan+UBSan; it also holds the
# sanitizer test suite) and runs each for a bounded time over its seed corpus. Runs every
# harness even after one fails; prints "fuzz: N passed, M failed" last and exits non-zero if any
# harness found a crash.
# Usage: scripts/fuzz.sh [seconds per harness, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/stages.sh
seconds=${1:-60}
jobs=$(nproc)
cmake --preset asan-ubsan >/dev/null
cmake --build --preset asan-ubsan -j"$jobs"
shopt -s nullglob
for fuzzer in build/asan-ubsan/fuzz/fuzz_*; do
  [[ -x $fuzzer ]] || continue
  name=$(basename "$fuzzer")
  corpus=build/asan-ubsan/corpus/$name
  mkdir -p "$corpus"
  seeds=()
  [[ -d fuzz/corpus/$name ]] && seeds+=("fuzz/corpus/$name")
  # Seeds the test suite wrote (valid and malformed files) in any build folder.
  for d in build/*/fuzz-seeds/"$name"; do [[ -d $d ]] && seeds+=("$d"); done
  echo "fuzz: $name for ${seconds}s"
  rc=0
  "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    "$corpus" "${seeds[@]}" >"$corpus.log" 2>&1 || rc=$?
  tail -n 12 "$corpus.log"
  if ((rc != 0)); then echo "fuzz: $name FAILED (exit $rc); full log: $corpus.log"; fi
  count_result "$rc"
done
print_totals fuzz

# Sourced by scripts/test.sh and .ci/run: named stages with their wall time, and pass/fail
# counts added up over every CTest run (and other checks) of the script.
# Functions: stage NAME, stage_done, run_ctest -- CMD..., count_result OK, print_totals WORD.

stages_passed=0
stages_failed=0
stage_name=""
stage_start=0

stage() {
  stage_name=$1
  stage_start=$SECONDS
  echo "== $stage_name =="
}

stage_done() {
  echo "== $stage_name: $((SECONDS - stage_start)) s =="
}

# Runs a ctest command line, echoing its output, and adds its counts from CTest's summary line
# ("N% tests passed, F tests failed out of T"). A run that prints no summary counts as one
# failure (it did not get as far as running its tests).
run_ctest() {
  shift  # the "--"
  local out rc=0 total failed
  out=$(mktemp)
  "$@" 2>&1 | tee "$out" || rc=$?
  total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$out" | tail -n 1)
  failed=$(sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' "$out" | tail -n 1)
  if [[ -z $total ]]; then
    if grep -q "No tests were found" "$out"; then
      total=0 failed=0
    else
      total=1 failed=1
    fi
  fi
  stages_passed=$((stages_passed + total - failed))
  stages_failed=$((stages_failed + failed))
  if ((failed == 0 && rc != 0)); then stages_failed=$((stages_failed + 1)); fi
  rm -f "$out"
}

# Adds one check that passed (OK=0) or failed (anything else).
count_result() {
  if [[ $1 == 0 ]]; then
    stages_passed=$((stages_passed + 1))
  else
    stages_failed=$((stages_failed + 1))
  fi
}

# The closing line: "WORD: N passed, M failed"; returns non-zero when anything failed.
print_totals() {
  echo "$1: $stages_passed passed, $stages_failed failed"
  ((stages_failed == 0))
}

# Adds the counts of a script's closing line "WORD: N passed, M failed" found in file LOG; a log
# without that line counts as one failure.
add_counts_from() {
  local line
  line=$(grep -E "^$2: [0-9]+ passed, [0-9]+ failed" "$1" | tail -n 1 || true)
  if [[ -z $line ]]; then
    stages_failed=$((stages_failed + 1))
    return
  fi
  stages_passed=$((stages_passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")))
  stages_failed=$((stages_failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
}

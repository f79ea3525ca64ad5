#!/usr/bin/env bash
# Constrained against unconstrained decoding, end to end through the serving engine: runs
# `dari bench-serve` on MODEL with and without --grammar-file, alternating, REPEATS times each,
# at 1 and 8 concurrent requests, and prints each run's output tokens/s, the medians, the ratios
# and the grammar's mask times. Greedy, end-of-generation ignored, random prompts (same seed for
# both sides, so both decode the same number of tokens).
# Usage: bench/grammar/constrained_ratio.sh DARI MODEL [REPEATS] [GRAMMAR]
#   e.g. bench/grammar/constrained_ratio.sh build/release/dari model.gguf 3
set -euo pipefail
dari=$1 model=$2 repeats=${3:-3}
grammar=${4:-$(dirname "$0")/json_stream.gbnf}
common=(bench-serve -m "$model" -c 1,8 --prompt-tokens 32 --output-tokens 64 --seed 7)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Prints "conc tok/s" per level of one run (the table rows of bench-serve's output), and the
# mask line of the constrained runs to stderr.
levels() {
  awk '/^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9.]+ / {print $1, $4} /grammar masks/ {print > "/dev/stderr"}'
}

for ((i = 1; i <= repeats; ++i)); do
  "$dari" "${common[@]}" 2>/dev/null | levels | sed "s/^/free /" >>"$out"
  "$dari" "${common[@]}" --grammar-file "$grammar" 2>/dev/null | levels | sed "s/^/grammar /" >>"$out"
done

echo "runs (kind, concurrency, output tokens/s):"
cat "$out"
awk '
  { v[$1 " " $2] = v[$1 " " $2] " " $3 }
  END {
    for (c = 1; c <= 8; c *= 8) {
      fm = median(v["free " c]); gm = median(v["grammar " c])
      printf "concurrency %d: unconstrained %.1f, constrained %.1f tokens/s (medians): %.1f%%\n",
             c, fm, gm, (fm > 0 ? 100 * gm / fm : 0)
    }
  }
  function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 1; i <= n; ++i) for (j = i + 1; j <= n; ++j) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n == 0 ? 0 : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
  }' "$out"

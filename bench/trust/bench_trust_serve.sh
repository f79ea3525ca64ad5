#!/usr/bin/env bash
# Trust-layer overhead in `dari serve`: generated tokens/s with audit + signing on against both
# off, at C concurrent streams (issue 8: within 3% at 8 streams).
#
#   bench/trust/bench_trust_serve.sh BUILD_DIR [--reps N] [--concurrency C] [--requests R]
#                                    [--max-tokens T] [--parallel P] [--threads T] [--model GGUF]
#
# Starts two `dari serve` instances on free loopback ports: "on" (disclosure with Ed25519-signed
# provenance, audit in SQLite, the defaults) and "off" (disclosure and audit off). It runs
# BUILD_DIR/bench/server/bench_http against them in interleaved repetitions (on, off, on, off,
# ...; the first pair is a warm-up and not counted), so that drift in machine load hits both
# alike, and prints each repetition's tok/s and the ratio of the means. Everything lives in a
# temporary folder that is removed at exit. Quiet machines only: a busy one measures its load.
set -euo pipefail

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

[[ $# -ge 1 ]] || usage
build=$(cd "$1" && pwd)
shift
reps=5 conc=8 requests=4 max_tokens=64 parallel=8 threads=0
model="$(cd "$(dirname "$0")/../.." && pwd)/models/dari-tiny.gguf"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) reps=$2 ;;
    --concurrency) conc=$2 ;;
    --requests) requests=$2 ;;
    --max-tokens) max_tokens=$2 ;;
    --parallel) parallel=$2 ;;
    --threads) threads=$2 ;;
    --model) model=$2 ;;
    *) usage ;;
  esac
  shift 2
done
for n in "$reps" "$conc" "$requests" "$max_tokens" "$parallel" "$threads"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; exit 2; }
done
[[ "$reps" -ge 1 ]] || { echo "--reps must be at least 1" >&2; exit 2; }
dari="$build/dari"
bench="$build/bench/server/bench_http"
for f in "$dari" "$bench" "$model"; do
  [[ -e "$f" ]] || { echo "missing: $f (build the dari and bench_http targets)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/on.toml" <<'EOF'
[operator]
name = "Overhead Bench"
[disclosure]
enabled = true
signing_key_file = "op.key"
[audit]
enabled = true
database = "audit.db"
[keys]
require = "never"
database = "keys.db"
EOF
cat >"$work/off.toml" <<'EOF'
[operator]
name = "Overhead Bench"
[disclosure]
enabled = false
[audit]
enabled = false
[keys]
require = "never"
database = "keys.db"
EOF

# start NAME: runs `dari serve` with NAME.toml; sets port_NAME once /health answers 200.
start() {
  local name=$1
  "$dari" serve --model "$model" --host 127.0.0.1 --port 0 --policy "$work/$name.toml" \
    --parallel "$parallel" --threads "$threads" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  local port=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$name.out")
    [[ -n "$port" ]] && curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  [[ -n "$port" ]] || { echo "dari serve ($name) did not start:" >&2; cat "$work/$name.log" >&2; exit 1; }
  printf -v "port_$name" '%s' "$port"
}

# run PORT: one bench_http run; prints its generated tokens/s.
run() {
  "$bench" --port "$1" --model "$(basename "$model" .gguf)" --concurrency "$conc" \
    --requests "$requests" --max-tokens "$max_tokens" |
    awk -v c="c=$conc" '$1 == "http" && $2 == c { for (i = 1; i < NF; i++) if ($(i+1) == "tok/s") print $i }'
}

start on
start off
echo "trust overhead: $conc streams, $requests requests x $max_tokens tokens each, $reps reps"
run "$port_on" >/dev/null
run "$port_off" >/dev/null
sum_on=0 sum_off=0
for r in $(seq 1 "$reps"); do
  a=$(run "$port_on")
  b=$(run "$port_off")
  [[ -n "$a" && -n "$b" ]] || { echo "bench_http gave no figure" >&2; exit 1; }
  echo "rep $r: on $a tok/s, off $b tok/s"
  sum_on=$(awk -v s="$sum_on" -v x="$a" 'BEGIN { print s + x }')
  sum_off=$(awk -v s="$sum_off" -v x="$b" 'BEGIN { print s + x }')
done
awk -v on="$sum_on" -v off="$sum_off" -v n="$reps" -v c="$conc" 'BEGIN {
  printf "audit+signing on: %.1f tok/s, off: %.1f tok/s (means of %d); on/off = %.3f (%+.1f%%) at %d streams\n",
         on / n, off / n, n, on / off, (on / off - 1) * 100, c }'

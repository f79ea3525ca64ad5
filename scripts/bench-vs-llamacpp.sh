#!/usr/bin/env bash
# Measures dari against llama.cpp on this machine, on the same GGUF files, in one run:
# `dari bench` and llama.cpp's `llama-bench` (a binary you built yourself; this project ships no
# llama.cpp code) alternate file by file and round by round, so both see the same machine state.
# Prints, per file and test (ppN prefill, tgN decode), the median tokens/s of each engine over
# the rounds and their ratio; with --bandwidth also dari's read-bandwidth probe and the decode
# rate as a share of it (weights read per token x tokens/s / probe).
#
# Usage: scripts/bench-vs-llamacpp.sh --llama-bench PATH [options]
#   --dari PATH          dari binary (default: build/release/dari)
#   --shape NAME         synthetic model shape for --types (default: tinyllama-1.1b)
#   --types LIST         synthetic weight types, comma-separated (default: Q4_0,Q4_K_M,Q8_0)
#   -m FILE              a GGUF file to measure instead of synthetic ones (repeatable)
#   -p N, -n N           prompt and generated tokens (defaults: 512, 128)
#   -t N                 threads for both engines (default: all cores)
#   -r N                 repetitions inside each engine run (default: 3)
#   --rounds N           alternating rounds (default: 3)
#   --bandwidth          also probe memory read bandwidth with dari (once, before the rounds)
#   --out DIR            keep every run's JSON there (default: a temporary folder)
# The synthetic files are made by `dari bench --synthetic` in dari's cache (~/.cache/dari) the
# first time; llama.cpp reads them as ordinary llama-architecture models.
set -euo pipefail
cd "$(dirname "$0")/.."

llama_bench="" dari=build/release/dari shape=tinyllama-1.1b types=Q4_0,Q4_K_M,Q8_0
n_prompt=512 n_gen=128 threads=$(nproc) reps=3 rounds=3 bandwidth=0 out=""
models=()
while (($#)); do
  case $1 in
    --llama-bench) llama_bench=$2; shift 2 ;;
    --dari) dari=$2; shift 2 ;;
    --shape) shape=$2; shift 2 ;;
    --types) types=$2; shift 2 ;;
    -m) models+=("$2"); shift 2 ;;
    -p) n_prompt=$2; shift 2 ;;
    -n) n_gen=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    -r) reps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --bandwidth) bandwidth=1; shift ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench-vs-llamacpp: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x $llama_bench ]] || { echo "bench-vs-llamacpp: --llama-bench PATH (an executable) is required" >&2; exit 2; }
[[ -x $dari ]] || { echo "bench-vs-llamacpp: no dari binary at $dari (build it or pass --dari)" >&2; exit 2; }
if [[ -z $out ]]; then out=$(mktemp -d); fi
mkdir -p "$out"

# Synthetic files: one short dari run each makes (or finds) the file and reports its path.
if ((${#models[@]} == 0)); then
  IFS=, read -ra type_list <<<"$types"
  for type in "${type_list[@]}"; do
    "$dari" bench --synthetic "$shape" --type "$type" -p 16 -n 0 -r 1 -t "$threads" -o json \
      >"$out/make-$type.json"
    models+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"]["path"])' \
      "$out/make-$type.json")")
  done
fi

if ((bandwidth)); then
  "$dari" bench -m "${models[0]}" -p 0 -n 1 -r 1 -t "$threads" --bandwidth -o json >"$out/bandwidth.json"
fi

echo "bench-vs-llamacpp: ${#models[@]} file(s), pp$n_prompt tg$n_gen, $threads threads, $rounds rounds x $reps repetitions"
for ((round = 1; round <= rounds; round++)); do
  for i in "${!models[@]}"; do
    m=${models[$i]}
    echo "  round $round/$rounds: $(basename "$m")"
    "$dari" bench -m "$m" -p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps" -o json \
      >"$out/dari-$i-$round.json"
    "$llama_bench" -m "$m" -p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps" -o json \
      >"$out/llama-$i-$round.json" 2>"$out/llama-$i-$round.log"
  done
done

python3 - "$out" "$rounds" "${models[@]}" <<'EOF'
# Medians over the rounds, the ratio dari / llama.cpp, and decode against the probe.
import json, os, statistics, sys
out, rounds, models = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def test_name(t):
    return f"pp{t['n_prompt']}" if t["n_gen"] == 0 else f"tg{t['n_gen']}"

probe = None
bw_path = os.path.join(out, "bandwidth.json")
if os.path.exists(bw_path):
    bw = json.load(open(bw_path))["bandwidth"]
    probe = max(b["best_gbps"] for b in bw) if bw else None

print()
print("| model | test | dari t/s | llama.cpp t/s | dari / llama.cpp |" +
      (" dari decode / probe |" if probe else ""))
print("|---|---|---:|---:|---:|" + ("---:|" if probe else ""))
for i, m in enumerate(models):
    dari, llama, bytes_per_token = {}, {}, None
    for r in range(1, rounds + 1):
        d = json.load(open(os.path.join(out, f"dari-{i}-{r}.json")))
        bytes_per_token = d["model"]["decode_bytes_per_token"]
        for t in d["tests"]:
            dari.setdefault(test_name(t), []).append(t["avg_ts"])
        for t in json.load(open(os.path.join(out, f"llama-{i}-{r}.json"))):
            llama.setdefault(test_name(t), []).append(t["avg_ts"])
    for name in dari:
        dm = statistics.median(dari[name])
        lm = statistics.median(llama[name]) if name in llama else float("nan")
        row = f"| {os.path.basename(m)} | {name} | {dm:.2f} | {lm:.2f} | {dm / lm:.2f}x |"
        if probe:
            share = dm * bytes_per_token / 1e9 / probe if name.startswith("tg") else None
            row += f" {share * 100:.0f} % of {probe:.1f} GB/s |" if share else " |"
        print(row)
print()
print(f"(medians of {rounds} alternating rounds; every run's JSON is in {out})")
EOF

#!/usr/bin/env bash
# Rebuilds models/dari-tiny.gguf from scratch: data → tokenizer → training → conversion.
#
# Needs Debian's python3-torch, python3-sentencepiece, python3-numpy, bible-kjv (the text comes
# from bible-kjv-text), and libopenblas0-pthread (torch uses the system BLAS; the reference BLAS
# is ~30x slower). Run from anywhere; a built `dari` is expected at build/release/dari (or set DARI).
# Usage: models/recipe/make_model.sh [WORK_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-$root/build/recipe}
dari=${DARI:-$root/build/release/dari}
py=/usr/bin/python3

mkdir -p "$work"
$py "$here/prepare_data.py" "$work"
$py "$here/train_tokenizer.py" "$work"
$py "$here/train.py" "$work" | tee "$work/train.log"
"$dari" convert "$work/checkpoint" "$root/models/dari-tiny.gguf" --type F16 --name dari-tiny
$py "$here/reference.py" "$work" "$root/models/dari-tiny.reference.json"

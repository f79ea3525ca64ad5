#!/usr/bin/env bash
# Sets up, builds (release preset) and runs dari on its embedded default model.
# Usage: scripts/quickstart.sh ["prompt"]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target dari
build/release/dari run -p "${1:-And it came to pass}" -n 64 --temp 0.7 --seed 42

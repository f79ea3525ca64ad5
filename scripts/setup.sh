#!/usr/bin/env bash
# Installs dari's build and test dependencies from Debian packages. Idempotent: installs only
# what is missing, and does nothing when everything is present.
# Usage: scripts/setup.sh [--tests]
#   --tests  also what only the test suite needs: Chromium for the browser tests of the web pages
#            (and Node.js with npm, from Debian, when no `node` is on PATH).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-dev            # libFuzzer + sanitizer runtimes
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libpcre2-dev libutf8proc-dev
  libssl-dev libsqlite3-dev libtomlplusplus-dev   # trust layer (Ed25519, audit db, policy)
  libpq-dev postgresql              # PostgreSQL audit backend; the server runs in its tests
  libboost-dev                     # dari serve: Boost.Asio/Beast (header-only)
  curl openssl                     # the README test talks to dari serve over HTTP and HTTPS
  libvulkan-dev glslc              # the Vulkan backend plugin (shaders compiled at build time)
  mesa-vulkan-drivers              # lavapipe: a CPU Vulkan device, so the plugin is tested anywhere
)

if [[ ${1:-} == --tests ]]; then
  packages+=(chromium)
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then packages+=(nodejs npm); fi
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# CTest driver for the browser tests: installs playwright-core with `npm ci` into WORK_DIR,
# starts two `dari serve` instances on free loopback ports (A: plain HTTP with the default
# policy; B: HTTPS with a self-signed certificate and API keys required everywhere), runs
# e2e.mjs against both in Debian's Chromium, stops the servers with SIGTERM (each must exit 0)
# and checks both audit chains with `dari audit verify`. Screenshots go to WORK_DIR/screenshots.
# Exit 77 (CTest SKIP_RETURN_CODE) when node/npm or Chromium is missing or npm ci fails (offline).
# Usage: run_test.sh DARI_BINARY MODEL SRC_DIR WORK_DIR
set -u
dari=$1 model=$2 src=$3 work=$4
chromium=${DARI_CHROMIUM:-/usr/bin/chromium}
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "SKIP: node/npm not installed"; exit 77
fi
if [ ! -x "$chromium" ]; then
  echo "SKIP: no Chromium at $chromium (apt-get install chromium, or set DARI_CHROMIUM)"; exit 77
fi
mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/"*.mjs "$work/"
if ! (cd "$work" && node -e 'require.resolve("playwright-core")') 2>/dev/null; then
  if ! (cd "$work" && timeout 300 npm ci --no-audit --no-fund >npm.log 2>&1); then
    echo "SKIP: npm ci failed (registry unreachable?):"; tail -5 "$work/npm.log"; exit 77
  fi
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done; }
trap cleanup EXIT

# start_server NAME SCHEME ARGS...: runs dari serve in $work/NAME, sets $url.
start_server() {
  local name=$1 scheme=$2; shift 2
  local dir="$work/$name" port=""
  (cd "$dir" && exec "$dari" serve -m "$model" --port 0 --alias stories --parallel 4 -c 4096 \
     --policy "$dir/policy.toml" "$@" >"$dir/server.log" 2>&1) &
  pids+=($!)
  for _ in $(seq 1 600); do
    port=$(sed -n 's/.*listening on https\{0,1\}:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/server.log" | head -1)
    [ -n "$port" ] && curl -skf "$scheme://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "server $name exited:"; cat "$dir/server.log"; exit 1; }
    sleep 0.1
  done
  url="$scheme://127.0.0.1:$port"
  echo "dari serve ($name) on $url"
}

rm -rf "$work/a" "$work/b" "$work/screenshots"
mkdir -p "$work/a" "$work/b" "$work/screenshots"
printf '[operator]\nname = "Browser Test Operator"\n' >"$work/a/policy.toml"
start_server a http
url_a=$url

printf '[operator]\nname = "Browser Test Operator (TLS)"\n[keys]\nrequire = "always"\n' \
  >"$work/b/policy.toml"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/b/key.pem" -out "$work/b/cert.pem" >/dev/null 2>&1 ||
  { echo "openssl could not make a test certificate"; exit 1; }
user_key=$("$dari" keys --policy "$work/b/policy.toml" add web-user --scopes infer) ||
  { echo "dari keys add failed"; exit 1; }
admin_key=$("$dari" keys --policy "$work/b/policy.toml" add web-admin --scopes infer,admin) ||
  { echo "dari keys add failed"; exit 1; }
limited_key=$("$dari" keys --policy "$work/b/policy.toml" add web-limited --scopes infer --rpm 1) ||
  { echo "dari keys add failed"; exit 1; }
start_server b https --ssl-cert-file "$work/b/cert.pem" --ssl-key-file "$work/b/key.pem"
url_b=$url

DARI_URL_A=$url_a DARI_URL_B=$url_b DARI_USER_KEY=$user_key DARI_ADMIN_KEY=$admin_key DARI_LIMITED_KEY=$limited_key \
  DARI_CHROMIUM=$chromium DARI_SCREENSHOTS="$work/screenshots" \
  timeout 400 node --test --test-concurrency=1 "$work/e2e.mjs"
rc=$?

for i in "${!pids[@]}"; do
  kill -TERM "${pids[$i]}" 2>/dev/null
  wait "${pids[$i]}"
  src_rc=$?
  if [ $src_rc -ne 0 ]; then echo "dari serve #$i exited with $src_rc after SIGTERM"; rc=1; fi
done
pids=()
for name in a b; do
  if ! "$dari" audit --policy "$work/$name/policy.toml" verify; then
    echo "audit chain of server $name does not verify"; rc=1
  fi
done
[ $rc -eq 0 ] || { tail -n 20 "$work/a/server.log" "$work/b/server.log"; }
exit $rc

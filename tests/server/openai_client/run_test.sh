#!/usr/bin/env bash
# CTest driver: installs the openai package with `npm ci` into WORK_DIR, starts `dari serve` on a
# free loopback port, runs test.mjs against it, stops the server with SIGTERM (must exit 0).
# Exit 77 (CTest SKIP_RETURN_CODE) when npm is missing or the install fails (offline).
# Usage: run_test.sh DARI_BINARY MODEL SRC_DIR WORK_DIR
set -u
dari=$1 model=$2 src=$3 work=$4
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "SKIP: node/npm not installed"; exit 77
fi
mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/"*.mjs "$work/"
if ! (cd "$work" && node -e 'for (const p of ["openai", "ajv", "@anthropic-ai/sdk"]) require.resolve(p)') \
    2>/dev/null; then
  if ! (cd "$work" && timeout 300 npm ci --no-audit --no-fund >npm.log 2>&1); then
    echo "SKIP: npm ci failed (registry unreachable?):"; tail -5 "$work/npm.log"; exit 77
  fi
fi
log="$work/server.log"
# The trust layer's files (signing key, audit and key databases) go to the work folder: relative
# names in a policy are resolved against the policy file's folder.
printf '[operator]\nname = "openai client test"\n' >"$work/policy.toml"
rm -f "$work"/dari-keys.db*
"$dari" serve -m "$model" --port 0 --alias tiny --parallel 4 -c 512 --policy "$work/policy.toml" \
  >"$log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { echo "server exited:"; cat "$log"; exit 1; }
  sleep 0.1
done
echo "dari serve on port $port"
export DARI_BASE_URL="http://127.0.0.1:$port/v1" DARI_MODEL=tiny
# No key exists yet: the SDK's placeholder key is served. Then a key is added (the running
# server sees it at once) and everything else runs with it.
timeout 60 node "$work/test.mjs" placeholder
rc=$?
if [ $rc -eq 0 ]; then
  api_key=$("$dari" keys --policy "$work/policy.toml" add openai-test 2>/dev/null) ||
    { echo "dari keys add failed"; kill -TERM $pid; exit 1; }
  DARI_API_KEY="$api_key" timeout 400 node "$work/test.mjs"
  rc=$?
fi
kill -TERM $pid
wait $pid
src_rc=$?
cat "$log"
[ $rc -eq 0 ] || exit $rc
[ $src_rc -eq 0 ] || { echo "dari serve exited with $src_rc after SIGTERM"; exit 1; }
exit 0

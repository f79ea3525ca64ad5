#!/usr/bin/env bash
# CTest driver of the soak test: starts `dari serve` with the given model on a free loopback
# port (short header timeout, 1 MiB body limit), runs soak_http against it for DURATION seconds
# with the server's pid (RSS and idle checks), then stops the server with SIGTERM (must exit 0).
# Usage: run_soak.sh DARI_BINARY SOAK_BINARY MODEL WORK_DIR DURATION_S RSS_SLACK_MB
set -u
dari=$1 soak=$2 model=$3 work=$4 duration=$5 slack=$6
mkdir -p "$work"
log="$work/server.log"
# The trust layer's files (signing key, audit database) go to the work folder.
printf '[operator]\nname = "soak test"\n' >"$work/policy.toml"
rm -f "$work"/dari-audit.db* "$work"/dari-keys.db*
"$dari" serve -m "$model" --port 0 --alias tiny --parallel 8 -c 512 --threads 2 \
  --max-body 1048576 --header-timeout 2 --policy "$work/policy.toml" >"$log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
  [ -n "$port" ] && break
  kill -0 $pid 2>/dev/null || { echo "dari serve exited:"; cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "dari serve did not print its port"; kill -KILL $pid; cat "$log"; exit 1; }
"$soak" --port "$port" --pid $pid --model tiny --duration "$duration" --clients 32 \
  --max-tokens 16 --max-body 1048576 --header-timeout 2 --warmup 3 --rss-interval 0.5 \
  --rss-slack-mb "$slack" --idle-wait 10 --wait-ready 30
rc=$?
kill -TERM $pid
wait $pid
server_rc=$?
echo "--- dari serve log (last lines)"
tail -5 "$log"
[ $rc -eq 0 ] || exit $rc
[ $server_rc -eq 0 ] || { echo "dari serve exited with $server_rc after SIGTERM"; exit 1; }
exit 0

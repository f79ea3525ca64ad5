#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL server: initdb into a fresh temporary folder,
# start the server on a free 127.0.0.1 port with its unix socket in that folder, export
# DARI_TEST_PG_HOST (the socket folder), DARI_TEST_PG_PORT and DARI_TEST_PG_USER, run the
# command (bounded by DARI_TEST_PG_TIMEOUT seconds, default 90), then always stop the server
# and remove the folder. Exits 77 (CTest: skipped) when no PostgreSQL server is installed.
# As root (initdb refuses to run as root) the server runs as the `postgres` user.
# Usage: with_postgres.sh COMMAND [ARGS...]
set -uo pipefail

skip() {
  echo "SKIPPED: $*" >&2
  exit 77
}

find_bindir() {
  local d
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"
    return 0
  fi
  # Debian keeps the server binaries off PATH; take the newest major version.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

(($# > 0)) || {
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
}
bindir=$(find_bindir) || skip "no PostgreSQL server binaries (initdb, pg_ctl) found; install the 'postgresql' package"

as_pg=()
if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || skip "running as root and there is no 'postgres' user to run the server"
  runuser=$(command -v runuser || ls /usr/sbin/runuser /sbin/runuser 2>/dev/null | head -n 1)
  [[ -n $runuser ]] || skip "running as root and runuser is missing"
  as_pg=("$runuser" -u postgres --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/dari-pg.XXXXXX") || exit 1
cleanup() {
  if [[ -f $dir/data/postmaster.pid ]]; then
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 20 stop >/dev/null 2>&1 ||
      kill -9 "$(head -n 1 "$dir/data/postmaster.pid")" 2>/dev/null
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ((${#as_pg[@]} > 0)); then chown postgres "$dir"; fi

if ! "${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -U dari --auth=trust --no-sync -E UTF8 \
  --locale=C >"$dir/initdb.log" 2>&1; then
  cat "$dir/initdb.log" >&2
  echo "with_postgres: initdb failed" >&2
  exit 1
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started=0
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  port_in_use "$port" && continue
  if "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir \
        -c max_connections=30 -c shared_buffers=16MB" start >/dev/null 2>&1; then
    started=1
    break
  fi
  # Lost a race for the port: try another one.
  grep -q "could not bind\|already in use" "$dir/server.log" 2>/dev/null || break
done
if ((started == 0)); then
  cat "$dir/server.log" >&2 2>/dev/null
  echo "with_postgres: the server did not start" >&2
  exit 1
fi
echo "with_postgres: PostgreSQL ($bindir) on 127.0.0.1:$port, socket in $dir" >&2

export DARI_TEST_PG_HOST=$dir DARI_TEST_PG_PORT=$port DARI_TEST_PG_USER=dari
timeout -k 5 "${DARI_TEST_PG_TIMEOUT:-90}" "$@"
rc=$?
((rc == 124)) && echo "with_postgres: the command ran past ${DARI_TEST_PG_TIMEOUT:-90} s" >&2
exit "$rc"

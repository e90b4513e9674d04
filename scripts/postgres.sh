#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback, for tests and benchmarks.
#
#   scripts/postgres.sh start DIR   # initdb in DIR, start on a free port, print the URL
#   scripts/postgres.sh stop DIR    # stop it (DIR can then be deleted)
#
# Installs Debian's postgresql package when no server is found (as root, or
# with passwordless sudo).
# The server trusts local connections (it listens on 127.0.0.1 only) and runs
# as the `postgres` user when started by root, since PostgreSQL refuses root.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1 dir=$2

bindir() {
  local pg_config
  for pg_config in pg_config /usr/lib/postgresql/*/bin/pg_config; do
    if command -v "$pg_config" >/dev/null && [ -x "$("$pg_config" --bindir)/initdb" ]; then
      "$pg_config" --bindir
      return
    fi
  done
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case $cmd in
start)
  bin=$(bindir)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    "$(dirname "$0")/apt-install.sh" PostgreSQL postgresql
    bin=$(bindir)
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    runuser -u postgres -- test -w "$dir" \
      || { echo "the postgres user can't write $dir: use a folder it can reach, e.g. under /tmp" >&2; exit 1; }
  fi
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync >/dev/null
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # The socket dir is DIR itself, so nothing system-wide is touched.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=on" start >/dev/null
  echo "postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop)
  bin=$(bindir)
  dir=$(cd "$dir" && pwd)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  ;;
*) usage ;;
esac

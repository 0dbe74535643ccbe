#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on 127.0.0.1 for the tests and print its URL on stdout.
#
# Installs Debian's postgresql when no server binaries are found. initdb refuses to run as root, so the cluster
# belongs to the `postgres` user (created by the package) or, failing that, to the user running this script.
# Usage: DISBOT_TEST_POSTGRES_URL="$(bash .ci/postgres.sh DIR)"; stop it with `pg_ctl -D DIR/data stop`.
set -euo pipefail
dir="${1:?usage: postgres.sh DIR}"

find_bin() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  [ -n "$found" ] && [ -x "$found/initdb" ] && echo "$found"
}

bin="$(find_bin || true)"
if [ -z "$bin" ]; then
  echo "postgres.sh: installing PostgreSQL from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bin="$(find_bin)"
fi

owner="$(id -un)"
run() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  run() { runuser -u postgres -- "$@"; }
fi

mkdir -p "$dir"
chown "$owner" "$dir"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
run "$bin/initdb" -D "$dir/data" -U disbot --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1
run "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start >&2
run "$bin/createdb" -h 127.0.0.1 -p "$port" -U disbot disbot
echo "postgresql://disbot@127.0.0.1:$port/disbot"

#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks, from Debian's postgresql package.
#
#   eval "$(scripts/pg.sh start)"   # prints exports: KEYWARD_TEST_DATABASE_URL, KEYWARD_PG_DIR
#   scripts/pg.sh stop              # stops the cluster started above and removes it
#
# The cluster listens on 127.0.0.1 on a free port (TLS available), trusts local connections, and lives in a
# temporary directory owned by the `postgres` user (initdb refuses to run as root).
set -euo pipefail
cmd="${1:-start}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
      echo "pg.sh: installing postgresql" >&2
      export DEBIAN_FRONTEND=noninteractive
      (apt-get update -qq && apt-get install -y -qq postgresql) >&2
      bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    fi
    dir="$(mktemp -d /tmp/keyward-pg.XXXXXX)"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >&2
    # TLS on, with a throwaway self-signed certificate, so `sslmode=require` can be tested.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
      -keyout "$dir/data/server.key" -out "$dir/data/server.crt" 2>/dev/null
    chmod 600 "$dir/data/server.key"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir/data/server.key" "$dir/data/server.crt"
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
      -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c ssl=on" start >&2
    echo "export KEYWARD_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
    echo "export KEYWARD_PG_DIR=$dir"
    ;;
  stop)
    dir="${KEYWARD_PG_DIR:?KEYWARD_PG_DIR is not set}"
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Several nodes on PostgreSQL, for BENCHMARKS.md: the total write throughput of
# `POST …/jwks/parse-from-certificate` with 1 keyward node and with 3 nodes (the same total wrk
# connections, split across the nodes), and `GET` of a JWK (personal token) on PostgreSQL against
# the embedded SQLite store, in one run. Prints every run's figures (scripts/load.sh), then both
# ratios.
#
#   scripts/write-bench.sh [--smoke] [seconds per run, default 10] [connections in all, default 32]
#
# Environment:
#   KEYWARD_LOAD_BIN           a prebuilt keyward binary to measure instead of building this tree
#                              (to compare two versions side by side in one session)
#   KEYWARD_LOAD_PG_ADMIN_URL  a PostgreSQL server (postgres://postgres@127.0.0.1:PORT/postgres);
#                              without it a throwaway cluster is started (scripts/pg.sh) and removed
#
# Each PostgreSQL measurement runs on a fresh database of its own, the nodes started for it and
# stopped after. --smoke: one-second runs with 4 connections that fail on any non-2xx answer (what
# scripts/test.sh runs to prove that the nodes start and answer in every set-up). Needs wrk
# (apt-get install -y wrk) and psql.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=()
if [ "${1:-}" = --smoke ]; then smoke=(--smoke); shift; fi
secs="${1:-10}"; conns="${2:-32}"
if [ ${#smoke[@]} -gt 0 ]; then secs=1; conns=4; fi
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
if [ -z "${KEYWARD_LOAD_BIN:-}" ]; then
  cargo build --release -p keyward --quiet
  KEYWARD_LOAD_BIN="${CARGO_TARGET_DIR:-target}/release/keyward"
fi
export KEYWARD_LOAD_BIN
out="$(mktemp -d)"; own_pg=false
trap 'rm -rf "$out"; if $own_pg; then scripts/pg.sh stop; fi' EXIT
if [ -z "${KEYWARD_LOAD_PG_ADMIN_URL:-}" ]; then
  own_pg=true
  eval "$(scripts/pg.sh start)"
  KEYWARD_LOAD_PG_ADMIN_URL="$KEYWARD_TEST_DATABASE_URL"
fi
pg="$KEYWARD_LOAD_PG_ADMIN_URL"

# run NAME ONLY NODES PG_URL: one scripts/load.sh run, its output shown and kept.
run() {
  local name="$1" only="$2" nodes="$3" url="$4"
  echo
  echo "######## $name"
  KEYWARD_LOAD_ONLY="$only" KEYWARD_LOAD_NODES="$nodes" KEYWARD_LOAD_PG_ADMIN_URL="$url" \
    scripts/load.sh "${smoke[@]}" "$secs" "$conns" | tee "$out/$name"
}
# The total req/s of a run.
total() { awk '/total:/ {print $2}' "$out/$1" | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), binary $KEYWARD_LOAD_BIN"
run sqlite-get get 1 ""
run pg1-get get 1 "$pg"
run pg1-parse parse 1 "$pg"
run pg3-parse parse 3 "$pg"

sqlite_get="$(total sqlite-get)"; pg_get="$(total pg1-get)"
one="$(total pg1-parse)"; three="$(total pg3-parse)"
echo
echo "== summary (${secs}s per run, $conns connections in all)"
echo "GET a JWK: SQLite $sqlite_get req/s, PostgreSQL $pg_get req/s;" \
  "PostgreSQL / SQLite = $(ratio "$pg_get" "$sqlite_get") (target >= 0.7)"
echo "parse-from-certificate on PostgreSQL: 1 node $one req/s, 3 nodes $three req/s;" \
  "3 nodes / 1 node = $(ratio "$three" "$one") (target >= 0.9)"

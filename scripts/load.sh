#!/usr/bin/env bash
# HTTP load figures for BENCHMARKS.md: GET of a JWK with a personal token, and
# parse-from-certificate, each driven by wrk on this machine, plus the servers' peak memory.
#
#   scripts/load.sh [--smoke] [seconds per run, default 10] [connections, default 32]
#
# --smoke: one-second runs with 4 connections that fail on any non-2xx answer or socket error
# (scripts/test.sh uses it, through scripts/write-bench.sh, to prove the nodes start and answer).
#
# Environment:
#   KEYWARD_LOAD_PG_ADMIN_URL  a PostgreSQL server (e.g. the one of `eval "$(scripts/pg.sh start)"`,
#                              postgres://postgres@127.0.0.1:PORT/postgres): run on a fresh database
#                              there instead of the embedded SQLite store
#   KEYWARD_LOAD_NODES         number of keyward nodes on that database (default 1); wrk then
#                              drives every node at once with connections split evenly
#   KEYWARD_LOAD_BIN           a prebuilt keyward binary to measure instead of building this tree
#                              (to compare two versions side by side in one session)
#   KEYWARD_LOAD_ONLY          `get` or `parse`: run that measurement only
#
# Needs wrk (apt-get install wrk). Builds the release binary, starts the nodes on free ports with
# throwaway data, and stops them at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=false
if [ "${1:-}" = --smoke ]; then smoke=true; shift; fi
secs="${1:-10}"; conns="${2:-32}"; nodes="${KEYWARD_LOAD_NODES:-1}"; only="${KEYWARD_LOAD_ONLY:-}"
if $smoke; then secs=1; conns=4; fi
[ "$conns" -ge "$nodes" ] || conns="$nodes"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
if [ -n "${KEYWARD_LOAD_BIN:-}" ]; then
  bin="$KEYWARD_LOAD_BIN"
else
  cargo build --release -p keyward --quiet
  bin="${CARGO_TARGET_DIR:-target}/release/keyward"
fi
work="$(mktemp -d)"; pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
token="kw_load-test-token-0123456789abcdef"
store_args=(--data-dir "$work/data")
store="embedded SQLite"
if [ -n "${KEYWARD_LOAD_PG_ADMIN_URL:-}" ]; then
  db="kw_load_$(date +%s%N)"
  psql "$KEYWARD_LOAD_PG_ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db"
  store_args=(--database-url "${KEYWARD_LOAD_PG_ADMIN_URL%/*}/$db")
  # A shared store has no key file beside it: every node gets the same throwaway master key.
  export KEYWARD_MASTER_KEY="${KEYWARD_MASTER_KEY:-$(openssl rand -base64 32)}"
  store="PostgreSQL ($(psql "$KEYWARD_LOAD_PG_ADMIN_URL" -Atc 'show server_version'))"
fi
addrs=()
for n in $(seq "$nodes"); do
  KEYWARD_BOOTSTRAP_TOKEN="$token" KEYWARD_LOG=info "$bin" serve --listen 127.0.0.1:0 "${store_args[@]}" \
    2> "$work/log$n" &
  pids+=($!)
  for _ in $(seq 200); do grep -q 'listening on' "$work/log$n" 2>/dev/null && break; sleep 0.1; done
  addr="$(grep -o 'listening on http://[0-9.:]*' "$work/log$n" | head -1 | sed 's/listening on //')"
  [ -n "$addr" ] || { cat "$work/log$n" >&2; echo "keyward node $n did not start" >&2; exit 1; }
  addrs+=("$addr")
done
K="${addrs[0]}/apiops"; H="Authorization: Bearer $token"; J='Content-Type: application/json'
curl -sf -H "$H" -H "$J" -d '{"name":"production","type":"PRODUCTION"}' "$K/environments/" >/dev/null
curl -sf -H "$H" -H "$J" -d '{"name":"load"}' "$K/projects/" >/dev/null
curl -sf -H "$H" -F certificateName=rsa -F alias=rsa -F environmentList=production \
  -F pemEncodedFile=@fixtures/rsa2048.pem "$K/projects/load/certificates/" >/dev/null
curl -sf -H "$H" -H "$J" -d '{"name":"rsa","certificateName":"rsa","environmentName":"production","useType":"SIGNATURE","algorithm":"RS256"}' \
  "$K/projects/load/jwks/parse-from-certificate" >/dev/null

cat > "$work/parse.lua" <<LUA
-- Each wrk thread has its own Lua state: number the threads so JWK names never collide.
local threads = 0
setup = function(thread) threads = threads + 1; thread:set("id", threads) end
prefix = "n0-t"
counter = 0
request = function()
  counter = counter + 1
  local body = '{"name":"' .. prefix .. id .. '-' .. counter .. '","certificateName":"rsa","environmentName":"production","useType":"SIGNATURE","algorithm":"RS256"}'
  return wrk.format("POST", "/apiops/projects/load/jwks/parse-from-certificate", {["Authorization"] = "Bearer $token", ["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status ~= 200 then io.stderr:write("unexpected status " .. status .. ": " .. body .. "\\n") end
end
LUA

# Runs wrk against every node at once, the connections split as evenly as they go; prints each
# node's figures and the sum.
drive() {
  local what="$1"; shift
  local threads=$(( 2 / nodes )); [ "$threads" -ge 1 ] || threads=1
  local i=0 wpids=() per
  for addr in "${addrs[@]}"; do
    i=$((i + 1))
    per=$(( conns / nodes + (i <= conns % nodes ? 1 : 0) ))
    if [ "$what" = get ]; then
      wrk -t"$threads" -c"$per" -d"${secs}s" --latency -H "$H" "$addr/apiops/projects/load/jwks/rsa/" > "$work/wrk$i" &
      wpids+=($!)
    else
      sed "s/\"n0-t\"/\"n$i-t\"/" "$work/parse.lua" > "$work/parse$i.lua"
      wrk -t"$threads" -c"$per" -d"${secs}s" --latency -s "$work/parse$i.lua" "$addr" > "$work/wrk$i" &
      wpids+=($!)
    fi
  done
  wait "${wpids[@]}"
  local total=0
  for i in $(seq "$nodes"); do
    local rps p50 p99
    rps="$(awk '/Requests\/sec/ {print $2}' "$work/wrk$i")"
    p50="$(awk '$1=="50%" {print $2}' "$work/wrk$i")"; p99="$(awk '$1=="99%" {print $2}' "$work/wrk$i")"
    echo "   node $i: $rps req/s, p50 $p50, p99 $p99$(grep -q Non-2xx "$work/wrk$i" && echo ", $(grep Non-2xx "$work/wrk$i" | xargs)")"
    if $smoke && { grep -qE 'Non-2xx|Socket errors' "$work/wrk$i" || ! awk -v r="$rps" 'BEGIN {exit !(r > 0)}'; }; then
      cat "$work/wrk$i" >&2; echo "smoke run failed: node $i did not answer every request with 2xx" >&2; exit 1
    fi
    total="$(awk -v a="$total" -v b="$rps" 'BEGIN {print a + b}')"
  done
  echo "   total: $total req/s"
}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "== store: $store, $nodes node(s), wrk ${secs}s, $conns connections in all"
if [ "$only" != parse ]; then
  echo "== GET /apiops/projects/load/jwks/rsa/ (personal token)"
  drive get
fi
if [ "$only" != get ]; then
  echo "== POST parse-from-certificate (RSA-2048, each a new JWK)"
  drive parse
fi
for n in $(seq "$nodes"); do
  echo "== node $n memory: $(grep -E 'VmHWM|VmRSS' /proc/${pids[$((n - 1))]}/status | tr -s ' \t' ' ' | tr '\n' ' ')"
done
for p in "${pids[@]}"; do kill -TERM "$p"; wait "$p" || true; done
pids=()

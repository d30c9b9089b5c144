#!/usr/bin/env bash
# HTTP load figures for BENCHMARKS.md: GET of a JWK with a personal token, and
# parse-from-certificate, each driven by wrk on this machine, plus the server's peak memory.
#
#   scripts/load.sh [seconds per run, default 10] [connections, default 32]
#
# Needs wrk (apt-get install wrk). Builds the release binary, starts it on a free port with a
# throwaway data directory, and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"; conns="${2:-32}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
cargo build --release -p keyward --quiet
bin="${CARGO_TARGET_DIR:-target}/release/keyward"
work="$(mktemp -d)"; trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
token="kw_load-test-token-0123456789abcdef"
KEYWARD_BOOTSTRAP_TOKEN="$token" KEYWARD_LOG=info "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" \
  2> >(tee "$work/log" >&2) &
pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/log" 2>/dev/null && break; sleep 0.1; done
addr="$(grep -o 'listening on http://[0-9.:]*' "$work/log" | head -1 | sed 's/listening on //')"
[ -n "$addr" ] || { echo "keyward did not start" >&2; exit 1; }
K="$addr/apiops"; H="Authorization: Bearer $token"; J='Content-Type: application/json'
curl -sf -H "$H" -H "$J" -d '{"name":"production","type":"PRODUCTION"}' "$K/environments/" >/dev/null
curl -sf -H "$H" -H "$J" -d '{"name":"load"}' "$K/projects/" >/dev/null
curl -sf -H "$H" -F certificateName=rsa -F alias=rsa -F environmentList=production \
  -F pemEncodedFile=@fixtures/rsa2048.pem "$K/projects/load/certificates/" >/dev/null
curl -sf -H "$H" -H "$J" -d '{"name":"rsa","certificateName":"rsa","environmentName":"production","useType":"SIGNATURE","algorithm":"RS256"}' \
  "$K/projects/load/jwks/parse-from-certificate" >/dev/null

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "== GET /apiops/projects/load/jwks/rsa/ (personal token), ${secs}s, ${conns} connections, 2 wrk threads"
wrk -t2 -c"$conns" -d"${secs}s" --latency -H "$H" "$K/projects/load/jwks/rsa/" | sed -n '/Latency/,/Transfer/p'

cat > "$work/parse.lua" <<LUA
-- Each wrk thread has its own Lua state: number the threads so JWK names never collide.
local threads = 0
setup = function(thread) threads = threads + 1; thread:set("id", threads) end
counter = 0
request = function()
  counter = counter + 1
  local body = '{"name":"t' .. id .. '-' .. counter .. '","certificateName":"rsa","environmentName":"production","useType":"SIGNATURE","algorithm":"RS256"}'
  return wrk.format("POST", "/apiops/projects/load/jwks/parse-from-certificate", {["Authorization"] = "Bearer $token", ["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status ~= 200 then io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n") end
end
LUA
echo "== POST parse-from-certificate (RSA-2048, each a new JWK), ${secs}s, ${conns} connections"
wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$work/parse.lua" "$addr" | sed -n '/Latency/,/Transfer/p'
echo "== server memory: $(grep -E 'VmHWM|VmRSS' /proc/$pid/status | tr -s ' ' | tr '\n' ' ')"
kill -TERM "$pid"; wait "$pid" || true

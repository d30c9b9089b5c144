#!/usr/bin/env bash
# The public JWKS of keyward against nginx serving the same bytes from a file, for BENCHMARKS.md.
#
#   scripts/jwks-bench.sh [seconds per run, default 10] [rounds, default 3] [connections, default 32]
#
# Starts keyward (embedded SQLite, throwaway data) with one environment, one project and four
# generated JWKs (EC P-256, RSA-2048, Ed25519 — published — and an oct key, which must not be;
# explicit kids, as the default TIMESTAMP kid repeats within one second),
# saves the public JWKS bytes to a file, and starts two nginx instances serving that file at the
# same path with the same headers (`Cache-Control`, CORS, the security headers keyward adds;
# nginx's own strong ETag): one with `worker_processes 1`, one with `worker_processes auto`. Then
# wrk drives them interleaved, round after round (keyward, nginx ×1, nginx auto), with the same
# threads and connections, and prints the median req/s and p99 of each and the ratios. Last, one
# run each of: keyward with `If-None-Match` (the 304 path), nginx with it, and two keyward
# reference routes through the same middleware stack (an unknown route: the stack alone, and
# `/healthz`: the stack plus a store ping).
#
# Environment:
#   KEYWARD_LOAD_BIN   a prebuilt keyward binary to measure instead of building this tree
#   WRK_THREADS        wrk threads (default 2)
#
# Installs nginx and wrk (apt-get) when absent. wrk, keyward and nginx share this machine's cores:
# read the figures as a comparison on one machine, not as either server's capacity.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"; rounds="${2:-3}"; conns="${3:-32}"; threads="${WRK_THREADS:-2}"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null || {
    # Newer Debian releases fold nginx-light into nginx.
    need=("${need[@]/nginx-light/nginx}"); apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
if [ -n "${KEYWARD_LOAD_BIN:-}" ]; then
  bin="$KEYWARD_LOAD_BIN"
else
  cargo build --release -p keyward --quiet
  bin="${CARGO_TARGET_DIR:-target}/release/keyward"
fi

work="$(mktemp -d)"; pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for n in n1 nauto; do
    [ -f "$work/$n/nginx.pid" ] && kill "$(cat "$work/$n/nginx.pid")" 2>/dev/null || true
  done
  sleep 0.2; rm -rf "$work"
}
trap cleanup EXIT
# nginx's workers drop to an unprivileged user when started as root: they must read the file.
chmod 755 "$work"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- keyward -------------------------------------------------------------------------------------
token="kw_jwks-bench-token-0123456789abcdef"
KEYWARD_BOOTSTRAP_TOKEN="$token" KEYWARD_LOG=info "$bin" serve --listen 127.0.0.1:0 \
  --data-dir "$work/data" 2> "$work/keyward.log" &
pids+=($!); kpid=$!
for _ in $(seq 200); do grep -q 'listening on' "$work/keyward.log" 2>/dev/null && break; sleep 0.1; done
kaddr="$(grep -o 'listening on http://[0-9.:]*' "$work/keyward.log" | head -1 | sed 's/listening on //')"
[ -n "$kaddr" ] || { cat "$work/keyward.log" >&2; echo "keyward did not start" >&2; exit 1; }
K="$kaddr/apiops"; H="Authorization: Bearer $token"; J='Content-Type: application/json'
curl -sf -H "$H" -H "$J" -d '{"name":"production","type":"PRODUCTION"}' "$K/environments/" >/dev/null
curl -sf -H "$H" -H "$J" -d '{"name":"bench"}' "$K/projects/" >/dev/null
for spec in \
  '{"name":"ec","kid":"ec","type":"EC","ec":{"curveType":"P256"}}' \
  '{"name":"rsa","kid":"rsa","type":"RSA","rsa":{"keySize":2048}}' \
  '{"name":"okp","kid":"okp","type":"OKP","okp":{"curveType":"ED25519"}}' \
  '{"name":"hmac","kid":"hmac","type":"OCT","oct":{"keySize":256}}'; do
  curl -sf -H "$H" -H "$J" -d "$spec" "$K/projects/bench/jwks/generate" >/dev/null
done
path="/apiops/public/projects/bench/environments/production/jwks.json"
mkdir -p "$work/www${path%/*}"
file="$work/www$path"
curl -sf -D "$work/keyward.headers" -o "$file" "$kaddr$path"
chmod -R a+rX "$work/www"
python3 - "$file" <<'PY'
import json, sys
keys = json.load(open(sys.argv[1]))["keys"]
kinds = sorted(k["kty"] for k in keys)
assert kinds == ["EC", "OKP", "RSA"], kinds
assert sorted(k["kid"] for k in keys) == ["ec", "okp", "rsa"], keys
assert not any(m in k for k in keys for m in ("d", "p", "q", "dp", "dq", "qi", "k")), "private member"
PY
etag="$(awk 'tolower($1)=="etag:" {print $2}' "$work/keyward.headers" | tr -d '\r')"
cache_control="$(awk -F': ' 'tolower($1)=="cache-control" {print $2}' "$work/keyward.headers" | tr -d '\r')"

# --- nginx ---------------------------------------------------------------------------------------
start_nginx() { # name worker_processes → prints the port
  local name="$1" workers="$2" port
  port="$(free_port)"
  mkdir -p "$work/$name/tmp"
  cat > "$work/$name/nginx.conf" <<CONF
worker_processes $workers;
pid $work/$name/nginx.pid;
error_log $work/$name/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/$name/tmp/body;
  proxy_temp_path $work/$name/tmp/proxy;
  fastcgi_temp_path $work/$name/tmp/fastcgi;
  uwsgi_temp_path $work/$name/tmp/uwsgi;
  scgi_temp_path $work/$name/tmp/scgi;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=64;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server_tokens off;
  server {
    listen 127.0.0.1:$port;
    root $work/www;
    location = $path {
      default_type application/json;
      etag on;
      add_header Cache-Control "$cache_control" always;
      add_header Access-Control-Allow-Origin "*" always;
      add_header Cross-Origin-Resource-Policy "cross-origin" always;
      add_header X-Content-Type-Options "nosniff" always;
      add_header X-Frame-Options "DENY" always;
      add_header Content-Security-Policy "default-src 'none'; frame-ancestors 'none'" always;
      add_header Referrer-Policy "no-referrer" always;
    }
  }
}
CONF
  "$nginx_bin" -c "$work/$name/nginx.conf" -p "$work/$name" -e "$work/$name/error.log"
  for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port$path" && break; sleep 0.1; done
  cmp -s <(curl -sf "http://127.0.0.1:$port$path") "$file" \
    || { cat "$work/$name/error.log" >&2; echo "nginx ($name) does not serve the same bytes" >&2; exit 1; }
  echo "$port"
}
n1="http://127.0.0.1:$(start_nginx n1 1)"
nauto="http://127.0.0.1:$(start_nginx nauto auto)"
nginx_etag="$(curl -sfI "$n1$path" | awk 'tolower($1)=="etag:" {print $2}' | tr -d '\r')"

# --- wrk -----------------------------------------------------------------------------------------
# Runs wrk once; prints "req/s p50_ms p99_ms non2xx_3xx".
run() { # url [header]
  local url="$1"; shift
  local args=(-t"$threads" -c"$conns" -d"${secs}s" --latency)
  [ $# -gt 0 ] && args+=(-H "$1")
  wrk "${args[@]}" "$url" > "$work/wrk.out"
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx/ { bad = $NF }
    END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, bad }' "$work/wrk.out"
}
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "== machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), -t$threads -c$conns -d${secs}s, $rounds interleaved rounds; wrk shares the cores with the server it drives"
echo "== keyward $("$bin" --version 2>/dev/null | awk '{print $NF}') (embedded SQLite, tokio runtime with one worker per core); $("$nginx_bin" -v 2>&1 | sed 's/.*: //') (access_log off, open_file_cache, sendfile)"
echo "== body: $(wc -c < "$file") bytes, 3 keys (EC P-256, RSA-2048, Ed25519; the oct key left out)"
echo "   keyward: ETag $etag, Cache-Control: $cache_control;  nginx: ETag $nginx_etag, same Cache-Control"
printf '%-26s %6s %12s %10s %10s\n' target round req/s p50_ms p99_ms
declare -A rps_list p99_list
targets=(keyward nginx-1-worker nginx-auto-workers)
declare -A url=([keyward]="$kaddr$path" [nginx-1-worker]="$n1$path" [nginx-auto-workers]="$nauto$path")
for t in "${targets[@]}"; do wrk -t1 -c4 -d1s "${url[$t]}" >/dev/null; done   # warm-up
for r in $(seq "$rounds"); do
  for t in "${targets[@]}"; do
    read -r rps p50 p99 bad < <(run "${url[$t]}")
    [ "$bad" -eq 0 ] || { echo "$t: $bad non-2xx answers" >&2; exit 1; }
    printf '%-26s %6s %12s %10s %10s\n' "$t" "$r" "$rps" "$p50" "$p99"
    rps_list[$t]+="$rps "; p99_list[$t]+="$p99 "
  done
done
echo "== medians over $rounds rounds"
declare -A med_rps med_p99
for t in "${targets[@]}"; do
  med_rps[$t]="$(tr ' ' '\n' <<< "${rps_list[$t]}" | grep . | median)"
  med_p99[$t]="$(tr ' ' '\n' <<< "${p99_list[$t]}" | grep . | median)"
  printf '%-26s %12s req/s   p99 %s ms\n' "$t" "${med_rps[$t]}" "${med_p99[$t]}"
done
for t in nginx-1-worker nginx-auto-workers; do
  echo "   keyward / $t: $(awk -v a="${med_rps[keyward]}" -v b="${med_rps[$t]}" 'BEGIN {printf "%.0f %%", 100 * a / b}') (target ≥ 50 %)"
done

echo "== single runs"
single() { # label url [header]
  local label="$1"; shift
  read -r rps p50 p99 bad < <(run "$@")
  printf '%-48s %8s req/s   p50 %s ms   p99 %s ms%s\n' "$label" "$rps" "$p50" "$p99" \
    "$([ "$bad" -gt 0 ] && echo "   ($bad non-2xx/3xx)")"
}
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$kaddr$path")" = 304 ] \
  || { echo "keyward does not answer 304 to its own ETag" >&2; exit 1; }
single "keyward If-None-Match (304)" "$kaddr$path" "If-None-Match: $etag"
single "nginx 1 worker If-None-Match (304)" "$n1$path" "If-None-Match: $nginx_etag"
single "keyward unknown route (404: the stack alone)" "$kaddr/apiops/public/nope"
single "keyward GET /healthz (stack + store ping)" "$kaddr/healthz"
echo "== keyward memory: $(grep -E 'VmHWM|VmRSS' "/proc/$kpid/status" | tr -s ' \t' ' ' | tr '\n' ' ')"

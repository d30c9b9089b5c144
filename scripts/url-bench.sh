#!/usr/bin/env bash
# End-to-end latency of POST …/jwks/parse-from-url for BENCHMARKS.md: a release keyward fetches a
# JWK Set from a local HTTP server (python3 -m http.server on 127.0.0.1, allowed with
# `--fetch-allow 127.0.0.1/32 --fetch-allow-http`), picks a key by kid, and stores it as a new JWK.
#
#   scripts/url-bench.sh [requests per phase, default 300]
#
# One client, sequential requests over one keep-alive connection to keyward (Python http.client;
# its own overhead is in every figure). Three phases, side by side:
#   get-set    GET of the JWK Set straight from the local server: the fetch floor
#   clipboard  POST parse-from-clipboard with the same set as text: parse + store, no fetch
#   url        POST parse-from-url: connect, fetch, parse, store
# Prints median, p90, p99 and mean per phase. Needs python3 and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-300}"
if [ -n "${KEYWARD_LOAD_BIN:-}" ]; then
  bin="$KEYWARD_LOAD_BIN"
else
  cargo build --release -p keyward --quiet
  bin="${CARGO_TARGET_DIR:-target}/release/keyward"
fi
work="$(mktemp -d)"; pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
token="kw_url-bench-token-0123456789abcdef"

# The set: RFC 7517 Appendix B (RSA-2048 with x5c), RFC 7638 §3.1 (RSA-2048), RFC 8037 Appendix A
# (Ed25519, given a kid here): 3 keys, about 3 KB, like a typical identity provider's jwks_uri.
mkdir -p "$work/www"
python3 - "$work/www/jwks.json" <<'PY'
import json, sys
keys = [json.load(open(f"fixtures/rfc/{f}")) for f in
        ("rfc7517-appendix-b.json", "rfc7638-section-3.1.json", "rfc8037-appendix-a.json")]
keys[2]["kid"] = "ed"
json.dump({"keys": keys}, open(sys.argv[1], "w"))
PY

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
web_port="$(free_port)"
python3 -m http.server "$web_port" --bind 127.0.0.1 --directory "$work/www" 2> "$work/web.log" >&2 &
pids+=($!)
KEYWARD_BOOTSTRAP_TOKEN="$token" KEYWARD_LOG=info "$bin" serve --listen 127.0.0.1:0 \
  --data-dir "$work/data" --fetch-allow 127.0.0.1/32 --fetch-allow-http 2> "$work/log" &
pids+=($!)
for _ in $(seq 200); do grep -q 'listening on' "$work/log" 2>/dev/null && break; sleep 0.1; done
addr="$(grep -o 'listening on http://[0-9.:]*' "$work/log" | head -1 | sed 's/listening on http:\/\///')"
[ -n "$addr" ] || { cat "$work/log" >&2; echo "keyward did not start" >&2; exit 1; }
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$web_port/jwks.json" >/dev/null && break; sleep 0.1; done
K="http://$addr/apiops"; H="Authorization: Bearer $token"; J='Content-Type: application/json'
curl -sf -H "$H" -H "$J" -d '{"name":"production","type":"PRODUCTION"}' "$K/environments/" >/dev/null
curl -sf -H "$H" -H "$J" -d '{"name":"bench"}' "$K/projects/" >/dev/null

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "== keyward $addr, JWK Set http://127.0.0.1:$web_port/jwks.json ($(stat -c %s "$work/www/jwks.json") bytes, 3 keys), $n requests per phase"
python3 - "$addr" "$web_port" "$token" "$n" "$work/www/jwks.json" <<'PY'
import http.client, json, statistics, sys, time
addr, web_port, token, n, set_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
host, port = addr.rsplit(":", 1)
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
set_text = open(set_file).read()
url = f"http://127.0.0.1:{web_port}/jwks.json"

def get_set(conn, i):
    conn.request("GET", "/jwks.json")
    r = conn.getresponse(); body = r.read()
    assert r.status == 200 and body, r.status

def post(path, body):
    def run(conn, i):
        b = dict(body); b["name"] = f"{path.split('-')[-1]}-{i}"
        conn.request("POST", f"/apiops/projects/bench/jwks/{path}", json.dumps(b), headers)
        r = conn.getresponse(); data = r.read()
        assert r.status == 200, (r.status, data[:300])
        return b["name"]
    return run

def delete(conn, name):
    # Kids are unique within an environment: the next request imports the same key again.
    conn.request("DELETE", f"/apiops/projects/bench/jwks/{name}", headers=headers)
    r = conn.getresponse(); data = r.read()
    assert r.status == 200, (r.status, data[:300])

phases = [
    ("get-set", lambda: http.client.HTTPConnection("127.0.0.1", web_port), get_set),
    ("clipboard", lambda: http.client.HTTPConnection(host, int(port)),
     post("parse-from-clipboard", {"jwkStr": set_text, "kid": "1b94c"})),
    ("url", lambda: http.client.HTTPConnection(host, int(port)),
     post("parse-from-url", {"url": url, "kid": "1b94c"})),
]
print(f"{'phase':<10} {'median':>9} {'p90':>9} {'p99':>9} {'mean':>9}  (ms)")
for name, connect, run in phases:
    for i in range(20):  # warm-up, not counted
        conn = connect(); made = run(conn, f"w{i}")
        if made: delete(conn, made)
        conn.close()
    conn = connect()
    times = []
    for i in range(n):
        if name == "get-set":  # http.server answers HTTP/1.0: one connection per request
            conn = connect()
        t = time.perf_counter(); made = run(conn, i); times.append((time.perf_counter() - t) * 1000)
        if made: delete(conn, made)  # not timed
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(round(p * (len(times) - 1))))]
    print(f"{name:<10} {q(0.5):9.2f} {q(0.9):9.2f} {q(0.99):9.2f} {statistics.mean(times):9.2f}")
PY
echo "== keyward memory: $(grep -E 'VmHWM' /proc/${pids[1]}/status | tr -s ' \t' ' ')"

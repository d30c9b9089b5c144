#!/usr/bin/env bash
# Read latency while heavy work saturates the server, for BENCHMARKS.md (issue #11 item 5).
#
#   scripts/heavy-bench.sh [keyward binary, default: a release build of this tree] [samples, 200]
#
# Uploaders (6 Python threads, each its own keep-alive connection) post, in a loop, a P-256
# private key encrypted as PKCS#8 with PBKDF2-HMAC-SHA256 at 5,000,000 iterations (made by
# openssl; half keyward-jose's cap), more of them than the server has cores. Meanwhile one reader
# measures, one after the other on its own connection, `GET /healthz` and `GET` of a JWK:
#   idle       the reads alone (the floor)
#   saturated  the same reads while the uploads run (counted only while more uploads are in flight
#              than the machine has cores)
# Prints p50, p90, p99 and max per phase and read, and the uploads' answers by status (the
# saturated phase stops after 30 s even when it has fewer reads). The
# server runs with its defaults (heavy work: one per core), so an older binary (without
# `--heavy-work`) runs the same way: pass it as the first argument for a before/after.
# Needs python3, curl and openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-}"
n="${2:-200}"
if [ -z "$bin" ]; then
  cargo build --release -p keyward --quiet
  bin="${CARGO_TARGET_DIR:-target}/release/keyward"
fi
work="$(mktemp -d)"; pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
token="kw_heavy-bench-token-0123456789abcdef"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/plain.pem" 2>/dev/null
openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 5000000 \
  -passout pass:bench-pw -in "$work/plain.pem" -out "$work/key.pem"

KEYWARD_BOOTSTRAP_TOKEN="$token" KEYWARD_LOG=info "$bin" serve --listen 127.0.0.1:0 \
  --data-dir "$work/data" > "$work/log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q 'listening on' "$work/log" 2>/dev/null && break; sleep 0.1; done
addr="$(grep -o "listening on http://[0-9.:]*" "$work/log" | head -1 | sed "s/listening on http:\/\///" || true)"
[ -n "$addr" ] || { cat "$work/log" >&2; echo "keyward did not start" >&2; exit 1; }
K="http://$addr/apiops"; H="Authorization: Bearer $token"; J='Content-Type: application/json'
curl -sf -H "$H" -H "$J" -d '{"name":"production","type":"PRODUCTION"}' "$K/environments/" >/dev/null
curl -sf -H "$H" -H "$J" -d '{"name":"bench"}' "$K/projects/" >/dev/null
curl -sf -H "$H" -H "$J" -d '{"name":"reader","type":"EC","ec":{"curveType":"P256"}}' \
  "$K/projects/bench/jwks/generate" >/dev/null

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== keyward $bin on $addr; $n reads of each kind per phase"
python3 - "$addr" "$token" "$n" "$work/key.pem" "$(nproc)" <<'PY'
import http.client, json, sys, threading, time
addr, token, n, key_file, cores = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
host, port = addr.rsplit(":", 1)
auth = {"Authorization": f"Bearer {token}"}
pem = open(key_file).read()
UPLOADERS = 6

def conn():
    return http.client.HTTPConnection(host, int(port), timeout=120)

def timed(c, path, headers):
    t = time.perf_counter()
    c.request("GET", path, headers=headers)
    r = c.getresponse(); r.read()
    assert r.status == 200, (path, r.status)
    return time.perf_counter() - t

def reads(c, samples, gate=None, limit=None):
    health, jwk = [], []
    started = time.perf_counter()
    while len(health) < samples and (limit is None or time.perf_counter() - started < limit):
        if gate and not gate():
            time.sleep(0.001)
            continue
        health.append(timed(c, "/healthz", {}))
        jwk.append(timed(c, "/apiops/projects/bench/jwks/reader/", auth))
    return health, jwk

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]

def show(phase, name, xs):
    ms = lambda x: f"{x * 1000:8.1f} ms"
    print(f"{phase:10} {name:8} p50 {ms(pct(xs, 50))}  p90 {ms(pct(xs, 90))}  p99 {ms(pct(xs, 99))}  max {ms(max(xs))}")

reader = conn()
reads(reader, 20)  # warm-up
h, j = reads(reader, n)
show("idle", "healthz", h); show("idle", "GET JWK", j)

stop = threading.Event()
in_flight = [0]; lock = threading.Lock(); answers = {}; took = []
def uploader(u):
    c = conn(); i = 0
    while not stop.is_set():
        body = json.dumps({"name": f"k-{u}-{i}", "keyType": "PRIVATE_KEY",
            "cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": pem, "password": "bench-pw"}]})
        with lock: in_flight[0] += 1
        t = time.perf_counter()
        try:
            c.request("POST", "/apiops/projects/bench/keys/", body=body, headers={**auth, "Content-Type": "application/json"})
            r = c.getresponse(); r.read(); status = r.status
        except Exception as e:
            status = type(e).__name__; c = conn()
        took.append(time.perf_counter() - t)
        with lock:
            in_flight[0] -= 1
            answers[status] = answers.get(status, 0) + 1
        i += 1
threads = [threading.Thread(target=uploader, args=(u,), daemon=True) for u in range(UPLOADERS)]
for t in threads: t.start()
started = time.perf_counter()
# At most 30 s: on a server whose async workers do the decryptions, each read waits seconds.
h, j = reads(reader, n, gate=lambda: in_flight[0] > cores, limit=30)
elapsed = time.perf_counter() - started
stop.set()
for t in threads: t.join()
print(f"saturated: {len(h)} reads of each kind")
show("saturated", "healthz", h); show("saturated", "GET JWK", j)
print(f"uploads during {elapsed:.1f} s: {dict(sorted(answers.items(), key=str))}, "
      f"longest answer {max(took):.2f} s, median {sorted(took)[len(took) // 2]:.2f} s")
PY

#!/usr/bin/env bash
# Time `keyward store copy` from SQLite to PostgreSQL for a store of N objects (default 10,000:
# a tenth certificates, the rest JWKs derived from them), for BENCHMARKS.md.
#
#   KEYWARD_LOAD_PG_ADMIN_URL=postgres://postgres@127.0.0.1:PORT/postgres scripts/copy-bench.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
admin="${KEYWARD_LOAD_PG_ADMIN_URL:?set KEYWARD_LOAD_PG_ADMIN_URL to a PostgreSQL server (scripts/pg.sh start)}"
if [ -n "${KEYWARD_LOAD_BIN:-}" ]; then
  bin="$KEYWARD_LOAD_BIN"
else
  cargo build --release -p keyward --quiet
  bin="${CARGO_TARGET_DIR:-target}/release/keyward"
fi
work="$(mktemp -d)"; trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
token="kw_copy-bench-token-0123456789abcdef"
KEYWARD_BOOTSTRAP_TOKEN="$token" KEYWARD_LOG=warn,keyward=info "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" 2> "$work/log" &
pid=$!
for _ in $(seq 200); do grep -q 'listening on' "$work/log" && break; sleep 0.1; done
addr="$(grep -o 'listening on http://[0-9.:]*' "$work/log" | head -1 | sed 's/listening on //')"
started=$(date +%s.%N)
python3 - "$addr" "$token" "$n" <<'PY'
import http.client, json, sys, uuid
addr, token, n = sys.argv[1].removeprefix("http://"), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection(addr)
def call(method, path, body, ctype="application/json"):
    c.request(method, path, body=body, headers={"Authorization": f"Bearer {token}", "Content-Type": ctype})
    r = c.getresponse(); data = r.read()
    if r.status != 200: raise SystemExit(f"{method} {path}: {r.status} {data[:200]!r}")
call("POST", "/apiops/environments/", json.dumps({"name": "production", "type": "PRODUCTION"}))
call("POST", "/apiops/projects/", json.dumps({"name": "bench"}))
pem = open("fixtures/p256.pem", "rb").read()
certs = max(1, n // 10)
for i in range(certs):
    b = uuid.uuid4().hex
    parts = [(k, v.encode()) for k, v in (("certificateName", f"c{i}"), ("alias", f"a{i}"), ("environmentList", "production"))]
    body = b"".join(f"--{b}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n".encode() + v + b"\r\n" for k, v in parts)
    body += f"--{b}\r\nContent-Disposition: form-data; name=\"pemEncodedFile\"; filename=\"c.pem\"\r\n\r\n".encode() + pem + f"\r\n--{b}--\r\n".encode()
    call("POST", "/apiops/projects/bench/certificates/", body, f"multipart/form-data; boundary={b}")
for i in range(n - certs):
    call("POST", "/apiops/projects/bench/jwks/parse-from-certificate", json.dumps({"name": f"j{i}", "certificateName": f"c{i % certs}", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256"}))
PY
echo "== populated $n objects over HTTP in $(echo "$(date +%s.%N) - $started" | bc) s"
kill -TERM "$pid"; wait "$pid" || true
db="kw_copy_$(date +%s%N)"
psql "$admin" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db"
echo "== keyward store copy --from sqlite://…/keyward.db --to postgres://…/$db"
/usr/bin/time -f "== copy: %e s wall, %M KiB peak memory" "$bin" store copy --from "sqlite://$work/data/keyward.db" --to "${admin%/*}/$db"

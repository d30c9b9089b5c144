#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and the end-to-end HTTP tests against the
# real binary on both stores (embedded SQLite, then PostgreSQL with the multi-node and store-copy
# tests), including the cross-check against an independent JOSE library (Python jwcrypto).
set -euo pipefail
cd "$(dirname "$0")/.."

# The independent JOSE peer lives in a private virtualenv (created once, reused).
venv="${KEYWARD_VENV:-${TMPDIR:-/tmp}/keyward-crosscheck-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import jwcrypto, openapi_spec_validator' 2>/dev/null; then
  echo "== installing the cross-check peer (jwcrypto) and openapi-spec-validator into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/crosscheck/requirements.txt
fi
export KEYWARD_CROSSCHECK_PYTHON="$venv/bin/python"

# The audit and at-rest tests read the SQLite file with the sqlite3 shell.
if ! command -v sqlite3 >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing the sqlite3 shell"
    (apt-get update -qq && apt-get install -y -qq sqlite3) >&2
  else
    echo "the tests need the sqlite3 shell: apt-get install sqlite3" >&2; exit 1
  fi
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test (embedded SQLite store)"
(unset KEYWARD_TEST_DATABASE_URL; KEYWARD_POSTGRES_PASS=follows cargo test --workspace --locked)

# The README's quick start, run as a newcomer would, against the binary just built.
scripts/readme-check.sh
# The systemd unit of docs/ (systemd-analyze verify).
scripts/systemd-check.sh

# PostgreSQL: a given server (KEYWARD_TEST_DATABASE_URL), or a throwaway cluster.
if [ -z "${KEYWARD_TEST_DATABASE_URL:-}" ]; then
  eval "$(scripts/pg.sh start)"
  trap 'scripts/pg.sh stop' EXIT
fi
echo "== cargo test -p keyward (PostgreSQL store: every end-to-end test, multi-node, store copy)"
cargo test -p keyward --locked

# The load scripts start: SQLite, PostgreSQL with 1 and 3 nodes, every request answered 2xx
# (one-second wrk runs against the debug binary just built; about 15 s).
if command -v wrk >/dev/null; then
  echo "== scripts/write-bench.sh --smoke (scripts/load.sh in every set-up)"
  KEYWARD_LOAD_BIN="${CARGO_TARGET_DIR:-target}/debug/keyward" \
    KEYWARD_LOAD_PG_ADMIN_URL="$KEYWARD_TEST_DATABASE_URL" scripts/write-bench.sh --smoke
  # Every other benchmark script, in its smallest size (about 25 s in all): they start, drive the
  # server and finish without an error.
  echo "== benchmark scripts, smallest size (jwks-bench, url-bench, agent-latency, copy-bench)"
  export KEYWARD_LOAD_BIN="${CARGO_TARGET_DIR:-target}/debug/keyward"
  scripts/jwks-bench.sh 1 1 4 >/dev/null
  scripts/url-bench.sh 5 >/dev/null
  scripts/agent-latency.sh 5 >/dev/null
  KEYWARD_LOAD_PG_ADMIN_URL="$KEYWARD_TEST_DATABASE_URL" scripts/copy-bench.sh 50 >/dev/null
  unset KEYWARD_LOAD_BIN
elif [ -n "${CI:-}" ]; then
  echo "CI must run the load scripts' smoke test: apt-get install wrk" >&2; exit 1
else
  echo "SKIPPED: the load scripts' smoke test needs wrk (apt-get install wrk)"
fi

#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, end-to-end HTTP tests against the real
# binary, and the cross-check against an independent JOSE library (Python jwcrypto).
set -euo pipefail
cd "$(dirname "$0")/.."

# The independent JOSE peer lives in a private virtualenv (created once, reused).
venv="${KEYWARD_VENV:-${TMPDIR:-/tmp}/keyward-crosscheck-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import jwcrypto' 2>/dev/null; then
  echo "== installing the cross-check peer (jwcrypto) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/crosscheck/requirements.txt
fi
export KEYWARD_CROSSCHECK_PYTHON="$venv/bin/python"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked

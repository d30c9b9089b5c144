#!/usr/bin/env bash
# Runs the README's quick start as a newcomer would: every ```sh block that follows a
# `<!-- readme-check -->` line, in order, in one shell, in a fresh directory, against the binary
# the test suite built. Fails when a command fails or an answer is an error envelope.
#
# The build step is skipped (`cargo build --release -p keyward` → the built binary), `cargo run
# --release -p keyward --` becomes that binary, and the port 8080 a free one, so the check runs
# beside anything else on the machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${KEYWARD_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/keyward}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
if [ ! -x "$bin" ]; then
  echo "readme-check: no keyward binary at $bin (cargo build -p keyward, or set KEYWARD_BIN)" >&2
  exit 1
fi

blocks="$(awk '
  /^<!-- readme-check -->$/ { armed = 1; next }
  armed && /^```sh$/        { inside = 1; armed = 0; next }
  inside && /^```$/         { inside = 0; print ""; next }
  inside                    { print }
' "$root/README.md")"
if [ -z "$blocks" ]; then
  echo "readme-check: README.md has no block marked <!-- readme-check -->" >&2
  exit 1
fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

{
  echo 'set -euo pipefail'
  # Whatever the README starts in the background is stopped at the end.
  echo 'trap '"'"'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true'"'"' EXIT'
  printf '%s\n' "$blocks" |
    sed -e "s|cargo build --release -p keyward|true|g" \
        -e "s|cargo run --release -p keyward --|\"$bin\"|g" \
        -e "s|127\.0\.0\.1:8080|127.0.0.1:$port|g"
} >"$work/quickstart.sh"

echo "== readme-check: the README's quick start against $bin (port $port, in $work)"
status=0
(
  cd "$work"
  env -u KEYWARD_DATABASE_URL -u KEYWARD_MASTER_KEY -u KEYWARD_MASTER_KEY_FILE \
      -u KEYWARD_PREVIOUS_MASTER_KEYS -u KEYWARD_BOOTSTRAP_TOKEN -u KEYWARD_BOOTSTRAP_PASSWORD \
      -u KEYWARD_DATA_DIR KEYWARD_LISTEN="127.0.0.1:$port" \
      bash "$work/quickstart.sh" >"$work/out.txt" 2>"$work/err.txt"
) || status=$?
if [ "$status" -ne 0 ] || grep -q '"status":"FAILURE"' "$work/out.txt"; then
  echo "readme-check: the quick start failed (exit status $status). Script:" >&2
  cat -n "$work/quickstart.sh" >&2
  echo "--- standard output" >&2; cat "$work/out.txt" >&2
  echo "--- standard error" >&2; cat "$work/err.txt" >&2
  exit 1
fi
echo "readme-check: OK ($(grep -o '"status":"SUCCESS"' "$work/out.txt" | wc -l) successful answers)"

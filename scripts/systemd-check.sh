#!/usr/bin/env bash
# Checks docs/keyward.service with `systemd-analyze verify` (syntax, known directives, the
# sandboxing options), with ExecStart pointed at the binary the test suite built (verify wants an
# executable there). Skips with the reason when systemd-analyze is missing or cannot run here.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${KEYWARD_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/keyward}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-check: SKIPPED: systemd-analyze is not installed (apt-get install systemd)"
  exit 0
fi
if [ ! -x "$bin" ]; then
  echo "systemd-check: no keyward binary at $bin (cargo build -p keyward, or set KEYWARD_BIN)" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed "s|^ExecStart=/usr/local/bin/keyward|ExecStart=$bin|" "$root/docs/keyward.service" >"$work/keyward.service"
if ! out="$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$work/keyward.service" 2>&1)"; then
  # Without a running systemd some versions cannot load units at all: that is the machine, not
  # the unit. Anything that names the unit file or a directive is a real finding.
  if grep -q "keyward.service" <<<"$out"; then
    echo "systemd-check: docs/keyward.service does not verify:" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "systemd-check: SKIPPED: systemd-analyze cannot run here: $(head -1 <<<"$out")"
  exit 0
fi
if grep -q "keyward.service" <<<"$out"; then
  echo "systemd-check: docs/keyward.service has warnings:" >&2
  echo "$out" >&2
  exit 1
fi
echo "systemd-check: docs/keyward.service OK ($(systemd-analyze --version | head -1))"

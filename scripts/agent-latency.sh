#!/usr/bin/env bash
# Write → agent latency for BENCHMARKS.md: how long after a write starts one `keyward agent`
# has the change in its directory, and how long the write itself takes (its answer waits for the
# agent's acknowledgement), and the same writes with no agent for reference. Runs
# scripts/agent-latency.py (Python 3, standard library only).
#
#   scripts/agent-latency.sh [writes, default 200]
#
# Environment:
#   KEYWARD_LOAD_BIN   a prebuilt keyward binary to measure instead of building this tree
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-200}"
if [ -n "${KEYWARD_LOAD_BIN:-}" ]; then
  bin="$KEYWARD_LOAD_BIN"
else
  cargo build --release -p keyward --quiet
  bin="${CARGO_TARGET_DIR:-target}/release/keyward"
fi
echo "== machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
exec python3 scripts/agent-latency.py "$bin" "$n"

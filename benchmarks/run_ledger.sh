#!/usr/bin/env bash
# Run `finhub bench ledger` and keep what it prints (header and table) in a dated file.
#
#   benchmarks/run_ledger.sh                       # the full run, 10 s per measurement
#   benchmarks/run_ledger.sh --seconds 5 --only pgbench,service,hot
#
# Arguments go to `finhub bench ledger` unchanged (see `uv run finhub bench ledger --help`).
# With FINHUB_DATABASE_URL set it measures that server; otherwise the embedded one in
# FINHUB_DATA_DIR (default ./finhub-data). Progress goes to the terminal, the table to the file.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
results="${FINHUB_BENCH_RESULTS:-$root/benchmarks/results}"
mkdir -p "$results"
out="$results/ledger-$(date -u +%Y%m%dT%H%M%SZ).md"

cd "$root"
uv run finhub bench ledger "$@" | tee "$out"
echo "table written to $out" >&2

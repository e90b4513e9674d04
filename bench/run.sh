#!/usr/bin/env bash
# Every figure of BENCHMARKS.md, one after the other (about 12 minutes):
# the in-process criterion benches, then the HTTP, scale, start-up,
# PostgreSQL and peer scripts. Run from anywhere; each part can also be run on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "$(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'); load average now:$(uptime | sed 's/.*load average://')"
echo "== cargo bench -p floww-host (per-execution overhead, KV through WIT vs native)"
cargo bench -p floww-host --bench execution 2>&1 | grep -E '^[a-z0-9_/]+( |$)|^ +time:'
echo "== bench/http.sh"
bench/http.sh
echo "== bench/scale.sh"
bench/scale.sh
echo "== bench/startup.sh"
bench/startup.sh
echo "== bench/postgres.sh"
bench/postgres.sh
echo "== bench/peer.sh"
if command -v "${WASMTIME:-wasmtime}" >/dev/null; then bench/peer.sh; else echo "skipped: no wasmtime (set WASMTIME, see bench/peer.sh)"; fi

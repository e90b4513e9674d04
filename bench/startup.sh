#!/usr/bin/env bash
# Start-up time of `floww serve` with deployed workflows, with and without the
# compiled-code cache: milliseconds from launch to the readiness line.
#   bench/startup.sh [RUNS]        (run from the repo root; builds what it needs)
set -euo pipefail
runs=${1:-5}
cargo build --release -q
floww=target/release/floww
wasm=$($floww build examples/kv-store 2>/dev/null)
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT

# Milliseconds until `floww serve` prints "Serving …"; then stops it.
start_ms() {
  local t0 pid line
  t0=$(date +%s%N)
  coproc FLOWW { exec "$floww" serve --listen 127.0.0.1:0 --data-dir "$data" "$@" 2>/dev/null; }
  pid=$FLOWW_PID
  while read -r line <&"${FLOWW[0]}"; do
    [[ $line == Serving* ]] && break
  done
  echo $((($(date +%s%N) - t0) / 1000000))
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

start_ms --deploy "kv-store=$wasm" >/dev/null
cold=$(for _ in $(seq "$runs"); do rm -f "$data"/cache/*; start_ms; done | median)
warm=$(for _ in $(seq "$runs"); do start_ms; done | median)
echo "start-up with 1 workflow ($(stat -c %s "$wasm") bytes): compile ${cold} ms, compiled cache ${warm} ms (median of $runs)"

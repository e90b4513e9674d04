#!/usr/bin/env bash
# End-to-end HTTP throughput and latency on loopback, in one run: the kv-store
# example's /counter and get-user on `floww serve` (floww: a fresh instance per
# execution, the default; floww(reuse): --instance-reuse 1000000), against the
# same work done natively by bench/baseline (axum + sled, no wasm):
#   baseline(kv)                  --store kv: floww's KV rules over its sled backend
#   baseline(sled, group commit)  --store sled: a bare sled tree, atomic
#                                 update_and_fetch, writers share a flush
#   baseline(sled-flush-each)     --store sled-flush-each: the same, but one
#                                 flush per write; /counter only (its get-user
#                                 is that of --store sled)
# Every one of them answers a write once it is on disk.
#   bench/http.sh [SECONDS] [CONNECTIONS] [ROUNDS]   (defaults: 5 s, 8 connections, 3 rounds)
# Servers run pinned to CPU 0 and wrk to CPU 1 (taskset), so each side has a
# core of its own. Needs wrk (apt-get install -y wrk).
source "$(dirname "$0")/lib.sh"
load_args "$@"
build_all

echo "closed loop, ${conns} connections, ${secs} s per load, ${rounds} rounds, $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p'))"

# All the servers run at once (idle when not under load), and the rounds
# interleave them, so a busy spell of the shared machine hits each alike.
declare -A urls
mkdir -p "$tmp/floww"
start floww taskset -c 0 "$floww" serve --listen 127.0.0.1:0 --data-dir "$tmp/floww" \
  --deploy "kv-store=$kv_store_wasm"
urls[floww]=$url
reuse="floww(reuse)"
mkdir -p "$tmp/floww-reuse"
start floww-reuse taskset -c 0 "$floww" serve --listen 127.0.0.1:0 --data-dir "$tmp/floww-reuse" \
  --deploy "kv-store=$kv_store_wasm" --instance-reuse 1000000
urls[$reuse]=$url
kv="baseline(kv)"
sled="baseline(sled, group commit)"
flush_each="baseline(sled-flush-each)"
declare -A stores=([$kv]=kv [$sled]=sled [$flush_each]=sled-flush-each)
for server in "$kv" "$sled" "$flush_each"; do
  start "baseline-${stores[$server]}" taskset -c 0 "$baseline" --data-dir "$tmp/baseline-${stores[$server]}" \
    --store "${stores[$server]}"
  urls[$server]=$url
done
servers=(floww "$reuse" "$kv" "$sled")
for server in "${servers[@]}" "$flush_each"; do seed "${urls[$server]}"; done

for round in $(seq "$rounds"); do
  for server in "${servers[@]}" "$flush_each"; do
    if [[ $server == "$flush_each" ]]; then
      load_kv_store "$server" "$round" counter-only
    else
      load_kv_store "$server" "$round"
    fi
  done
done

{
  summarize_kv_store "${servers[@]}"
  summary "$flush_each /counter"
} | tee "$tmp/summary"

for ours in floww "$reuse"; do
  for server in "$kv" "$sled"; do
    echo "ratio $ours/$server of the medians: /counter $(ratio "$ours /counter" "$server /counter")," \
      "get-user $(ratio "$ours get-user" "$server get-user")"
  done
  echo "ratio $ours/$flush_each of the medians: /counter $(ratio "$ours /counter" "$flush_each /counter")"
done

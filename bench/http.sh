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

counter_lua=$tmp/counter.lua
user_lua=$tmp/user.lua
post_lua "$counter_lua" /webhook/counter '{"increment": 1}'
post_lua "$user_lua" /webhook/users '{"action": "get-user", "userId": "user-123"}'
create='{"action": "create-user", "userId": "user-123", "name": "John Doe", "email": "john@example.com"}'

seed() {
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$1/webhook/users" -H 'Content-Type: application/json' -d "$create")
  [[ $status == 201 ]] || { echo "seeding $1 answered $status" >&2; exit 1; }
}

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
    load "$server /counter #$round" "${urls[$server]}" "$secs" "$conns" "$counter_lua" >/dev/null
    [[ $server == "$flush_each" ]] && continue
    load "$server get-user #$round" "${urls[$server]}" "$secs" "$conns" "$user_lua" >/dev/null
  done
done

# The median over the rounds of requests/s, p50 and p99 (wrk's units → ms).
summary() {
  local files=() round
  for round in $(seq "$rounds"); do
    local name="$1 #$round"
    files+=("$tmp/wrk-${name//[^A-Za-z0-9]/_}.txt")
  done
  awk -v name="$1" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((n + 1) / 2)] }
    FNR == 1 {n++}
    /Requests\/sec/ {rps[n] = $2}
    $1 == "50%" {p50[n] = ms($2)} $1 == "99%" {p99[n] = ms($2)}
    /Non-2xx/ {bad += $NF}
    END {printf "%-38s %8.0f req/s   p50 %6.2f ms   p99 %6.2f ms   non-2xx %d   (req/s of each round:", name, med(rps, n), med(p50, n), med(p99, n), bad
         for (i = 1; i <= n; i++) printf " %.0f", rps[i]; print ")"}' "${files[@]}"
}
{
  for server in "${servers[@]}"; do
    summary "$server /counter"
    summary "$server get-user"
  done
  summary "$flush_each /counter"
} | tee "$tmp/summary"

# The median requests/s of the summary line of $1.
rps() {
  awk -v n="$1 " 'substr($0, 1, length(n)) == n {for (i = 1; i <= NF; i++) if ($i == "req/s") {print $(i - 1); exit}}' "$tmp/summary"
}
ratio() { awk -v a="$(rps "$1")" -v b="$(rps "$2")" 'BEGIN {printf "%.2f", a / b}'; }
for ours in floww "$reuse"; do
  for server in "$kv" "$sled"; do
    echo "ratio $ours/$server of the medians: /counter $(ratio "$ours /counter" "$server /counter")," \
      "get-user $(ratio "$ours get-user" "$server get-user")"
  done
  echo "ratio $ours/$flush_each of the medians: /counter $(ratio "$ours /counter" "$flush_each /counter")"
done

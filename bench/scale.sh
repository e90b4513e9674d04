#!/usr/bin/env bash
# Scaling with the number of deployed workflows: one no-op component
# (bench/guests/noop, path /{workflow}/noop) deployed under 1, 10, 100 and
# 1,000 ids on one `floww serve`. At each step: the host's RSS when idle, the
# time to deploy one more (PUT /api/workflows/ID, wall clock through curl), and
# the throughput of requests spread at random over all the ids.
#   bench/scale.sh [SECONDS] [CONNECTIONS]    (defaults: 5 s, 8 connections)
# Needs wrk (apt-get install -y wrk).
source "$(dirname "$0")/lib.sh"
secs=${1:-5}
conns=${2:-8}
need wrk
need taskset util-linux
build_all

data=$tmp/data
mkdir -p "$data"
start floww taskset -c 0 "$floww" serve --listen 127.0.0.1:0 --data-dir "$data"
host=$url pid=$last_pid
sleep 1
rss0=$(rss_kib "$pid")
echo "no-op component $(stat -c %s "$noop_wasm") bytes; host RSS with no workflow: $((rss0 / 1024)) MiB"
printf '%-10s %14s %16s %20s %22s\n' workflows "RSS idle MiB" "KiB per workflow" "deploy one more ms" "req/s over all ids"

deployed=0
for n in 1 10 100 1000; do
  while ((deployed < n - 1)); do
    status=$(deploy "$host" "$data" "w$deployed" "$noop_wasm")
    [[ $status == 201 ]] || { echo "deploy w$deployed answered $status" >&2; exit 1; }
    deployed=$((deployed + 1))
  done
  t0=$(date +%s%N)
  status=$(deploy "$host" "$data" "w$deployed" "$noop_wasm")
  one_more=$((($(date +%s%N) - t0) / 1000000))
  [[ $status == 201 ]] || { echo "deploy w$deployed answered $status" >&2; exit 1; }
  deployed=$((deployed + 1))

  sleep 1
  rss=$(rss_kib "$pid")
  per=$(((rss - rss0) / n))

  cat >"$tmp/spread.lua" <<LUA
request = function()
  return wrk.format("POST", "/webhook/w" .. math.random(0, $((n - 1))) .. "/noop")
end
LUA
  load "spread over $n" "$host" "$secs" "$conns" "$tmp/spread.lua" >/dev/null
  rps=$(rps_of "spread over $n")
  bad=$(awk '/Non-2xx/ {print $NF}' "$tmp/wrk-spread_over_$n.txt")
  [[ -z $bad ]] || echo "warning: $bad non-2xx answers with $n workflows" >&2
  printf '%-10s %14.1f %16s %20s %22.0f\n' "$n" "$(echo "$rss / 1024" | bc -l)" "$per" "$one_more" "$rps"
done
echo "host RSS after the load (pool slots warm): $(($(rss_kib "$pid") / 1024)) MiB"

#!/usr/bin/env bash
# The KV store on PostgreSQL beside sled, in one run: end-to-end HTTP
# throughput and latency of the kv-store example's /counter and get-user on
# `floww serve` with each store, and how long a deploy through one host takes
# to be served by a second host on the same database.
#   bench/postgres.sh [SECONDS] [CONNECTIONS] [ROUNDS]   (defaults: 5 s, 8 connections, 3 rounds)
# Starts a throwaway PostgreSQL on loopback (scripts/postgres.sh) unless
# FLOWW_TEST_POSTGRES names a server. The hosts run pinned to CPU 0, wrk to
# CPU 1; PostgreSQL is not pinned. Needs wrk (apt-get install -y wrk).
source "$(dirname "$0")/lib.sh"
load_args "$@"
need psql postgresql-client
build_all

if [ -z "${FLOWW_TEST_POSTGRES:-}" ]; then
  # Not under $tmp: the server runs as user postgres, which can't enter it.
  pg=$(mktemp -d /tmp/floww-pg.XXXXXX)
  trap 'scripts/postgres.sh stop "$pg" || true; rm -rf "$pg"; cleanup' EXIT
  FLOWW_TEST_POSTGRES=$(scripts/postgres.sh start "$pg")
fi
base=${FLOWW_TEST_POSTGRES%/*}
database=floww_bench_$$
psql -q "$FLOWW_TEST_POSTGRES" -c "CREATE DATABASE $database"
store="$base/$database"

echo "closed loop, ${conns} connections, ${secs} s per load, ${rounds} rounds, $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p')), $(psql -Atc 'SHOW server_version' "$FLOWW_TEST_POSTGRES" | cut -d' ' -f1) PostgreSQL"

declare -A urls
for kind in sled postgres; do
  mkdir -p "$tmp/$kind"
  args=()
  [[ $kind == postgres ]] && args=(--store "$store")
  start "floww-$kind" taskset -c 0 "$floww" serve --listen 127.0.0.1:0 --data-dir "$tmp/$kind" "${args[@]}" \
    --deploy "kv-store=$kv_store_wasm"
  urls[$kind]=$url
  seed "$url"
done

for round in $(seq "$rounds"); do
  for kind in sled postgres; do
    load_kv_store "$kind" "$round"
  done
done
for kind in sled postgres; do
  for what in /counter get-user; do
    for round in $(seq "$rounds"); do
      awk -v name="$kind $what #$round" '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ {rps = $2} $1 == "50%" {p50 = ms($2)} $1 == "99%" {p99 = ms($2)} /Non-2xx/ {bad = $NF}
        END {printf "%-22s %8.0f req/s   p50 %6.2f ms   p99 %6.2f ms   non-2xx %d\n", name, rps, p50, p99, bad}' \
        "$tmp/wrk-$(echo "$kind $what #$round" | sed 's/[^A-Za-z0-9]/_/g').txt"
    done
  done
done

# Deploy propagation: a second host on the same database; each deploy goes
# to the first, and the clock runs until the second answers the new webhook.
mkdir -p "$tmp/second"
start floww-second taskset -c 0 "$floww" serve --listen 127.0.0.1:0 --data-dir "$tmp/second" --store "$store"
second=$url
after=() total=()
for i in $(seq 10); do
  t0=$(date +%s%N)
  [[ $(deploy "${urls[postgres]}" "$tmp/postgres" "w$i" "$noop_wasm") == 201 ]] || { echo "deploy w$i failed" >&2; exit 1; }
  t1=$(date +%s%N)
  until [[ $(curl -s -o /dev/null -w '%{http_code}' "$second/webhook/w$i/noop") == 200 ]]; do :; done
  t2=$(date +%s%N)
  after+=($(((t2 - t1) / 1000000)))
  total+=($(((t2 - t0) / 1000000)))
done
echo "deploy through one host, then served by the other (10 deploys of bench/guests/noop, ms):"
echo "  from the deploy's answer: ${after[*]}; median $(printf '%s\n' "${after[@]}" | median), max $(printf '%s\n' "${after[@]}" | sort -n | tail -1)"
echo "  from the deploy's start:  ${total[*]}; median $(printf '%s\n' "${total[@]}" | median)"

#!/usr/bin/env bash
# Start-up time of `floww serve`, with and without the compiled-code cache:
# 1. with the kv-store example deployed: launch to the readiness line;
# 2. with 100 workflows deployed: launch until every one of their webhooks has
#    answered 200, for 100 ids of one no-op component and for 100 distinct
#    components (the same no-op, each with a custom section naming its index,
#    so that each has its own SHA-256 and is compiled on its own).
#   bench/startup.sh [RUNS]        (median of RUNS, default 5)
source "$(dirname "$0")/lib.sh"
runs=${1:-5}
build_all

# Milliseconds until `floww serve` on $1 prints "Serving …", then until each
# of the ids in $2.. answers (none: the readiness line only); then stops it.
start_ms() {
  local data=$1 t0 ready id urls=() answers; shift
  t0=$(ms_now)
  start floww "$floww" serve --listen 127.0.0.1:0 --data-dir "$data"
  ready=$(($(ms_now) - t0))
  if (($#)); then
    # One curl for all of them, one request after the other on one connection.
    for id in "$@"; do urls+=("$url/webhook/$id/noop"); done
    answers=$(curl -s -o /dev/null -w '%{http_code}\n' -X POST "${urls[@]}" | sort | uniq -c | xargs)
    [[ $answers == "$# 200" ]] || { echo "webhooks answered: $answers" >&2; exit 1; }
  fi
  echo "$ready $(($(ms_now) - t0))"
  stop "$last_pid"
}

# Medians of `start_ms` over $runs runs, clearing the cache first if $1 = cold.
measure() {
  local cache=$1 data=$2; shift 2
  for _ in $(seq "$runs"); do
    [[ $cache == cold ]] && rm -f "$data"/cache/*
    start_ms "$data" "$@"
  done >"$tmp/times"
  echo "$(cut -d' ' -f1 "$tmp/times" | median) $(cut -d' ' -f2 "$tmp/times" | median)"
}

one=$tmp/one
mkdir -p "$one"
start floww "$floww" serve --listen 127.0.0.1:0 --data-dir "$one" --deploy "kv-store=$kv_store_wasm"
stop "$last_pid"
read -r cold _ <<<"$(measure cold "$one")"
read -r warm _ <<<"$(measure warm "$one")"
echo "1 workflow (kv-store, $(stat -c %s "$kv_store_wasm") bytes), launch to readiness line: compile ${cold} ms, compiled cache ${warm} ms (median of $runs)"

# A copy of the no-op component with a custom section `floww-bench` holding $2.
distinct() {
  local payload name=floww-bench
  payload=$(printf '%04d' "$2")
  cp "$noop_wasm" "$1"
  printf "\\x00\\x$(printf '%02x' $((1 + ${#name} + ${#payload})))\\x$(printf '%02x' ${#name})%s%s" "$name" "$payload" >>"$1"
}

ids=()
for i in $(seq 0 99); do ids+=("w$i"); done
for kind in same distinct; do
  data=$tmp/$kind
  mkdir -p "$data"
  start floww "$floww" serve --listen 127.0.0.1:0 --data-dir "$data"
  for i in $(seq 0 99); do
    file=$noop_wasm
    if [[ $kind == distinct ]]; then file=$tmp/w$i.wasm; distinct "$file" "$i"; fi
    status=$(deploy "$url" "$data" "w$i" "$file")
    [[ $status == 201 ]] || { echo "deploy w$i answered $status" >&2; exit 1; }
  done
  stop "$last_pid"
  read -r cold_ready cold_all <<<"$(measure cold "$data" "${ids[@]}")"
  read -r warm_ready warm_all <<<"$(measure warm "$data" "${ids[@]}")"
  echo "100 workflows, $kind component$([[ $kind == distinct ]] && echo s): readiness line / all 100 webhooks answered:" \
    "compile ${cold_ready} / ${cold_all} ms, compiled cache ${warm_ready} / ${warm_all} ms (median of $runs)"
done

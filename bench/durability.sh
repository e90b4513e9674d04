#!/usr/bin/env bash
# Acknowledged KV writes per second with durability on (group commit: every
# acknowledged write is on disk) and off (--no-fsync): wrk drives the
# kv-store example's POST /counter, one atomic increment per request.
#   bench/durability.sh [SECONDS] [CONNECTIONS]    (run from the repo root; needs wrk)
set -euo pipefail
secs=${1:-10}
conns=${2:-32}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q
floww=target/release/floww
wasm=$($floww build examples/kv-store 2>/dev/null)
script=$(mktemp --suffix .lua)
echo 'wrk.method = "POST"; wrk.body = "{}"' >"$script"

run() { # label, extra serve flags…
  local label=$1 data out pid url
  shift
  data=$(mktemp -d)
  out=$(mktemp)
  "$floww" serve --listen 127.0.0.1:0 --data-dir "$data" --deploy "kv-store=$wasm" --max-concurrency 64 "$@" \
    >"$out" 2>/dev/null &
  pid=$!
  until url=$(grep -m1 -o 'Serving http://[^ ]*' "$out"); do sleep 0.1; done
  url=${url#Serving }
  local rps
  rps=$(wrk -t"$(( conns < 2 ? 1 : 2 ))" -c"$conns" -d"${secs}s" -s "$script" "$url/webhook/counter" | awk '/Requests\/sec/ {print $2}')
  local count
  count=$(curl -s -X POST "$url/webhook/counter" -d '{"increment": 0}')
  echo "$label: $rps acknowledged writes/s  (counter after the run: $count)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data" "$out"
}
run "durable (fsync, group commit)"
run "--no-fsync"
rm -f "$script"

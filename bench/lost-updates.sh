#!/usr/bin/env bash
# Why `increment` exists: 200 concurrent "+1"s from 8 clients, once as
# get-then-set (the probe's `unsafe-add`) and once as `increment`.
#   bench/lost-updates.sh        (run from the repo root)
set -euo pipefail
cargo build --release -q
floww=target/release/floww
wasm=$($floww build tests/guests/probe-owner 2>/dev/null)
data=$(mktemp -d)
out=$(mktemp)
"$floww" serve --listen 127.0.0.1:0 --data-dir "$data" --deploy "owner=$wasm" >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data" "$out"' EXIT
until url=$(grep -m1 -o 'Serving http://[^ ]*' "$out"); do sleep 0.1; done
url=${url#Serving }

hammer() { # op
  seq 200 | xargs -P 8 -I{} curl -s -o /dev/null -X POST "$url/webhook/probe-owner" \
    -d "{\"op\": \"$1\", \"table\": \"t\", \"key\": \"$1\", \"delta\": 1}"
  curl -s -X POST "$url/webhook/probe-owner" -d "{\"op\": \"get\", \"table\": \"t\", \"key\": \"$1\"}"
}
echo "get-then-set: $(hammer unsafe-add)   increment: $(hammer increment)   (200 each, 8 clients)"

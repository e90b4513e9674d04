#!/usr/bin/env bash
# Durable runs on sled and on PostgreSQL, in one run (bench/guests/runs):
# - a step's cost beside a bare KV write: N increments in one webhook, each
#   its own durable write, against a run of N steps of one increment each
#   (each committed with its journal entry);
# - runs per second: RUNS runs of three steps started at once, to the end of
#   the last;
# - the scheduling delay of a wake-up: 20 runs that sleep 1 s, from the time
#   each sleep was due to when its run was invoked and journaled it.
#   bench/runs.sh [N] [RUNS]   (defaults 500 and 300)
# Starts a throwaway PostgreSQL on loopback (scripts/postgres.sh) unless
# FLOWW_TEST_POSTGRES names a server. Nothing is pinned: the host, the
# database and curl share the machine.
source "$(dirname "$0")/lib.sh"
n=${1:-500}
runs=${2:-300}
need psql postgresql-client
need python3
cargo build --release -q -p floww-host
runs_wasm=$($floww build bench/guests/runs 2>/dev/null)

if [ -z "${FLOWW_TEST_POSTGRES:-}" ]; then
  pg=$(mktemp -d /tmp/floww-pg.XXXXXX)
  trap 'scripts/postgres.sh stop "$pg" || true; rm -rf "$pg"; cleanup' EXIT
  FLOWW_TEST_POSTGRES=$(scripts/postgres.sh start "$pg")
fi
database=floww_bench_runs_$$
psql -q "$FLOWW_TEST_POSTGRES" -c "CREATE DATABASE $database"
store="${FLOWW_TEST_POSTGRES%/*}/$database"

# api DATA_DIR METHOD URL [BODY]
api() {
  curl -s -X "$2" -H "Authorization: Bearer $(token "$1")" -H 'Content-Type: application/json' "$3" ${4:+-d "$4"}
}

# wait_ended DATA_DIR URL COUNT NAME: until COUNT runs of NAME have ended; prints their summaries as JSON lines.
wait_ended() {
  local page
  while :; do
    page=$(api "$1" GET "$2/api/runs?workflow=runs&status=completed&limit=1000")
    if python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin)["runs"] if x["name"]==sys.argv[1]]; sys.exit(len(r) < int(sys.argv[2]))' "$4" "$3" <<<"$page"; then
      python3 -c 'import json,sys; [print(json.dumps(x)) for x in json.load(sys.stdin)["runs"] if x["name"]==sys.argv[1]]' "$4" <<<"$page"
      return
    fi
    sleep 0.2
  done
}

echo "$(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p')), N=$n, RUNS=$runs, PostgreSQL $(psql -Atc 'SHOW server_version' "$FLOWW_TEST_POSTGRES" | cut -d' ' -f1)"
for kind in sled postgres; do
  data=$tmp/$kind
  mkdir -p "$data"
  args=()
  [[ $kind == postgres ]] && args=(--store "$store")
  start "floww-$kind" "$floww" serve --listen 127.0.0.1:0 --data-dir "$data" "${args[@]}" --deploy "runs=$runs_wasm"

  # Warm up the code and the connections.
  curl -s -o /dev/null -X POST "$url/webhook/writes?n=10"
  writes_s=$(curl -s -o /dev/null -w '%{time_total}' -X POST "$url/webhook/writes?n=$n")
  api "$data" POST "$url/api/workflows/runs/runs/steps" "{\"n\": $n}" >/dev/null
  steps_ms=$(wait_ended "$data" "$url" 1 steps | python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(r["endedAt"]-r["createdAt"])')
  python3 -c 'import sys; n,w,s=int(sys.argv[1]),float(sys.argv[2])*1e6,float(sys.argv[3])*1e3; print(f"{sys.argv[4]:8} write in a webhook {w/n:8.0f} µs   step with one write {s/n:8.0f} µs   ratio {s/w:.2f}")' \
    "$n" "$writes_s" "$steps_ms" "$kind"

  seq "$runs" | xargs -P 8 -I{} curl -s -o /dev/null -X POST -H "Authorization: Bearer $(token "$data")" \
    "$url/api/workflows/runs/runs/three" -d '{}'
  wait_ended "$data" "$url" "$runs" three | python3 -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin]
span = max(r["endedAt"] for r in rs) - min(r["createdAt"] for r in rs)
print(f"{sys.argv[1]:8} {len(rs)} runs of 3 steps in {span} ms: {len(rs) * 1000 / span:.0f} runs/s")' "$kind"

  for _ in $(seq 20); do api "$data" POST "$url/api/workflows/runs/runs/nap" '{"ms": 1000}' >/dev/null; done
  ids=$(wait_ended "$data" "$url" 20 nap | python3 -c 'import json,sys; [print(json.loads(l)["id"]) for l in sys.stdin]')
  for id in $ids; do
    api "$data" GET "$url/api/runs/$id" | python3 -c 'import json,sys; s=json.load(sys.stdin)["steps"][0]; print(s["endedAt"]-s["startedAt"]-1000)'
  done | sort -n | awk -v kind="$kind" '{a[NR]=$1} END {printf "%-8s wake-up delay after a 1 s sleep: p50 %d ms, max %d ms (%d runs)\n", kind, a[int((NR+1)/2)], a[NR], NR}'
  stop "$last_pid"
done

# Shared helpers of the bench/ scripts: sourced, not run. Everything listens on
# 127.0.0.1 only, and every process a script starts is stopped when it exits.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
floww=target/release/floww
baseline=target/release/floww-baseline
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Builds the host, the baseline and the guests the scripts deploy.
build_all() {
  cargo build --release -q -p floww-host -p floww-baseline
  kv_store_wasm=$($floww build examples/kv-store 2>/dev/null)
  noop_wasm=$($floww build bench/guests/noop 2>/dev/null)
}

# load_args "$@": SECONDS CONNECTIONS ROUNDS of the wrk scripts (defaults 5,
# 8, 3) into $secs, $conns and $rounds; checks for wrk and taskset.
load_args() {
  secs=${1:-5}
  conns=${2:-8}
  rounds=${3:-3}
  need wrk
  need taskset util-linux
}

need() {
  command -v "$1" >/dev/null || { echo "$0 needs $1 (${2:-apt-get install -y $1})" >&2; exit 1; }
}

# start NAME CMD...: runs CMD in the background, reads its stdout up to the
# "Serving http://ADDR" line and sets $url and $last_pid; stdout so far goes to
# $tmp/NAME.out, stderr to $tmp/NAME.log.
start() {
  local name=$1 line out; shift
  exec {out}< <(exec "$@" 2>"$tmp/$name.log")
  last_pid=$!
  pids+=("$last_pid")
  : >"$tmp/$name.out"
  while IFS= read -r line <&"$out"; do
    echo "$line" >>"$tmp/$name.out"
    if [[ $line == "Serving http"* ]]; then
      url=${line#Serving }
      url=${url%% *}
      return 0
    fi
  done
  echo "$name did not start:" >&2; cat "$tmp/$name.log" >&2; exit 1
}

# stop PID: SIGTERM, then waits until the process is gone.
stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  while kill -0 "$1" 2>/dev/null; do sleep 0.01; done
}

# The admin token of a host started with --data-dir "$1".
token() { cat "$1/admin-token"; }

# deploy URL DATA_DIR ID FILE: PUT the component; prints the HTTP status.
deploy() {
  curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary "@$4" \
    -H "Authorization: Bearer $(token "$2")" "$1/api/workflows/$3"
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# The part of it that is the process's own (heap, stacks), not mapped files.
anon_kib() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; }

ms_now() { echo $(($(date +%s%N) / 1000000)); }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# load NAME URL SECONDS CONNECTIONS LUA: closed-loop load with wrk (one thread,
# pinned to CPU 1; the servers run on CPU 0), after a 2 s warm-up. Prints one
# line: requests/s, p50, p99 (ms) and the count of non-2xx answers.
load() {
  local name=$1 url=$2 secs=$3 conns=$4 lua=$5 out
  taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$lua" "$url" >/dev/null
  out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$lua" "$url")
  echo "$out" >"$tmp/wrk-${name//[^A-Za-z0-9]/_}.txt"
  awk -v name="$name" '
    /Requests\/sec/ {rps=$2}
    $1=="50%" {p50=$2} $1=="99%" {p99=$2}
    /Non-2xx/ {bad=$NF}
    END {printf "%-34s %10.0f req/s   p50 %9s   p99 %9s   non-2xx %s\n", name, rps, p50, p99, bad+0}' <<<"$out"
}

# post_lua FILE PATH BODY: a wrk script POSTing BODY to PATH.
post_lua() {
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.path = "$2"
wrk.body = '$3'
wrk.headers["Content-Type"] = "application/json"
LUA
}

# rps_of NAME: the requests/s of the last load NAME.
rps_of() { local name=$1; awk '/Requests\/sec/ {print $2}' "$tmp/wrk-${name//[^A-Za-z0-9]/_}.txt"; }

# summary NAME: the median over the $rounds rounds of loads "NAME #ROUND" of
# requests/s, p50 and p99 (wrk's units → ms), as one line.
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

# rps NAME: the median requests/s of NAME's line in $tmp/summary (the
# summary lines, tee'd there); ratio A B: that of A over that of B.
rps() {
  awk -v n="$1 " 'substr($0, 1, length(n)) == n {for (i = 1; i <= NF; i++) if ($i == "req/s") {print $(i - 1); exit}}' "$tmp/summary"
}
ratio() { awk -v a="$(rps "$1")" -v b="$(rps "$2")" 'BEGIN {printf "%.2f", a / b}'; }

# The kv-store example's loads (its Rust and TypeScript builds answer alike):
# /counter adds one, get-user reads the user that `seed URL` creates.
counter_lua=$tmp/counter.lua
user_lua=$tmp/user.lua
post_lua "$counter_lua" /webhook/counter '{"increment": 1}'
post_lua "$user_lua" /webhook/users '{"action": "get-user", "userId": "user-123"}'

seed() {
  local status create='{"action": "create-user", "userId": "user-123", "name": "John Doe", "email": "john@example.com"}'
  status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$1/webhook/users" -H 'Content-Type: application/json' -d "$create")
  [[ $status == 201 ]] || { echo "seeding $1 answered $status" >&2; exit 1; }
}

# load_kv_store SERVER ROUND [counter-only]: round ROUND of the loads on
# ${urls[SERVER]}, named "SERVER /counter #ROUND" and "SERVER get-user #ROUND".
load_kv_store() {
  load "$1 /counter #$2" "${urls[$1]}" "$secs" "$conns" "$counter_lua" >/dev/null
  [[ ${3:-} == counter-only ]] && return
  load "$1 get-user #$2" "${urls[$1]}" "$secs" "$conns" "$user_lua" >/dev/null
}

# summarize_kv_store SERVER...: the summary lines of each one's loads.
summarize_kv_store() {
  local server
  for server in "$@"; do
    summary "$server /counter"
    summary "$server get-user"
  done
}

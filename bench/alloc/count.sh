#!/usr/bin/env bash
# Heap allocations per request in the worker (the demo behind nginx, as bench/run.sh runs it: deploy/run.sh, one
# worker, THREADS accept threads), counted by bench/alloc/malloc-count.c preloaded into the worker only:
#   1  tools/call echo on 32 initialized sessions (bench/lua/call.lua)
#   3  the same, 2026-07-28 stateless, no session (bench/lua/stateless.lua)
#   4  scenario 1 with a built-in-AS access token on every request (a second stack, AUTH=builtin)
# Each is a wrk run of SECONDS_PER_RUN seconds; allocations (and bytes) per request are the worker's counts over the
# run divided by the requests wrk completed, minus what the idle worker allocates in the same time (measured first).
# Counting, not timing: the figures do not depend on the machine's load.
#   BIN=.build/release/mcp-fcgi-demo  PORT=18090  THREADS=4  SECONDS_PER_RUN=5
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BIN=${BIN:-$root/.build/release/mcp-fcgi-demo}
PORT=${PORT:-18090}
THREADS=${THREADS:-4}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
PY=${PY:-python3}
[ -x "$BIN" ] || { echo "no worker binary at $BIN (swift build -c release --product mcp-fcgi-demo)" >&2; exit 1; }
for tool in wrk gcc curl nginx spawn-fcgi "$PY"; do
  command -v "$tool" >/dev/null || { echo "needs $tool (MCPFCGI_TEST_DEPS=1 deploy/install-deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/mcpfcgi-alloc.XXXXXX)
chmod 0755 "$work"
# As root, run.sh runs the worker as the user mcpfcgi: the counts go where it may write.
mkdir -m 1777 "$work/out"
gcc -O2 -shared -fPIC -o "$work/malloc-count.so" "$here/malloc-count.c" -lpthread
# The binary and the counter live in $work too: as root the worker runs as mcpfcgi, which may not enter the checkout.
install -m 0755 "$BIN" "$work/mcp-fcgi-demo"
cat > "$work/worker" <<WRAPPER
#!/bin/sh
MALLOC_COUNT_FILE='$work/out/counts' LD_PRELOAD='$work/malloc-count.so' exec '$work/mcp-fcgi-demo' "\$@"
WRAPPER
chmod 0755 "$work/worker"

stop() { RUN_DIR="$work/run" "$root/deploy/run.sh" stop >/dev/null 2>&1 || true; }
trap stop EXIT
start() {  # start [VAR=value…]: a one-worker stack of the counting worker
  rm -rf "$work/run" "$work/out/counts"
  env "$@" WORKER_BIN="$work/worker" WORKERS=1 THREADS="$THREADS" PORT="$PORT" TLS_PORT=$((PORT + 1)) \
    RUN_DIR="$work/run" SKIP_INSTALL=1 SKIP_BUILD=1 SESSIONS_PER_ADDRESS=0 \
    setsid "$root/deploy/run.sh" > "$work/run.log" 2>&1 < /dev/null &
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { echo "the stack did not start:" >&2; cat "$work/run.log" >&2; exit 1; }
  for _ in $(seq 50); do [ -s "$work/out/counts" ] && break; sleep 0.1; done
  [ -s "$work/out/counts" ] || { echo "the malloc counter did not load in the worker:" >&2; cat "$work/run.log" >&2; exit 1; }
}
start
"$PY" "$root/bench/mcpclient.py" sessions --port "$PORT" --count 32 --out "$work/sessions" --concurrency 8 >/dev/null

counts() { sleep 0.25; cat "$work/out/counts"; }  # the reporter writes every 100 ms
idle() {  # what the idle worker allocates in SECONDS_PER_RUN, subtracted from each run
  read -r idle_a0 idle_b0 _ < <(counts)
  sleep "$SECONDS_PER_RUN"
  read -r idle_a1 idle_b1 _ < <(counts)
  idle_a=$((idle_a1 - idle_a0))
  idle_b=$((idle_b1 - idle_b0))
  echo "idle worker: $idle_a allocations in ${SECONDS_PER_RUN}s (subtracted)"
}

measure() {  # measure NAME SCRIPT ARGS...
  local name=$1 script=$2 log
  log="$work/$(echo "$name" | tr -c 'a-z0-9\n' '-').wrk"
  shift 2
  read -r a0 b0 _ < <(counts)
  BENCH_LUA="$root/bench/lua" wrk -t2 -c32 -d"${SECONDS_PER_RUN}s" -s "$root/bench/lua/$script" \
    "http://127.0.0.1:$PORT/mcp" -- "$@" > "$log" 2>&1
  read -r a1 b1 _ < <(counts)
  local requests result bad
  requests=$(awk '/requests in/ {print $1}' "$log")
  # Only good answers may be counted: a run with failed requests (cheap 4xx answers) says so and stops.
  result=$(grep '^RESULT ' "$log" || true)
  bad=$(echo "$result" | tr ' ' '\n' | awk -F= '$1 ~ /^(sockerr|statuserr|bad_status|rpc_error|no_result)$/ {s += $2} END {print s + 0}')
  if [ -z "$result" ] || [ "$bad" -ne 0 ]; then
    echo "$name: failed requests in the run: ${result:-no RESULT line}" >&2
    cat "$log" >&2
    exit 1
  fi
  awk -v n="$requests" -v a=$((a1 - a0 - idle_a)) -v b=$((b1 - b0 - idle_b)) -v name="$name" \
    'BEGIN { printf "%-40s %9d requests  %7.1f allocations/request  %9.0f bytes/request\n", name, n, a / n, b / n }'
}

idle
measure "1  tools/call echo, 32 sessions" call.lua /mcp "$work/sessions" 2025-11-25
measure "3  stateless tools/call echo" stateless.lua /mcp

# Scenario 4: run.sh's pre-provisioned service client gets a token for /mcp; sessions and calls carry it.
stop
sleep 1
start AUTH=builtin DEMO_PASSWORD=bench-password
secret=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["client_secret"])' "$work/run/oauth-clients.json")
"$PY" "$root/bench/mcpclient.py" token --port "$PORT" --resource "http://127.0.0.1:$PORT/mcp" --scope "mcp:read" \
  --client-id demo-service --client-secret "$secret" > "$work/token"
"$PY" "$root/bench/mcpclient.py" sessions --port "$PORT" --count 32 --out "$work/sessions4" --concurrency 8 \
  --bearer "$(head -1 "$work/token")" >/dev/null
idle
measure "4  tools/call echo with an access token" call.lua /mcp "$work/sessions4" 2025-11-25 "$work/token"

#!/usr/bin/env bash
# MCPFCGI benchmark (issue #8): one command.
#
#   ./bench/run.sh
#
# Builds the demo in release mode, starts one nginx in front of the Swift worker(s) and a C libfcgi
# floor (bench/c-floor), starts the official Python MCP SDK server on its own port, and measures with
# wrk (-t2 -c32 -d10s, Lua scripts in bench/lua that fail the run on any non-2xx or JSON-RPC error).
# nginx runs deploy/mcp_fastcgi.conf (fastcgi_keep_conn on) for every FastCGI target, in two connection modes:
#   kept        the upstream has `keepalive KEEPALIVE;`: nginx keeps its FastCGI connections and sends request
#               after request on them; the Swift workers get MCPFCGI_KEEP_CONNECTIONS=KEEP_CONNECTIONS (idle
#               kept connections parked in epoll, no thread pinned). Every Swift row runs in this mode except
#               "a connection per request".
#   per-request no `keepalive` in the upstream: nginx closes each connection after its response, and the
#               application closes it too (Swift: MCPFCGI_KEEP_CONNECTIONS=0; C floor: keepConnection = 0).
# Every throughput row has p50/p99 (wrk's latency distribution) and CPU per request: utime+stime from /proc of
# the processes serving the row (its Swift worker(s), the C floor, the SDK's uvicorn) and of nginx's workers,
# read before and after the wrk run, over the requests wrk completed.
#   ceilings   nginx `return 200`, C libfcgi floor in both modes (a connection per request with THREADS threads,
#              kept connections with CONNS threads: a blocking libfcgi app pins a thread per kept connection),
#              Python SDK (stateful JSON mode, uvicorn, no nginx)
#   1          tools/call echo, JSON answer, one initialized session per wrk connection: kept connections (the
#              WORKERS workers behind PORT), and a connection per request (a second set of WORKERS workers with
#              MCPFCGI_KEEP_CONNECTIONS=0 behind its own listener, upstreams without keepalive)
#   1w         scenario 1, kept connections, on fresh sets of 1, 2 and 4 workers (SCALE_WORKERS; THREADS
#              each), each behind a listener of its own: how throughput grows with worker processes here
#   2          initialize + notifications/initialized (+ lagged DELETE): new sessions per second
#   3          2026-07-28 stateless tools/call echo (no session; MCP-Protocol-Version, Mcp-Method, Mcp-Name, _meta)
#   1m         scenario 1 with metrics on (MCPFCGI_METRICS_TOKEN: Prometheus registry) vs off, fresh workers
#   4          scenario 1 with a built-in-AS access token on every request (its own worker, AUTH=builtin,
#              behind its own nginx listener; token from client_credentials of a pre-provisioned client)
#   5          scenario 1 while 1,000 and 10,000 idle GET SSE streams are held open; worker RSS
#   6          worker RSS with 100,000 idle sessions (worker started with MCPFCGI_MAX_SESSIONS above that)
#   1pg 2pg 4pg  scenarios 1, 2 and 4 again on PostgreSQL (PG=1, the default): a private cluster in the run
#              directory (deploy/postgres-cluster.sh, unix socket only, stopped on exit), a second set of WORKERS
#              workers and a second scenario 4 worker, all with MCPFCGI_STORE=postgres (OAuth state and sessions
#              in the database), each set behind its own nginx listener; same wrk settings and scripts, scenario
#              1pg and 4pg alternated with 1 and 4 in every round; the table adds pg/memory ratios
# Prints a table with PASS/FAIL per target and writes it to bench/results/latest.md.
#
# Variables (all optional):
#   WORKERS=1 THREADS=4        Swift worker processes / accept threads each (the C floor gets THREADS too)
#   NGINX_WORKERS=2            nginx worker processes (reuseport; 10,000 streams need 2 in this sandbox)
#   DURATION=10 CONNS=32 WRK_THREADS=2   wrk settings of every throughput run
#   STREAMS="0 1000 10000"     held-stream counts of scenario 5 (0: the baseline on a fresh worker, run
#                              right before, that the streams' cost is measured against); STREAMS_PER_SESSION=4
#   IDLE_SESSIONS=100000       sessions of scenario 6 (its worker gets MCPFCGI_MAX_SESSIONS=IDLE_SESSIONS+1000)
#   DELETE_LAG_MS=250          scenario 2: delay between a session's notification and its DELETE
#   PORT, SDK_PORT             loopback ports (default: free ones)
#   LOG_LEVEL=info             worker log level (deploy/run.sh's default)
#   ROUNDS=2                   runs of scenario 1 (both connection modes) and of the C floor (both modes),
#                              alternated; the best of each is kept (and of scenario 1m's metrics-on and
#                              metrics-off rows, alternated likewise)
#   KEEP_CONNECTIONS=256       kept mode: MCPFCGI_KEEP_CONNECTIONS of every Swift worker except the per-request
#                              set (which gets 0): most idle kept connections a worker parks
#   KEEPALIVE=CONNS KEEPALIVE_TIMEOUT=5   kept mode: nginx `keepalive` (idle connections cached per nginx worker)
#                              and `keepalive_timeout` (seconds) of every kept upstream, the C floor's included
#                              (short, so that a run's idle connections are gone before the next run: the C floor
#                              has CONNS threads, one per connection nginx keeps)
#   SCALE_WORKERS="1 2 4"      worker counts of the 1w rows ("" for none)
#   PROFILE=0                  1: also record scenarios 1 and 4 under `perf record` (bench/results/perf-*.txt)
#   PERF_KEEP=                 with PROFILE=1: also copy perf.data to this path (and scenario 4's to PATH.s4)
#   SCRATCH=.build             SwiftPM scratch path to build into and take the binary from (relative to the repo)
#   PG=1                       0: no PostgreSQL rows (no cluster, no postgres workers)
#   PG_OPTIONS=                server options of the private cluster, added to max_connections (e.g.
#                              "-c synchronous_commit=off"; default: PostgreSQL's defaults, fsync on)
#   RESULTS=bench/results      where latest.md, raw/ and perf reports go (another directory keeps trial runs
#                              from replacing the published results)
#   SKIP_INSTALL=0 SKIP_BUILD=0
# Exit status: 0 when every run completed without errors (targets may still FAIL: see the table),
# 1 when a run saw errors or something could not start.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
WORKERS=${WORKERS:-1}
THREADS=${THREADS:-4}
NGINX_WORKERS=${NGINX_WORKERS:-2}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
WRK_THREADS=${WRK_THREADS:-2}
STREAMS=${STREAMS:-0 1000 10000}
STREAMS_PER_SESSION=${STREAMS_PER_SESSION:-4}
IDLE_SESSIONS=${IDLE_SESSIONS:-100000}
KEEP_CONNECTIONS=${KEEP_CONNECTIONS:-256}
KEEPALIVE=${KEEPALIVE:-$CONNS}
KEEPALIVE_TIMEOUT=${KEEPALIVE_TIMEOUT:-5}
SCALE_WORKERS=${SCALE_WORKERS-1 2 4}
DELETE_LAG_MS=${DELETE_LAG_MS:-250}
LOG_LEVEL=${LOG_LEVEL:-info}
PROFILE=${PROFILE:-0}
ROUNDS=${ROUNDS:-2}
PG=${PG:-1}
VENV=${VENV:-$root/.venv}
SCRATCH=${SCRATCH:-.build}
case "$SCRATCH" in /*) ;; *) SCRATCH="$root/$SCRATCH" ;; esac
BIN="$SCRATCH/release/mcp-fcgi-demo"
PY="$VENV/bin/python"
RESULTS=${RESULTS:-$here/results}
mkdir -p "$RESULTS"

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$DURATION" -le 10 ] || die "DURATION must be at most 10 seconds"
case "$PG" in 0|1) ;; *) die "PG must be 0 or 1" ;; esac
for v in KEEP_CONNECTIONS KEEPALIVE KEEPALIVE_TIMEOUT CONNS THREADS WORKERS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number"
done
[ "$KEEP_CONNECTIONS" -ge 1 ] && [ "$KEEPALIVE" -ge 1 ] && [ "$KEEPALIVE_TIMEOUT" -ge 1 ] \
  || die "KEEP_CONNECTIONS, KEEPALIVE and KEEPALIVE_TIMEOUT must be at least 1 (the kept mode keeps connections)"
# Two runs of other targets separate two runs of the kept C floor: its idle connections must be gone by then.
[ "$KEEPALIVE_TIMEOUT" -lt $((2 * DURATION)) ] \
  || die "KEEPALIVE_TIMEOUT must be shorter than 2 × DURATION (the kept C floor has one thread per connection)"
for k in $SCALE_WORKERS; do [[ "$k" =~ ^[1-9][0-9]*$ ]] || die "SCALE_WORKERS: $k is not a worker count"; done
[ "$(printf '%s\n' $SCALE_WORKERS | sort | uniq -d)" = "" ] || die "SCALE_WORKERS lists a count twice"

# N distinct free loopback ports (all bound at once, so they differ).
free_ports() {
  "$PY" -c 'import socket,sys
socks=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# ---------------------------------------------------------------------------------------------- install
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  missing=()
  pkgs=(wrk nginx spawn-fcgi libfcgi-dev gcc curl python3-venv procps)
  [ "$PG" = 0 ] || pkgs+=(postgresql)
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  [ -x "$PY" ] || python3 -m venv "$VENV"
  "$PY" -c 'import mcp.server.mcpserver, uvicorn' 2>/dev/null || "$PY" -m pip install -q mcp uvicorn
fi
for c in wrk nginx spawn-fcgi gcc curl openssl ps getconf; do command -v "$c" >/dev/null || die "$c is missing"; done
"$PY" -c 'import mcp.server.mcpserver, uvicorn' || die "the venv $VENV lacks mcp/uvicorn"
# The kept rows need nginx to ask for kept connections (upstream keepalive works only with it).
grep -qx 'fastcgi_keep_conn on;' "$root/deploy/mcp_fastcgi.conf" \
  || die "deploy/mcp_fastcgi.conf does not say 'fastcgi_keep_conn on;' (issue #19): the kept-connection rows need it"

# ---------------------------------------------------------------------------------------------- build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "swift build -c release --product mcp-fcgi-demo --scratch-path $SCRATCH"
  (cd "$root" && swift build -c release --product mcp-fcgi-demo --scratch-path "$SCRATCH") >&2 \
    || die "release build failed (SKIP_BUILD=1 measures the binary already in $BIN)"
fi
[ -x "$BIN" ] || die "no release binary at $BIN (build first)"

RUN_DIR=$(mktemp -d /tmp/mcpfcgi-bench.XXXXXX)
mkdir -p "$RUN_DIR"/{client_body,proxy,fastcgi,uwsgi,scgi,bin,out}
# Private copies: a rebuild by someone else during the run must not swap the binary under us.
cp "$BIN" "$RUN_DIR/bin/"
# A worker that does not know MCPFCGI_KEEP_CONNECTIONS (before issue #19) would pin a thread per kept connection.
grep -qaF MCPFCGI_KEEP_CONNECTIONS "$RUN_DIR/bin/mcp-fcgi-demo" \
  || log "WARNING: $BIN does not mention MCPFCGI_KEEP_CONNECTIONS: built before persistent FastCGI connections? The kept rows may stall"
BUILD_INFO="git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git -C "$root" status --porcelain -- Sources 2>/dev/null)" ] && echo ' + uncommitted changes in Sources/'), binary built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC')"
# Scenario 4's worker signs and verifies access tokens with this key (as deploy/run.sh's AUTH=builtin does).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$RUN_DIR/oauth-signing-key.pem" 2>/dev/null \
  || die "openssl could not generate the OAuth signing key"
chmod 0640 "$RUN_DIR/oauth-signing-key.pem"
# ... and knows one pre-provisioned client_credentials client (open registration creates none).
BENCH_CLIENT_SECRET=$(openssl rand -hex 24)
printf '[{"client_id": "bench", "client_secret": "%s", "grant_types": ["client_credentials"], "scope": "mcp:read"}]\n' \
  "$BENCH_CLIENT_SECRET" > "$RUN_DIR/oauth-clients.json"
chmod 0640 "$RUN_DIR/oauth-clients.json"
gcc -O2 -Wall -pthread -o "$RUN_DIR/bin/c-floor" "$here/c-floor/floor.c" -lfcgi
OUT="$RUN_DIR/out"

# ---------------------------------------------------------------------------------------------- cleanup
pids=()        # everything started here, killed on exit
worker_pid=()  # index = worker number
pg_worker_pid=()  # the PostgreSQL set's workers, index = worker number
close_worker_pid=()  # the per-request set's workers (MCPFCGI_KEEP_CONNECTIONS=0), index = worker number
scale_worker_pid=()  # the 1w rows' workers, index = worker number
PG_DIR="$RUN_DIR/postgres"
pg_cluster=0   # 1 once the private cluster may be running: stopped on exit, after the workers that use it
cleanup() {
  local rc=$?
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$pg_cluster" = 1 ] && ! "$root/deploy/postgres-cluster.sh" stop "$PG_DIR" >/dev/null; then
    log "PostgreSQL did not stop: its cluster stays in $PG_DIR (stop it with deploy/postgres-cluster.sh stop $PG_DIR)"
    exit 1
  fi
  rm -rf "$RUN_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# As root, the workers and nginx's workers run as the unprivileged user mcpfcgi, as deploy/run.sh does.
user_line=""
spawn_user=()
if [ "$(id -u)" -eq 0 ]; then
  id mcpfcgi >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin mcpfcgi
  user_line="user mcpfcgi mcpfcgi;"
  spawn_user=(-u mcpfcgi -g mcpfcgi -U mcpfcgi -G mcpfcgi)
  chown -R mcpfcgi:mcpfcgi "$RUN_DIR"
  chmod 0755 "$RUN_DIR"
fi
# Held streams need descriptors: nginx, the worker and the stream holder inherit the hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
n_scale=$(wc -w <<<"$SCALE_WORKERS")
read -r port_a port_b port_c port_d port_e port_f scale_ports <<<"$(free_ports $((6 + n_scale)))"
PORT=${PORT:-$port_a}
SDK_PORT=${SDK_PORT:-$port_b}
AUTH_PORT=${AUTH_PORT:-$port_c}
PG_PORT=$port_d        # the PostgreSQL workers' listener
PG_AUTH_PORT=$port_e   # the PostgreSQL scenario 4 worker's listener
CLOSE_PORT=$port_f     # the per-request workers' listener (scenario 1, a connection per request)
declare -A SCALE_PORT  # the 1w rows: one listener per worker count
for k in $SCALE_WORKERS; do SCALE_PORT[$k]=${scale_ports%% *}; scale_ports=${scale_ports#* }; done
[ "$(printf '%s\n' "$PORT" "$SDK_PORT" "$AUTH_PORT" "$PG_PORT" "$PG_AUTH_PORT" "$CLOSE_PORT" "${SCALE_PORT[@]}" \
     | sort -u | wc -l)" = $((6 + n_scale)) ] \
  || die "PORT, SDK_PORT and AUTH_PORT must differ (from each other and from the free ports picked)"
BASE="http://127.0.0.1:$PORT"
AUTH_BASE="http://127.0.0.1:$AUTH_PORT"
PG_BASE="http://127.0.0.1:$PG_PORT"
PG_AUTH_BASE="http://127.0.0.1:$PG_AUTH_PORT"
CLOSE_BASE="http://127.0.0.1:$CLOSE_PORT"
SCALE_BASE=""  # the listener of the 1w worker count being measured

# ---------------------------------------------------------------------------------------------- stack
METRICS_TOKEN_ENV=""  # scenario 1m sets MCPFCGI_METRICS_TOKEN through it: the Prometheus registry on, /metrics served
MAX_SESSIONS=""   # scenario 6 sets MCPFCGI_MAX_SESSIONS through it; empty: the store's default (10,000)
# One load generator on one address holds thousands of sessions: the per-address and per-user quotas are off.
# The PostgreSQL set (second argument "pg"): workers p1… behind PG_PORT, the same environment plus
# MCPFCGI_STORE=postgres and the private cluster's DATABASE_URL (sessions and OAuth state in the database).
# The per-request set ("close"): workers c1… behind CLOSE_PORT with MCPFCGI_KEEP_CONNECTIONS=0. The 1w set
# ("scale"): workers s1… behind the listener of the worker count being measured (SCALE_BASE). Every other
# worker keeps the connections nginx asks to keep (MCPFCGI_KEEP_CONNECTIONS=KEEP_CONNECTIONS), set explicitly.
start_worker() {  # $1 = worker number, $2 = pg | close | scale for those sets; the same environment deploy/run.sh gives its workers
  local i=$1 set=${2:-} name="w$i" base="$BASE" log="$OUT/worker$i.log" keep="$KEEP_CONNECTIONS" store="" db=""
  case "$set" in
    pg) name="p$i"; base="$PG_BASE"; log="$OUT/pgworker$i.log"; store=postgres; db="$PG_URL" ;;
    close) name="c$i"; base="$CLOSE_BASE"; log="$OUT/closeworker$i.log"; keep=0 ;;
    scale) name="s$i"; base="$SCALE_BASE"; log="$OUT/scaleworker$i.log" ;;
  esac
  rm -f "$RUN_DIR/$name.sock"
  MCPFCGI_NODE_ID="$name" MCPFCGI_PUBLIC_URL="$base" MCPFCGI_THREADS="$THREADS" \
    MCPFCGI_LOG_LEVEL="$LOG_LEVEL" MCPFCGI_LOG_FORMAT=text MCPFCGI_DRAIN_TIMEOUT=5 MCPFCGI_EXCLUSIVE_SOCKET=1 \
    MCPFCGI_MAX_SESSIONS="$MAX_SESSIONS" MCPFCGI_SESSIONS_PER_ADDRESS=0 MCPFCGI_SESSIONS_PER_USER=0 \
    MCPFCGI_METRICS_TOKEN="$METRICS_TOKEN_ENV" MCPFCGI_KEEP_CONNECTIONS="$keep" \
    MCPFCGI_STORE="$store" MCPFCGI_DATABASE_URL="$db" \
    spawn-fcgi -n -s "$RUN_DIR/$name.sock" -M 0660 "${spawn_user[@]}" -- "$RUN_DIR/bin/mcp-fcgi-demo" \
    2>>"$log" &
  case "$set" in
    pg) pg_worker_pid[$i]=$! ;;
    close) close_worker_pid[$i]=$! ;;
    scale) scale_worker_pid[$i]=$! ;;
    *) worker_pid[$i]=$! ;;
  esac
  pids+=($!)
  for _ in $(seq 1 100); do [ -S "$RUN_DIR/$name.sock" ] && break; sleep 0.05; done
  kill -0 "$!" 2>/dev/null || die "worker $name did not start (see $log)"
}
# Scenario 4's worker: AUTH=builtin with the shared key file, public URL = its own nginx listener
# ($1 = pg: the PostgreSQL one, behind PG_AUTH_PORT).
start_auth_worker() {
  local set=${1:-} name="auth" node="a1" base="$AUTH_BASE" log="$OUT/auth-worker.log"
  [ "$set" != pg ] || { name="pgauth"; node="pa1"; base="$PG_AUTH_BASE"; log="$OUT/pgauth-worker.log"; }
  rm -f "$RUN_DIR/$name.sock"
  MCPFCGI_NODE_ID="$node" MCPFCGI_PUBLIC_URL="$base" MCPFCGI_THREADS="$THREADS" \
    MCPFCGI_LOG_LEVEL="$LOG_LEVEL" MCPFCGI_LOG_FORMAT=text MCPFCGI_DRAIN_TIMEOUT=5 MCPFCGI_EXCLUSIVE_SOCKET=1 \
    MCPFCGI_AUTH=builtin MCPFCGI_OAUTH_KEY_FILE="$RUN_DIR/oauth-signing-key.pem" \
    MCPFCGI_OAUTH_CLIENTS_FILE="$RUN_DIR/oauth-clients.json" \
    MCPFCGI_SESSIONS_PER_ADDRESS=0 MCPFCGI_SESSIONS_PER_USER=0 MCPFCGI_KEEP_CONNECTIONS="$KEEP_CONNECTIONS" \
    MCPFCGI_STORE="${set:+postgres}" MCPFCGI_DATABASE_URL="${set:+$PG_URL}" \
    spawn-fcgi -n -s "$RUN_DIR/$name.sock" -M 0660 "${spawn_user[@]}" -- "$RUN_DIR/bin/mcp-fcgi-demo" \
    2>>"$log" &
  if [ "$set" = pg ]; then pg_auth_pid=$!; else auth_pid=$!; fi
  pids+=($!)
  for _ in $(seq 1 100); do [ -S "$RUN_DIR/$name.sock" ] && break; sleep 0.05; done
  kill -0 "$!" 2>/dev/null || die "the scenario 4 worker $node did not start (see $log)"
}
stop_worker() {  # $1 = worker number, $2 = pg | close | scale for those sets
  local pid
  case "${2:-}" in
    pg) pid=${pg_worker_pid[$1]} ;;
    close) pid=${close_worker_pid[$1]} ;;
    scale) pid=${scale_worker_pid[$1]} ;;
    *) pid=${worker_pid[$1]} ;;
  esac
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
restart_workers() {  # $1 = pg for the PostgreSQL set
  for i in $(seq 1 "$WORKERS"); do stop_worker "$i" "${1:-}"; start_worker "$i" "${1:-}"; done
  if [ "${1:-}" = pg ]; then wait_health "$PG_BASE"; else wait_health; fi
}
wait_health() {  # [$1 = base URL, default BASE]
  for _ in $(seq 1 100); do curl -fsS "${1:-$BASE}/health" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "health check failed (${1:-$BASE})"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# The kept mode's upstream settings: nginx caches up to KEEPALIVE idle FastCGI connections per nginx worker and
# upstream block (it needs fastcgi_keep_conn on, which deploy/mcp_fastcgi.conf says) and closes them after
# KEEPALIVE_TIMEOUT seconds idle. Every Swift upstream has them but the per-request set's; the C floor's kept one too.
keepalive="keepalive $KEEPALIVE; keepalive_timeout ${KEEPALIVE_TIMEOUT}s;"
upstreams=""; session_map=""; any_servers=""
for i in $(seq 1 "$WORKERS"); do
  upstreams+="    upstream mcp_w$i { server unix:$RUN_DIR/w$i.sock; $keepalive }"$'\n'
  session_map+="        ~^w$i\\. mcp_w$i;"$'\n'
  any_servers+=" server unix:$RUN_DIR/w$i.sock;"
done
upstreams+="    upstream mcp_any {$any_servers $keepalive }"
# The PostgreSQL set, routed as deploy/render-nginx.sh routes STORE=postgres: a session to its own worker, the
# others as backup servers (any worker can load a session from the database); no session: any worker.
pg_upstreams=""; pg_session_map=""; pg_any_servers=""
for i in $(seq 1 "$WORKERS"); do
  servers=" server unix:$RUN_DIR/p$i.sock max_fails=0;"
  for j in $(seq 1 "$WORKERS"); do [ "$j" = "$i" ] || servers+=" server unix:$RUN_DIR/p$j.sock backup max_fails=0;"; done
  pg_upstreams+="    upstream mcp_p$i {$servers $keepalive }"$'\n'
  pg_session_map+="        ~^p$i\\. mcp_p$i;"$'\n'
  pg_any_servers+=" server unix:$RUN_DIR/p$i.sock max_fails=0;"
done
pg_upstreams+="    upstream mcp_pg_any {$pg_any_servers $keepalive }"
# The per-request set (scenario 1, a connection per request): routed like the main set, upstreams WITHOUT
# keepalive, so nginx closes each connection after its response (and the workers, MCPFCGI_KEEP_CONNECTIONS=0, too).
close_upstreams=""; close_session_map=""; close_any_servers=""
for i in $(seq 1 "$WORKERS"); do
  close_upstreams+="    upstream mcp_c$i { server unix:$RUN_DIR/c$i.sock; }"$'\n'
  close_session_map+="        ~^c$i\\. mcp_c$i;"$'\n'
  close_any_servers+=" server unix:$RUN_DIR/c$i.sock;"
done
close_upstreams+="    upstream mcp_close_any {$close_any_servers }"
# The 1w rows: for each worker count k, a listener of its own in front of workers s1…sk (kept mode), routed like
# the main set by a map of its own; the workers are started fresh for each count (the sockets are shared).
scale_blocks=""
for k in $SCALE_WORKERS; do
  any=""; map=""
  for i in $(seq 1 "$k"); do
    scale_blocks+="    upstream mcp_scale${k}_s$i { server unix:$RUN_DIR/s$i.sock; $keepalive }"$'\n'
    any+=" server unix:$RUN_DIR/s$i.sock;"
    map+="        ~^s$i\\. mcp_scale${k}_s$i;"$'\n'
  done
  scale_blocks+="    upstream mcp_scale${k}_any {$any $keepalive }"$'\n'
  scale_blocks+="    map \$http_mcp_session_id \$mcp_scale${k}_upstream {"$'\n'"$map        default mcp_scale${k}_any;"$'\n'"    }"$'\n'
  scale_blocks+="    server {"$'\n'"        listen 127.0.0.1:${SCALE_PORT[$k]} reuseport backlog=4096;"$'\n'
  scale_blocks+="        location = /mcp    { include $RUN_DIR/scale${k}_fastcgi.conf; }"$'\n'
  scale_blocks+="        location = /health { include $RUN_DIR/scale${k}_fastcgi.conf; }"$'\n'
  scale_blocks+="        location / { return 404; }"$'\n'"    }"$'\n'
done
awk -v user_line="$user_line" -v run_dir="$RUN_DIR" -v port="$PORT" -v nw="$NGINX_WORKERS" \
  -v upstreams="$upstreams" -v session_map="$session_map" -v auth_port="$AUTH_PORT" \
  -v pg_upstreams="$pg_upstreams" -v pg_session_map="$pg_session_map" -v pg_port="$PG_PORT" \
  -v pg_auth_port="$PG_AUTH_PORT" -v keepalive="$keepalive" -v close_port="$CLOSE_PORT" \
  -v close_upstreams="$close_upstreams" -v close_session_map="$close_session_map" -v scale_blocks="$scale_blocks" '
  { gsub(/@@USER_LINE@@/, user_line); gsub(/@@RUN_DIR@@/, run_dir); gsub(/@@PORT@@/, port);
    gsub(/@@AUTH_PORT@@/, auth_port); gsub(/@@PG_PORT@@/, pg_port); gsub(/@@PG_AUTH_PORT@@/, pg_auth_port);
    gsub(/@@NGINX_WORKERS@@/, nw); gsub(/@@KEEPALIVE@@/, keepalive); gsub(/@@CLOSE_PORT@@/, close_port);
    if ($0 ~ /^[ \t]*@@UPSTREAMS@@[ \t]*$/) { print upstreams; next }
    if ($0 ~ /^[ \t]*@@SESSION_MAP@@[ \t]*$/) { printf "%s", session_map; next }
    if ($0 ~ /^[ \t]*@@PG_UPSTREAMS@@[ \t]*$/) { print pg_upstreams; next }
    if ($0 ~ /^[ \t]*@@PG_SESSION_MAP@@[ \t]*$/) { printf "%s", pg_session_map; next }
    if ($0 ~ /^[ \t]*@@CLOSE_UPSTREAMS@@[ \t]*$/) { print close_upstreams; next }
    if ($0 ~ /^[ \t]*@@CLOSE_SESSION_MAP@@[ \t]*$/) { printf "%s", close_session_map; next }
    if ($0 ~ /^[ \t]*@@SCALE_BLOCKS@@[ \t]*$/) { printf "%s", scale_blocks; next }
    print }' "$here/nginx.conf.in" > "$RUN_DIR/nginx.conf"
# deploy/mcp_fastcgi.conf as is for the Swift worker; the same file with each other target's upstream.
cp "$root/deploy/mcp_fastcgi.conf" "$RUN_DIR/swift_fastcgi.conf"
fastcgi_conf() {  # fastcgi_conf FILE UPSTREAM: deploy/mcp_fastcgi.conf pointed at UPSTREAM
  sed "s/^fastcgi_pass .*/fastcgi_pass $2;/" "$root/deploy/mcp_fastcgi.conf" > "$RUN_DIR/$1"
  grep -qxF "fastcgi_pass $2;" "$RUN_DIR/$1" || die "cannot point mcp_fastcgi.conf at $2"
}
fastcgi_conf floor_fastcgi.conf c_floor
fastcgi_conf floor_kept_fastcgi.conf c_floor_kept
fastcgi_conf auth_fastcgi.conf mcp_auth
fastcgi_conf pg_fastcgi.conf '$mcp_pg_upstream'
fastcgi_conf pgauth_fastcgi.conf mcp_pg_auth
fastcgi_conf close_fastcgi.conf '$mcp_close_upstream'
for k in $SCALE_WORKERS; do fastcgi_conf "scale${k}_fastcgi.conf" "\$mcp_scale${k}_upstream"; done

[ "$(id -u)" -ne 0 ] || chown mcpfcgi:mcpfcgi "$RUN_DIR/oauth-signing-key.pem" "$RUN_DIR/oauth-clients.json"
for i in $(seq 1 "$WORKERS"); do start_worker "$i"; done
start_auth_worker
# pg_sql QUERY: one value from the private cluster (informative: empty when psql cannot answer).
pg_sql() {
  local psql
  psql=$(ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -1)
  "${psql:-psql}" "$PG_URL" -XtAc "$1" 2>/dev/null || true
}
if [ "$PG" = 1 ]; then
  # The private cluster in the run directory (as root its server runs as "postgres", which traverses RUN_DIR,
  # and only the workers' group reaches its socket), with room for every worker's pool (8 connections) and
  # listener, then the PostgreSQL set: WORKERS workers and scenario 4's worker, all on that one database.
  pg_cluster=1
  PG_URL=$(PG_OPTIONS="-c max_connections=$(( (WORKERS + 1) * 10 + 10 )) ${PG_OPTIONS:-}" \
    PG_SOCKET_GROUP=$([ "$(id -u)" -eq 0 ] && echo mcpfcgi) \
    "$root/deploy/postgres-cluster.sh" start "$PG_DIR") \
    || { tail -20 "$PG_DIR/initdb.log" "$PG_DIR/postgres.log" >&2 2>/dev/null || true
         die "the private PostgreSQL cluster did not start"; }
  log "private PostgreSQL cluster in $PG_DIR ($PG_URL)"
  for i in $(seq 1 "$WORKERS"); do start_worker "$i" pg; done
  start_auth_worker pg
fi
for i in $(seq 1 "$WORKERS"); do start_worker "$i" close; done
# The C floor in its two modes, two processes: a connection per request with THREADS threads, and kept
# connections with one thread per wrk connection (each kept connection pins a blocking libfcgi thread; nginx
# holds at most CONNS upstream connections to it, as many as wrk's connections, across its workers).
spawn-fcgi -n -s "$RUN_DIR/floor.sock" -M 0660 "${spawn_user[@]}" -- "$RUN_DIR/bin/c-floor" "$THREADS" close \
  2>>"$OUT/floor.log" &
floor_pid=$!
pids+=($floor_pid)
spawn-fcgi -n -s "$RUN_DIR/floor-kept.sock" -M 0660 "${spawn_user[@]}" -- "$RUN_DIR/bin/c-floor" "$CONNS" kept \
  2>>"$OUT/floor-kept.log" &
floor_kept_pid=$!
pids+=($floor_kept_pid)
for _ in $(seq 1 100); do [ -S "$RUN_DIR/floor.sock" ] && [ -S "$RUN_DIR/floor-kept.sock" ] && break; sleep 0.05; done
nginx -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e "$RUN_DIR/nginx-error.log" &
nginx_pid=$!
pids+=($nginx_pid)
"$PY" "$here/sdk_server.py" "$SDK_PORT" 2>>"$OUT/sdk.log" &
sdk_pid=$!
pids+=($sdk_pid)
wait_health
wait_health "$CLOSE_BASE"
for f in floor floor-kept; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}' \
    "$BASE/$f" || true)
  [ "$code" = 200 ] || die "the C floor at /$f answered ${code:-nothing}, not 200 (see $OUT/$f.log, $RUN_DIR/nginx-error.log)"
done
for _ in $(seq 1 100); do curl -fsS "$AUTH_BASE/health" >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$SDK_PORT/mcp" 2>/dev/null && break
  sleep 0.1
done
kill -0 "$nginx_pid" || die "nginx did not start"
pg_text=""
if [ "$PG" = 1 ]; then
  wait_health "$PG_BASE"
  wait_health "$PG_AUTH_BASE"
  for f in "$OUT"/pgworker*.log "$OUT/pgauth-worker.log"; do
    grep -q 'PostgreSQL store ready' "$f" || die "$(basename "$f" .log) is not on PostgreSQL (see $f: $(tail -3 "$f"))"
  done
  PG_SERVER_VERSION=$(pg_sql 'SHOW server_version' | cut -d' ' -f1)
  pg_text=", PostgreSQL ${PG_SERVER_VERSION:-?}: $WORKERS worker(s) :$PG_PORT, scenario 4 worker :$PG_AUTH_PORT"
fi
log "stack up: nginx :$PORT ($NGINX_WORKERS workers), $WORKERS Swift worker(s) × $THREADS threads (kept connections, up to $KEEP_CONNECTIONS idle; upstream keepalive $KEEPALIVE), $WORKERS per-request worker(s) :$CLOSE_PORT, C floor × $THREADS (a connection per request) and × $CONNS (kept), SDK :$SDK_PORT, scenario 4 worker (AUTH=builtin) :$AUTH_PORT$pg_text"

# ---------------------------------------------------------------------------------------------- wrk
declare -A RPS P50 P99 CPU NCPU NOTE
errors=0
CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID...: utime + stime (every thread) of these processes, in clock ticks (fields 14 and 15 of
# /proc/PID/stat, counted after the command name's closing parenthesis); a process that is gone counts 0.
cpu_ticks() {
  local pid t sum=0
  for pid in "$@"; do
    t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || true)
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}
# serving_pids URL: the processes that answer URL's requests (the row's worker CPU); none for nginx's return 200.
serving_pids() {
  case "$1" in
    "$BASE/mcp") echo "${worker_pid[@]}" ;;
    "$BASE/floor") echo "$floor_pid" ;;
    "$BASE/floor-kept") echo "$floor_kept_pid" ;;
    "$AUTH_BASE"/*) echo "$auth_pid" ;;
    "$PG_BASE"/*) echo "${pg_worker_pid[@]}" ;;
    "$PG_AUTH_BASE"/*) echo "${pg_auth_pid:-}" ;;
    "$CLOSE_BASE"/*) echo "${close_worker_pid[@]}" ;;
    "http://127.0.0.1:$SDK_PORT"/*) echo "$sdk_pid" ;;
    *) if [ -n "$SCALE_BASE" ] && [[ "$1" == "$SCALE_BASE"/* ]]; then echo "${scale_worker_pid[@]}"; fi ;;
  esac
}
nginx_workers() { { ps -o pid= --ppid "$nginx_pid" || true; } | awk '{ printf "%s%s", (NR > 1 ? " " : ""), $1 }'; }
# per_request TICKS REQUESTS: µs of CPU per request.
per_request() { awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN{ if (n+0 == 0) print "–"; else printf "%.1f", t * 1e6 / hz / n }'; }
# run_wrk NAME URL SCRIPT ARGS...: runs wrk, keeps its RESULT line's fields in RPS/P50/P99 and the CPU per
# request of the serving processes (CPU) and of nginx's workers (NCPU), counts errors.
run_wrk() {
  local name=$1 url=$2 script=$3; shift 3
  local out="$OUT/$name.wrk"
  local d=${WRK_DURATION:-$DURATION}
  local spids npids s0 n0 s1 n1
  spids=$(serving_pids "$url")
  npids=""; [[ "$url" == "http://127.0.0.1:$SDK_PORT"/* ]] || npids=$(nginx_workers)
  s0=$(cpu_ticks $spids); n0=$(cpu_ticks $npids)
  BENCH_LUA="$here/lua" BENCH_THREADS="$WRK_THREADS" timeout $((d + 20)) \
    wrk -t"$WRK_THREADS" -c"$CONNS" -d"${d}s" -s "$here/lua/$script" "$url" -- "$@" >"$out" 2>&1 || true
  s1=$(cpu_ticks $spids); n1=$(cpu_ticks $npids)
  local line
  line=$(grep '^RESULT ' "$out" || true)
  if [ -z "$line" ]; then
    log "$name: wrk produced no result"; cat "$out" >&2; errors=$((errors + 1)); RPS[$name]=0; return
  fi
  declare -gA R_$name
  local kv
  for kv in ${line#RESULT }; do eval "R_${name}[${kv%%=*}]=${kv#*=}"; done
  local -n r="R_$name"
  RPS[$name]=${r[rps]}
  P50[$name]=$(awk -v u="${r[p50_us]}" 'BEGIN{printf "%.2f", u/1000}')
  P99[$name]=$(awk -v u="${r[p99_us]}" 'BEGIN{printf "%.2f", u/1000}')
  CPU[$name]="–"; [ -z "$spids" ] || CPU[$name]=$(per_request $((s1 - s0)) "${r[requests]}")
  NCPU[$name]="–"; [ -z "$npids" ] || NCPU[$name]=$(per_request $((n1 - n0)) "${r[requests]}")
  echo "CPU serving=$((s1 - s0)) nginx=$((n1 - n0)) ticks (CLK_TCK $CLK_TCK) pids=[${spids}] nginx=[${npids}]" >>"$out"
  local bad=$(( ${r[sockerr]} + ${r[statuserr]} + ${r[bad_status]:-0} + ${r[rpc_error]:-0} + ${r[no_result]:-0} ))
  if [ "$bad" -ne 0 ] || [ "${r[requests]}" -eq 0 ]; then
    log "$name: ERRORS: $line"; grep -v '^RESULT' "$out" | head -5 >&2 || true
    errors=$((errors + 1)); NOTE[$name]="ERRORS: $line"
  fi
  log "$name: ${RPS[$name]} req/s  p50 ${P50[$name]} ms  p99 ${P99[$name]} ms  CPU/request ${CPU[$name]} µs (nginx ${NCPU[$name]} µs)  (${line#RESULT })"
}
make_sessions() {  # make_sessions PORT COUNT FILE [mcpclient.py options]
  local port=$1 count=$2 file=$3; shift 3
  "$PY" "$here/mcpclient.py" sessions --port "$port" --count "$count" --out "$file" --concurrency 8 "$@" >/dev/null \
    || die "could not create $count sessions on port $port"
}

# Ceilings and floor.
log "nginx return 200"
run_wrk ret200 "$BASE/ret200" call.lua /ret200 -
log "C libfcgi floor, a connection per request ($THREADS threads)"
run_wrk cfloor "$BASE/floor" call.lua /floor -
log "C libfcgi floor, kept connections ($CONNS threads)"
run_wrk cfloorkept "$BASE/floor-kept" call.lua /floor-kept -

# Scenario 1, kept connections (the main set) and a connection per request (the per-request set).
log "scenario 1: tools/call echo, $CONNS sessions, kept connections"
make_sessions "$PORT" "$CONNS" "$OUT/s1.sessions"
run_wrk s1 "$BASE/mcp" call.lua /mcp "$OUT/s1.sessions" 2025-11-25
log "scenario 1: the same, a connection per request (MCPFCGI_KEEP_CONNECTIONS=0, upstream without keepalive)"
make_sessions "$CLOSE_PORT" "$CONNS" "$OUT/s1close.sessions"
run_wrk s1close "$CLOSE_BASE/mcp" call.lua /mcp "$OUT/s1close.sessions" 2025-11-25
if [ "$PG" = 1 ]; then
  log "scenario 1pg: the same on PostgreSQL, $CONNS sessions"
  make_sessions "$PG_PORT" "$CONNS" "$OUT/s1pg.sessions"
  PG_S1_ROWS=$(pg_sql "SELECT count(*) FROM mcpfcgi_sessions WHERE id ~ '^p[0-9]+[.]'")
  [ "${PG_S1_ROWS:-0}" -ge "$CONNS" ] 2>/dev/null \
    || die "scenario 1pg: the database holds ${PG_S1_ROWS:-no} sessions of the PostgreSQL workers, not $CONNS"
  run_wrk s1pg "$PG_BASE/mcp" call.lua /mcp "$OUT/s1pg.sessions" 2025-11-25
fi
# The same with the Accept header SDK clients send: the answer could become SSE, so the handler runs under the
# streaming-threshold watch instead of inline (informative: it is what real clients get).
BENCH_ACCEPT="application/json, text/event-stream" run_wrk s1sse "$BASE/mcp" call.lua /mcp "$OUT/s1.sessions" 2025-11-25

# Scenario 4: the pre-provisioned confidential client, a client_credentials token for the worker's
# /mcp, the sessions created with it, and the token on every request (so verified on every request).
log "scenario 4: tools/call echo with a built-in-AS access token, $CONNS sessions"
"$PY" "$here/mcpclient.py" token --port "$AUTH_PORT" --resource "$AUTH_BASE/mcp" --scope "mcp:read" \
  --client-id bench --client-secret "$BENCH_CLIENT_SECRET" \
  >"$OUT/s4.token" 2>"$OUT/s4.token.err" || die "scenario 4: no access token ($(head -c 300 "$OUT/s4.token.err"))"
s4_refused=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H 'Accept: application/json' \
  --data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
  "$AUTH_BASE/mcp" || true)
[ "$s4_refused" = 401 ] || die "scenario 4: /mcp without a token answered $s4_refused, not 401"
make_sessions "$AUTH_PORT" "$CONNS" "$OUT/s4.sessions" --bearer "$(head -1 "$OUT/s4.token")"
run_wrk s4 "$AUTH_BASE/mcp" call.lua /mcp "$OUT/s4.sessions" 2025-11-25 "$OUT/s4.token"
if [ "$PG" = 1 ]; then
  # The same on the PostgreSQL scenario 4 worker: its client, token and sessions live in the database.
  log "scenario 4pg: the same on PostgreSQL, $CONNS sessions"
  "$PY" "$here/mcpclient.py" token --port "$PG_AUTH_PORT" --resource "$PG_AUTH_BASE/mcp" --scope "mcp:read" \
    --client-id bench --client-secret "$BENCH_CLIENT_SECRET" \
    >"$OUT/s4pg.token" 2>"$OUT/s4pg.token.err" || die "scenario 4pg: no access token ($(head -c 300 "$OUT/s4pg.token.err"))"
  make_sessions "$PG_AUTH_PORT" "$CONNS" "$OUT/s4pg.sessions" --bearer "$(head -1 "$OUT/s4pg.token")"
  run_wrk s4pg "$PG_AUTH_BASE/mcp" call.lua /mcp "$OUT/s4pg.sessions" 2025-11-25 "$OUT/s4pg.token"
fi
# The machine may be shared: alternate the rows the main targets compare (scenario 1 and the C floor, each in
# both connection modes; scenario 4) and keep each one's best.
keep_best() {  # keep_best NAME CANDIDATE
  if awk "BEGIN{exit !(${RPS[$2]:-0} > ${RPS[$1]:-0})}"; then
    RPS[$1]=${RPS[$2]}; P50[$1]=${P50[$2]}; P99[$1]=${P99[$2]}; CPU[$1]=${CPU[$2]}; NCPU[$1]=${NCPU[$2]}
  fi
}
for round in $(seq 2 "$ROUNDS"); do
  log "round $round: scenario 1 (both modes), the C floor (both modes), scenario 4$([ "$PG" = 0 ] || echo ' (each of 1 and 4 followed by its PostgreSQL run)')"
  run_wrk "s1_r$round" "$BASE/mcp" call.lua /mcp "$OUT/s1.sessions" 2025-11-25
  [ "$PG" = 0 ] || run_wrk "s1pg_r$round" "$PG_BASE/mcp" call.lua /mcp "$OUT/s1pg.sessions" 2025-11-25
  run_wrk "cfloor_r$round" "$BASE/floor" call.lua /floor -
  run_wrk "cfloorkept_r$round" "$BASE/floor-kept" call.lua /floor-kept -
  run_wrk "s1close_r$round" "$CLOSE_BASE/mcp" call.lua /mcp "$OUT/s1close.sessions" 2025-11-25
  run_wrk "s4_r$round" "$AUTH_BASE/mcp" call.lua /mcp "$OUT/s4.sessions" 2025-11-25 "$OUT/s4.token"
  [ "$PG" = 0 ] || run_wrk "s4pg_r$round" "$PG_AUTH_BASE/mcp" call.lua /mcp "$OUT/s4pg.sessions" 2025-11-25 "$OUT/s4pg.token"
  keep_best s1 "s1_r$round"
  keep_best cfloor "cfloor_r$round"
  keep_best cfloorkept "cfloorkept_r$round"
  keep_best s1close "s1close_r$round"
  keep_best s4 "s4_r$round"
  [ "$PG" = 0 ] || { keep_best s1pg "s1pg_r$round"; keep_best s4pg "s4pg_r$round"; }
done
S4_RSS=$(rss_kb "$auth_pid")
S1_RSS=$(rss_kb "${worker_pid[1]}")

# Scenario 1m: scenario 1 with metrics on (MCPFCGI_METRICS_TOKEN set: the workers bootstrap swift-metrics with a
# Prometheus registry and record every request) against the same on fresh workers with metrics off, alternated
# ROUNDS times, best of each kept. A scrape at the end of each "on" run proves the counters moved.
log "scenario 1m: scenario 1 with metrics on vs off, fresh workers, $ROUNDS alternated rounds"
for round in $(seq 1 "$ROUNDS"); do
  METRICS_TOKEN_ENV="bench-metrics-token"; restart_workers
  make_sessions "$PORT" "$CONNS" "$OUT/s1m.sessions"
  run_wrk "s1m_r$round" "$BASE/mcp" call.lua /mcp "$OUT/s1m.sessions" 2025-11-25
  calls=$(curl -fsS -H "Authorization: Bearer bench-metrics-token" "$BASE/metrics" 2>/dev/null \
    | awk '/^mcpfcgi_tool_calls_total[{]/ && /tool="echo"/ && /outcome="success"/ { n += $NF } END { printf "%d", n }')
  sent=$(eval "echo \${R_s1m_r$round[requests]:-1}")
  if [ "${calls:-0}" -lt "$sent" ]; then
    log "scenario 1m: /metrics counted ${calls:-0} echo calls, fewer than wrk's $sent"
    errors=$((errors + 1)); NOTE[s1m]="metrics scrape counted ${calls:-0} calls"
  fi
  METRICS_TOKEN_ENV=""; restart_workers
  make_sessions "$PORT" "$CONNS" "$OUT/s1off.sessions"
  run_wrk "s1off_r$round" "$BASE/mcp" call.lua /mcp "$OUT/s1off.sessions" 2025-11-25
  if [ "$round" = 1 ]; then
    RPS[s1m]=${RPS[s1m_r1]}; P50[s1m]=${P50[s1m_r1]:-–}; P99[s1m]=${P99[s1m_r1]:-–}
    CPU[s1m]=${CPU[s1m_r1]:-–}; NCPU[s1m]=${NCPU[s1m_r1]:-–}
    RPS[s1off]=${RPS[s1off_r1]}; P50[s1off]=${P50[s1off_r1]:-–}; P99[s1off]=${P99[s1off_r1]:-–}
    CPU[s1off]=${CPU[s1off_r1]:-–}; NCPU[s1off]=${NCPU[s1off_r1]:-–}
  else
    keep_best s1m "s1m_r$round"
    keep_best s1off "s1off_r$round"
  fi
done

# profile NAME PID SUFFIX URL LUA-ARGS...: perf record of one worker while wrk runs call.lua against it; writes
# perfSUFFIX-self.txt and perfSUFFIX-children.txt (and, for scenario 1, perf-dso.txt) next to the results.
profile() {
  local name=$1 pid=$2 suffix=$3 url=$4; shift 4
  log "profile: $name under perf record (cpu-clock, call graphs)"
  (BENCH_LUA="$here/lua" BENCH_THREADS="$WRK_THREADS" timeout 30 wrk -t"$WRK_THREADS" -c"$CONNS" -d8s \
    -s "$here/lua/call.lua" "$url" -- "$@" >"$OUT/profile$suffix.wrk" 2>&1) &
  local wrk_bg=$!
  sleep 1
  local data="$RUN_DIR/perf$suffix.data"
  perf record -e cpu-clock -F 1999 -g -p "$pid" -o "$data" -- sleep 6 >/dev/null 2>&1 || true
  wait "$wrk_bg" || true
  perf report -i "$data" --stdio --no-children --sort symbol --percent-limit 0.7 -g none \
    2>/dev/null | grep -v '^$' | head -80 > "$RESULTS/perf$suffix-self.txt" || true
  perf report -i "$data" --stdio --children --sort symbol --percent-limit 2 -g none \
    2>/dev/null | grep -v '^$' | head -120 > "$RESULTS/perf$suffix-children.txt" || true
  [ -n "$suffix" ] || perf report -i "$data" --stdio --no-children --sort dso -g none \
    2>/dev/null | grep -v '^$' | head -40 > "$RESULTS/perf-dso.txt" || true
  [ -z "${PERF_KEEP:-}" ] || cp "$data" "$PERF_KEEP${suffix:+.${suffix#-}}"
}
if [ "$PROFILE" = 1 ] && command -v perf >/dev/null; then
  profile "scenario 1" "${worker_pid[1]}" "" "$BASE/mcp" /mcp "$OUT/s1.sessions" 2025-11-25
  profile "scenario 4 (its worker)" "$auth_pid" "-s4" "$AUTH_BASE/mcp" /mcp "$OUT/s4.sessions" 2025-11-25 "$OUT/s4.token"
fi

# Scenario 3: the 2026-07-28 revision, stateless (checked once with curl, so a refusal fails loudly).
log "scenario 3: 2026-07-28 stateless tools/call echo"
s3_body='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}'
s3_check=$(curl -s -H 'Content-Type: application/json' -H 'Accept: application/json' \
  -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: echo' \
  --data "$s3_body" "$BASE/mcp" || true)
case "$s3_check" in
  *'"result"'*) ;;
  *) log "scenario 3: unexpected answer: $s3_check"; errors=$((errors + 1)) ;;
esac
run_wrk s3 "$BASE/mcp" stateless.lua /mcp

# The SDK (HTTP directly, no nginx).
log "Python SDK: tools/call echo, $CONNS sessions"
make_sessions "$SDK_PORT" "$CONNS" "$OUT/sdk.sessions"
run_wrk sdk "http://127.0.0.1:$SDK_PORT/mcp" call.lua /mcp "$OUT/sdk.sessions" 2025-11-25

# Scenario 2.
log "scenario 2: initialize + notifications/initialized (+ DELETE after ${DELETE_LAG_MS} ms)"
run_wrk s2 "$BASE/mcp" lifecycle.lua /mcp 2025-11-25 "$DELETE_LAG_MS"
declare -n r2=R_s2
S2_SESSIONS=$(awk -v n="${r2[inits]:-0}" -v d="${r2[duration_us]:-1}" 'BEGIN{printf "%.1f", n/(d/1e6)}')
S2B_BUDGET=$(( 9000 / WRK_THREADS - CONNS ))
restart_workers   # the DELETE run leaves about rate × lag sessions behind; start from an empty store
log "scenario 2b: initialize + notifications/initialized only, until $((S2B_BUDGET * WRK_THREADS)) sessions (no DELETE)"
WRK_DURATION=5 run_wrk s2b "$BASE/mcp" lifecycle.lua /mcp 2025-11-25 none "$S2B_BUDGET"
declare -n r2b=R_s2b
S2B_SESSIONS=$(awk -v n="${r2b[notified]:-0}" -v e="${r2b[elapsed_ms]:-0}" -v d="${r2b[duration_us]:-1}" \
  'BEGIN{ t = (e > 0) ? e / 1000 : d / 1e6; printf "%.1f", n / t }')
log "scenario 2b: ${r2b[notified]:-0} sessions in ${r2b[elapsed_ms]:-?} ms: $S2B_SESSIONS sessions/s"
if [ "$PG" = 1 ]; then
  # The same two runs on PostgreSQL. Restarting the workers empties their caches, not the database: the
  # sessions scenario 2pg leaves behind (about rate × lag, plus 1pg's and 4pg's) stay in the table, far below
  # the 10,000-session capacity that 2bpg's budget respects.
  log "scenario 2pg: the same on PostgreSQL (+ DELETE after ${DELETE_LAG_MS} ms)"
  run_wrk s2pg "$PG_BASE/mcp" lifecycle.lua /mcp 2025-11-25 "$DELETE_LAG_MS"
  declare -n r2pg=R_s2pg
  S2_PG=$(awk -v n="${r2pg[inits]:-0}" -v d="${r2pg[duration_us]:-1}" 'BEGIN{printf "%.1f", n/(d/1e6)}')
  restart_workers pg
  PG_S2B_BEFORE=$(pg_sql "SELECT count(*) FROM mcpfcgi_sessions")
  log "scenario 2bpg: the same on PostgreSQL, until $((S2B_BUDGET * WRK_THREADS)) sessions (no DELETE; ${PG_S2B_BEFORE:-?} sessions in the database before)"
  WRK_DURATION=5 run_wrk s2bpg "$PG_BASE/mcp" lifecycle.lua /mcp 2025-11-25 none "$S2B_BUDGET"
  declare -n r2bpg=R_s2bpg
  S2B_PG=$(awk -v n="${r2bpg[notified]:-0}" -v e="${r2bpg[elapsed_ms]:-0}" -v d="${r2bpg[duration_us]:-1}" \
    'BEGIN{ t = (e > 0) ? e / 1000 : d / 1e6; printf "%.1f", n / t }')
  # Slower than the budget: the rate is over wrk's whole 5 s (as lifecycle.lua reports no elapsed time then).
  if [ "${r2bpg[elapsed_ms]:-0}" -gt 0 ]; then
    S2B_PG_TEXT="first $((S2B_BUDGET * WRK_THREADS)) sessions"
  else
    S2B_PG_TEXT="${r2bpg[notified]:-0} sessions in 5 s, fewer than the budget of $((S2B_BUDGET * WRK_THREADS))"
  fi
  log "scenario 2bpg: ${r2bpg[notified]:-0} sessions in ${r2bpg[elapsed_ms]:-5000} ms: $S2B_PG sessions/s"
  # The PostgreSQL rows are done: its workers and the cluster (its checkpoints, autovacuum) stop now, so the
  # scenarios that follow run on the same machine as with PG=0.
  for i in $(seq 1 "$WORKERS"); do stop_worker "$i" pg; done
  pg_worker_pid=()
  kill -TERM "$pg_auth_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pg_auth_pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pg_auth_pid" 2>/dev/null || true
  wait "$pg_auth_pid" 2>/dev/null || true
  "$root/deploy/postgres-cluster.sh" stop "$PG_DIR" >/dev/null || die "PostgreSQL did not stop"
  pg_cluster=0
  log "PostgreSQL rows done: its workers and cluster stopped"
fi

# Scenario 1w: scenario 1 in the kept mode on fresh sets of k workers (THREADS each), each count behind its own
# listener and map; the set is stopped and started again with the next count (then stopped for good).
for k in $SCALE_WORKERS; do
  log "scenario 1w: scenario 1, kept connections, $k worker(s) × $THREADS threads"
  for i in "${!scale_worker_pid[@]}"; do stop_worker "$i" scale; done
  scale_worker_pid=()
  SCALE_BASE="http://127.0.0.1:${SCALE_PORT[$k]}"
  for i in $(seq 1 "$k"); do start_worker "$i" scale; done
  wait_health "$SCALE_BASE"
  make_sessions "${SCALE_PORT[$k]}" "$CONNS" "$OUT/s1w$k.sessions"
  run_wrk "s1w$k" "$SCALE_BASE/mcp" call.lua /mcp "$OUT/s1w$k.sessions" 2025-11-25
done
for i in "${!scale_worker_pid[@]}"; do stop_worker "$i" scale; done
scale_worker_pid=(); SCALE_BASE=""

# Scenario 5: held streams on a fresh worker.
declare -A S5_RPS S5_P99 S5_RSS0 S5_RSS1 S5_OPEN S5_NOTE
for n in $STREAMS; do
  log "scenario 5: $n idle GET streams held while scenario 1 runs"
  restart_workers
  rss0=$(rss_kb "${worker_pid[1]}")
  if [ "$n" -eq 0 ]; then
    S5_OPEN[0]=0; S5_RSS0[0]=$rss0
    make_sessions "$PORT" "$CONNS" "$OUT/s5.sessions"
    run_wrk s5_0 "$BASE/mcp" call.lua /mcp "$OUT/s5.sessions" 2025-11-25
    S5_RPS[0]=${RPS[s5_0]}; S5_RSS1[0]=$(rss_kb "${worker_pid[1]}")
    continue
  fi
  "$PY" "$here/mcpclient.py" hold --port "$PORT" --streams "$n" --per-session "$STREAMS_PER_SESSION" \
    --concurrency 256 --max-hold 120 >"$OUT/hold$n.out" 2>"$OUT/hold$n.err" &
  holder=$!
  pids+=($holder)
  for _ in $(seq 1 600); do grep -q '^READY' "$OUT/hold$n.out" 2>/dev/null && break; kill -0 $holder 2>/dev/null || break; sleep 0.1; done
  ready=$(grep '^READY' "$OUT/hold$n.out" || true)
  S5_OPEN[$n]=$(sed -n 's/^READY opened=\([0-9]*\).*/\1/p' <<<"$ready")
  S5_OPEN[$n]=${S5_OPEN[$n]:-0}
  if [ -z "$ready" ] || ! grep -q 'failed=0' <<<"$ready"; then
    S5_NOTE[$n]="opened ${S5_OPEN[$n]} of $n: $(head -c 300 "$OUT/hold$n.err" | tr '\n' ' ')"
    log "scenario 5: ${S5_NOTE[$n]}"
  fi
  S5_RSS0[$n]=$(rss_kb "${worker_pid[1]}")
  make_sessions "$PORT" "$CONNS" "$OUT/s5.sessions"
  run_wrk "s5_$n" "$BASE/mcp" call.lua /mcp "$OUT/s5.sessions" 2025-11-25
  S5_RPS[$n]=${RPS[s5_$n]}; S5_P99[$n]=${P99[s5_$n]:-}
  S5_RSS1[$n]=$(rss_kb "${worker_pid[1]}")
  kill -TERM "$holder" 2>/dev/null || true
  wait "$holder" 2>/dev/null || true
  closed=$(grep '^CLOSED' "$OUT/hold$n.out" || true)
  if [ -n "$closed" ] && ! grep -q 'dropped=0' <<<"$closed"; then
    S5_NOTE[$n]="${S5_NOTE[$n]:-} streams dropped while held: $closed"
  fi
  log "scenario 5 ($n streams): worker RSS ${rss0} kB fresh, ${S5_RSS0[$n]} kB with streams, ${S5_RSS1[$n]} kB after wrk"
done

# The baseline again, after the streams are gone (same worker): the cost is measured against the mean of
# the two baselines that bracket the held-stream runs (this machine's load drifts during a run).
if [ -n "${S5_RPS[0]:-}" ] && [ "$(wc -w <<<"$STREAMS")" -gt 1 ]; then
  log "scenario 5: baseline again, streams closed"
  sleep 1
  run_wrk s5_0b "$BASE/mcp" call.lua /mcp "$OUT/s5.sessions" 2025-11-25
  S5_BASE=$(awk -v a="${S5_RPS[0]}" -v b="${RPS[s5_0b]:-0}" 'BEGIN{ printf "%.1f", (b > 0) ? (a + b) / 2 : a }')
fi

# Scenario 6: idle sessions on a fresh worker.
# The store refuses sessions beyond its capacity (default 10,000): this worker gets room for all of them.
log "scenario 6: $IDLE_SESSIONS idle sessions"
MAX_SESSIONS=$((IDLE_SESSIONS + 1000))
restart_workers
MAX_SESSIONS=""
make_sessions "$PORT" 8 "$OUT/warm.sessions"   # warm the worker's paths (and its 8 connections' threads)
S6_RSS0=$(rss_kb "${worker_pid[1]}")
S6_T0=$(date +%s.%N)
make_sessions "$PORT" $((IDLE_SESSIONS - 8)) "$OUT/s6.sessions" --concurrency 32
S6_SECONDS=$(awk -v a="$S6_T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
sleep 0.5
S6_RSS1=$(rss_kb "${worker_pid[1]}")
S6_BPS=$(( (S6_RSS1 - S6_RSS0) * 1024 / (IDLE_SESSIONS - 8) ))
S6_LIVE=$(( $(wc -l <"$OUT/s6.sessions") + $(wc -l <"$OUT/warm.sessions") ))
log "scenario 6: RSS ${S6_RSS0} kB → ${S6_RSS1} kB: ${S6_BPS} bytes per session ($S6_LIVE sessions created in ${S6_SECONDS} s)"

# ---------------------------------------------------------------------------------------------- report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0 == 0) print "–"; else printf "%.2f×", a/b }'; }
pf() { if awk "BEGIN{exit !($1)}"; then echo PASS; else echo FAIL; fi; }
fmt() { awk -v v="$1" 'BEGIN{printf "%.0f", v}'; }
s1=${RPS[s1]:-0}; cf=${RPS[cfloor]:-0}; cfk=${RPS[cfloorkept]:-0}; sdk=${RPS[sdk]:-0}; s4=${RPS[s4]:-0}
s1c=${RPS[s1close]:-0}
row() {  # row LABEL NAME [rps override]
  local rps=${3:-${RPS[$2]:-0}}
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(fmt "$rps")" "${P50[$2]:-–}" "${P99[$2]:-–}" \
    "${CPU[$2]:-–}" "${NCPU[$2]:-–}" "$(ratio "$rps" "$cf")" "$(ratio "$rps" "$cfk")" "$(ratio "$rps" "$sdk")"
}
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
report="$RUN_DIR/latest.md"
{
  echo "# MCPFCGI benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Machine: $(nproc) CPUs, $cpu, kernel $(uname -r)."
  echo "Build measured: $BUILD_INFO."
  echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), $NGINX_WORKERS nginx workers (reuseport),"
  echo "$WORKERS Swift worker(s) × $THREADS accept threads, C floor × $THREADS threads (a connection per request) and"
  echo "× $CONNS threads (kept connections), wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s. \`fastcgi_keep_conn on\` everywhere; kept"
  echo "connections: upstream \`keepalive $KEEPALIVE; keepalive_timeout ${KEEPALIVE_TIMEOUT}s;\`, Swift workers with"
  echo "MCPFCGI_KEEP_CONNECTIONS=$KEEP_CONNECTIONS; a connection per request: no upstream keepalive, MCPFCGI_KEEP_CONNECTIONS=0."
  echo "Every Swift row runs with kept connections except the one marked \"a connection per request\"."
  echo "Same nginx and wrk settings for every target; the SDK is an HTTP server (uvicorn) measured directly."
  echo "Everything (wrk, nginx, workers, SDK) shares the same $(nproc) CPUs: compare rows of one run, not runs."
  echo "Load average at start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg). Scenario 1 and the C floor (both"
  echo "connection modes each): best of $ROUNDS alternated runs."
  echo "CPU µs/req: CPU time (user + system, every thread) of the processes serving the row (its Swift worker(s), the C"
  echo "floor, the SDK's uvicorn) and of nginx's workers during the wrk run, over the requests wrk completed."
  echo
  echo "| target | req/s | p50 ms | p99 ms | CPU µs/req | nginx CPU µs/req | vs C floor, a connection per request | vs C floor, kept | vs SDK |"
  echo "|---|---|---|---|---|---|---|---|---|"
  row "nginx \`return 200\` (proxy ceiling)" ret200
  row "C libfcgi floor, a connection per request, $THREADS threads (FastCGI floor)" cfloor
  row "C libfcgi floor, kept connections, $CONNS threads (one per wrk connection: blocking libfcgi pins a thread per kept connection)" cfloorkept
  row "Python MCP SDK $("$PY" -c 'import importlib.metadata as m; print(m.version("mcp"))'), stateful JSON, uvicorn (HTTP, no nginx)" sdk
  row "**1** ours, kept connections: MCPFCGI tools/call echo, $CONNS sessions" s1
  row "**1** ours, a connection per request: the same on $WORKERS worker(s) with MCPFCGI_KEEP_CONNECTIONS=0" s1close
  read -r first_scale _ <<<"$SCALE_WORKERS" || true
  for k in $SCALE_WORKERS; do
    vs=""; [ "$k" = "$first_scale" ] || vs="; $(ratio "${RPS[s1w$k]:-0}" "${RPS[s1w$first_scale]:-0}") the rate of $first_scale"
    row "**1w** scenario 1, kept connections, $k fresh worker(s) × $THREADS threads$vs" "s1w$k"
  done
  row "**1m** scenario 1 on fresh workers, metrics off (best of $ROUNDS, alternated with the next row)" s1off
  row "**1m** the same with metrics on (Prometheus registry, every request recorded)" s1m
  row "**1** the same with the SDK client's \`Accept: application/json, text/event-stream\` (informative)" s1sse
  row "**2** MCPFCGI initialize + initialized, sessions/s (first $((S2B_BUDGET * WRK_THREADS)) sessions, no DELETE)" s2b "$S2B_SESSIONS"
  row "**2** with DELETE of each session, ${DURATION} s: sessions/s (all requests: $(fmt "${RPS[s2]:-0}") req/s)" s2 "$S2_SESSIONS"
  row "**3** MCPFCGI 2026-07-28 stateless tools/call echo (no session)" s3
  row "**4** MCPFCGI tools/call echo with a built-in-AS access token on every request, $CONNS sessions" s4
  if [ "$PG" = 1 ]; then
    row "**1pg** scenario 1 on PostgreSQL (sessions in the database; best of $ROUNDS, alternated with 1)" s1pg
    row "**2pg** scenario 2 on PostgreSQL, sessions/s (${S2B_PG_TEXT:-no result}, no DELETE)" s2bpg "${S2B_PG:-0}"
    row "**2pg** scenario 2 with DELETE on PostgreSQL, ${DURATION} s: sessions/s (all requests: $(fmt "${RPS[s2pg]:-0}") req/s)" s2pg "${S2_PG:-0}"
    row "**4pg** scenario 4 on PostgreSQL (OAuth state and sessions in the database; best of $ROUNDS, alternated with 4)" s4pg
  fi
  for n in $STREAMS; do
    if [ "$n" -eq 0 ]; then
      row "**5** baseline: scenario 1 on a fresh worker, no stream held (worker RSS $(( ${S5_RSS1[0]:-0} / 1024 )) MB)" s5_0
      [ -z "${RPS[s5_0b]:-}" ] || row "**5** baseline again after the held-stream runs (streams closed)" s5_0b
    else
      row "**5** scenario 1 while ${S5_OPEN[$n]} of $n GET streams are held (worker RSS $(( ${S5_RSS1[$n]:-0} / 1024 )) MB)" "s5_$n"
    fi
  done
  echo
  echo "Worker RSS: $(( S1_RSS / 1024 )) MB after scenario 1, scenario 4's worker $(( S4_RSS / 1024 )) MB after scenario 4;"
  echo "scenario 6: $(( S6_RSS0 / 1024 )) MB → $(( S6_RSS1 / 1024 )) MB with $IDLE_SESSIONS idle sessions = **$S6_BPS bytes per session**."
  echo
  echo "## Targets"
  echo
  echo "| target | value | result |"
  echo "|---|---|---|"
  echo "| 1 kept ≥ 1.0 × C floor, a connection per request | $(ratio "$s1" "$cf") | $(pf "$s1 >= 1.0 * $cf") |"
  echo "| 1 kept ≥ 0.85 × C floor, kept connections | $(ratio "$s1" "$cfk") | $(pf "$s1 >= 0.85 * $cfk") |"
  echo "| 1 kept ≥ 15 × SDK | $(ratio "$s1" "$sdk") | $(pf "$s1 >= 15 * $sdk") |"
  echo "| 1 kept p99 ≤ 5 ms at $CONNS connections | ${P99[s1]:-–} ms | $(pf "${P99[s1]:-999} <= 5") |"
  echo "| 1, a connection per request, vs C floor, a connection per request (informative) | $(ratio "$s1c" "$cf") | – |"
  echo "| 1 kept vs 1, a connection per request (informative) | $(ratio "$s1" "$s1c") | – |"
  echo "| C floor kept vs C floor, a connection per request (informative) | $(ratio "$cfk" "$cf") | – |"
  echo "| 1 with metrics on ≥ 0.95 × off | $(ratio "${RPS[s1m]:-0}" "${RPS[s1off]:-0}") | $(pf "${RPS[s1m]:-0} >= 0.95 * ${RPS[s1off]:-0}") |"
  echo "| 1 with the SDK client's Accept (informative) vs 1 | $(ratio "${RPS[s1sse]:-0}" "$s1") | – |"
  echo "| 3 (informative) vs 1 | $(ratio "${RPS[s3]:-0}" "$s1") | – |"
  echo "| 4 ≥ 0.8 × 1 | $(ratio "$s4" "$s1") | $(pf "$s4 >= 0.8 * $s1") |"
  echo "| 2 ≥ 0.5 × 1 (sessions/s, no DELETE, vs req/s) | $(ratio "$S2B_SESSIONS" "$s1") | $(pf "$S2B_SESSIONS >= 0.5 * $s1") |"
  echo "| 2 with DELETE ≥ 0.5 × 1 (informative: 3 requests per session) | $(ratio "$S2_SESSIONS" "$s1") | $(pf "$S2_SESSIONS >= 0.5 * $s1") |"
  if [ "$PG" = 1 ]; then
    echo "| 1 on PostgreSQL ≥ 0.7 × 1 in memory | $(ratio "${RPS[s1pg]:-0}" "$s1") | $(pf "${RPS[s1pg]:-0} >= 0.7 * $s1") |"
    echo "| 2 on PostgreSQL ≥ 0.3 × 2 in memory (sessions/s, no DELETE) | $(ratio "${S2B_PG:-0}" "$S2B_SESSIONS") | $(pf "${S2B_PG:-0} >= 0.3 * $S2B_SESSIONS") |"
    echo "| 2 with DELETE on PostgreSQL ≥ 0.3 × 2 with DELETE in memory (sessions/s) | $(ratio "${S2_PG:-0}" "$S2_SESSIONS") | $(pf "${S2_PG:-0} >= 0.3 * $S2_SESSIONS") |"
    echo "| 4 on PostgreSQL vs 4 in memory (informative) | $(ratio "${RPS[s4pg]:-0}" "$s4") | – |"
  fi
  for n in $STREAMS; do
    [ "$n" -ge 10000 ] || continue
    base5=${S5_BASE:-${S5_RPS[0]:-$s1}}
    local_cost=$(awk -v a="${S5_RPS[$n]:-0}" -v b="$base5" 'BEGIN{ if (b+0==0) print 100; else printf "%.1f", (1 - a/b) * 100 }')
    held_ok=$([ "${S5_OPEN[$n]}" -ge "$n" ] && echo 1 || echo 0)
    echo "| 5 $n streams cost ≤ 10% of 1 (vs the fresh-worker baseline) | ${local_cost}% (${S5_OPEN[$n]} held) | $(pf "$held_ok && $local_cost <= 10") |"
    echo "| 5 $n streams worker RSS ≤ 200 MB | $(( ${S5_RSS1[$n]:-0} / 1024 )) MB | $(pf "$held_ok && ${S5_RSS1[$n]:-0} <= 200 * 1024") |"
  done
  echo "| 6 ≤ 2 KB per idle session ($IDLE_SESSIONS sessions) | $S6_BPS B | $(pf "$S6_BPS <= 2048") |"
  echo
  echo "## Notes"
  echo
  echo "- Every wrk script counts non-2xx answers, unexpected statuses and JSON-RPC error answers; run errors: $errors."
  for k in "${!NOTE[@]}"; do echo "- $k: ${NOTE[$k]}"; done
  for n in $STREAMS; do [ -z "${S5_NOTE[$n]:-}" ] || echo "- scenario 5 ($n): ${S5_NOTE[$n]}"; done
  echo "- Scenario 1: $CONNS sessions (initialize + notifications/initialized) made before the run, one per wrk"
  echo "  connection; each wrk thread uses its $((CONNS / WRK_THREADS)) round robin (wrk's Lua has no connection identity)."
  echo "- Scenario 4: a worker of its own started like deploy/run.sh's AUTH=builtin (built-in authorization"
  echo "  server, shared P-256 key file, public URL = its own nginx listener, same FastCGI settings); a confidential"
  echo "  pre-provisioned client (grant client_credentials, client_secret_basic, scope mcp:read) gets an access token"
  echo "  (resource <listener>/mcp, scope mcp:read) at /oauth/token; the $CONNS sessions are created with it and every"
  echo "  request carries Authorization: Bearer <token>: the worker checks issuer, audience, exp/nbf, scope and"
  echo "  revocation on every request, the ES256 signature once per token (cached until exp). Best of $ROUNDS runs,"
  echo "  alternated with scenario 1 and the C floor."
  echo "- Scenario 3: POST /mcp without session, headers MCP-Protocol-Version: 2026-07-28, Mcp-Method: tools/call,"
  echo "  Mcp-Name: echo, params._meta with protocolVersion, clientInfo and clientCapabilities (bench/lua/stateless.lua)."
  echo "- Connection modes: nginx says \`fastcgi_keep_conn on\` to every FastCGI target (deploy/mcp_fastcgi.conf). Kept:"
  echo "  the upstream caches up to $KEEPALIVE idle connections per nginx worker (\`keepalive\`, closed after"
  echo "  ${KEEPALIVE_TIMEOUT} s idle) and the application keeps them (Swift: MCPFCGI_KEEP_CONNECTIONS=$KEEP_CONNECTIONS, idle"
  echo "  connections parked in epoll, no thread pinned; C floor: honours FCGI_KEEP_CONN after reading STDIN to its end)."
  echo "  A connection per request: no \`keepalive\` in the upstream, so nginx closes each connection after its response,"
  echo "  and the application closes it too (Swift: MCPFCGI_KEEP_CONNECTIONS=0, a second set of $WORKERS worker(s) behind"
  echo "  its own listener; C floor: keepConnection = 0 before FCGX_Finish_r)."
  echo "- The C floor's kept row has $CONNS threads, one per wrk connection: a blocking libfcgi application's thread"
  echo "  stays in FCGX_Accept_r reading the kept connection it accepted, so with fewer threads than the connections"
  echo "  nginx keeps open (up to $CONNS here, across its $NGINX_WORKERS workers) requests would wait for a thread that never comes."
  echo "  Its a-connection-per-request row keeps $THREADS threads, as many as each Swift worker has."
  echo "- Both the Swift worker and the C floor close a FastCGI connection with a plain close() (libfcgi"
  echo "  \`detached\`), not libfcgi's lingering close: on a unix socket there is no RST to guard against."
  echo "- CPU µs/req: (utime + stime after − before) of /proc/PID/stat, in clock ticks ($CLK_TCK per second), over"
  echo "  wrk's completed requests (for scenario 2: every request, DELETEs included); \`return 200\` has no upstream"
  echo "  process, the SDK no nginx. wrk runs on the same CPUs and is not counted."
  if [ -n "$SCALE_WORKERS" ]; then
    echo "- Scenario 1w: scenario 1 in the kept mode on fresh sets of $(sed 's/ /, /g' <<<"$SCALE_WORKERS") worker(s), $THREADS threads"
    echo "  each, every count behind a listener of its own (sessions routed to their worker by Mcp-Session-Id), one run"
    echo "  each; on $(nproc) CPUs shared with nginx and wrk, more workers add threads, not cores."
  fi
  echo "- Scenario 2 (the target): initialize + notifications/initialized only; each wrk thread stops after"
  echo "  $S2B_BUDGET sessions so the store (cap 10,000) never fills, and the rate is notified sessions over the"
  echo "  threads' own elapsed time (${r2b[elapsed_ms]:-?} ms), on a freshly restarted worker (empty store)."
  echo "- Scenario 2 with DELETE: each session is initialized, notified, and DELETEd ${DELETE_LAG_MS} ms after its"
  echo "  notification was sent (so the DELETE cannot overtake it on another connection), live sessions stay"
  echo "  about rate × lag; sessions/s counts initialize answers over the full ${DURATION} s, 3 requests per session."
  echo "- Scenario 5: streams are GET /mcp (Accept: text/event-stream), $STREAMS_PER_SESSION per session, opened on a fresh"
  echo "  worker and held idle by bench/mcpclient.py while wrk runs scenario 1; their cost is measured against"
  echo "  the mean of the two baseline rows (no streams, measured right before and right after them: ${S5_BASE:-–} req/s)."
  echo "  Worker RSS is VmRSS after wrk, streams still held. Two nginx workers share the listening port"
  echo "  (reuseport) so that 10,000 streams (20,000 nginx connections) fit the 20,000-descriptor limit."
  echo "- Scenario 6: fresh worker started with MCPFCGI_MAX_SESSIONS=$((IDLE_SESSIONS + 1000)) (the store's default"
  echo "  capacity is 10,000), $S6_LIVE sessions created (initialize + initialized answered, 32 connections,"
  echo "  ${S6_SECONDS} s); bytes/session = (VmRSS after − VmRSS before) / sessions."
  if [ "$PG" = 1 ]; then
    echo "- PostgreSQL rows (1pg, 2pg, 4pg): a private PostgreSQL ${PG_SERVER_VERSION:-?} cluster started by the run"
    echo "  (deploy/postgres-cluster.sh: unix socket only, PostgreSQL's default settings with fsync on,"
    echo "  max_connections=$(( (WORKERS + 1) * 10 + 10 ))${PG_OPTIONS:+, options: $PG_OPTIONS}), on the same $(nproc) CPUs as everything else."
    echo "  A second set of $WORKERS worker(s) with the same environment (kept connections) plus MCPFCGI_STORE=postgres (sessions, their"
    echo "  activity written in batches, and OAuth state in the database) behind its own nginx listener, a session"
    echo "  routed to its own worker with the others as backups (deploy/render-nginx.sh's STORE=postgres routing), and"
    echo "  a PostgreSQL scenario 4 worker of its own; same wrk settings and Lua scripts as the in-memory rows."
    echo "  1pg and 4pg run right after 1 and 4 in each of the $ROUNDS rounds, best of each kept; 2pg runs after 2,"
    echo "  2bpg on restarted workers (their caches empty; the database keeps the ${PG_S2B_BEFORE:-?} sessions left before it);"
    echo "  then the PostgreSQL workers and cluster stop, before scenarios 5 and 6."
  fi
  echo "- Raw wrk output of every run (with its RESULT line): bench/results/raw/; PROFILE=1 adds perf reports."
} > "$report"
cp "$report" "$RESULTS/latest.md"
rm -rf "$RESULTS/raw"; mkdir -p "$RESULTS/raw"
cp "$OUT"/*.wrk "$RESULTS/raw/" 2>/dev/null || true
echo
cat "$report"
echo
log "written: $RESULTS/latest.md"
log "scenario 1, kept connections: $(ratio "$s1" "$cf") the C floor a connection per request (target ≥ 1.0×), $(ratio "$s1" "$cfk") the C floor kept (target ≥ 0.85×), $(ratio "$s1" "$sdk") the SDK (target ≥ 15×), p99 ${P99[s1]:-–} ms (target ≤ 5 ms); a connection per request: $(ratio "$s1c" "$cf") the C floor a connection per request"
if [ "$PG" = 1 ]; then
  log "PostgreSQL / memory: scenario 1 $(ratio "${RPS[s1pg]:-0}" "$s1") (target ≥ 0.7×), scenario 2 $(ratio "${S2B_PG:-0}" "$S2B_SESSIONS") (no DELETE) and $(ratio "${S2_PG:-0}" "$S2_SESSIONS") (with DELETE) (target ≥ 0.3×), scenario 4 $(ratio "${RPS[s4pg]:-0}" "$s4")"
fi
[ "$errors" -eq 0 ] || { log "$errors run(s) saw errors"; exit 1; }

#!/usr/bin/env bash
# MCPFCGI: install what is missing, build in release mode, start WORKERS FastCGI worker processes under
# spawn-fcgi (one unix socket each) and nginx in front of them, then SUPERVISE them in the spirit of php-fpm's
# master: a worker or nginx that exits for any reason (crash, kill -9, OOM kill, SIGTERM) is started again on
# the same socket and node id while the others go on serving, at once the first time and with a doubling pause
# when it keeps failing; after RESTART_LIMIT restarts within RESTART_WINDOW seconds it is given up (logged
# loudly) until the next reload. Only SIGTERM/SIGINT to run.sh itself stops the deployment (workers drain their
# in-flight requests first). SIGHUP (or SIGUSR2: a supervisor started under nohup ignores SIGHUP), or
# `RUN_DIR=… deploy/run.sh reload` (which picks the one that works), replaces the workers one at a time
# (rolling restart: a new binary from the build folder, and the settings of RUN_DIR/worker.env).
#
#   deploy/run.sh            start and supervise (the foreground process; Ctrl-C stops everything)
#   deploy/run.sh reload     rolling restart of the deployment in RUN_DIR (waits until it is done)
#   deploy/run.sh stop       stop the deployment in RUN_DIR (waits until it is gone)
#
# Variables (all optional):
#   HOST=127.0.0.1  PORT=8080  TLS_PORT=8443   listeners (no port below 1024 is needed)
#   WORKERS=2                                  worker processes, each on its own socket
#   THREADS=                                   accept threads per worker (default: 2 × cores, at least 4)
#   KEEP_CONNECTIONS=16                        idle FastCGI connections nginx keeps open per upstream and nginx
#                                              worker (upstream keepalive; the workers park them in epoll, no
#                                              thread waits on one); 0: a new connection per request
#   PUBLIC_URL=http://HOST:PORT                public base URL (origin checks, OAuth issuer); its host and
#                                              localhost, 127.0.0.1, [::1] are the Host names served (others: 421);
#                                              https://…: HTTPS-only, PORT answers 308 to the public URL
#   REAL_IP_FROM=                              load balancers (addresses/CIDR ranges) whose X-Forwarded-For nginx
#                                              believes for the client address (unset: forwarded headers ignored)
#   OCSP_STAPLING=0                            1: OCSP stapling (TLS_TRUSTED_CERT, RESOLVER: see render-nginx.sh)
#   ACCESS_LOG=RUN_DIR/access.log              nginx's JSON access log (with the request id), or off
#   AUTH=anonymous                             anonymous, or builtin: the OAuth 2.1 authorization server, with
#                                              nginx auth_basic (DEMO_USER=demo, DEMO_PASSWORD random and
#                                              printed when unset) as the login step of /oauth/authorize
#   OAUTH_CLIENTS_FILE=                        (builtin) JSON list of pre-provisioned clients (client_credentials
#                                              ones with their scope); unset: RUN_DIR/oauth-clients.json with one
#                                              service client, demo-service, and a random secret
#   OAUTH_REGISTRATION_TOKEN_FILE=             (builtin) the RFC 7591 initial access token that lets
#                                              /oauth/register create client_credentials clients; unset: random,
#                                              in RUN_DIR/oauth-registration-token
#   STORE=memory                               memory: state in each worker's memory (OAuth state in worker 1, to
#                                              which nginx sends /oauth/); postgres: OAuth state and sessions in
#                                              PostgreSQL: every worker serves /oauth/ and any session
#   EVENT_STORE=0                              1 (with STORE=postgres): every SSE event is also recorded in the
#                                              database, so a GET with Last-Event-ID resumes a stream of a worker
#                                              that died on another worker; costs a batched write per 20 ms
#   DATABASE_URL=                              (postgres) postgres://user:password@host:port/db or
#                                              postgres://user@/db?host=/socket/dir; unset: a private cluster in
#                                              RUN_DIR/postgres on a unix socket, started here and stopped on exit
#   OAUTH_KEY_FILE= REQUEST_STATE_KEY_FILE=    keys to use instead of generating them: deployments sharing a
#                                              database must share them (the access-token signing key, the
#                                              2026-07-28 request-state key)
#   MANAGEMENT_TOKEN=                          token of /management/cleanup and /management/sessions (unset: off)
#   MANAGEMENT_ALLOW="127.0.0.1 ::1"           addresses/CIDR ranges nginx lets reach /management/ (others: 403)
#   METRICS_TOKEN=                             bearer token of GET /metrics, the Prometheus page of the whole
#                                              deployment (unset: metrics off, nothing bootstrapped, /metrics 404)
#   METRICS_ALLOW="127.0.0.1 ::1"              addresses/CIDR ranges nginx lets reach /metrics (others: 403)
#   OTEL_EXPORTER_OTLP_ENDPOINT=               tracing: spans exported over OTLP to this collector (unset: off);
#                                              every OTEL_* variable (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf or
#                                              http/json, OTEL_SERVICE_NAME, OTEL_BSP_SCHEDULE_DELAY, …) reaches the
#                                              workers unchanged. Each worker gets MCPFCGI_WORKER_RESTARTS: how many
#                                              times the supervisor restarted its slot (mcpfcgi_worker_restarts_total)
#   SESSION_IDLE_TIMEOUT=1800                  seconds of inactivity before a session expires (0: never)
#   SESSION_SWEEP_INTERVAL=60                  seconds between two sweeps for expired sessions
#   MAX_SESSIONS=10000                         most live sessions per worker (beyond: the least recently used
#                                              session idle SESSION_EVICTION_MIN_IDLE=300 s is evicted, else 503)
#   SESSIONS_PER_ADDRESS=500  SESSIONS_PER_USER=100   session quotas per client address / user, per worker
#                                              (initialize answers 429 beyond; 0: no quota)
#   STREAMS_PER_ADDRESS=32                     open GET /mcp streams per client address in nginx (429 beyond;
#                                              0: no limit)
#   TLS_CERT= TLS_KEY=                         certificate and key; a self-signed pair is made when unset
#   RUN_DIR=                                   where sockets, config and pid files go (default: a new temp dir)
#   LOG_LEVEL=info  LOG_FORMAT=text            worker logging
#   DRAIN_TIMEOUT=30                           seconds a worker waits for in-flight requests on SIGTERM
#   RATE_LIMIT=                                requests per minute per client address (unset: no limit)
#   WORKER_BIN=                                the worker executable (default: the demo); one in a package's
#                                              .build/release folder is built first (the Examples package's:
#                                              WORKER_BIN=Examples/.build/release/catalog-example)
#   RESTART_LIMIT=5  RESTART_WINDOW=60         give a process up after this many restarts within the window
#   RESTART_MAX_DELAY=5                        longest pause (seconds) before restarting a failing process
#   SKIP_INSTALL=0  SKIP_BUILD=0               skip the apt step / the swift build
set -euo pipefail

# reload / stop: signal the supervisor of the deployment in RUN_DIR and wait for the outcome.
if [ $# -gt 0 ]; then
  [ -n "${RUN_DIR:-}" ] || { echo "$1: set RUN_DIR to the deployment's run directory" >&2; exit 2; }
  supervisor=$(cat "$RUN_DIR/run.pid" 2>/dev/null || true)
  if [ -z "$supervisor" ] || ! kill -0 "$supervisor" 2>/dev/null; then
    echo "$1: no deployment is running in $RUN_DIR (no live run.pid)" >&2; exit 1
  fi
  case "$1" in
    reload)
      before=$(cat "$RUN_DIR/reloads" 2>/dev/null || echo 0)
      # SIGHUP, unless the supervisor ignores it (started under nohup: bash cannot trap a signal ignored at
      # entry); then SIGUSR2, which it also takes for a reload. Bit 0 of SigIgn is SIGHUP.
      ignored=$(awk '/^SigIgn:/ {print $2}' "/proc/$supervisor/status" 2>/dev/null || echo 0)
      if (( 16#${ignored:-0} & 1 )); then kill -USR2 "$supervisor"; else kill -HUP "$supervisor"; fi
      for _ in $(seq 1 "${RELOAD_WAIT:-600}"); do
        [ "$(cat "$RUN_DIR/reloads" 2>/dev/null || echo 0)" -gt "$before" ] && { echo "reloaded"; exit 0; }
        kill -0 "$supervisor" 2>/dev/null || { echo "reload: the supervisor exited" >&2; exit 1; }
        sleep 0.1
      done
      echo "reload: not finished after ${RELOAD_WAIT:-600} checks; see the deployment's log" >&2; exit 1 ;;
    stop)
      kill -TERM "$supervisor"
      while kill -0 "$supervisor" 2>/dev/null; do sleep 0.1; done
      echo "stopped"; exit 0 ;;
    *) echo "usage: deploy/run.sh [reload|stop]" >&2; exit 2 ;;
  esac
fi

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8080}
TLS_PORT=${TLS_PORT:-8443}
WORKERS=${WORKERS:-2}
THREADS=${THREADS:-}
KEEP_CONNECTIONS=${KEEP_CONNECTIONS:-16}
[[ "$KEEP_CONNECTIONS" =~ ^[0-9]+$ ]] || { echo "KEEP_CONNECTIONS is a whole number (0: a connection per request)" >&2; exit 2; }
# What each worker keeps idle at most: every connection nginx may keep to it, KEEP_CONNECTIONS for each upstream it is
# in (mcp_w<i>, mcp_any, mcp_oauth; with STORE=postgres also as a backup in every other mcp_w<j>: at most WORKERS + 2)
# and nginx worker process (one per core), at least 256.
kept_idle=0
if [ "$KEEP_CONNECTIONS" != 0 ]; then
  kept_idle=$(( KEEP_CONNECTIONS * (WORKERS + 2) * $(nproc) ))
  [ "$kept_idle" -ge 256 ] || kept_idle=256
fi
AUTH=${AUTH:-anonymous}
STORE=${STORE:-memory}
LOG_LEVEL=${LOG_LEVEL:-info}
LOG_FORMAT=${LOG_FORMAT:-text}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-30}
MAX_BODY=${MAX_BODY:-4m}
SESSION_IDLE_TIMEOUT=${SESSION_IDLE_TIMEOUT:-1800}
SESSION_SWEEP_INTERVAL=${SESSION_SWEEP_INTERVAL:-60}
MAX_SESSIONS=${MAX_SESSIONS:-10000}
SESSIONS_PER_ADDRESS=${SESSIONS_PER_ADDRESS:-500}
SESSIONS_PER_USER=${SESSIONS_PER_USER:-100}
SESSION_EVICTION_MIN_IDLE=${SESSION_EVICTION_MIN_IDLE:-300}
STREAMS_PER_ADDRESS=${STREAMS_PER_ADDRESS:-32}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

case "$HOST" in *:*) url_host="[$HOST]" ;; *) url_host="$HOST" ;; esac
PUBLIC_URL=${PUBLIC_URL:-http://$url_host:$PORT}

case "$STORE" in
  memory|postgres) ;;
  *) echo "STORE=$STORE: use memory or postgres" >&2; exit 2 ;;
esac
case "$AUTH" in
  anonymous|builtin) ;;
  *) echo "AUTH=$AUTH: use anonymous or builtin (external mode is configured in code, see README)" >&2; exit 2 ;;
esac
if ! [[ "$WORKERS" =~ ^[1-9][0-9]*$ ]]; then echo "WORKERS must be a positive number" >&2; exit 2; fi
if [ -n "${METRICS_TOKEN:-}" ] && { [ "${#METRICS_TOKEN}" -lt 16 ] || [[ "$METRICS_TOKEN" =~ [[:space:]] ]]; }; then
  echo "METRICS_TOKEN must be at least 16 characters without spaces (openssl rand -hex 24)" >&2; exit 2
fi
if ! [[ "$SESSION_IDLE_TIMEOUT" =~ ^[0-9]+$ ]]; then echo "SESSION_IDLE_TIMEOUT must be a number of seconds" >&2; exit 2; fi
if ! [[ "$SESSION_SWEEP_INTERVAL" =~ ^[1-9][0-9]*$ ]]; then echo "SESSION_SWEEP_INTERVAL must be a positive number" >&2; exit 2; fi
if ! [[ "$MAX_SESSIONS" =~ ^[1-9][0-9]*$ ]]; then echo "MAX_SESSIONS must be a positive number" >&2; exit 2; fi
for v in SESSIONS_PER_ADDRESS SESSIONS_PER_USER SESSION_EVICTION_MIN_IDLE STREAMS_PER_ADDRESS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "$v must be a number (0 or more)" >&2; exit 2; }
done
[ "$STREAMS_PER_ADDRESS" -le 65535 ] || { echo "STREAMS_PER_ADDRESS must be at most 65535 (nginx limit_conn)" >&2; exit 2; }

[ "${SKIP_INSTALL:-0}" = 1 ] || "$here/install-deps.sh"
bin_src=${WORKER_BIN:-$root/.build/release/mcp-fcgi-demo}
case $bin_src in /*) ;; *) bin_src=$PWD/$bin_src ;; esac
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  # The demo, or the product WORKER_BIN names in a package's release folder (PACKAGE/.build/release/PRODUCT: this
  # package's, the Examples package's, or a package of your own) is built in release first.
  bin_dir=$(dirname "$bin_src")
  package_dir=$(dirname "$(dirname "$bin_dir")")
  if [ "$(basename "$bin_dir")" = release ] && [ "$(basename "$(dirname "$bin_dir")")" = .build ] \
    && [ -f "$package_dir/Package.swift" ]; then
    (cd "$package_dir" && swift build -c release --product "$(basename "$bin_src")")
  else
    echo "note: WORKER_BIN=$bin_src is not in a package's .build/release folder: served as it is, not built" >&2
  fi
fi
[ -x "$bin_src" ] || { echo "no worker executable at $bin_src (build first, or set WORKER_BIN)" >&2; exit 1; }
if [ "$(basename "$bin_src")" != mcp-fcgi-demo ]; then
  demo_only=()
  [ "$STORE" = memory ] || demo_only+=("STORE=$STORE")
  for v in RATE_LIMIT EVENT_STORE MANAGEMENT_TOKEN METRICS_TOKEN; do
    [ -z "${!v:-}" ] || [ "${!v}" = 0 ] || demo_only+=("$v")
  done
  [ ${#demo_only[@]} -eq 0 ] || echo "warning: ${demo_only[*]}: read by the demo; $(basename "$bin_src") ignores them unless it reads them itself (configure them in its code; AUTH=builtin reaches it through DeploymentEnvironment.builtInAuthorization)" >&2
fi

# Every open stream holds a descriptor in nginx (two) and in a worker (one): the workers inherit this shell's
# limit, raised from the usual soft 1024 towards the hard limit (nginx sets its own: worker_rlimit_nofile).
want_fds=65536
hard_fds=$(ulimit -Hn)
[ "$hard_fds" != unlimited ] && [ "$hard_fds" -lt "$want_fds" ] && want_fds=$hard_fds
[ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$want_fds" ] && { ulimit -Sn "$want_fds" 2>/dev/null || true; }

created_run_dir=0
private_cluster=0
if [ -z "${RUN_DIR:-}" ]; then
  RUN_DIR=$(mktemp -d /tmp/mcpfcgi.XXXXXX)
  created_run_dir=1
fi
mkdir -p "$RUN_DIR"/{client_body,proxy,fastcgi,uwsgi,scgi,bin}
# Workers run a copy (a rebuild does not change what runs; a reload copies the new build).
worker_bin="$RUN_DIR/bin/$(basename "$bin_src")"
install_binary() { cp "$bin_src" "$worker_bin.new" && mv -f "$worker_bin.new" "$worker_bin"; }
install_binary

# Who runs what: as root, workers and nginx workers run as the unprivileged user "mcpfcgi", and the
# sockets (mode 0660) belong to it and its group; otherwise everything runs as the calling user.
user_line=""
spawn_user=()
if [ "$(id -u)" -eq 0 ]; then
  id mcpfcgi >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin mcpfcgi
  user_line="user mcpfcgi mcpfcgi;"
  spawn_user=(-u mcpfcgi -g mcpfcgi -U mcpfcgi -G mcpfcgi)
  # A private cluster's directory (RUN_DIR/postgres, from an earlier run) stays the postgres user's.
  find "$RUN_DIR" -path "$RUN_DIR/postgres" -prune -o -exec chown mcpfcgi:mcpfcgi {} +
  chmod 0750 "$RUN_DIR"
fi

if [ -z "${TLS_CERT:-}" ] || [ -z "${TLS_KEY:-}" ]; then
  TLS_CERT="$RUN_DIR/tls.crt"
  TLS_KEY="$RUN_DIR/tls.key"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=$HOST" -keyout "$TLS_KEY" -out "$TLS_CERT" >/dev/null 2>&1
fi

# The key that protects 2026-07-28 request state, shared by every worker so that a multi-round request
# can continue on any of them.
if [ -n "${REQUEST_STATE_KEY_FILE:-}" ]; then
  [ -r "$REQUEST_STATE_KEY_FILE" ] || { echo "REQUEST_STATE_KEY_FILE=$REQUEST_STATE_KEY_FILE is not readable" >&2; exit 2; }
  STATE_KEY_FILE=$REQUEST_STATE_KEY_FILE
else
  STATE_KEY_FILE="$RUN_DIR/request-state.key"
  head -c 32 /dev/urandom > "$STATE_KEY_FILE"
  chmod 0640 "$STATE_KEY_FILE"
  [ "$(id -u)" -eq 0 ] && chown mcpfcgi:mcpfcgi "$STATE_KEY_FILE"
fi

# AUTH=builtin: a shared signing key for access tokens, and nginx auth_basic as the login step.
authorize_auth=""
if [ "$AUTH" = builtin ]; then
  generated=()
  if [ -n "${OAUTH_KEY_FILE:-}" ]; then
    [ -r "$OAUTH_KEY_FILE" ] || { echo "OAUTH_KEY_FILE=$OAUTH_KEY_FILE is not readable" >&2; exit 2; }
  else
    OAUTH_KEY_FILE="$RUN_DIR/oauth-signing-key.pem"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$OAUTH_KEY_FILE" 2>/dev/null
    generated+=("$OAUTH_KEY_FILE")
  fi
  DEMO_USER=${DEMO_USER:-demo}
  if [ -z "${DEMO_PASSWORD:-}" ]; then
    DEMO_PASSWORD=$(openssl rand -hex 12)
    echo "demo login: user $DEMO_USER, password $DEMO_PASSWORD"
  fi
  printf '%s:%s\n' "$DEMO_USER" "$(openssl passwd -apr1 "$DEMO_PASSWORD")" > "$RUN_DIR/htpasswd"
  # client_credentials clients are never registered anonymously: the demo's service client is pre-provisioned
  # (OAUTH_CLIENTS_FILE, generated when unset), and registrations that present the RFC 7591 initial access token
  # (OAUTH_REGISTRATION_TOKEN_FILE, generated when unset) may create more.
  generated+=("$RUN_DIR/htpasswd")
  if [ -z "${OAUTH_CLIENTS_FILE:-}" ]; then
    OAUTH_CLIENTS_FILE="$RUN_DIR/oauth-clients.json"
    printf '[{"client_id": "demo-service", "client_secret": "%s", "grant_types": ["client_credentials"], "scope": "mcp:read mcp:write"}]\n' \
      "$(openssl rand -hex 24)" > "$OAUTH_CLIENTS_FILE"
    generated+=("$OAUTH_CLIENTS_FILE")
    echo "demo service client (client_credentials): id demo-service, secret in $OAUTH_CLIENTS_FILE"
  fi
  if [ -z "${OAUTH_REGISTRATION_TOKEN_FILE:-}" ]; then
    OAUTH_REGISTRATION_TOKEN_FILE="$RUN_DIR/oauth-registration-token"
    openssl rand -hex 24 > "$OAUTH_REGISTRATION_TOKEN_FILE"
    generated+=("$OAUTH_REGISTRATION_TOKEN_FILE")
  fi
  chmod 0640 "${generated[@]}"
  if [ "$(id -u)" -eq 0 ]; then chown mcpfcgi:mcpfcgi "${generated[@]}"; fi
  authorize_auth="auth_basic \"MCPFCGI demo\"; auth_basic_user_file $RUN_DIR/htpasswd;"
fi

# Every worker's socket: the management API asks the other workers over FastCGI (each skips its own).
peer_sockets=""
for i in $(seq 1 "$WORKERS"); do peer_sockets+="${peer_sockets:+,}$RUN_DIR/w$i.sock"; done
OUT="$RUN_DIR/nginx.conf" SOCKET_DIR="$RUN_DIR" RUN_DIR="$RUN_DIR" WORKERS="$WORKERS" HOST="$HOST" PORT="$PORT" \
  TLS_PORT="$TLS_PORT" TLS_CERT="$TLS_CERT" TLS_KEY="$TLS_KEY" MAX_BODY="$MAX_BODY" USER_LINE="$user_line" \
  AUTHORIZE_AUTH="$authorize_auth" STREAMS_PER_ADDRESS="$STREAMS_PER_ADDRESS" MANAGEMENT_ALLOW="${MANAGEMENT_ALLOW:-}" PUBLIC_URL="$PUBLIC_URL" \
  METRICS_ALLOW="${METRICS_ALLOW:-}" \
  REAL_IP_FROM="${REAL_IP_FROM:-}" OCSP_STAPLING="${OCSP_STAPLING:-0}" TLS_TRUSTED_CERT="${TLS_TRUSTED_CERT:-}" \
  RESOLVER="${RESOLVER:-}" ACCESS_LOG="${ACCESS_LOG:-}" STORE="$STORE" KEEP_CONNECTIONS="$KEEP_CONNECTIONS" \
  "$here/render-nginx.sh"
# KEEP_CONNECTIONS=0: nginx does not ask to keep connections either (the workers would close each one anyway, and
# announce it with one more write).
if [ "$KEEP_CONNECTIONS" = 0 ]; then
  sed 's/^fastcgi_keep_conn on;$/fastcgi_keep_conn off;/' "$here/mcp_fastcgi.conf" > "$RUN_DIR/mcp_fastcgi.conf"
else
  cp "$here/mcp_fastcgi.conf" "$RUN_DIR/mcp_fastcgi.conf"
fi

RESTART_LIMIT=${RESTART_LIMIT:-5}
RESTART_WINDOW=${RESTART_WINDOW:-60}
RESTART_MAX_DELAY=${RESTART_MAX_DELAY:-5}
log() { printf '%s run.sh: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }

# Supervision state, by name (w1 … wN, nginx): pid, recent restart times, pause before the next start, whether
# it was given up. A pid in `retired` is a process being replaced on purpose: its exit starts nothing.
declare -A pid_of=() restarts=() delay_ms=() given_up=() due_ms=() retired=()
# Restarts of each worker slot after an exit (never reset; a reload is not a restart): MCPFCGI_WORKER_RESTARTS.
declare -A restart_count=()
stopping=0
reload_requested=0
status=0

start_worker() {
  local i=$1 env_file="$RUN_DIR/worker.env"
  # Settings a reload picks up: KEY=VALUE lines (MCPFCGI_* variables of the worker) in RUN_DIR/worker.env.
  local -a extra=()
  if [ -f "$env_file" ]; then mapfile -t extra < <(grep -E '^MCPFCGI_[A-Z0-9_]+=' "$env_file" || true); fi
  # Secrets (tokens, the database URL's password) are prefix assignments: they reach the environment, never an
  # argument list that ps shows. The settings of worker.env follow as env's arguments.
  MCPFCGI_MANAGEMENT_TOKEN="${MANAGEMENT_TOKEN:-}" MCPFCGI_METRICS_TOKEN="${METRICS_TOKEN:-}" \
    MCPFCGI_DATABASE_URL="${DATABASE_URL:-}" \
  env MCPFCGI_NODE_ID="w$i" MCPFCGI_PUBLIC_URL="$PUBLIC_URL" MCPFCGI_THREADS="$THREADS" \
    MCPFCGI_KEEP_CONNECTIONS="$kept_idle" \
    MCPFCGI_LOG_LEVEL="$LOG_LEVEL" MCPFCGI_LOG_FORMAT="$LOG_FORMAT" MCPFCGI_DRAIN_TIMEOUT="$DRAIN_TIMEOUT" \
    MCPFCGI_PEER_SOCKETS="$peer_sockets" \
    MCPFCGI_SESSION_IDLE_TIMEOUT="$SESSION_IDLE_TIMEOUT" MCPFCGI_SESSION_SWEEP_INTERVAL="$SESSION_SWEEP_INTERVAL" \
    MCPFCGI_MAX_SESSIONS="$MAX_SESSIONS" MCPFCGI_SESSIONS_PER_ADDRESS="$SESSIONS_PER_ADDRESS" \
    MCPFCGI_SESSIONS_PER_USER="$SESSIONS_PER_USER" MCPFCGI_SESSION_EVICTION_MIN_IDLE="$SESSION_EVICTION_MIN_IDLE" \
    MCPFCGI_EXCLUSIVE_SOCKET=1 MCPFCGI_REQUEST_STATE_KEY_FILE="$STATE_KEY_FILE" \
    MCPFCGI_RATE_LIMIT="${RATE_LIMIT:-}" MCPFCGI_AUTH="$AUTH" MCPFCGI_OAUTH_KEY_FILE="${OAUTH_KEY_FILE:-}" \
    MCPFCGI_OAUTH_CLIENTS_FILE="${OAUTH_CLIENTS_FILE:-}" \
    MCPFCGI_OAUTH_REGISTRATION_TOKEN_FILE="${OAUTH_REGISTRATION_TOKEN_FILE:-}" \
    MCPFCGI_WORKER_RESTARTS="${restart_count[w$i]:-0}" MCPFCGI_STORE="$STORE" MCPFCGI_EVENT_STORE="${EVENT_STORE:-0}" \
    "${extra[@]}" \
    spawn-fcgi -n -s "$RUN_DIR/w$i.sock" -M 0660 "${spawn_user[@]}" -- "$worker_bin" &
  pid_of[w$i]=$!
  echo "$!" > "$RUN_DIR/w$i.pid"
}

# nginx leads its own process group (setsid): if its master dies without stopping its worker processes (kill -9),
# they would go on accepting on the ports with the old configuration; the supervisor kills the group first.
start_nginx() {
  setsid nginx -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e stderr &
  pid_of[nginx]=$!
  echo "$!" > "$RUN_DIR/nginx.pid.run"
}

start_process() { if [ "$1" = nginx ]; then start_nginx; else start_worker "${1#w}"; fi; }

# The name of a supervised pid, or empty.
name_of() { local n; for n in "${!pid_of[@]}"; do [ "${pid_of[$n]}" = "$1" ] && { echo "$n"; return; }; done; }

describe_exit() {
  local rc=$1
  if [ "$rc" -gt 128 ]; then echo "killed by signal $((rc - 128))"; else echo "exit status $rc"; fi
}

# A supervised process exited on its own: start it again at once, or after a doubling pause while it keeps
# failing; give it up after RESTART_LIMIT restarts within RESTART_WINDOW seconds.
process_exited() {
  local name=$1 rc=$2 now recent=() t
  now=$(now_ms)
  unset "pid_of[$name]"
  for t in ${restarts[$name]:-}; do [ $((now - t)) -lt $((RESTART_WINDOW * 1000)) ] && recent+=("$t"); done
  if [ "${#recent[@]}" -ge "$RESTART_LIMIT" ]; then
    given_up[$name]=1
    log "GIVING UP on $name: it exited ($(describe_exit "$rc")) after ${#recent[@]} restarts within ${RESTART_WINDOW}s." \
      "The other processes go on serving. Fix the cause, then run: RUN_DIR=$RUN_DIR $0 reload"
    return
  fi
  local pause=0
  if [ "${#recent[@]}" -gt 0 ]; then
    pause=$(( ${delay_ms[$name]:-0} == 0 ? 100 : ${delay_ms[$name]} * 2 ))
    [ "$pause" -gt $((RESTART_MAX_DELAY * 1000)) ] && pause=$((RESTART_MAX_DELAY * 1000))
  fi
  delay_ms[$name]=$pause
  restart_count[$name]=$(( ${restart_count[$name]:-0} + 1 ))
  recent+=("$now")
  restarts[$name]="${recent[*]}"
  log "$name exited ($(describe_exit "$rc")); restarting it in ${pause} ms (restart ${#recent[@]} within ${RESTART_WINDOW}s)"
  due_ms[$name]=$((now + pause))
}

# Starts what is due; returns (in `next_wake_ms`) the earliest pending start, 0 when none.
next_wake_ms=0
start_due() {
  local name now
  now=$(now_ms)
  next_wake_ms=0
  for name in "${!due_ms[@]}"; do
    if [ "${due_ms[$name]}" -le "$now" ]; then
      unset "due_ms[$name]"
      start_process "$name"
      log "$name started (pid ${pid_of[$name]})"
    elif [ "$next_wake_ms" -eq 0 ] || [ "${due_ms[$name]}" -lt "$next_wake_ms" ]; then
      next_wake_ms=${due_ms[$name]}
    fi
  done
}

# Waits until the worker's socket accepts connections (spawn-fcgi binds it before the worker starts; the
# backlog holds what arrives meanwhile), at most 10 s.
socket_ready() { for _ in $(seq 1 200); do [ -S "$1" ] && return 0; sleep 0.05; done; return 1; }

# Rolling restart: one worker at a time, SIGTERM (it unlinks its socket at once, so nginx sends new requests
# to the others, and drains), then a new worker on the same socket as soon as the old name is free; the old one
# finishes its in-flight requests meanwhile. Given-up processes are started again.
rolling_restart() {
  log "reload: replacing ${WORKERS} worker(s) one at a time"
  install_binary
  local i old
  for i in $(seq 1 "$WORKERS"); do
    [ "$stopping" = 1 ] && return
    unset "given_up[w$i]" "due_ms[w$i]" "restarts[w$i]" "delay_ms[w$i]"
    old=${pid_of[w$i]:-}
    if [ -n "$old" ] && kill -0 "$old" 2>/dev/null; then
      retired[$old]=1
      unset "pid_of[w$i]"
      kill -TERM "$old" 2>/dev/null || true
      # The old worker unlinks its socket when it starts draining; wait for that (or for its exit).
      for _ in $(seq 1 400); do
        [ -S "$RUN_DIR/w$i.sock" ] || break
        kill -0 "$old" 2>/dev/null || break
        sleep 0.025
      done
    fi
    start_worker "$i"
    socket_ready "$RUN_DIR/w$i.sock" || log "reload: w$i's socket did not appear"
    log "reload: w$i replaced (pid ${pid_of[w$i]})"
  done
  if [ -n "${given_up[nginx]:-}" ] || [ -z "${pid_of[nginx]:-}" ]; then
    unset "given_up[nginx]" "restarts[nginx]" "delay_ms[nginx]"
    start_nginx
  fi
  echo $(( $(cat "$RUN_DIR/reloads" 2>/dev/null || echo 0) + 1 )) > "$RUN_DIR/reloads"
  log "reload: done"
}

cleanup() {
  # A reload asked for while stopping is ignored (the default action of SIGHUP/SIGUSR2 would end the supervisor
  # halfway through its cleanup).
  trap - INT TERM EXIT
  trap '' HUP USR2
  stopping=1
  # nginx first: QUIT closes its listeners and finishes what it is proxying. The workers get TERM once nginx is
  # gone or after a second, whichever comes first: by then every request nginx accepted has reached a worker
  # (a worker that drains unlinks its socket, so a request nginx passed on later would find none and fail).
  # Open streams keep nginx running until the workers' drain ends them.
  local name pid
  if [ -n "${pid_of[nginx]:-}" ] && kill -QUIT "${pid_of[nginx]}" 2>/dev/null; then
    for _ in $(seq 1 20); do kill -0 "${pid_of[nginx]}" 2>/dev/null || break; sleep 0.05; done
  fi
  for name in "${!pid_of[@]}"; do [ "$name" = nginx ] || kill -TERM "${pid_of[$name]}" 2>/dev/null || true; done
  for pid in "${!retired[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # The private database stops after the workers that used it.
  local cluster_stopped=1
  if [ "$private_cluster" = 1 ] && ! "$here/postgres-cluster.sh" stop "$RUN_DIR/postgres"; then
    cluster_stopped=0
    log "PostgreSQL did not stop; its data stays in $RUN_DIR/postgres"
  fi
  rm -f "$RUN_DIR/run.pid"
  [ "$created_run_dir" = 1 ] && [ "$cluster_stopped" = 1 ] && rm -rf "$RUN_DIR"
  exit "$status"
}
trap cleanup EXIT
trap 'stopping=1' INT TERM
trap 'reload_requested=1' HUP USR2
fail() { echo "$*" >&2; status=1; exit 1; }
all_alive() { local n; for n in "${!pid_of[@]}"; do kill -0 "${pid_of[$n]}" 2>/dev/null || return 1; done; }

# STORE=postgres without DATABASE_URL: a private cluster in RUN_DIR, on a unix socket only (stopped in cleanup).
if [ "$STORE" = postgres ] && [ -z "${DATABASE_URL:-}" ]; then
  # As root the server runs as "postgres", which must traverse RUN_DIR (others may traverse, not list it).
  [ "$(id -u)" -eq 0 ] && chmod 0751 "$RUN_DIR"
  private_cluster=1
  # Room for every worker's pool (8 connections each) plus psql; only the workers' group may use the socket.
  DATABASE_URL=$(PG_OPTIONS="-c max_connections=$((WORKERS * 8 + 10)) ${PG_OPTIONS:-}" \
    PG_SOCKET_GROUP=$([ "$(id -u)" -eq 0 ] && echo mcpfcgi) \
    "$here/postgres-cluster.sh" start "$RUN_DIR/postgres") || fail "the private PostgreSQL cluster did not start"
  log "private PostgreSQL cluster in $RUN_DIR/postgres ($DATABASE_URL)"
fi

for i in $(seq 1 "$WORKERS"); do start_worker "$i"; done

for _ in $(seq 1 100); do
  all=1
  for i in $(seq 1 "$WORKERS"); do [ -S "$RUN_DIR/w$i.sock" ] || all=0; done
  [ "$all" = 1 ] && break
  sleep 0.05
done
all_alive || fail "a worker failed to start"

start_nginx

# With an https public URL the plain port only redirects: check the TLS listener (the certificate may be
# self-signed, and its name need not be HOST).
health_url="http://$url_host:$PORT/health"
health_opts=(-fsS)
case "$PUBLIC_URL" in https://*|HTTPS://*) health_url="https://$url_host:$TLS_PORT/health"; health_opts+=(-k) ;; esac
for _ in $(seq 1 100); do
  [ -s "$RUN_DIR/nginx.pid" ] && curl "${health_opts[@]}" "$health_url" >/dev/null 2>&1 && break
  all_alive || break
  sleep 0.1
done
# Ready only when our own nginx and workers are alive (another server on the port must not pass for ours).
all_alive || fail "nginx or a worker exited during start-up (port in use?)"
curl "${health_opts[@]}" "$health_url" >/dev/null || fail "health check failed"
echo $$ > "$RUN_DIR/run.pid"

echo "MCPFCGI demo ready: $PUBLIC_URL/mcp  (TLS: https://$url_host:$TLS_PORT/mcp, self-signed unless TLS_CERT is set)"
echo "health check: curl ${health_opts[*]} $health_url"
echo "run dir: $RUN_DIR  workers: $WORKERS  supervisor pid: $$ (SIGHUP, SIGUSR2 or 'RUN_DIR=$RUN_DIR $0 reload': rolling restart)"

# Supervise: react to every child's exit, to pending restarts and to signals, until told to stop.
timer_pid=""
while [ "$stopping" = 0 ]; do
  if [ "$reload_requested" = 1 ]; then
    reload_requested=0
    rolling_restart
    continue
  fi
  start_due
  # A pending restart wakes the loop through a short-lived timer child.
  if [ "$next_wake_ms" -gt 0 ] && { [ -z "$timer_pid" ] || ! kill -0 "$timer_pid" 2>/dev/null; }; then
    pause_ms=$(( next_wake_ms - $(now_ms) )); [ "$pause_ms" -lt 1 ] && pause_ms=1
    sleep "$((pause_ms / 1000)).$(printf '%03d' $((pause_ms % 1000)))" &
    timer_pid=$!
  fi
  exited=""
  rc=0
  wait -n -p exited || rc=$?
  [ -n "${exited:-}" ] || { [ "$rc" -eq 127 ] && sleep 1; continue; }   # a signal, or no child at all
  [ "$exited" = "$timer_pid" ] && { timer_pid=""; continue; }
  if [ -n "${retired[$exited]:-}" ]; then
    unset "retired[$exited]"
    log "replaced worker (pid $exited) finished draining ($(describe_exit "$rc"))"
    continue
  fi
  name=$(name_of "$exited")
  # An nginx master that died leaves its worker processes behind: end its group before a new nginx starts.
  [ "$name" = nginx ] && { kill -KILL -- "-$exited" 2>/dev/null || true; }
  [ -n "$name" ] && [ "$stopping" = 0 ] && process_exited "$name" "$rc"
done
log "stopping: workers drain their in-flight requests"

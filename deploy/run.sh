#!/usr/bin/env bash
# MCPFCGI demo: install what is missing, build in release mode, start WORKERS FastCGI worker processes
# under spawn-fcgi (one unix socket each) and nginx in front of them, then wait. Ctrl-C / SIGTERM stops
# everything it started (workers drain their in-flight requests first).
#
# Variables (all optional):
#   HOST=127.0.0.1  PORT=8080  TLS_PORT=8443   listeners (no port below 1024 is needed)
#   WORKERS=2                                  worker processes, each on its own socket
#   THREADS=                                   accept threads per worker (default: 2 × cores, at least 4)
#   PUBLIC_URL=http://HOST:PORT                public base URL (origin checks, later OAuth issuer)
#   AUTH=anonymous                             anonymous, or builtin: the OAuth 2.1 authorization server, with
#                                              nginx auth_basic (DEMO_USER=demo, DEMO_PASSWORD random and
#                                              printed when unset) as the login step of /oauth/authorize
#   MANAGEMENT_TOKEN=                          token of /management/cleanup and /management/sessions (unset: off)
#   SESSION_IDLE_TIMEOUT=1800                  seconds of inactivity before a session expires (0: never)
#   SESSION_SWEEP_INTERVAL=60                  seconds between two sweeps for expired sessions
#   MAX_SESSIONS=10000                         most live sessions per worker (initialize answers 503 beyond)
#   TLS_CERT= TLS_KEY=                         certificate and key; a self-signed pair is made when unset
#   RUN_DIR=                                   where sockets, config and pid files go (default: a new temp dir)
#   LOG_LEVEL=info  LOG_FORMAT=text            worker logging
#   DRAIN_TIMEOUT=30                           seconds a worker waits for in-flight requests on SIGTERM
#   RATE_LIMIT=                                requests per minute per client address (unset: no limit)
#   SKIP_INSTALL=0  SKIP_BUILD=0               skip the apt step / the swift build
set -euo pipefail

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8080}
TLS_PORT=${TLS_PORT:-8443}
WORKERS=${WORKERS:-2}
THREADS=${THREADS:-}
AUTH=${AUTH:-anonymous}
LOG_LEVEL=${LOG_LEVEL:-info}
LOG_FORMAT=${LOG_FORMAT:-text}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-30}
MAX_BODY=${MAX_BODY:-4m}
SESSION_IDLE_TIMEOUT=${SESSION_IDLE_TIMEOUT:-1800}
SESSION_SWEEP_INTERVAL=${SESSION_SWEEP_INTERVAL:-60}
MAX_SESSIONS=${MAX_SESSIONS:-10000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

case "$HOST" in *:*) url_host="[$HOST]" ;; *) url_host="$HOST" ;; esac
PUBLIC_URL=${PUBLIC_URL:-http://$url_host:$PORT}

case "$AUTH" in
  anonymous|builtin) ;;
  *) echo "AUTH=$AUTH: use anonymous or builtin (external mode is configured in code, see README)" >&2; exit 2 ;;
esac
if ! [[ "$WORKERS" =~ ^[1-9][0-9]*$ ]]; then echo "WORKERS must be a positive number" >&2; exit 2; fi
if ! [[ "$SESSION_IDLE_TIMEOUT" =~ ^[0-9]+$ ]]; then echo "SESSION_IDLE_TIMEOUT must be a number of seconds" >&2; exit 2; fi
if ! [[ "$SESSION_SWEEP_INTERVAL" =~ ^[1-9][0-9]*$ ]]; then echo "SESSION_SWEEP_INTERVAL must be a positive number" >&2; exit 2; fi
if ! [[ "$MAX_SESSIONS" =~ ^[1-9][0-9]*$ ]]; then echo "MAX_SESSIONS must be a positive number" >&2; exit 2; fi

[ "${SKIP_INSTALL:-0}" = 1 ] || "$here/install-deps.sh"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$root" && swift build -c release --product mcp-fcgi-demo)
fi
bin_src="$root/.build/release/mcp-fcgi-demo"
[ -x "$bin_src" ] || { echo "no binary at $bin_src (build first)" >&2; exit 1; }

created_run_dir=0
if [ -z "${RUN_DIR:-}" ]; then
  RUN_DIR=$(mktemp -d /tmp/mcpfcgi.XXXXXX)
  created_run_dir=1
fi
mkdir -p "$RUN_DIR"/{client_body,proxy,fastcgi,uwsgi,scgi,bin}
cp "$bin_src" "$RUN_DIR/bin/mcp-fcgi-demo"

# Who runs what: as root, workers and nginx workers run as the unprivileged user "mcpfcgi", and the
# sockets (mode 0660) belong to it and its group; otherwise everything runs as the calling user.
user_line=""
spawn_user=()
if [ "$(id -u)" -eq 0 ]; then
  id mcpfcgi >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin mcpfcgi
  user_line="user mcpfcgi mcpfcgi;"
  spawn_user=(-u mcpfcgi -g mcpfcgi -U mcpfcgi -G mcpfcgi)
  chown -R mcpfcgi:mcpfcgi "$RUN_DIR"
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
STATE_KEY_FILE="$RUN_DIR/request-state.key"
head -c 32 /dev/urandom > "$STATE_KEY_FILE"
chmod 0640 "$STATE_KEY_FILE"
[ "$(id -u)" -eq 0 ] && chown mcpfcgi:mcpfcgi "$STATE_KEY_FILE"

# AUTH=builtin: a shared signing key for access tokens, and nginx auth_basic as the login step.
authorize_auth=""
if [ "$AUTH" = builtin ]; then
  OAUTH_KEY_FILE="$RUN_DIR/oauth-signing-key.pem"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$OAUTH_KEY_FILE" 2>/dev/null
  chmod 0640 "$OAUTH_KEY_FILE"
  DEMO_USER=${DEMO_USER:-demo}
  if [ -z "${DEMO_PASSWORD:-}" ]; then
    DEMO_PASSWORD=$(openssl rand -hex 12)
    echo "demo login: user $DEMO_USER, password $DEMO_PASSWORD"
  fi
  printf '%s:%s\n' "$DEMO_USER" "$(openssl passwd -apr1 "$DEMO_PASSWORD")" > "$RUN_DIR/htpasswd"
  chmod 0640 "$RUN_DIR/htpasswd"
  if [ "$(id -u)" -eq 0 ]; then chown mcpfcgi:mcpfcgi "$OAUTH_KEY_FILE" "$RUN_DIR/htpasswd"; fi
  authorize_auth="auth_basic \"MCPFCGI demo\"; auth_basic_user_file $RUN_DIR/htpasswd;"
fi

# Every worker's socket: the management API asks the other workers over FastCGI (each skips its own).
peer_sockets=""
for i in $(seq 1 "$WORKERS"); do peer_sockets+="${peer_sockets:+,}$RUN_DIR/w$i.sock"; done
OUT="$RUN_DIR/nginx.conf" SOCKET_DIR="$RUN_DIR" RUN_DIR="$RUN_DIR" WORKERS="$WORKERS" HOST="$HOST" PORT="$PORT" \
  TLS_PORT="$TLS_PORT" TLS_CERT="$TLS_CERT" TLS_KEY="$TLS_KEY" MAX_BODY="$MAX_BODY" USER_LINE="$user_line" \
  AUTHORIZE_AUTH="$authorize_auth" "$here/render-nginx.sh"
cp "$here/mcp_fastcgi.conf" "$RUN_DIR/mcp_fastcgi.conf"

pids=()
status=0
cleanup() {
  trap - INT TERM EXIT
  # nginx stops gracefully (QUIT: finishes what it is proxying) while the workers drain (TERM).
  [ -n "${nginx_pid:-}" ] && kill -QUIT "$nginx_pid" 2>/dev/null || true
  for pid in "${pids[@]}"; do [ "$pid" = "${nginx_pid:-}" ] || kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "$created_run_dir" = 1 ] && rm -rf "$RUN_DIR"
  exit "$status"
}
trap cleanup INT TERM EXIT
fail() { echo "$*" >&2; status=1; exit 1; }
all_alive() { for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || return 1; done; }

for i in $(seq 1 "$WORKERS"); do
  MCPFCGI_NODE_ID="w$i" MCPFCGI_PUBLIC_URL="$PUBLIC_URL" MCPFCGI_THREADS="$THREADS" \
    MCPFCGI_LOG_LEVEL="$LOG_LEVEL" MCPFCGI_LOG_FORMAT="$LOG_FORMAT" MCPFCGI_DRAIN_TIMEOUT="$DRAIN_TIMEOUT" \
    MCPFCGI_MANAGEMENT_TOKEN="${MANAGEMENT_TOKEN:-}" MCPFCGI_PEER_SOCKETS="$peer_sockets" \
    MCPFCGI_SESSION_IDLE_TIMEOUT="$SESSION_IDLE_TIMEOUT" MCPFCGI_SESSION_SWEEP_INTERVAL="$SESSION_SWEEP_INTERVAL" \
    MCPFCGI_MAX_SESSIONS="$MAX_SESSIONS" \
    MCPFCGI_EXCLUSIVE_SOCKET=1 MCPFCGI_REQUEST_STATE_KEY_FILE="$STATE_KEY_FILE" \
    MCPFCGI_RATE_LIMIT="${RATE_LIMIT:-}" MCPFCGI_AUTH="$AUTH" MCPFCGI_OAUTH_KEY_FILE="${OAUTH_KEY_FILE:-}" \
    spawn-fcgi -n -s "$RUN_DIR/w$i.sock" -M 0660 "${spawn_user[@]}" -- "$RUN_DIR/bin/mcp-fcgi-demo" &
  pids+=($!)
  echo "$!" > "$RUN_DIR/w$i.pid"
done

for _ in $(seq 1 100); do
  all=1
  for i in $(seq 1 "$WORKERS"); do [ -S "$RUN_DIR/w$i.sock" ] || all=0; done
  [ "$all" = 1 ] && break
  sleep 0.05
done
all_alive || fail "a worker failed to start"

nginx -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e stderr &
nginx_pid=$!
pids+=($nginx_pid)
echo "$!" > "$RUN_DIR/nginx.pid.run"

for _ in $(seq 1 100); do
  [ -s "$RUN_DIR/nginx.pid" ] && curl -fsS "http://$url_host:$PORT/health" >/dev/null 2>&1 && break
  all_alive || break
  sleep 0.1
done
# Ready only when our own nginx and workers are alive (another server on the port must not pass for ours).
all_alive || fail "nginx or a worker exited during start-up (port in use?)"
curl -fsS "http://$url_host:$PORT/health" >/dev/null || fail "health check failed"

echo "MCPFCGI demo ready: $PUBLIC_URL/mcp  (TLS: https://$url_host:$TLS_PORT/mcp, self-signed unless TLS_CERT is set)"
echo "health check: curl -fsS http://$url_host:$PORT/health"
echo "run dir: $RUN_DIR  workers: $WORKERS"

# Stay in the foreground until a child exits or we are told to stop.
wait -n "${pids[@]}" || true
echo "a child process exited; stopping" >&2
status=1

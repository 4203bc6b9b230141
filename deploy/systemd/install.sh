#!/usr/bin/env bash
# Installs MCPFCGI as systemd units behind the system's nginx: renders the units of deploy/systemd/, the
# workers' settings (CONF_DIR/mcpfcgi.env), the shared keys and an nginx site file into DESTDIR, enables
# WORKERS instances under mcpfcgi.target and prints what to run next. Idempotent: keys, the TLS pair and the
# htpasswd file are made only when missing, and the variables of the last run are kept in
# CONF_DIR/install.env, so a run without variables renders the same files again.
#
# Variables (all optional; a variable set now replaces the saved value):
#   DESTDIR=/                      install root (another directory: render only, no user, no systemctl, no nginx -t)
#   WORKERS=2                      worker processes mcpfcgi@1 … mcpfcgi@WORKERS
#   BIN=/usr/local/bin/mcp-fcgi-demo   the worker executable (copied from the repo's release build when missing)
#   APP_USER=mcpfcgi APP_GROUP=    the workers' system user (created when missing) and group (default: APP_USER)
#   NGINX_GROUP=                   group of the sockets: nginx's (default: from nginx.conf's "user", else www-data)
#   PUBLIC_URL=https://<fqdn>      public base URL (origin checks, OAuth issuer, HSTS)
#   SERVER_NAME=                   nginx server_name (default: PUBLIC_URL's host)
#   HOST=* PORT=80 TLS_PORT=443    nginx listeners
#   TLS_CERT= TLS_KEY=             certificate and key (default: a self-signed pair in CONF_DIR/tls, made once)
#   AUTH=anonymous                 or builtin: the OAuth 2.1 authorization server, with nginx authentication in
#                                  front of /oauth/authorize: AUTHORIZE_AUTH (nginx directives, e.g. auth_request)
#                                  or else auth_basic with HTPASSWD=/etc/nginx/mcpfcgi.htpasswd (made when missing
#                                  for LOGIN_USER=admin with a random password, printed once)
#   MANAGEMENT_TOKEN=              token of /management/* (unset: off); characters A-Z a-z 0-9 . _ ~ + / = -
#   MANAGEMENT_ALLOW="127.0.0.1 ::1" addresses/CIDR ranges nginx lets reach /management/ (others: 403)
#   METRICS_TOKEN=                 bearer token of GET /metrics, the Prometheus page of the whole deployment (unset:
#                                  metrics off, /metrics 404); at least 16 of the characters of MANAGEMENT_TOKEN
#                                  (openssl rand -hex 24). Written to CONF_DIR/metrics-token (mode 0640, group
#                                  APP_GROUP), which the workers read (MCPFCGI_METRICS_TOKEN_FILE)
#   METRICS_ALLOW="127.0.0.1 ::1"  addresses/CIDR ranges nginx lets reach /metrics (others: 403): the Prometheus
#                                  server's (deploy/prometheus/prometheus.yml)
#   OTEL_EXPORTER_OTLP_ENDPOINT=   tracing: spans exported over OTLP to this collector (unset: off). Every OTEL_*
#                                  variable given (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf or http/json,
#                                  OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, …) goes unchanged into the
#                                  workers' settings; set one empty to drop it. Printable characters without
#                                  quotes or backslashes. An endpoint implies OUTBOUND_NETWORK=1 (the collector
#                                  is reached over TCP)
#   KEEP_CONNECTIONS=16            idle FastCGI connections nginx keeps per upstream and nginx worker (0: none)
#   THREADS= LOG_LEVEL=info LOG_FORMAT=text DRAIN_TIMEOUT=30 SESSION_IDLE_TIMEOUT=1800
#   SESSION_SWEEP_INTERVAL=60 MAX_SESSIONS=10000 RATE_LIMIT= MAX_BODY=4m    as in deploy/run.sh
#   OUTBOUND_NETWORK=0             1: allow AF_INET/AF_INET6 (client ID metadata documents, external auth)
#   SOCKET_DIR=/run/mcpfcgi CONF_DIR=/etc/mcpfcgi
#   NGINX_SITE=/etc/nginx/conf.d/mcpfcgi.conf NGINX_SNIPPET=/etc/nginx/snippets/mcpfcgi_fastcgi.conf
#   REAL_IP_FROM=                  load balancers (addresses/CIDR ranges) whose X-Forwarded-For nginx believes for
#                                  the client address (unset: forwarded headers ignored)
#   OCSP_STAPLING=0 TLS_TRUSTED_CERT= RESOLVER=   OCSP stapling (see deploy/render-nginx.sh)
#   LOG_DIR=/var/log/mcpfcgi       the site's JSON access log (access.log) and error log (error.log)
#   LOGROTATE=/etc/logrotate.d/mcpfcgi  their rotation (deploy/logrotate/mcpfcgi)
#   NGINX_PID=/run/nginx.pid       the pid file of nginx's master (USR1 after rotation)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
deploy=$(cd "$here/.." && pwd)
root_dir=$(cd "$deploy/.." && pwd)

settings=(WORKERS BIN APP_USER APP_GROUP NGINX_GROUP PUBLIC_URL SERVER_NAME HOST PORT TLS_PORT TLS_CERT TLS_KEY
  AUTH AUTHORIZE_AUTH HTPASSWD LOGIN_USER MANAGEMENT_TOKEN THREADS KEEP_CONNECTIONS LOG_LEVEL LOG_FORMAT DRAIN_TIMEOUT
  SESSION_IDLE_TIMEOUT SESSION_SWEEP_INTERVAL MAX_SESSIONS RATE_LIMIT MAX_BODY OUTBOUND_NETWORK SOCKET_DIR
  NGINX_SITE NGINX_SNIPPET REAL_IP_FROM OCSP_STAPLING TLS_TRUSTED_CERT RESOLVER LOG_DIR LOGROTATE NGINX_PID
  METRICS_TOKEN METRICS_ALLOW MANAGEMENT_ALLOW)
# OTEL_* variables (tracing) are settings too, whatever their names: those given now, and those saved.
otel_settings() {
  local name
  for name in $(compgen -v OTEL_ || true); do
    [[ "$name" =~ ^OTEL_[A-Z0-9_]+$ ]] || continue
    case " ${settings[*]} " in *" $name "*) ;; *) settings+=("$name") ;; esac
  done
}
otel_settings

DESTDIR=${DESTDIR:-/}
DESTDIR=${DESTDIR%/}
CONF_DIR=${CONF_DIR:-/etc/mcpfcgi}
live=0
[ -z "$DESTDIR" ] && live=1
is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1
die() { echo "install.sh: $*" >&2; exit 1; }
[ "$live" = 0 ] || [ "$is_root" = 1 ] || die "run as root (sudo), or render elsewhere with DESTDIR=/some/dir"

# Saved settings fill what the environment leaves unset (declare -p output, written by this script as root).
saved="$DESTDIR$CONF_DIR/install.env"
if [ -f "$saved" ]; then
  declare -A given=()
  for name in "${settings[@]}"; do [ -n "${!name+x}" ] && given[$name]=${!name}; done
  # shellcheck disable=SC1090
  source "$saved"
  for name in "${!given[@]}"; do printf -v "$name" '%s' "${given[$name]}"; done
  otel_settings
fi
# Kept for the next run: what was set, not the defaults derived below (they follow PUBLIC_URL etc.).
keep=$(for name in "${settings[@]}"; do if [ -n "${!name+x}" ]; then declare -p "$name"; fi; done |
  sed 's/^declare -[a-z-]* /declare -g /')

WORKERS=${WORKERS:-2}
BIN=${BIN:-/usr/local/bin/mcp-fcgi-demo}
APP_USER=${APP_USER:-mcpfcgi}
APP_GROUP=${APP_GROUP:-$APP_USER}
HOST=${HOST:-*}
PORT=${PORT:-80}
TLS_PORT=${TLS_PORT:-443}
AUTH=${AUTH:-anonymous}
LOGIN_USER=${LOGIN_USER:-admin}
HTPASSWD=${HTPASSWD:-/etc/nginx/mcpfcgi.htpasswd}
MANAGEMENT_TOKEN=${MANAGEMENT_TOKEN:-}
METRICS_TOKEN=${METRICS_TOKEN:-}
METRICS_ALLOW=${METRICS_ALLOW:-127.0.0.1 ::1}
MANAGEMENT_ALLOW=${MANAGEMENT_ALLOW:-127.0.0.1 ::1}
THREADS=${THREADS:-}
KEEP_CONNECTIONS=${KEEP_CONNECTIONS:-16}
LOG_LEVEL=${LOG_LEVEL:-info}
LOG_FORMAT=${LOG_FORMAT:-text}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-30}
SESSION_IDLE_TIMEOUT=${SESSION_IDLE_TIMEOUT:-1800}
SESSION_SWEEP_INTERVAL=${SESSION_SWEEP_INTERVAL:-60}
MAX_SESSIONS=${MAX_SESSIONS:-10000}
RATE_LIMIT=${RATE_LIMIT:-}
MAX_BODY=${MAX_BODY:-4m}
OUTBOUND_NETWORK=${OUTBOUND_NETWORK:-0}
SOCKET_DIR=${SOCKET_DIR:-/run/mcpfcgi}
NGINX_SITE=${NGINX_SITE:-/etc/nginx/conf.d/mcpfcgi.conf}
NGINX_SNIPPET=${NGINX_SNIPPET:-/etc/nginx/snippets/mcpfcgi_fastcgi.conf}
REAL_IP_FROM=${REAL_IP_FROM:-}
OCSP_STAPLING=${OCSP_STAPLING:-0}
LOG_DIR=${LOG_DIR:-/var/log/mcpfcgi}
LOGROTATE=${LOGROTATE:-/etc/logrotate.d/mcpfcgi}
NGINX_PID=${NGINX_PID:-/run/nginx.pid}
if [ -z "${NGINX_GROUP:-}" ]; then
  NGINX_GROUP=$(awk '$1 == "user" { sub(/;$/, "", $NF); print ($3 != "" ? $3 : $2); exit }' \
    "$DESTDIR/etc/nginx/nginx.conf" 2>/dev/null || true)
  NGINX_GROUP=${NGINX_GROUP:-www-data}
fi
if [ -z "${PUBLIC_URL:-}" ]; then
  fqdn=$(hostname -f 2>/dev/null || hostname)
  PUBLIC_URL="https://$fqdn"
  [ "$TLS_PORT" = 443 ] || PUBLIC_URL+=":$TLS_PORT"
fi
PUBLIC_URL=${PUBLIC_URL%/}
if [ -z "${SERVER_NAME:-}" ]; then
  SERVER_NAME=${PUBLIC_URL#*://}
  SERVER_NAME=${SERVER_NAME%%/*}
  case "$SERVER_NAME" in \[*) SERVER_NAME="${SERVER_NAME%%]*}]" ;; *) SERVER_NAME=${SERVER_NAME%%:*} ;; esac
fi

number() { [[ "${!1}" =~ ^[0-9]+$ ]] || die "$1 must be a number"; }
positive() { [[ "${!1}" =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive number"; }
positive WORKERS; positive PORT; positive TLS_PORT; positive DRAIN_TIMEOUT; positive SESSION_SWEEP_INTERVAL
positive MAX_SESSIONS; number SESSION_IDLE_TIMEOUT
[ -z "$THREADS" ] || positive THREADS
number KEEP_CONNECTIONS
# What each worker keeps idle at most (as deploy/run.sh): KEEP_CONNECTIONS for each upstream it is in (at most
# WORKERS + 2) and nginx worker process (one per core), at least 256; 0: every connection closed after its request.
kept_idle=0
if [ "$KEEP_CONNECTIONS" != 0 ]; then
  kept_idle=$(( KEEP_CONNECTIONS * (WORKERS + 2) * $(nproc) ))
  [ "$kept_idle" -ge 256 ] || kept_idle=256
fi
[ -z "$RATE_LIMIT" ] || number RATE_LIMIT
case "$AUTH" in anonymous|builtin) ;; *) die "AUTH=$AUTH: use anonymous or builtin" ;; esac
case "$LOG_LEVEL" in trace|debug|info|notice|warning|error|critical) ;; *) die "LOG_LEVEL=$LOG_LEVEL: unknown level" ;; esac
case "$LOG_FORMAT" in text|json) ;; *) die "LOG_FORMAT is text or json" ;; esac
case "$OUTBOUND_NETWORK" in 0|1) ;; *) die "OUTBOUND_NETWORK is 0 or 1" ;; esac
[[ "$PUBLIC_URL" =~ ^https?://[^[:space:]\"\'\\]+$ ]] || die "PUBLIC_URL must be an http(s) URL without spaces or quotes"
[ -z "$MANAGEMENT_TOKEN" ] || [[ "$MANAGEMENT_TOKEN" =~ ^[A-Za-z0-9._~+/=-]+$ ]] ||
  die "MANAGEMENT_TOKEN may contain only A-Z a-z 0-9 . _ ~ + / = -"
[ -z "$METRICS_TOKEN" ] || [[ "$METRICS_TOKEN" =~ ^[A-Za-z0-9._~+/=-]{16,}$ ]] ||
  die "METRICS_TOKEN needs at least 16 characters, only A-Z a-z 0-9 . _ ~ + / = - (openssl rand -hex 24)"
[[ "$MAX_BODY" =~ ^[0-9]+[kKmMgG]?$ ]] || die "MAX_BODY must be an nginx size (4m)"
for name in APP_USER APP_GROUP NGINX_GROUP; do
  [[ "${!name}" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "$name=${!name} is not a user or group name"
done
for address in $REAL_IP_FROM; do
  [[ "$address" =~ ^[0-9A-Fa-f:.]+(/[0-9]+)?$ ]] || die "REAL_IP_FROM: $address is not an address or CIDR range"
done
for address in $METRICS_ALLOW; do
  [[ "$address" =~ ^[0-9A-Fa-f:.]+(/[0-9]+)?$ ]] || die "METRICS_ALLOW: $address is not an address or CIDR range"
done
for address in $MANAGEMENT_ALLOW; do
  [[ "$address" =~ ^[0-9A-Fa-f:.]+(/[0-9]+)?$ ]] || die "MANAGEMENT_ALLOW: $address is not an address or CIDR range"
done
# OTEL_* values go unquoted into the EnvironmentFile: one line each, nothing systemd would unquote or unescape.
otel_value='^[^[:space:][:cntrl:]"'\''\\]([^[:cntrl:]"'\''\\]*[^[:space:][:cntrl:]"'\''\\])?$'
otel_lines=""
for name in "${settings[@]}"; do
  if [[ "$name" != OTEL_* ]] || [ -z "${!name:-}" ]; then continue; fi
  [[ "${!name}" =~ $otel_value ]] ||
    die "$name: printable characters only, no quotes, backslashes, or spaces at either end"
  otel_lines+="$name=${!name}"$'\n'
done
if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ] && [ "$OUTBOUND_NETWORK" = 0 ]; then
  OUTBOUND_NETWORK=1
  echo "OTEL_EXPORTER_OTLP_ENDPOINT is set: the workers get the host's network (OUTBOUND_NETWORK=1) to reach it"
fi
case "$OCSP_STAPLING" in 0|1) ;; *) die "OCSP_STAPLING is 0 or 1" ;; esac
for name in BIN SOCKET_DIR CONF_DIR HTPASSWD NGINX_SITE NGINX_SNIPPET LOG_DIR LOGROTATE NGINX_PID; do
  [[ "${!name}" =~ ^/[A-Za-z0-9._/@+-]+$ ]] || die "$name must be an absolute path of plain characters"
done
if [ -n "${TLS_CERT:-}" ] && [ -n "${TLS_KEY:-}" ]; then
  for name in TLS_CERT TLS_KEY; do
    [[ "${!name}" =~ ^/[^[:space:]\;\"\'\\]+$ ]] || die "$name must be an absolute path without spaces or quotes"
    [ "$live" = 0 ] || [ -r "${!name}" ] || die "$name=${!name} is not readable"
  done
fi

# Ownership applies only on the live system (the user exists there); elsewhere the modes alone.
own() { # own USER:GROUP FILE…
  [ "$live" = 1 ] && chown "$@"
  return 0
}
write() { # write MODE OWNER FILE: stdin to FILE, replaced atomically
  local mode=$1 owner=$2 file=$3 tmp
  tmp=$(mktemp "$file.XXXXXX")
  cat > "$tmp"
  chmod "$mode" "$tmp"
  own "$owner" "$tmp"
  mv -f "$tmp" "$file"
}

# 1. The app user and nginx's group.
if [ "$live" = 1 ]; then
  getent group "$NGINX_GROUP" >/dev/null ||
    die "group $NGINX_GROUP (nginx's) does not exist: install nginx first, or set NGINX_GROUP"
  getent group "$APP_GROUP" >/dev/null || groupadd --system "$APP_GROUP"
  id "$APP_USER" >/dev/null 2>&1 ||
    useradd --system --gid "$APP_GROUP" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$APP_USER"
fi

# 2. The worker executable.
if [ ! -x "$DESTDIR$BIN" ]; then
  built="$root_dir/.build/release/mcp-fcgi-demo"
  if [ -x "$built" ]; then
    install -D -m 0755 "$built" "$DESTDIR$BIN"
    echo "installed $built as $BIN"
  elif [ "$live" = 1 ]; then
    die "no worker executable at $BIN: build it (swift build -c release --product mcp-fcgi-demo) or set BIN"
  fi
fi

# 3. Settings and keys, readable by the workers' group only.
conf="$DESTDIR$CONF_DIR"
install -d -m 0750 "$conf"
own "root:$APP_GROUP" "$conf"
if [ ! -s "$conf/request-state.key" ]; then
  # Protects 2026-07-28 request state; shared by every worker so a multi-round request continues on any.
  head -c 32 /dev/urandom | write 0640 "root:$APP_GROUP" "$conf/request-state.key"
fi
metrics_line=""
if [ -n "$METRICS_TOKEN" ]; then
  # A file rather than the environment: the token stays out of the workers' environment and their settings.
  printf '%s\n' "$METRICS_TOKEN" | write 0640 "root:$APP_GROUP" "$conf/metrics-token"
  metrics_line="MCPFCGI_METRICS_TOKEN_FILE=$CONF_DIR/metrics-token"
else
  rm -f "$conf/metrics-token"
fi
oauth_key_line=""
if [ "$AUTH" = builtin ]; then
  if [ ! -s "$conf/oauth-signing-key.pem" ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null |
      write 0640 "root:$APP_GROUP" "$conf/oauth-signing-key.pem"
  fi
  oauth_key_line="MCPFCGI_OAUTH_KEY_FILE=$CONF_DIR/oauth-signing-key.pem"
fi
if [ -z "${TLS_CERT:-}" ] || [ -z "${TLS_KEY:-}" ]; then
  TLS_CERT="$CONF_DIR/tls/selfsigned.crt"
  TLS_KEY="$CONF_DIR/tls/selfsigned.key"
  if [ ! -s "$DESTDIR$TLS_KEY" ] || [ ! -s "$DESTDIR$TLS_CERT" ]; then
    install -d -m 0700 "$conf/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
      -subj "/CN=$SERVER_NAME" -keyout "$DESTDIR$TLS_KEY" -out "$DESTDIR$TLS_CERT" >/dev/null 2>&1
    chmod 0600 "$DESTDIR$TLS_KEY"
    echo "WARNING: self-signed certificate $TLS_CERT; set TLS_CERT and TLS_KEY to a real pair" >&2
  fi
fi
peers=""
for i in $(seq 1 "$WORKERS"); do peers+="${peers:+,}$SOCKET_DIR/w$i.sock"; done
{
  echo "# MCPFCGI worker settings (systemd EnvironmentFile of mcpfcgi@.service), rendered by"
  echo "# deploy/systemd/install.sh: re-run it to change them. MCPFCGI_NODE_ID comes from the unit (w<i>)."
  echo "MCPFCGI_PUBLIC_URL=$PUBLIC_URL"
  echo "MCPFCGI_AUTH=$AUTH"
  [ -z "$oauth_key_line" ] || echo "$oauth_key_line"
  echo "MCPFCGI_REQUEST_STATE_KEY_FILE=$CONF_DIR/request-state.key"
  [ -z "$MANAGEMENT_TOKEN" ] || echo "MCPFCGI_MANAGEMENT_TOKEN=$MANAGEMENT_TOKEN"
  [ -z "$metrics_line" ] || echo "$metrics_line"
  echo "# Every worker's socket: /management/* asks the others (each skips its own)."
  echo "MCPFCGI_PEER_SOCKETS=$peers"
  echo "MCPFCGI_DRAIN_TIMEOUT=$DRAIN_TIMEOUT"
  echo "MCPFCGI_SESSION_IDLE_TIMEOUT=$SESSION_IDLE_TIMEOUT"
  echo "MCPFCGI_SESSION_SWEEP_INTERVAL=$SESSION_SWEEP_INTERVAL"
  echo "MCPFCGI_MAX_SESSIONS=$MAX_SESSIONS"
  [ -z "$THREADS" ] || echo "MCPFCGI_THREADS=$THREADS"
  echo "MCPFCGI_KEEP_CONNECTIONS=$kept_idle"
  [ -z "$RATE_LIMIT" ] || echo "MCPFCGI_RATE_LIMIT=$RATE_LIMIT"
  echo "MCPFCGI_LOG_LEVEL=$LOG_LEVEL"
  echo "MCPFCGI_LOG_FORMAT=$LOG_FORMAT"
  [ -z "$otel_lines" ] || { echo "# Tracing (OpenTelemetry, OTLP)."; printf '%s' "$otel_lines"; }
} | write 0640 "root:$APP_GROUP" "$conf/mcpfcgi.env"

# 4. The units.
families="AF_UNIX"
private_network=yes
if [ "$OUTBOUND_NETWORK" = 1 ]; then families="AF_UNIX AF_INET AF_INET6"; private_network=no; fi
export R_BIN="$BIN" R_APP_USER="$APP_USER" R_APP_GROUP="$APP_GROUP" R_SOCKET_GROUP="$NGINX_GROUP" \
  R_SOCKET_DIR="$SOCKET_DIR" R_CONF_DIR="$CONF_DIR" R_DRAIN_TIMEOUT="$DRAIN_TIMEOUT" \
  R_TIMEOUT_STOP="$((DRAIN_TIMEOUT + 15))" R_ADDRESS_FAMILIES="$families" R_PRIVATE_NETWORK="$private_network" \
  R_LOG_DIR="$LOG_DIR" R_NGINX_PID="$NGINX_PID"
render_unit() { # render_unit TEMPLATE OUT: replace @@NAME@@ by $R_NAME, literally
  local text
  text=$(awk '{
    for (k in ENVIRON) if (k ~ /^R_/) {
      key = "@@" substr(k, 3) "@@"; out = ""
      while ((at = index($0, key)) > 0) {
        out = out substr($0, 1, at - 1) ENVIRON[k]; $0 = substr($0, at + length(key))
      }
      $0 = out $0
    }
    if ($0 ~ /@@[A-Z_]+@@/) { print "unknown placeholder in " FILENAME ": " $0 > "/dev/stderr"; exit 1 }
    print }' "$1") || die "cannot render $1"
  printf '%s\n' "$text" | write 0644 root:root "$2"
}
units="$DESTDIR/etc/systemd/system"
install -d -m 0755 "$units" "$units/mcpfcgi.target.wants"
for unit in mcpfcgi@.socket mcpfcgi@.service mcpfcgi.target mcpfcgi-alert@.service; do
  render_unit "$here/$unit" "$units/$unit"
done
# Enable instances 1 … WORKERS as wants of the target (what `systemctl enable mcpfcgi@<i>.socket` does).
removed=()
for link in "$units/mcpfcgi.target.wants"/mcpfcgi@*.socket "$units/mcpfcgi.target.wants"/mcpfcgi@*.service; do
  [ -L "$link" ] || continue
  name=${link##*/}
  i=${name#mcpfcgi@}
  i=${i%.*}
  if ! [[ "$i" =~ ^[0-9]+$ ]] || [ "$i" -lt 1 ] || [ "$i" -gt "$WORKERS" ]; then
    rm -f "$link"
    [[ "$name" == *.service ]] && removed+=("mcpfcgi@$i.socket" "mcpfcgi@$i.service")
  fi
done
for i in $(seq 1 "$WORKERS"); do
  for kind in socket service; do
    ln -sfn "/etc/systemd/system/mcpfcgi@.$kind" "$units/mcpfcgi.target.wants/mcpfcgi@$i.$kind"
  done
done

# 5. nginx: the FastCGI settings and an http-level site file rendered from deploy/nginx-site.conf.
if [ -z "${AUTHORIZE_AUTH:-}" ] && [ "$AUTH" = builtin ]; then
  authorize_auth="auth_basic \"MCPFCGI\"; auth_basic_user_file $HTPASSWD;"
  if [ ! -s "$DESTDIR$HTPASSWD" ]; then
    password=$(openssl rand -hex 12)
    install -d -m 0755 "$(dirname "$DESTDIR$HTPASSWD")"
    printf '%s:%s\n' "$LOGIN_USER" "$(openssl passwd -apr1 "$password")" |
      write 0640 "root:$NGINX_GROUP" "$DESTDIR$HTPASSWD"
    echo "OAuth login (nginx auth_basic, $HTPASSWD): user $LOGIN_USER, password $password"
  fi
else
  authorize_auth=${AUTHORIZE_AUTH:-}
fi
install -d -m 0755 "$(dirname "$DESTDIR$NGINX_SNIPPET")" "$(dirname "$DESTDIR$NGINX_SITE")"
# KEEP_CONNECTIONS=0: nginx does not ask to keep connections either (as deploy/run.sh).
if [ "$KEEP_CONNECTIONS" = 0 ]; then
  sed 's/^fastcgi_keep_conn on;$/fastcgi_keep_conn off;/' "$deploy/mcp_fastcgi.conf" | write 0644 root:root "$DESTDIR$NGINX_SNIPPET"
else
  write 0644 root:root "$DESTDIR$NGINX_SNIPPET" < "$deploy/mcp_fastcgi.conf"
fi
# The site's logs (nginx's master opens them as root) and their rotation.
install -d -m 0750 "$DESTDIR$LOG_DIR"
own root:adm "$DESTDIR$LOG_DIR"
install -d -m 0755 "$(dirname "$DESTDIR$LOGROTATE")"
render_unit "$deploy/logrotate/mcpfcgi" "$DESTDIR$LOGROTATE"
old_site=""
[ -f "$DESTDIR$NGINX_SITE" ] && old_site=$(mktemp) && cp -p "$DESTDIR$NGINX_SITE" "$old_site"
site_tmp=$(mktemp)
OUT="$site_tmp" SITE_ONLY=1 SOCKET_DIR="$SOCKET_DIR" WORKERS="$WORKERS" HOST="$HOST" PORT="$PORT" \
  TLS_PORT="$TLS_PORT" TLS_CERT="$TLS_CERT" TLS_KEY="$TLS_KEY" MAX_BODY="$MAX_BODY" SERVER_NAME="$SERVER_NAME" \
  AUTHORIZE_AUTH="$authorize_auth" FASTCGI_INCLUDE="$NGINX_SNIPPET" PUBLIC_URL="$PUBLIC_URL" \
  KEEP_CONNECTIONS="$KEEP_CONNECTIONS" REAL_IP_FROM="$REAL_IP_FROM" METRICS_ALLOW="$METRICS_ALLOW" MANAGEMENT_ALLOW="$MANAGEMENT_ALLOW" OCSP_STAPLING="$OCSP_STAPLING" TLS_TRUSTED_CERT="${TLS_TRUSTED_CERT:-}" \
  RESOLVER="${RESOLVER:-}" ACCESS_LOG="$LOG_DIR/access.log" ERROR_LOG="$LOG_DIR/error.log" "$deploy/render-nginx.sh"
write 0644 root:root "$DESTDIR$NGINX_SITE" < "$site_tmp"
rm -f "$site_tmp"

# 6. On the live system: load the units, check nginx (restoring the previous site when the check fails).
if [ "$live" = 1 ]; then
  [ -d /run/systemd/system ] && systemctl daemon-reload
  if command -v nginx >/dev/null; then
    if ! nginx -t -q; then
      if [ -n "$old_site" ]; then cp -p "$old_site" "$NGINX_SITE"; else rm -f "$NGINX_SITE"; fi
      die "nginx -t failed with the new $NGINX_SITE: previous state restored"
    fi
  else
    echo "WARNING: nginx is not installed (apt-get install nginx)" >&2
  fi
fi
[ -z "$old_site" ] || rm -f "$old_site"

# 7. The settings of this run, for the next one.
printf '%s\n' "$keep" | write 0600 root:root "$saved"

echo "MCPFCGI rendered into ${DESTDIR:-/}: $WORKERS workers ($BIN as $APP_USER), settings $CONF_DIR/mcpfcgi.env,"
echo "sockets $SOCKET_DIR/w<i>.sock (group $NGINX_GROUP), nginx site $NGINX_SITE, public URL $PUBLIC_URL"
if [ "${#removed[@]}" -gt 0 ]; then
  echo "no longer enabled: ${removed[*]}; stop them: systemctl stop ${removed[*]}"
fi
echo "next:"
echo "  systemctl enable --now mcpfcgi.target   # start the workers now and at boot (also starts added ones)"
echo "  systemctl reload nginx"
echo "  curl -fsS $PUBLIC_URL/health"
echo "already running? apply changed settings without losing a connection: $here/rolling-restart.sh"

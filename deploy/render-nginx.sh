#!/usr/bin/env bash
# Renders deploy/nginx.conf for WORKERS workers whose unix sockets are SOCKET_DIR/w<i>.sock, writing OUT.
# Used by deploy/run.sh; every value comes from the environment:
#   OUT           file to write (required)
#   SOCKET_DIR    directory of the workers' sockets w1.sock … w<WORKERS>.sock (required)
#   RUN_DIR       nginx's pid file and temporary files (required)
#   WORKERS       number of workers (required)
#   HOST PORT TLS_PORT TLS_CERT TLS_KEY MAX_BODY    listeners, certificate, client_max_body_size (required)
#   USER_LINE     "user <user> <group>;" or empty
#   AUTHORIZE_AUTH  nginx directives in front of /oauth/authorize (the login step) or empty
#   FASTCGI_INCLUDE  path of mcp_fastcgi.conf as nginx includes it (default: RUN_DIR/mcp_fastcgi.conf)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${OUT:?}" "${SOCKET_DIR:?}" "${RUN_DIR:?}" "${WORKERS:?}" "${HOST:?}" "${PORT:?}" "${TLS_PORT:?}"
: "${TLS_CERT:?}" "${TLS_KEY:?}" "${MAX_BODY:?}"
FASTCGI_INCLUDE=${FASTCGI_INCLUDE:-$RUN_DIR/mcp_fastcgi.conf}

upstreams=""
session_map=""
any_servers=""
for i in $(seq 1 "$WORKERS"); do
  upstreams+="    upstream mcp_w$i { server unix:$SOCKET_DIR/w$i.sock; }"$'\n'
  session_map+="        ~^[^|]*\\|w$i\\. mcp_w$i;"$'\n'
  # max_fails=0: a worker being restarted (its socket gone or refusing for a moment) is never marked down;
  # nginx passes the request to the next worker (fastcgi_next_upstream) and tries this one again next time.
  any_servers+=" server unix:$SOCKET_DIR/w$i.sock max_fails=0;"
done
upstreams+="    upstream mcp_any {$any_servers }"$'\n'
upstreams+="    upstream mcp_oauth { server unix:$SOCKET_DIR/w1.sock; }"

# Values go through the environment (awk -v would interpret the backslashes of the map's regexes).
USER_LINE="${USER_LINE:-}" HOST_V="$HOST" PORT_V="$PORT" TLS_PORT_V="$TLS_PORT" TLS_CERT_V="$TLS_CERT" \
TLS_KEY_V="$TLS_KEY" UPSTREAMS="$upstreams" SESSION_MAP="$session_map" MAX_BODY_V="$MAX_BODY" \
AUTHORIZE_AUTH="${AUTHORIZE_AUTH:-}" RUN_DIR_V="$RUN_DIR" FASTCGI_INCLUDE_V="$FASTCGI_INCLUDE" awk '
  function put(name, value) { gsub("@@" name "@@", value) }
  /^#/ { print; next }
  $0 ~ /^[ \t]*@@UPSTREAMS@@[ \t]*$/ { print ENVIRON["UPSTREAMS"]; next }
  $0 ~ /^[ \t]*@@SESSION_MAP@@[ \t]*$/ { printf "%s", ENVIRON["SESSION_MAP"]; next }
  { put("USER_LINE", ENVIRON["USER_LINE"]); put("FASTCGI_INCLUDE", ENVIRON["FASTCGI_INCLUDE_V"]);
    put("RUN_DIR", ENVIRON["RUN_DIR_V"]); put("HOST", ENVIRON["HOST_V"]);
    put("TLS_PORT", ENVIRON["TLS_PORT_V"]); put("PORT", ENVIRON["PORT_V"]); put("TLS_CERT", ENVIRON["TLS_CERT_V"]);
    put("TLS_KEY", ENVIRON["TLS_KEY_V"]); put("MAX_BODY", ENVIRON["MAX_BODY_V"]);
    put("AUTHORIZE_AUTH", ENVIRON["AUTHORIZE_AUTH"]); print }' "$here/nginx.conf" > "$OUT"

#!/usr/bin/env bash
# Renders the nginx configuration for WORKERS workers whose unix sockets are SOCKET_DIR/w<i>.sock, writing OUT:
# deploy/nginx-site.conf (upstreams, maps, server) inlined into deploy/nginx.conf (the full configuration
# deploy/run.sh uses), or with SITE_ONLY=1 the site part alone (an http-level file for /etc/nginx/conf.d/,
# used by deploy/systemd/install.sh). Every value comes from the environment:
#   OUT           file to write (required)
#   SOCKET_DIR    directory of the workers' sockets w1.sock … w<WORKERS>.sock (required)
#   RUN_DIR       nginx's pid file and temporary files (required unless SITE_ONLY=1)
#   WORKERS       number of workers (required)
#   STORE         memory (default: OAuth routes to worker 1, which holds the OAuth state; a session to its own
#                 worker only) or postgres (OAuth to any worker; a session to its own worker, the others as backup
#                 servers when that one cannot be reached)
#   HOST PORT TLS_PORT TLS_CERT TLS_KEY MAX_BODY    listeners, certificate, client_max_body_size (required)
#   USER_LINE     "user <user> <group>;" or empty (full configuration only)
#   AUTHORIZE_AUTH  nginx directives in front of /oauth/authorize (the login step) or empty
#   FASTCGI_INCLUDE  path of mcp_fastcgi.conf as nginx includes it (default: RUN_DIR/mcp_fastcgi.conf)
#   SERVER_NAME   the public host name(s) of server_name (default: PUBLIC_URL's host); localhost 127.0.0.1
#                 [::1] are always added. Requests for any other Host get 421 from a catch-all server.
#   PUBLIC_URL    the public base URL, whose host is the default SERVER_NAME
#   STREAMS_PER_ADDRESS  open GET streams per client address on the MCP endpoints (default 32; 0: no limit)
#   MANAGEMENT_ALLOW  addresses or CIDR ranges (space-separated) that may reach /management/ through nginx
#                 (default "127.0.0.1 ::1"; everyone else gets 403); workers reach each other over their sockets
#   METRICS_ALLOW addresses or CIDR ranges (space-separated) that may reach /metrics through nginx (default
#                 "127.0.0.1 ::1"; everyone else gets 403): the Prometheus server's address
#   PUBLIC_URL    also decides the plain listener: https → HTTPS-only (it answers every request with a 308
#                 redirect to the public URL's origin + the request URI); http (or unset) → it serves like TLS
#   REAL_IP_FROM  addresses or CIDR ranges (space-separated) of trusted load balancers: nginx takes the client
#                 address from their X-Forwarded-For (realip module; default: none, forwarded headers ignored)
#   OCSP_STAPLING 1: staple OCSP answers (needs a certificate with an OCSP URL and its issuer in TLS_CERT);
#                 TLS_TRUSTED_CERT (default /etc/ssl/certs/ca-certificates.crt) verifies them, RESOLVER (default:
#                 the first nameserver of /etc/resolv.conf) finds the responder. Default 0
#   ACCESS_LOG    the JSON access log file, or "off" (default: RUN_DIR/access.log; SITE_ONLY=1: off)
#   ERROR_LOG     a file for this site's error log (default: empty, the main configuration's error_log)
#   KEEP_CONNECTIONS  idle FastCGI connections nginx keeps open per upstream and nginx worker process ("keepalive N"
#                 in every upstream; mcp_fastcgi.conf says fastcgi_keep_conn on). Default 16; 0: none, a connection
#                 per request. The workers must keep at least as many (MCPFCGI_KEEP_CONNECTIONS; see deploy/run.sh)
#   SITE_ONLY     1: write only the rendered deploy/nginx-site.conf
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SITE_ONLY=${SITE_ONLY:-0}
: "${OUT:?}" "${SOCKET_DIR:?}" "${WORKERS:?}" "${HOST:?}" "${PORT:?}" "${TLS_PORT:?}"
: "${TLS_CERT:?}" "${TLS_KEY:?}" "${MAX_BODY:?}"
if [ "$SITE_ONLY" = 1 ]; then
  : "${FASTCGI_INCLUDE:?SITE_ONLY=1 needs FASTCGI_INCLUDE}"
  RUN_DIR=${RUN_DIR:-}
else
  : "${RUN_DIR:?}"
  FASTCGI_INCLUDE=${FASTCGI_INCLUDE:-$RUN_DIR/mcp_fastcgi.conf}
fi
if [ -z "${SERVER_NAME:-}" ] && [ -n "${PUBLIC_URL:-}" ]; then
  SERVER_NAME=${PUBLIC_URL#*://}
  SERVER_NAME=${SERVER_NAME%%[/?#]*}
  SERVER_NAME=${SERVER_NAME##*@}
  case "$SERVER_NAME" in \[*) SERVER_NAME="${SERVER_NAME%%]*}]" ;; *) SERVER_NAME=${SERVER_NAME%%:*} ;; esac
  SERVER_NAME=${SERVER_NAME,,}
fi
server_names=""
read -ra names <<< "${SERVER_NAME:-}"
for name in "${names[@]}" localhost 127.0.0.1 '[::1]'; do
  case " $server_names " in *" $name "*) ;; *) server_names+="${server_names:+ }$name" ;; esac
done
SERVER_NAME=$server_names
STREAMS_PER_ADDRESS=${STREAMS_PER_ADDRESS:-32}
streams_limit=""
[ "$STREAMS_PER_ADDRESS" -gt 0 ] && streams_limit="limit_conn mcp_streams $STREAMS_PER_ADDRESS;"
management_allow=""
for address in ${MANAGEMENT_ALLOW:-127.0.0.1 ::1}; do
  [[ "$address" =~ ^[0-9A-Fa-f:.]+(/[0-9]+)?$ ]] || { echo "MANAGEMENT_ALLOW: $address is not an address or CIDR range" >&2; exit 2; }
  management_allow+="allow $address; "
done
management_allow+="deny all;"
metrics_allow=""
for address in ${METRICS_ALLOW:-127.0.0.1 ::1}; do
  [[ "$address" =~ ^[0-9A-Fa-f:.]+(/[0-9]+)?$ ]] || { echo "METRICS_ALLOW: $address is not an address or CIDR range" >&2; exit 2; }
  metrics_allow+="allow $address; "
done
metrics_allow+="deny all;"
# Trusted load balancers: only then is X-Forwarded-For believed (the rightmost untrusted address is the client).
real_ip=""
for address in ${REAL_IP_FROM:-}; do
  [[ "$address" =~ ^[0-9A-Fa-f:.]+(/[0-9]+)?$ ]] || { echo "REAL_IP_FROM: $address is not an address or CIDR range" >&2; exit 2; }
  real_ip+="set_real_ip_from $address; "
done
[ -z "$real_ip" ] || real_ip+="real_ip_header X-Forwarded-For; real_ip_recursive on;"
# HTTPS-only when the public URL is https: the plain listener redirects to its origin.
https_only=0
public_origin=""
case "${PUBLIC_URL:-}" in
  https://*|HTTPS://*)
    https_only=1
    authority=${PUBLIC_URL#*://}
    authority=${authority%%[/?#]*}
    public_origin="https://$authority"
    [[ "$authority" =~ ^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]+)?$ ]] ||
      { echo "PUBLIC_URL: $PUBLIC_URL has no plain host[:port] to redirect to" >&2; exit 2; } ;;
esac
plain_file() { # plain_file NAME VALUE: a path nginx can take as one word
  [[ "$2" =~ ^/[^[:space:]\;\"\'\\\$\{\}]+$ ]] || { echo "$1: $2 must be an absolute path without spaces, quotes or ; \$ { }" >&2; exit 2; }
}
ocsp=""
case "${OCSP_STAPLING:-0}" in
  0) ;;
  1)
    TLS_TRUSTED_CERT=${TLS_TRUSTED_CERT:-/etc/ssl/certs/ca-certificates.crt}
    plain_file TLS_TRUSTED_CERT "$TLS_TRUSTED_CERT"
    RESOLVER=${RESOLVER:-$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf 2>/dev/null || true)}
    [ -n "$RESOLVER" ] || { echo "OCSP_STAPLING=1 needs RESOLVER (no nameserver in /etc/resolv.conf)" >&2; exit 2; }
    resolvers=""
    for address in $RESOLVER; do
      [[ "$address" =~ ^[0-9A-Fa-f:.]+$ ]] || { echo "RESOLVER: $address is not an IP address" >&2; exit 2; }
      case "$address" in *:*) address="[$address]" ;; esac
      resolvers+=" $address"
    done
    ocsp="ssl_stapling on; ssl_stapling_verify on; ssl_trusted_certificate $TLS_TRUSTED_CERT; resolver$resolvers valid=300s; resolver_timeout 5s;" ;;
  *) echo "OCSP_STAPLING is 0 or 1" >&2; exit 2 ;;
esac
if [ -z "${ACCESS_LOG:-}" ]; then
  if [ "$SITE_ONLY" = 1 ]; then ACCESS_LOG=off; else ACCESS_LOG="$RUN_DIR/access.log"; fi
fi
if [ "$ACCESS_LOG" = off ]; then
  access_log="access_log off;"
else
  plain_file ACCESS_LOG "$ACCESS_LOG"
  access_log="access_log $ACCESS_LOG mcpfcgi_json;"
fi
error_log=""
if [ -n "${ERROR_LOG:-}" ]; then plain_file ERROR_LOG "$ERROR_LOG"; error_log="error_log $ERROR_LOG warn;"; fi
# An IPv6 address is written in brackets in "listen".
listen_host=$HOST
case "$HOST" in \[*) ;; *:*) listen_host="[$HOST]" ;; esac

KEEP_CONNECTIONS=${KEEP_CONNECTIONS:-16}
[[ "$KEEP_CONNECTIONS" =~ ^[0-9]+$ ]] || { echo "KEEP_CONNECTIONS is a whole number (0: a connection per request)" >&2; exit 2; }
# Appended to every upstream block: its pool of idle kept connections.
keepalive=""
[ "$KEEP_CONNECTIONS" = 0 ] || keepalive=" keepalive $KEEP_CONNECTIONS;"
upstreams=""
session_map=""
any_servers=""
for i in $(seq 1 "$WORKERS"); do
  session_map+="    ~^[^|]*\\|w$i\\. mcp_w$i;"$'\n'
  # max_fails=0: a worker being restarted (its socket gone or refusing for a moment) is never marked down;
  # nginx passes the request to the next worker (fastcgi_next_upstream) and tries this one again next time.
  any_servers+=" server unix:$SOCKET_DIR/w$i.sock max_fails=0;"
done
# The session's upstream: its own worker. In memory (STORE=memory) only that worker knows the session, so it is
# the only server (the owner down: 502, the session is gone anyway). In PostgreSQL (STORE=postgres) every worker can
# load it: the owner comes first and every other worker is a backup server, so nginx keeps the affinity while the
# owner is up and passes the request to another worker when it cannot connect to the owner's socket (killed,
# restarting, draining: fastcgi_next_upstream error, which holds for POST too because nothing was sent yet).
for i in $(seq 1 "$WORKERS"); do
  if [ "${STORE:-memory}" = postgres ]; then
    servers=" server unix:$SOCKET_DIR/w$i.sock max_fails=0;"
    for j in $(seq 1 "$WORKERS"); do
      [ "$j" = "$i" ] || servers+=" server unix:$SOCKET_DIR/w$j.sock backup max_fails=0;"
    done
    upstreams+="upstream mcp_w$i {$servers$keepalive }"$'\n'
  else
    upstreams+="upstream mcp_w$i { server unix:$SOCKET_DIR/w$i.sock;$keepalive }"$'\n'
  fi
done
upstreams+="upstream mcp_any {$any_servers$keepalive }"$'\n'
# OAuth state in one worker's memory (STORE=memory): /oauth/ and /.well-known/ go to worker 1. In PostgreSQL
# (STORE=postgres) any worker serves them.
if [ "${STORE:-memory}" = postgres ]; then
  upstreams+="upstream mcp_oauth {$any_servers$keepalive }"
else
  upstreams+="upstream mcp_oauth { server unix:$SOCKET_DIR/w1.sock;$keepalive }"
fi

# Values go through the environment (awk -v would interpret the backslashes of the map's regexes) and are
# substituted literally (gsub would treat "&" in a value as the match).
export USER_LINE="${USER_LINE:-}" HOST_V="$listen_host" PORT_V="$PORT" TLS_PORT_V="$TLS_PORT" TLS_CERT_V="$TLS_CERT" \
  TLS_KEY_V="$TLS_KEY" UPSTREAMS="$upstreams" SESSION_MAP="$session_map" MAX_BODY_V="$MAX_BODY" \
  AUTHORIZE_AUTH_V="${AUTHORIZE_AUTH:-}" RUN_DIR_V="$RUN_DIR" FASTCGI_INCLUDE_V="$FASTCGI_INCLUDE" \
  SERVER_NAME_V="$SERVER_NAME" STREAMS_LIMIT_V="$streams_limit" MANAGEMENT_ALLOW_V="$management_allow" \
  METRICS_ALLOW_V="$metrics_allow" \
  REAL_IP_V="$real_ip" OCSP_V="$ocsp" ACCESS_LOG_V="$access_log" ERROR_LOG_V="$error_log" \
  PUBLIC_ORIGIN_V="$public_origin" IF_HTTPS_ONLY="$https_only" IF_PLAIN_HTTP="$((1 - https_only))"
# shellcheck disable=SC2016
render='
  function put(name, value,   key, at, out) {
    key = "@@" name "@@"; out = ""
    while ((at = index($0, key)) > 0) { out = out substr($0, 1, at - 1) value; $0 = substr($0, at + length(key)) }
    $0 = out $0
  }
  # The template header (its first comment block) describes placeholders: keep it out of the site.
  skip_header && !body && /^#/ { next }
  skip_header && !body && /^[ \t]*$/ { body = 1; next }
  { body = 1 }
  # Conditional sections: "#@@IF_<NAME>" … "#@@END_IF", kept when the variable IF_<NAME> is 1.
  /^[ \t]*#@@IF_[A-Z_]+[ \t]*$/ { name = $0; sub(/^[ \t]*#@@/, "", name); sub(/[ \t]*$/, "", name);
                                   dropping = ENVIRON[name] != "1"; next }
  /^[ \t]*#@@END_IF[ \t]*$/ { dropping = 0; next }
  dropping { next }
  /^[ \t]*#/ { print; next }
  $0 ~ /^[ \t]*@@UPSTREAMS@@[ \t]*$/ { print ENVIRON["UPSTREAMS"]; next }
  $0 ~ /^[ \t]*@@SESSION_MAP@@[ \t]*$/ { printf "%s", ENVIRON["SESSION_MAP"]; next }
  $0 ~ /^[ \t]*@@SITE@@[ \t]*$/ {
    indent = $0; sub(/@@SITE@@.*/, "", indent)
    n = split(ENVIRON["SITE"], lines, "\n")
    for (i = 1; i <= n; i++) print (lines[i] == "" ? "" : indent lines[i])
    next
  }
  { had_text = $0 ~ /[^ \t]/
    put("USER_LINE", ENVIRON["USER_LINE"]); put("FASTCGI_INCLUDE", ENVIRON["FASTCGI_INCLUDE_V"]);
    put("RUN_DIR", ENVIRON["RUN_DIR_V"]); put("HOST", ENVIRON["HOST_V"]);
    put("TLS_PORT", ENVIRON["TLS_PORT_V"]); put("PORT", ENVIRON["PORT_V"]); put("TLS_CERT", ENVIRON["TLS_CERT_V"]);
    put("TLS_KEY", ENVIRON["TLS_KEY_V"]); put("MAX_BODY", ENVIRON["MAX_BODY_V"]);
    put("SERVER_NAME", ENVIRON["SERVER_NAME_V"]); put("AUTHORIZE_AUTH", ENVIRON["AUTHORIZE_AUTH_V"]);
    put("STREAMS_LIMIT", ENVIRON["STREAMS_LIMIT_V"]); put("MANAGEMENT_ALLOW", ENVIRON["MANAGEMENT_ALLOW_V"]);
    put("METRICS_ALLOW", ENVIRON["METRICS_ALLOW_V"]);
    put("REAL_IP", ENVIRON["REAL_IP_V"]); put("OCSP_STAPLING", ENVIRON["OCSP_V"]);
    put("ACCESS_LOG", ENVIRON["ACCESS_LOG_V"]); put("ERROR_LOG", ENVIRON["ERROR_LOG_V"]);
    put("PUBLIC_ORIGIN", ENVIRON["PUBLIC_ORIGIN_V"]);
    # A placeholder that renders empty leaves no blank line behind.
    if (had_text && $0 ~ /^[ \t]*$/) next
    print }'

SITE=$(awk -v skip_header=1 "$render" "$here/nginx-site.conf")
export SITE
tmp="$OUT.tmp.$$"
if [ "$SITE_ONLY" = 1 ]; then
  { echo "# MCPFCGI: $WORKERS workers behind nginx. Rendered from deploy/nginx-site.conf by deploy/render-nginx.sh;"
    echo "# render again rather than editing."
    echo
    printf '%s\n' "$SITE"; } > "$tmp"
else
  awk -v skip_header=0 "$render" "$here/nginx.conf" > "$tmp"
fi
mv -f "$tmp" "$OUT"

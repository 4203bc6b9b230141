#!/usr/bin/env bash
# A private PostgreSQL cluster in a directory of its own, listening on a unix socket only (no TCP port): what
# `STORE=postgres deploy/run.sh` starts when no DATABASE_URL is given, and what the Swift tests of MCPPostgres start
# for their run. PostgreSQL comes from Debian's `postgresql` package (deploy/install-deps.sh installs it).
#
#   deploy/postgres-cluster.sh start DIR   initialises DIR/data on first use, starts the server, creates the database
#                                          `mcpfcgi` (user `mcpfcgi`, trust authentication on the socket only) and
#                                          prints its DATABASE_URL: postgres://mcpfcgi@/mcpfcgi?host=DIR/socket
#   deploy/postgres-cluster.sh stop DIR    stops it (fast shutdown: open connections are closed)
#
# As root, the server runs as the `postgres` user (initdb refuses root): DIR is given to it, and DIR's parent must be
# traversable. Only the cluster's owner (and root) may reach its socket — trust authentication is safe because nobody
# else can —, plus the members of PG_SOCKET_GROUP when set (run.sh: the workers' group), through the directory's
# permissions. PG_OPTIONS adds
# server options (e.g. "-c fsync=off" for throwaway test clusters).
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
command=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ]; then
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$candidate/pg_ctl" ] && { bindir=$candidate; break; }
  done
fi
if [ -z "$bindir" ] && command -v pg_ctl >/dev/null; then bindir=$(dirname "$(readlink -f "$(command -v pg_ctl)")"); fi
[ -n "$bindir" ] && [ -x "$bindir/initdb" ] || {
  echo "PostgreSQL's server programs (initdb, pg_ctl) are missing: install Debian's postgresql package" \
    "(MCPFCGI_TEST_DEPS=1 deploy/install-deps.sh does), or set PG_BINDIR" >&2
  exit 1
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# The server outlives this script: it must not inherit descriptors of whoever started it (a caller that waits for
# a pipe or socket to close — Foundation's Process does — would wait for the server's end instead of ours).
for fd in $(ls /proc/$$/fd); do
  [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true
done

data=$dir/data
socket=$dir/socket
case $command in
  start)
    mkdir -p "$socket"
    # The group is remembered: a later `start` by hand (after a `stop`) keeps the workers' access.
    group=${PG_SOCKET_GROUP:-$(cat "$dir/socket-group" 2>/dev/null || true)}
    [ -n "$group" ] && echo "$group" > "$dir/socket-group"
    if [ "$(id -u)" -eq 0 ]; then
      id postgres >/dev/null 2>&1 || { echo "no postgres user: install Debian's postgresql package" >&2; exit 1; }
      chown -R postgres: "$dir"
    fi
    if [ -n "$group" ]; then
      # The socket directory decides who reaches the socket (the server cannot give its socket a group the
      # postgres user is not in): its owner, root and the group.
      chgrp "$group" "$dir" "$socket"
      chmod 0750 "$dir" "$socket"
      socket_options=""
    else
      chmod 0700 "$dir" "$socket"
      socket_options="-c unix_socket_permissions=0700"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
      as_owner "$bindir/initdb" -D "$data" -U mcpfcgi --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
        echo "initdb failed; see $dir/initdb.log" >&2
        exit 1
      }
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 30 \
        -o "-k $socket -c listen_addresses= -p 5432 $socket_options ${PG_OPTIONS:-}" start >/dev/null || {
        echo "PostgreSQL did not start; see $dir/postgres.log" >&2
        exit 1
      }
    fi
    psql=("$bindir/psql" -h "$socket" -p 5432 -U mcpfcgi -X -q -v ON_ERROR_STOP=1)
    [ -x "$bindir/psql" ] || psql=(psql -h "$socket" -p 5432 -U mcpfcgi -X -q -v ON_ERROR_STOP=1)
    if [ "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'mcpfcgi'")" != 1 ]; then
      "${psql[@]}" -d postgres -c "CREATE DATABASE mcpfcgi" >/dev/null
    fi
    echo "postgres://mcpfcgi@/mcpfcgi?host=$socket"
    ;;
  stop)
    [ -f "$data/PG_VERSION" ] || exit 0
    if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null
    fi
    ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# Restarts the running MCPFCGI workers (mcpfcgi@<i>.service) one at a time, e.g. after a new binary or
# settings from install.sh. Sockets are not touched: while a worker restarts, nginx's connections to it wait
# in its socket's backlog and are served by the new process. The next worker is restarted only after the
# previous one has stayed up SETTLE seconds with the same process (no crash loop); otherwise it stops there.
#
# Variables: SETTLE=3   seconds a restarted worker must stay up before the next one
set -euo pipefail
SETTLE=${SETTLE:-3}
[[ "$SETTLE" =~ ^[0-9]+$ ]] || { echo "SETTLE must be a number of seconds" >&2; exit 2; }

mapfile -t units < <(systemctl list-units --plain --no-legend --type=service --state=active 'mcpfcgi@*.service' |
  awk '{ print $1 }' | sort -V)
[ "${#units[@]}" -gt 0 ] || { echo "no running mcpfcgi@ workers (systemctl enable --now mcpfcgi.target)" >&2; exit 1; }
failed=$(systemctl list-units --plain --no-legend --state=failed 'mcpfcgi@*' | awk '{ print $1 }' | tr '\n' ' ')
[ -z "$failed" ] || echo "not running (failed): $failed" >&2

for unit in "${units[@]}"; do
  systemctl restart "$unit"
  pid=$(systemctl show -P MainPID "$unit")
  sleep "$SETTLE"
  if [ "$(systemctl is-active "$unit")" != active ] || [ "$(systemctl show -P MainPID "$unit")" != "$pid" ]; then
    echo "$unit did not stay up after its restart (journalctl -u $unit): stopping here" >&2
    exit 1
  fi
  echo "$unit restarted (pid $pid)"
done

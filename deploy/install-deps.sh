#!/usr/bin/env bash
# Installs the Debian packages MCPFCGI needs to build and run behind nginx, when they are missing.
# Idempotent; uses sudo when not run as root.
set -euo pipefail

packages=(libfcgi-dev libcurl4-openssl-dev nginx spawn-fcgi openssl curl pkg-config)
# systemd: systemd-analyze for tests/integration/test_systemd.py; strace: its system-call check;
# chromium + chromium-driver: tests/integration/test_browser.py (chromium-headless-shell: test_oauth's screenshot);
# logrotate: tests/integration/test_nginx_conventions.py's check of deploy/logrotate/mcpfcgi;
# postgresql: the private clusters of Tests/MCPPostgresTests (deploy/postgres-cluster.sh).
[ "${MCPFCGI_TEST_DEPS:-0}" = 1 ] && packages+=(python3-venv wrk chromium chromium-driver chromium-headless-shell systemd strace logrotate postgresql)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Soak test (not run in CI): mixed session-era and stateless traffic with session churn for SOAK_SECONDS
# (default 600) against deploy/run.sh with 2 workers; fails when a worker's RSS grows by more than 10% after the
# warm-up, or any request fails. See bench/soak.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
MCPFCGI_TEST_DEPS=1 ./deploy/install-deps.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/integration/requirements.txt
swift build -c release --product mcp-fcgi-demo
exec .venv/bin/python bench/soak.py

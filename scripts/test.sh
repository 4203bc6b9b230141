#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine:
#   1. installs what is missing (apt packages; a Python venv with the official MCP client),
#   2. runs the in-process Swift tests with code coverage and reports line coverage of Sources/,
#   3. builds the release demo and runs the integration tests through real nginx, spawn-fcgi and libfcgi.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

MCPFCGI_TEST_DEPS=1 ./deploy/install-deps.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/integration/requirements.txt

echo "== in-process tests (swift test --enable-code-coverage)"
swift test --enable-code-coverage
./scripts/coverage.sh

echo "== integration tests (nginx → spawn-fcgi → libfcgi → Swift)"
swift build -c release --product mcp-fcgi-demo
.venv/bin/python -m pytest -q tests/integration

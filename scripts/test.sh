#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine:
#   1. installs what is missing (apt packages; a Python venv with the official MCP client),
#   2. runs the in-process Swift tests with code coverage and reports line coverage of Sources/,
#   3. builds the Examples package (a package of its own, on the library by path) and runs its tests,
#   4. builds the API documentation (DocC) with warnings as errors,
#   5. builds the libFuzzer targets (Fuzz/) and runs each for a few seconds,
#   6. runs the integration tests through real nginx, spawn-fcgi and libfcgi with the demo binary step 2 built and
#      the examples step 3 built (debug builds; bench/run.sh measures a release build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

MCPFCGI_TEST_DEPS=1 ./deploy/install-deps.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/integration/requirements.txt

# README's and the articles' Swift fragments are compiled with the tests (Tests/ReadmeSnippets): current?
python3 scripts/readme_snippets.py --check

echo "== in-process tests (swift test --enable-code-coverage)"
# With the default trait OTLPTracing: the demo this build makes is the one the integration tests run
# (test_tracing.py exercises its OTLP exporter), so the whole package is compiled once.
swift test --enable-code-coverage
./scripts/coverage.sh

echo "== examples (swift build --build-tests and swift test --package-path Examples)"
swift build --build-tests --package-path Examples
swift test --skip-build --package-path Examples

echo "== documentation (scripts/docs.sh: DocC, warnings are errors)"
./scripts/docs.sh

echo "== fuzzing, short pass (FUZZ_SECONDS=5 per target; scripts/fuzz.sh runs long campaigns)"
FUZZ_SECONDS=5 ./scripts/fuzz.sh

echo "== integration tests (nginx → spawn-fcgi → libfcgi → Swift)"
MCPFCGI_DEMO_BINARY="$(swift build --show-bin-path)/mcp-fcgi-demo" \
  MCPFCGI_EXAMPLES_BIN="$(swift build --package-path Examples --show-bin-path)" \
  .venv/bin/python -m pytest -q tests/integration

#!/usr/bin/env bash
# The API documentation as a static site (DocC, swiftlang/swift-docc-plugin): every library module and the articles in
# Sources/MCPFCGI/MCPFCGI.docc (getting started, deploying behind nginx, OAuth, sessions and scaling, operating,
# testing your server), combined into one site. A warning (an unresolved symbol link, a broken article link) fails
# the run; scripts/test.sh runs it in CI.
#   OUTPUT=.build/docs-site   where the site goes (open OUTPUT/documentation/mcpfcgi/index.html through any static
#                             web server; `python3 -m http.server -d OUTPUT` will do)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
output=${OUTPUT:-$root/.build/docs-site}
targets=(MCPFCGI MCPHandlers MCPHTTP MCPOAuth MCPStreamableHTTP MCPPostgres MCPFCGITesting)
args=()
for target in "${targets[@]}"; do args+=(--target "$target"); done
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
swift package --disable-sandbox --allow-writing-to-directory "$output" generate-documentation "${args[@]}" \
  --enable-experimental-combined-documentation --warnings-as-errors --transform-for-static-hosting \
  --output-path "$output" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# DocC's diagnostics (not the package manager's notes about dependencies' unhandled files).
found=$(grep -E "^(warning|error): " "$log" | grep -v "which are unhandled; explicitly declare them" || true)
if [ "$status" -ne 0 ] || [ -n "$found" ]; then
  echo "documentation: $( [ -n "$found" ] && echo "$found" | wc -l || echo 0) diagnostics, exit $status" >&2
  [ -z "$found" ] || echo "$found" >&2
  exit 1
fi
echo "documentation: $output (no warnings)"

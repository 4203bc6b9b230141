#!/usr/bin/env bash
# Line coverage of the library targets (every Sources/ target but the demo) from the last
# `swift test --enable-code-coverage`; fails below MIN_COVERAGE. The demo executable is linked into the test
# binary for its flag tests (Tests/DemoTests) but left out of the figure, as before.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
min=${MIN_COVERAGE:-90}
bin_dir=$(swift build --show-bin-path)
profdata="$bin_dir/codecov/default.profdata"
binary="$bin_dir/MCPFCGIPackageTests.xctest"
toolchain_bin=$(dirname "$(readlink -f "$(command -v swift)")")
llvm_cov="$toolchain_bin/llvm-cov"
[ -x "$llvm_cov" ] || llvm_cov=$(command -v llvm-cov)
"$llvm_cov" report "$binary" -instr-profile "$profdata" --ignore-filename-regex='(\.build|Tests|Sources/mcp-fcgi-demo|Examples)/' \
  > "$bin_dir/codecov/report.txt"
awk 'NR > 2 && $1 !~ /^-/ && NF >= 13 { printf "%-60s %8s lines %8s\n", $1, $(NF-5), $(NF-3) }' \
  "$bin_dir/codecov/report.txt"
pct=$(awk '/^TOTAL/ { gsub("%", "", $(NF-3)); print $(NF-3) }' "$bin_dir/codecov/report.txt")
echo "Line coverage of Sources/: ${pct}% (minimum ${min}%)"
awk -v p="$pct" -v m="$min" 'BEGIN { exit (p + 0 >= m + 0) ? 0 : 1 }' || {
  echo "line coverage ${pct}% is below ${min}%" >&2
  exit 1
}

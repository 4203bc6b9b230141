#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (with AddressSanitizer) and runs each for a bounded time on a copy of its
# seed corpus. Exits non-zero when any target crashes, times out on one input, leaks or runs out of memory, and
# prints the reproducer. See Fuzz/README.md.
#
#   FUZZ_SECONDS=5 scripts/fuzz.sh                  # the CI pass: a few seconds per target
#   FUZZ_SECONDS=3600 scripts/fuzz.sh FuzzJSON      # a long campaign on one target
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TIMEOUT   seconds one input may take before it counts as a hang (default 5)
#   FUZZ_RSS_MB    memory limit in MB (default 2048)
#   FUZZ_WORK      work directory (default: a new temporary one; kept when something is found or FUZZ_KEEP=1)
#   FUZZ_KEEP      1: keep the work directory (the grown corpora) even when nothing is found
#   FUZZ_FLAGS     extra libFuzzer flags for every target, e.g. "-use_value_profile=1 -fork=2"
#   FUZZ_SCRATCH   SwiftPM scratch path (default .build-fuzz)
#   SKIP_BUILD     1: use the binaries already built
# Arguments: target names (default all).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-5}
rss_mb=${FUZZ_RSS_MB:-2048}
scratch=${FUZZ_SCRATCH:-$root/.build-fuzz}
read -r -a extra_flags <<<"${FUZZ_FLAGS:-}"

# target  dictionary  max_len
targets_table="
FuzzJSON          json.dict          16384
FuzzJSONRPC       jsonrpc.dict       16384
FuzzURITemplate   uri-template.dict  16384
FuzzRequestState  json.dict          16384
FuzzCGI           cgi.dict           16384
FuzzOAuthForm     oauth-form.dict    16384
FuzzOAuthJSON     oauth-json.dict    16384
"
all_targets=$(awk 'NF { print $1 }' <<<"$targets_table")
selected=("$@")
if [ ${#selected[@]} -eq 0 ]; then mapfile -t selected <<<"$all_targets"; fi
for t in "${selected[@]}"; do
  grep -qx "$t" <<<"$all_targets" || { echo "unknown fuzz target $t (known: $(echo $all_targets))" >&2; exit 2; }
done

build_flags=(-c debug --package-path Fuzz --scratch-path "$scratch"
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld)
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "== building fuzz targets (swift build ${build_flags[*]})"
  start=$(date +%s)
  swift build "${build_flags[@]}"
  echo "   built in $(($(date +%s) - start)) s"
fi
bin=$(swift build "${build_flags[@]}" --show-bin-path)

work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/mcpfcgi-fuzz.XXXXXX")}
mkdir -p "$work"
failed=()
summary=()
for t in "${selected[@]}"; do
  read -r _ dict max_len <<<"$(awk -v t="$t" '$1 == t' <<<"$targets_table")"
  corpus="$work/$t/corpus"
  artifacts="$work/$t/artifacts"
  mkdir -p "$corpus" "$artifacts"
  cp -R Fuzz/corpus/"$t"/. "$corpus"/   # the committed seeds are never written to
  log="$work/$t/fuzz.log"
  echo "== $t: ${seconds}s, max_len $max_len, timeout ${timeout}s"
  set +e
  # Any finding (crash, ASan report, timeout, leak, out of memory) exits non-zero and writes crash-*, timeout-*,
  # leak-* or oom-* to $artifacts. New inputs go to the copied corpus.
  # SWIFT_BACKTRACE: the Swift runtime's backtracer would read the stack under ASan and be reported instead of the
  # actual failure; libFuzzer prints the stack.
  SWIFT_BACKTRACE=enable=no "$bin/$t" "$corpus" \
    -dict="Fuzz/dict/$dict" -max_total_time="$seconds" -max_len="$max_len" -timeout="$timeout" \
    -rss_limit_mb="$rss_mb" -detect_leaks=1 -artifact_prefix="$artifacts/" -print_final_stats=1 \
    -error_exitcode=77 -timeout_exitcode=70 "${extra_flags[@]}" >"$log" 2>&1
  rc=$?
  set -e
  stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$stats")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$stats")
  execs=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$stats")
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    summary+=("$(printf '%-18s ok      runs %-9s exec/s %-7s cov %-6s ft %s' "$t" "${runs:-?}" "${execs:-?}" "${cov:-?}" "${ft:-?}")")
  else
    failed+=("$t")
    summary+=("$(printf '%-18s FAILED  (exit %s) log %s' "$t" "$rc" "$log")")
    echo "!! $t failed (exit $rc); last lines of $log:"
    grep -E 'ERROR|SUMMARY|Fatal error|Precondition|panic|Test unit written|Base64' "$log" | tail -15 || tail -30 "$log"
    for artifact in "$artifacts"/*; do
      [ -e "$artifact" ] || continue
      echo "   reproducer: $artifact"
      echo "   rerun:      SWIFT_BACKTRACE=enable=no $bin/$t -timeout=$timeout $artifact"
      echo "   minimize:   $bin/$t -minimize_crash=1 -timeout=$timeout -runs=100000 -artifact_prefix=$artifacts/min- $artifact"
    done
  fi
done

echo "== fuzz summary (${seconds}s per target; work directory $work)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]} (reproducers above; work directory kept: $work)" >&2
  exit 1
fi
if [ "${FUZZ_KEEP:-0}" = 1 ] || [ -n "${FUZZ_WORK:-}" ]; then
  echo "grown corpora kept in $work"
else
  rm -rf "$work"
fi

#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (a package of their own, outside the default build) and runs each for
# FUZZ_SECONDS (default 60), starting from its seed corpus Fuzz/Corpus/<target>/ (checked in, read only) and the
# inputs earlier runs found, kept in Fuzz/.corpus/<target>/ (not checked in). Prints executions, exec/s and
# crashes per target; a crash (its input saved as Fuzz/.artifacts/<target>/crash-…) fails the target and the run.
# Usage: scripts/fuzz.sh [TARGET...]   (default: every target)
#   FUZZ_SECONDS=300 scripts/fuzz.sh fuzz-json
#   FUZZ_SANITIZERS=fuzzer scripts/fuzz.sh   (default fuzzer,address: AddressSanitizer on the Swift code too)
set -euo pipefail
# A fatal error is reported by libFuzzer and AddressSanitizer; Swift's own backtracer only adds ASan noise.
export SWIFT_BACKTRACE=enable=no
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/Fuzz"
seconds=${FUZZ_SECONDS:-60}
sanitizers=${FUZZ_SANITIZERS:-fuzzer,address}
swift=${SWIFT:-swift}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz-json fuzz-addresses fuzz-domain-xml)

# The root package's pins, so the fuzz build uses the same dependency versions as the product.
if [ -f "$root/Package.resolved" ]; then cp "$root/Package.resolved" "$fuzz/Package.resolved"; fi
flags=(-c release -Xswiftc "-sanitize=$sanitizers" -Xswiftc -parse-as-library)
(cd "$fuzz" && "$swift" build "${flags[@]}")
bin=$(cd "$fuzz" && "$swift" build "${flags[@]}" --show-bin-path)

failed=0
summary=()
for target in "${targets[@]}"; do
  work="$fuzz/.corpus/$target" artifacts="$fuzz/.artifacts/$target/" log="$fuzz/.artifacts/$target.log"
  mkdir -p "$work" "$artifacts"
  echo "== $target: ${seconds}s"
  status=0
  "$bin/$target" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="$artifacts" "$work" "$fuzz/Corpus/$target" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  if [ -z "$runs" ]; then  # a crash ends the run before the final stats: take the last progress line
    runs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)
  fi
  crashes=0
  if [ "$status" -ne 0 ]; then
    crashes=1
    failed=1
    grep -E 'Fatal error|ERROR: |SUMMARY|Test unit written to' "$log" | head -n 8 || true
    echo "   (full log: $log)"
  fi
  line="$target: ${runs:-?} executions, ${rate:-?} exec/s, $crashes crashes, corpus $(ls "$work" | wc -l) inputs"
  echo "   $line"
  summary+=("$line")
done
echo "== fuzz summary (${seconds}s per target)"
printf '   %s\n' "${summary[@]}"
exit "$failed"

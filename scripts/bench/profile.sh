#!/usr/bin/env bash
# A CPU profile of the coordinator in the middle of a zedge-bench measurement (issue #14: where the time goes).
#
# Usage: scripts/bench/profile.sh OUT "ZEDGE-BENCH ARGS" BIN [DELAY [SECONDS]]
#   OUT                prefix of what it writes: OUT.txt (zedge-bench's output), OUT.data (perf's samples) and
#                      OUT.stacks (`perf script`, one sample per block, each frame a line)
#   ZEDGE-BENCH ARGS   the measurement, e.g. "creates --duration 45 --warmup 5"; --target zedge and --coordinator BIN
#                      are added. Make it last longer than DELAY + SECONDS.
#   BIN                the zedge-coordinator binary, a release build (.build/release/zedge-coordinator after
#                      `swift build -c release --product zedge-coordinator`; its symbols name the frames)
#   DELAY              seconds from the start before recording (default 25: past registration and warm-up)
#   SECONDS            seconds recorded (default 15), at 499 samples a second with call graphs (frame pointers)
# Environment: BENCH (the zedge-bench binary; default .build/release/zedge-bench). Needs perf (Debian: linux-perf)
# and, when not root, kernel.perf_event_paranoid ≤ 1.
# Example: scripts/bench/profile.sh /tmp/creates "creates --duration 45 --warmup 5" .build/release/zedge-coordinator
set -euo pipefail
if [ $# -lt 3 ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;/^set -e/d'; exit 2; fi
out=$1 args=$2 bin=$3 delay=${4:-25} seconds=${5:-15}
bench=${BENCH:-.build/release/zedge-bench}
ulimit -n 20000 2>/dev/null || true
command -v perf > /dev/null || { echo "profile.sh: perf is missing (apt-get install linux-perf)" >&2; exit 2; }
[ -x "$bench" ] || { echo "profile.sh: no zedge-bench at $bench (set BENCH)" >&2; exit 2; }
bin=$(readlink -f "$bin")
# shellcheck disable=SC2086 # the measurement's arguments are split on purpose
"$bench" $args --target zedge --coordinator "$bin" > "$out.txt" 2>&1 &
bench_pid=$!
sleep "$delay"
pid=$(pgrep -n -f "^$bin" || true)
if [ -z "$pid" ]; then
    kill "$bench_pid" 2>/dev/null || true
    echo "profile.sh: no coordinator running from $bin after $delay s (see $out.txt)" >&2
    exit 1
fi
perf record -F 499 -g -p "$pid" -o "$out.data" -- sleep "$seconds" 2> "$out.perf.log"
wait "$bench_pid"
perf script -i "$out.data" > "$out.stacks" 2>> "$out.perf.log"
echo "profile.sh: $(grep -c '^$' "$out.stacks") samples of pid $pid in $out.stacks; the run's figures in $out.txt"

#!/usr/bin/env bash
# Interleaved A/B runs of one zedge-bench measurement against several coordinator builds (issue #14: the machines
# are shared and noisy, so builds are compared round by round, never against a figure from another time).
#
# Usage: scripts/bench/ab.sh ROUNDS "ZEDGE-BENCH ARGS" BIN...
#   ROUNDS             how many rounds; each round runs every BIN once, the order rotated by one each round
#   ZEDGE-BENCH ARGS   the measurement, e.g. "creates --duration 20 --warmup 5"; --target zedge and --coordinator BIN
#                      are added
#   BIN                zedge-coordinator binaries, release builds (`swift build -c release --product zedge-coordinator`
#                      puts one in .build/release/; copy each out before building the next commit)
# Environment: BENCH (the zedge-bench binary; default .build/release/zedge-bench), ROWS (an extended regex of the
# figure rows to print; default creates/s, every per-create figure, the writer's busy share, p99, heartbeats/s, wake
# p99 and RSS), OUT (a directory for each run's whole output; default a new one under /tmp).
# Example: scripts/bench/ab.sh 5 "creates --duration 20 --warmup 5" /tmp/zc-main /tmp/zc-new
set -euo pipefail
ulimit -n 20000 2>/dev/null || true  # the agents measurement holds a connection per simulated agent
if [ $# -lt 3 ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;/^set -e/d'; exit 2; fi
rounds=$1 args=$2
shift 2
bins=("$@")
bench=${BENCH:-.build/release/zedge-bench}
rows=${ROWS:-'accepted creates/s|per create|busy|latency p99|max heartbeats/s|wake latency p99|VmRSS'}
out=${OUT:-$(mktemp -d /tmp/zedge-ab.XXXXXX)}
mkdir -p "$out"
[ -x "$bench" ] || { echo "ab.sh: no zedge-bench at $bench (set BENCH)" >&2; exit 2; }
for bin in "${bins[@]}"; do [ -x "$bin" ] || { echo "ab.sh: $bin is not an executable" >&2; exit 2; }; done
echo "rounds $rounds; zedge-bench $args --target zedge; output in $out"
for ((round = 1; round <= rounds; round++)); do
    for ((i = 0; i < ${#bins[@]}; i++)); do
        bin=${bins[$(((i + round - 1) % ${#bins[@]}))]}
        log="$out/round$round-$(basename "$bin").txt"
        # shellcheck disable=SC2086 # the measurement's arguments are split on purpose
        if ! "$bench" $args --target zedge --coordinator "$bin" > "$log" 2>&1; then
            echo "round $round $(basename "$bin"): zedge-bench failed, see $log" >&2
            exit 1
        fi
        echo "== round $round $(basename "$bin") (load $(cut -d' ' -f1-3 /proc/loadavg))"
        grep -E "$rows" "$log" | sed 's/^/   /' || true
    done
done

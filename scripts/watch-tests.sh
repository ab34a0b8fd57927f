#!/usr/bin/env bash
# Runs a test command and stops it loudly when it goes silent, instead of letting CI run into its time limit.
# Usage: watch-tests.sh SILENT_SECONDS COMMAND [ARGS...]
#
# The command's output is line-buffered (stdbuf), so that what a hung run printed last is in the log and not in a
# buffer that dies with it. When nothing has been printed for SILENT_SECONDS, the script prints the thread stacks
# of the command's processes (gdb, when installed), the tests that started and did not end, kills the command and
# exits 124. Otherwise it exits with the command's status.
set -euo pipefail
silent=$1
shift
log=$(mktemp /tmp/zedge-watch.XXXXXX)
trap 'rm -f "$log"' EXIT

stdbuf -oL -eL "$@" > >(tee -a "$log") 2>&1 &
pid=$!

descendants() {
  local children
  children=$(pgrep -P "$1" || true)
  for child in $children; do
    echo "$child"
    descendants "$child"
  done
}

last=0
quiet=0
while kill -0 "$pid" 2>/dev/null; do
  sleep 10
  size=$(stat -c %s "$log")
  if [ "$size" != "$last" ]; then
    last=$size
    quiet=0
    continue
  fi
  quiet=$((quiet + 10))
  [ "$quiet" -ge "$silent" ] || continue
  {
    echo "watch-tests.sh: no output for ${quiet}s; stopping: $*"
    echo "watch-tests.sh: tests started and not ended:"
    python3 - "$log" <<'EOF' || true
import re, sys
started, ended = {}, set()
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"◇ Test (.+?) started\.", line)
    if m:
        started.setdefault(m.group(1), line.strip())
    m = re.match(r"[✔✘↷] Test (.+?)( with \d+ test cases?)? (passed|failed|skipped)", line)
    if m:
        ended.add(m.group(1))
for name, line in started.items():
    if name not in ended and not name.startswith("case passing"):
        print("  " + line)
EOF
    for process in $(descendants "$pid"); do
      echo "watch-tests.sh: process $process: $(ps -o args= -p "$process" 2>/dev/null | cut -c1-200)"
      ps -L -o tid=,stat=,pcpu=,comm= -p "$process" 2>/dev/null | sed 's/^/  /' || true
      if command -v gdb >/dev/null; then
        timeout 300 gdb -p "$process" -batch -ex "thread apply all bt 30" 2>&1 | grep -E "^Thread|^#" || true
      fi
    done
  } >&2
  kill -- $(descendants "$pid") "$pid" 2>/dev/null || true
  sleep 5
  kill -9 -- $(descendants "$pid") "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  exit 124
done
wait "$pid"

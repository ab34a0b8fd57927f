#!/usr/bin/env bash
# stop-ceph.sh DIR — stops the daemons that start-ceph.sh DIR started (by the pids in DIR/run/*.pid,
# and only processes whose command line names DIR/ceph.conf), then removes DIR. Safe to run twice.
# From ../shared/recipes/ceph-rbd-on-these-machines.md; scripts/with-ceph.sh calls it when its command ends.
# Usage: stop-ceph.sh DIR
set -uo pipefail
D=${1:?usage: stop-ceph.sh DIR}
[ -d "$D" ] || exit 0
D=$(cd "$D" && pwd)

alive() {   # a process counts as gone once it has exited, even if nobody has reaped it yet (zombie)
  [ -r /proc/$1/stat ] && [ "$(sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -d' ' -f1)" != Z ]
}
ours() {    # guard against a recycled pid: the process must have been started with -c DIR/ceph.conf
  tr '\0' ' ' < /proc/$1/cmdline 2>/dev/null | grep -qF -- "-c $D/ceph.conf"
}

stop() {    # SIGTERM, wait up to 5 s, then SIGKILL
  local p=$1 i
  alive "$p" && ours "$p" || return 0
  kill -TERM "$p" 2>/dev/null
  for i in $(seq 50); do alive "$p" || return 0; sleep 0.1; done
  echo "stop-ceph: pid $p did not stop on SIGTERM, killing" >&2; kill -KILL "$p" 2>/dev/null
}
# OSDs first (an OSD whose monitor is gone waits for it before exiting), then a mgr, then the monitor.
for f in "$D"/run/osd.*.pid "$D"/run/mgr.*.pid "$D"/run/mon.*.pid; do
  [ -s "$f" ] && stop "$(cat "$f")"
done
rm -rf "$D"

#!/usr/bin/env bash
# Runs a command with a throwaway single-node Ceph cluster (cephx on, one monitor, one memstore OSD, on a free
# 127.0.0.1 port), following ../shared/recipes/ceph-rbd-on-these-machines.md: scripts/start-ceph.sh starts it in
# a short directory /tmp/zc.XXXX (admin socket paths must fit in 107 bytes; about 2.5 s), and scripts/stop-ceph.sh
# stops it by pid and removes the directory when the command ends, fails, or the script gets INT or TERM.
# The command runs with:
#   ZEDGE_TEST_CEPH_MONITOR  127.0.0.1:PORT
#   ZEDGE_TEST_CEPH_USER     zedge (cephx user client.zedge: mon 'profile rbd', osd 'profile rbd pool=…')
#   ZEDGE_TEST_CEPH_KEY      client.zedge's base64 key (the value of a libvirt secret of usage type ceph)
#   ZEDGE_TEST_CEPH_POOL     private-data-disks
#   ZEDGE_TEST_CEPH_CONF     DIR/ceph.conf, the admin's conf: `rbd -c "$ZEDGE_TEST_CEPH_CONF" ls private-data-disks`
# When there is a usable libvirtd (ZEDGE_TEST_LIBVIRT_URI, from with-libvirtd.sh) it must offer the rbd pool type.
# If Ceph cannot be had (not root, packages missing, the cluster did not start, libvirtd without rbd), it does
# NOT skip: it prints why, loudly, runs the command anyway with only ZEDGE_TEST_CEPH_ERROR="<why>" set (the RBD
# tests fail naming it; every other test still runs), and then exits non-zero even if the command passed.
# Otherwise it exits with the command's status. Needs root and scripts/ensure-deps.sh --with-ceph.
# Usage: with-ceph.sh COMMAND [ARGS...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
unset ZEDGE_TEST_CEPH_MONITOR ZEDGE_TEST_CEPH_USER ZEDGE_TEST_CEPH_KEY ZEDGE_TEST_CEPH_POOL ZEDGE_TEST_CEPH_CONF \
  ZEDGE_TEST_CEPH_ERROR

dir=
errlog=$(mktemp /tmp/zedge-ceph-start.XXXXXX)
cleanup() {
  if [ -n "$dir" ]; then "$here/stop-ceph.sh" "$dir" || true; fi
  rm -f "$errlog"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

loud() {   # the reason Ceph is missing, impossible to overlook in a long test log
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  echo "!!! with-ceph.sh: NO CEPH: $1" >&2
  echo "!!! The RBD tests fail with ZEDGE_TEST_CEPH_ERROR; this run exits non-zero." >&2
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
}

error=
if [ "$(id -u)" -ne 0 ]; then
  error="starting Ceph daemons needs root: run sudo $0 $*"
else
  missing=()
  for p in ceph-mon ceph-osd ceph-common libvirt-daemon-driver-storage-rbd qemu-block-extra; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    error="missing Debian packages ${missing[*]}: run scripts/ensure-deps.sh --with-ceph (before libvirtd starts)"
  fi
fi
# A libvirtd started before libvirt-daemon-driver-storage-rbd was installed has no rbd storage pools. A libvirtd that
# has just started may not answer pool-capabilities yet, or not with rbd, on a loaded machine (ci18; ci4 of session
# 25 took more than 30 s beside a release build): asked again for up to 120 s.
rbd_pools=""
if [ -z "$error" ] && [ -n "${ZEDGE_TEST_LIBVIRT_URI:-}" ]; then
  answer="" answered=""
  for _ in $(seq 1 120); do
    if answer=$(virsh -c "$ZEDGE_TEST_LIBVIRT_URI" pool-capabilities 2>&1); then
      answered=yes
      grep -q "<pool type='rbd' supported='yes'>" <<<"$answer" && { rbd_pools=yes; break; }
    fi
    sleep 1
  done
  if [ -z "$rbd_pools" ] && [ -z "$answered" ]; then
    error="the running libvirtd ($ZEDGE_TEST_LIBVIRT_URI) did not answer pool-capabilities within 120 s: ${answer:0:300}"
  elif [ -z "$rbd_pools" ]; then
    error="the running libvirtd ($ZEDGE_TEST_LIBVIRT_URI) has no rbd pool type after 120 s: it was started before \
libvirt-daemon-driver-storage-rbd was installed; restart libvirtd"
  fi
fi

if [ -z "$error" ]; then
  dir=$(mktemp -d /tmp/zc.XXXX)
  if out=$(timeout 180 "$here/start-ceph.sh" "$dir" 2>"$errlog"); then
    eval "$out"
    export ZEDGE_TEST_CEPH_MONITOR=$CEPH_MON_HOST ZEDGE_TEST_CEPH_USER=$CEPH_CLIENT \
      ZEDGE_TEST_CEPH_KEY=$CEPH_CLIENT_KEY ZEDGE_TEST_CEPH_POOL=$CEPH_POOL ZEDGE_TEST_CEPH_CONF=$CEPH_CONF
    unset CEPH_CONF CEPH_MON_HOST CEPH_CLIENT CEPH_CLIENT_KEY CEPH_POOL CEPH_PIDS
    echo "Throwaway Ceph on $ZEDGE_TEST_CEPH_MONITOR (pool $ZEDGE_TEST_CEPH_POOL, user $ZEDGE_TEST_CEPH_USER; $dir)"
  else
    rc=$?
    cat "$errlog" >&2
    # The reason: the last line before start-ceph's "failed; stopping what was started" and its log tails.
    why=$(awk '/^start-ceph: failed; stopping/ {exit} NF {l=$0} END {print l}' "$errlog")
    [ "$rc" -eq 124 ] && why="timed out after 180 s; $why"
    error="scripts/start-ceph.sh $dir failed (exit $rc): ${why:-no message}"
  fi
fi

if [ -z "$error" ]; then
  "$@"
  exit
fi
loud "$error"
export ZEDGE_TEST_CEPH_ERROR=$error
rc=0
"$@" || rc=$?
loud "$error"
[ "$rc" -ne 0 ] && exit "$rc"
exit 1

#!/usr/bin/env bash
# Runs a command with Open vSwitch and its integration bridge br-zedge, following
# ../shared/recipes/tenant-networks-on-these-machines.md: if an ovs-vswitchd with a br-zedge is already usable
# it is reused; otherwise ovsdb-server and ovs-vswitchd are started in userspace mode (datapath_type=netdev:
# these kernels have no openvswitch module) in their own directory, and stopped afterwards, by pid, with the
# /var/run/openvswitch/db.sock symlink this script made (libvirt runs plain `ovs-vsctl`, which talks to it).
# The command runs with OVS_RUNDIR exported (every ovs-vsctl/ovs-appctl/ovs-ofctl needs it) and
# ZEDGE_TEST_OVS_BRIDGE=br-zedge. What a killed earlier run left (its symlink, directory and processes) and a
# stale socket nothing answers on are removed first. Starting OVS needs root: otherwise it prints the command to
# run and fails.
# Usage: with-ovs.sh COMMAND [ARGS...]
set -euo pipefail
bridge=br-zedge
sock_link=/var/run/openvswitch/db.sock

# Reuse: a running ovs-vswitchd that has the bridge (OVS_RUNDIR from the environment, else where the default
# db.sock points).
if [ -z "${OVS_RUNDIR:-}" ] && [ -S "$sock_link" ]; then
  OVS_RUNDIR=$(dirname "$(readlink -f "$sock_link")")
fi
if [ -n "${OVS_RUNDIR:-}" ] && command -v ovs-vsctl >/dev/null &&
   OVS_RUNDIR=$OVS_RUNDIR ovs-appctl -t ovs-vswitchd version >/dev/null 2>&1 &&
   OVS_RUNDIR=$OVS_RUNDIR ovs-vsctl --timeout=5 br-exists "$bridge" 2>/dev/null; then
  export OVS_RUNDIR ZEDGE_TEST_OVS_BRIDGE=$bridge
  echo "Open vSwitch: reusing the running ovs-vswitchd and its $bridge (OVS_RUNDIR=$OVS_RUNDIR)"
  exec "$@"
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "with-ovs.sh: no usable Open vSwitch with a $bridge bridge, and starting one needs root. Run as root:" >&2
  echo "  sudo $0 $*" >&2
  exit 1
fi
if ! command -v ovs-vswitchd >/dev/null && [ ! -x /usr/sbin/ovs-vswitchd ]; then
  echo "with-ovs.sh: Open vSwitch is not installed: scripts/ensure-deps.sh --with-ovs (apt-get install openvswitch-switch)" >&2
  exit 1
fi
export PATH=$PATH:/usr/sbin:/sbin

# Whether an ovsdb-server answers on a socket (a socket file outlives a killed server).
answers() { ovs-vsctl --db="unix:$1" --timeout=3 --no-wait show >/dev/null 2>&1; }

# What an earlier run left when it was killed before its cleanup (SIGKILL runs no trap): the db.sock symlink into
# its /tmp/zedge-ovs.* directory, and maybe its ovsdb-server and ovs-vswitchd. Stop what still runs there, by the
# pids in that directory, and remove both. A stale socket file at the default path (a distribution OVS that is
# gone) is removed too: nothing answers on it, and ovsdb-server makes it anew when it starts.
if [ -L "$sock_link" ]; then
  target=$(readlink "$sock_link")
  case "$target" in
    /tmp/zedge-ovs.*/db.sock)
      left=$(dirname "$target")
      echo "with-ovs.sh: removing what a killed earlier run left: $sock_link -> $target"
      for name in ovs-vswitchd ovsdb-server; do
        pid=$(cat "$left/$name.pid" 2>/dev/null || true)
        if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" = "$(command -v "$name")" ]; then
          kill "$pid" 2>/dev/null || true
          for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
      done
      rm -f "$sock_link"
      rm -rf "$left"
      ;;
    *)
      if ! answers "$sock_link"; then
        echo "with-ovs.sh: removing $sock_link -> $target: nothing answers on it"
        rm -f "$sock_link"
      fi
      ;;
  esac
elif [ -S "$sock_link" ] && ! answers "$sock_link"; then
  echo "with-ovs.sh: removing the stale $sock_link: nothing answers on it"
  rm -f "$sock_link"
fi

if [ -S "$sock_link" ] && [ ! -L "$sock_link" ] && [ -x /usr/share/openvswitch/scripts/ovs-ctl ]; then
  # The distribution's Open vSwitch runs (its package starts it on install): add br-zedge to it for this run and
  # remove it afterwards. TCP through the userspace datapath needs userspace TSO, which ovs-vswitchd reads only
  # at start: if it is off, turn it on and (re)start ovs-vswitchd (ports and flows come back at once; the recipe
  # measured it). An ovsdb-server whose ovs-vswitchd is not running gets one the same way. Both changes are
  # printed; TSO stays on.
  unset OVS_RUNDIR
  if [ "$(ovs-vsctl --timeout=5 get Open_vSwitch . other_config:userspace-tso-enable 2>/dev/null || true)" != '"true"' ]; then
    echo "with-ovs.sh: turning on userspace TSO in the running Open vSwitch and restarting its ovs-vswitchd"
    ovs-vsctl --timeout=5 set Open_vSwitch . other_config:userspace-tso-enable=true
    /usr/share/openvswitch/scripts/ovs-ctl --no-ovsdb-server restart >/dev/null 2>&1 ||
      { echo "with-ovs.sh: ovs-ctl could not restart ovs-vswitchd" >&2; exit 1; }
  elif ! ovs-appctl -t ovs-vswitchd version >/dev/null 2>&1; then
    echo "with-ovs.sh: the running Open vSwitch has no ovs-vswitchd; starting it (ovs-ctl --no-ovsdb-server start)"
    /usr/share/openvswitch/scripts/ovs-ctl --no-ovsdb-server start >/dev/null 2>&1 ||
      { echo "with-ovs.sh: ovs-ctl could not start ovs-vswitchd" >&2; exit 1; }
  fi
  ovs-vsctl --timeout=10 add-br "$bridge" -- set bridge "$bridge" datapath_type=netdev
  trap 'ovs-vsctl --timeout=10 --if-exists del-br "$bridge" || true' EXIT
  ip link set "$bridge" up
  export OVS_RUNDIR=/var/run/openvswitch ZEDGE_TEST_OVS_BRIDGE=$bridge
  echo "Open vSwitch: added $bridge to the running ovs-vswitchd (removed at exit)"
  "$@"
  exit $?
fi
if [ -e "$sock_link" ] || [ -L "$sock_link" ]; then
  echo "with-ovs.sh: $sock_link belongs to another running Open vSwitch without a $bridge bridge; add it there:" >&2
  echo "  ovs-vsctl add-br $bridge -- set bridge $bridge datapath_type=netdev && ip link set $bridge up" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/zedge-ovs.XXXXXX)
export OVS_RUNDIR=$dir OVS_LOGDIR=$dir OVS_DBDIR=$dir
made_rundir=0
made_link=0
cleanup() {
  local pid
  for name in ovs-vswitchd ovsdb-server; do
    pid=$(cat "$dir/$name.pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
  if [ "$made_link" -eq 1 ] && [ "$(readlink "$sock_link" 2>/dev/null)" = "$dir/db.sock" ]; then rm -f "$sock_link"; fi
  if [ "$made_rundir" -eq 1 ]; then rmdir /var/run/openvswitch 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

ovsdb-tool create "$dir/conf.db" /usr/share/openvswitch/vswitch.ovsschema
fail() { echo "with-ovs.sh: $1; the logs:" >&2; tail -n 20 "$dir"/*.log >&2 2>/dev/null || true; exit 1; }
ovsdb-server "$dir/conf.db" --remote=punix:"$dir/db.sock" --pidfile --log-file -vconsole:off --detach || fail "ovsdb-server did not start"
ovs-vsctl --no-wait init
# Without it TCP through the userspace datapath hangs (partial checksums from veths and virtio); before vswitchd.
ovs-vsctl --no-wait set Open_vSwitch . other_config:userspace-tso-enable=true
ovs-vswitchd --pidfile --log-file -vconsole:off --detach || fail "ovs-vswitchd did not start"
ovs-vsctl --timeout=10 add-br "$bridge" -- set bridge "$bridge" datapath_type=netdev || fail "$bridge could not be made"
ip link set "$bridge" up
[ -d /var/run/openvswitch ] || { mkdir -p /var/run/openvswitch; made_rundir=1; }
ln -s "$dir/db.sock" "$sock_link"
made_link=1
export ZEDGE_TEST_OVS_BRIDGE=$bridge
echo "Open vSwitch (userspace datapath) with $bridge; OVS_RUNDIR=$dir"
"$@"

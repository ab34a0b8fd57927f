#!/usr/bin/env bash
# Installs the Debian packages Zedge builds and tests against, when run as root;
# otherwise prints the exact command to run and fails.
# Usage: ensure-deps.sh [--with-postgres] [--with-test-guest] [--with-ovs] [--with-ceph] [--with-promtool]
#                       [--with-schemathesis] [--with-browser] [--with-packaging] [--with-debugger]
#   --with-postgres    the PostgreSQL server, for the suite's second engine
#   --with-test-guest  what scripts/build-test-guest.sh needs to build the bootable test guest image
#   --with-ovs         Open vSwitch (scripts/with-ovs.sh starts it) and what the tenant-network tests run in
#                      their namespaces: ip, ping, wget
#   --with-ceph        a single-node Ceph (scripts/with-ceph.sh starts it) and libvirt's and QEMU's rbd drivers;
#                      install before libvirtd starts, or a running libvirtd has no rbd pool type until restarted
#   --with-promtool    Prometheus' promtool (Debian's prometheus package; its server is kept from starting), which
#                      MetricsTests runs on a live coordinator's /metrics
#   --with-schemathesis  Python's venv and pip, which scripts/schemathesis.sh uses to install schemathesis from PyPI
#   --with-browser     Debian's chromium (headless) and novnc, which the console page test loads (issue #16)
#   --with-debugger    gdb, with which scripts/watch-tests.sh prints a silent test run's thread stacks
#   --with-packaging   what `make deb` and `make package-test` run: dpkg-deb/dpkg-shlibdeps (dpkg-dev), fakeroot,
#                      strip (binutils), lintian, debootstrap and systemd-analyze (systemd)
set -euo pipefail
# xorriso builds the agent's cloud-init seeds; qemu-utils gives libvirtd the qemu-img it runs to create the
# agent's qcow2 overlay volumes. Both are runtime dependencies of the agent.
# libwslay frames the console tunnel's WebSocket (agent and zedgectl).
pkgs=(libvirt-dev libxml2-dev libcurl4-openssl-dev libwslay-dev libsqlite3-dev pkg-config xorriso qemu-utils)
for arg in "$@"; do
  case "$arg" in
    --with-postgres) pkgs+=(postgresql) ;;
    --with-test-guest)
      pkgs+=(busybox-static syslinux syslinux-common mtools dosfstools fdisk cpio kmod qemu-utils xorriso) ;;
    --with-ovs) pkgs+=(openvswitch-switch iproute2 iputils-ping wget) ;;
    --with-ceph) pkgs+=(ceph-mon ceph-osd ceph-common libvirt-daemon-driver-storage-rbd qemu-block-extra) ;;
    --with-promtool) pkgs+=(prometheus) ;;
    --with-schemathesis) pkgs+=(python3-venv python3-pip) ;;
    --with-browser) pkgs+=(chromium novnc) ;;
    --with-debugger) pkgs+=(gdb) ;;
    --with-packaging) pkgs+=(dpkg-dev fakeroot binutils lintian debootstrap systemd) ;;
    *) echo "ensure-deps.sh: unknown option '$arg' (use --with-postgres, --with-test-guest, --with-ovs, --with-ceph, --with-promtool, --with-schemathesis, --with-browser, --with-packaging)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "Installing ${missing[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The tests start their own userspace Open vSwitch (scripts/with-ovs.sh), and need only promtool from the
  # prometheus package. Keep those packages' services from starting on install (invoke-rc.d asks policy-rc.d;
  # 101 = "action forbidden"), unless the machine already has a policy of its own, which then decides.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\ncase "$1" in openvswitch-switch|ovs-vswitchd|ovsdb-server|prometheus) exit 101 ;; esac\nexit 0\n' > "$policy"
    chmod 755 "$policy"
    made_policy=1
  fi
  trap '[ "$made_policy" -eq 0 ] || rm -f "$policy"' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Missing Debian packages: ${missing[*]}. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

#!/usr/bin/env bash
# Runs a command with a real libvirtd (QEMU driver) and ZEDGE_TEST_LIBVIRT_URI=qemu:///system, following
# ../shared/recipes/libvirtd-on-these-machines.md: as root it installs what is missing, starts virtlogd
# and libvirtd if none runs, and stops what it started afterwards. Otherwise it runs the command without.
# Usage: with-libvirtd.sh COMMAND [ARGS...]
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  if virsh -c qemu:///system version >/dev/null 2>&1; then export ZEDGE_TEST_LIBVIRT_URI=qemu:///system; fi
  exec "$@"
fi
# The rbd drivers (libvirt's rbd pools, QEMU's rbd block driver) before libvirtd starts: a libvirtd started
# without them has no rbd pool type until it is restarted (scripts/with-ceph.sh checks).
pkgs=(libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 libvirt-clients
  libvirt-daemon-driver-storage-rbd qemu-block-extra)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing ${missing[*]} ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
mkdir -p /var/log/libvirt /var/run/libvirt /var/lib/libvirt/qemu /var/lib/libvirt/images /var/cache/libvirt
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
# What Debian's udev rule does on a full system: QEMU runs as libvirt-qemu (group kvm) and needs /dev/kvm.
if [ -e /dev/kvm ]; then chgrp kvm /dev/kvm && chmod 660 /dev/kvm; fi
started=()   # the pids of the daemons this script started (and only those are stopped)
if ! pgrep -x virtlogd >/dev/null; then virtlogd -d; started+=("$(pgrep -x -n virtlogd)"); fi
if ! pgrep -x libvirtd >/dev/null; then libvirtd -d; started+=("$(pgrep -x -n libvirtd)"); fi
# Waits (up to 30 s) for what it stopped to be gone: a libvirtd still shutting down when the next run starts is
# taken for a running one, and removes its socket under that run.
cleanup() {
  for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
}
trap cleanup EXIT
for _ in $(seq 1 50); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
export ZEDGE_TEST_LIBVIRT_URI=qemu:///system
echo "libvirtd ready (qemu:///system)"
"$@"

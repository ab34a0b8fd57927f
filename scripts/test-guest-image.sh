#!/usr/bin/env bash
# Prints the path of the cached bootable test guest image, building it first if it is not cached
# (scripts/build-test-guest.sh; ~5-15 s, one 27 MB kernel .deb from the Debian archive). A no-op when cached.
#
#   ${ZEDGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zedge}/test-guest/<key>/base.qcow2   (read-only, 0444)
#                                                                   .../<key>/build-info   (what it was built from)
# <key> = the first 16 hex digits of the SHA-256 of `build-test-guest.sh --inputs`: the build script's own
# SHA-256, the kernel package and version the apt index offers, and the busybox-static and syslinux versions.
# A change to any of them gives a new key, so a new build; old keys are left for `rm -rf` (or --prune).
#
# Only the path goes to stdout (for `ZEDGE_TEST_GUEST_IMAGE=$(scripts/test-guest-image.sh)`); progress to stderr.
# Concurrent callers are serialised by a lock; the directory appears atomically (rename), complete or not at all.
# Usage: test-guest-image.sh [--rebuild] [--prune]
#   --rebuild  build again even if cached      --prune  remove the cached images of other keys
# Tests must not boot this file in place (libvirt chowns a running domain's backing file, and /root is not
# readable by libvirt-qemu): upload it, or copy it, or use it as the read-only backing file of an overlay outside
# $HOME. The image and its guest: scripts/build-test-guest.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rebuild=0 prune=0
for arg in "$@"; do
  case "$arg" in
    --rebuild) rebuild=1 ;;
    --prune) prune=1 ;;
    *) echo "usage: test-guest-image.sh [--rebuild] [--prune]" >&2; exit 2 ;;
  esac
done

# The inputs need the apt index to know the cloud kernel; a fresh CI container has an empty index.
if ! inputs=$("$here/build-test-guest.sh" --inputs 2>/dev/null); then
  if [ "$(id -u)" -eq 0 ] && "$here/build-test-guest.sh" --inputs 2>&1 | grep -q 'apt-get update'; then
    echo "test-guest-image.sh: apt index lacks the cloud kernel; running apt-get update" >&2
    apt-get update -qq
  fi
  inputs=$("$here/build-test-guest.sh" --inputs)   # fails with the build script's own message
fi
key=$(printf '%s\n' "$inputs" | sha256sum | cut -c1-16)
base=${ZEDGE_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/zedge}/test-guest
dir=$base/$key
mkdir -p "$base"

exec 9>"$base/.lock"
flock 9
if [ "$rebuild" -eq 1 ] || [ ! -f "$dir/base.qcow2" ]; then
  echo "test-guest-image.sh: building the test guest image (key $key) ..." >&2
  tmp=$(mktemp -d "$base/.build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  "$here/build-test-guest.sh" "$tmp" >&2
  # The archive could have moved between --inputs and the build: then the key would not describe the bits.
  built=$(grep -v '^image-' "$tmp/build-info")
  [ "$built" = "$inputs" ] || { echo "test-guest-image.sh: the inputs changed during the build; run it again" >&2; exit 1; }
  chmod 0444 "$tmp/base.qcow2" "$tmp/build-info"; chmod 0755 "$tmp"
  rm -rf "$dir.old"; [ -d "$dir" ] && mv "$dir" "$dir.old"
  mv "$tmp" "$dir"
  rm -rf "$dir.old"
fi
if [ "$prune" -eq 1 ]; then
  find "$base" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
fi
echo "$dir/base.qcow2"

#!/usr/bin/env bash
# Installs the Debian packages Zedge builds and tests against, when run as root;
# otherwise prints the exact command to run. Usage: ensure-deps.sh [--with-postgres]
set -euo pipefail
pkgs=(libvirt-dev libcurl4-openssl-dev libsqlite3-dev pkg-config)
[ "${1:-}" = "--with-postgres" ] && pkgs+=(postgresql)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "Installing ${missing[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Missing Debian packages: ${missing[*]}. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

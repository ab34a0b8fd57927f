#!/usr/bin/env bash
# `make package-test`: builds the three .debs (packaging/build-deb.sh), runs lintian on them, and installs them
# into a clean Debian 12 root made by debootstrap to prove that the declared dependencies are enough:
#
#   dpkg -i, then apt-get -f install --no-install-recommends (only Depends may be what makes them work);
#   zedge-agent --version and zedgectl --version; zedge-coordinator serve as the zedge user with the installed
#   /etc/zedge/coordinator.json and data dir answering /healthz on a free loopback port (plain HTTP, asked with
#   bash's /dev/tcp, so that no curl in the root brings libcurl in behind the packages' backs); the users,
#   directories, modes and conffiles the packages make; systemd-analyze verify on the installed units (and their
#   `systemd-analyze security` exposure, printed); apt-get remove keeps /etc/zedge and /var/lib/zedge*, apt-get
#   purge removes them.
#
# Prints a summary (package sizes, lintian, each check ok/FAILED) and exits non-zero on any failure.
# Run as root (debootstrap, chroot). The debootstrap tarball is cached in .package-test/ (git-ignored), so a rerun
# downloads only what apt-get -f install fetches. Environment: ZEDGE_SKIP_SWIFT_BUILD=1 packs the binaries already
# built in .build-release; ZEDGE_DEBIAN_MIRROR overrides the mirror read from the apt sources;
# ZEDGE_KEEP_ROOT=1 leaves the root in .package-test/root for a look.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

[ "$(id -u)" -eq 0 ] || { echo "package-test.sh: run as root (debootstrap and chroot need it)" >&2; exit 1; }
scripts/ensure-deps.sh --with-packaging || exit 1

work=.package-test
dist="${ZEDGE_DIST:-dist}"
chroot_dir="$root/$work/root"
mkdir -p "$work"

declare -a check_names=() check_results=()
failed=0
record() { # record NAME ok|FAILED [detail]
  check_names+=("$1"); check_results+=("$2${3:+ ($3)}")
  [ "$2" = ok ] || failed=1
  printf '%-64s %s\n' "$1" "$2${3:+ ($3)}"
}
check() { # check NAME COMMAND...: ok when COMMAND succeeds
  local name="$1"; shift
  if "$@"; then record "$name" ok; else record "$name" FAILED; fi
}
in_root() { chroot "$chroot_dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive HOME=/root "$@"; }

mounted=()
cleanup() {
  for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  if [ "${ZEDGE_KEEP_ROOT:-0}" != 1 ] && [ -d "$chroot_dir" ]; then rm -rf --one-file-system "$chroot_dir"; fi
}
trap cleanup EXIT

# 1. The packages.
echo "== building the packages"
if ! packaging/build-deb.sh; then record "make deb builds the three .debs" FAILED; exit 1; fi
version="$(sed -n 's/.*static let current = "\([^"]*\)".*/\1/p' Sources/ZedgeCore/Protocol/ZedgeVersion.swift)"
debs=()
for pkg in zedge-agent zedge-coordinator zedgectl; do debs+=("$dist/${pkg}_${version}_amd64.deb"); done
record "make deb builds the three .debs" ok

# 2. lintian: no errors, no warnings (each accepted one is overridden with its reason in the package).
echo "== lintian"
lintian_out="$(lintian --fail-on error,warning --display-info "${debs[@]}" 2>&1)"
lintian_rc=$?
[ -z "$lintian_out" ] || echo "$lintian_out"
lintian_counts="$(printf '%s\n' "$lintian_out" | awk '/^E: /{e++} /^W: /{w++} /^I: /{i++} END {printf "%d errors, %d warnings, %d info", e, w, i}')"
if [ $lintian_rc -eq 0 ]; then record "lintian" ok "$lintian_counts"; else record "lintian" FAILED "$lintian_counts"; fi

# 3. A clean Debian 12 root (minbase: apt, dpkg and the essential set; systemd for systemd-analyze, man-db for
# the units' Documentation= pages). Nothing else, so that the packages' Depends must bring what they use.
mirror="${ZEDGE_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '/^deb[ \t]/ && / bookworm( |$)/ && $2 !~ /security/ { print $2; exit }
           /^URIs:/ { uri = $2 } /^Suites:/ && / bookworm( |$)/ && uri !~ /security/ { print uri; exit }')"
fi
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
tarball="$work/bookworm-minbase.tgz"
include=systemd,man-db
echo "== debootstrap bookworm from $mirror"
rm -rf --one-file-system "$chroot_dir"
if [ ! -s "$tarball" ]; then
  tmp_root="$(mktemp -d "$root/$work/make-tarball.XXXXXX")"
  if ! debootstrap --variant=minbase --include="$include" --make-tarball="$tarball.part" bookworm "$tmp_root" "$mirror" \
      > "$work/debootstrap-tarball.log" 2>&1; then
    tail -20 "$work/debootstrap-tarball.log"; rm -rf "$tmp_root"; record "debootstrap a Debian 12 root" FAILED; exit 1
  fi
  rm -rf "$tmp_root"
  mv "$tarball.part" "$tarball"
fi
if ! debootstrap --variant=minbase --include="$include" --unpack-tarball="$root/$tarball" bookworm "$chroot_dir" "$mirror" \
    > "$work/debootstrap.log" 2>&1; then
  tail -20 "$work/debootstrap.log"; record "debootstrap a Debian 12 root" FAILED; exit 1
fi
record "debootstrap a Debian 12 root" ok "$(in_root cat /etc/debian_version)"
mount -t proc proc "$chroot_dir/proc" && mounted+=("$chroot_dir/proc")
mount --bind /dev "$chroot_dir/dev" && mounted+=("$chroot_dir/dev")
cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
# No service starts inside the root (there is no systemd running there anyway; this covers invoke-rc.d too).
printf '#!/bin/sh\nexit 101\n' > "$chroot_dir/usr/sbin/policy-rc.d"; chmod 755 "$chroot_dir/usr/sbin/policy-rc.d"

# 4. dpkg -i, then apt-get -f install for the dependencies.
echo "== installing"
mkdir -p "$chroot_dir/tmp/debs"
cp "${debs[@]}" "$chroot_dir/tmp/debs/"
in_root dpkg -i /tmp/debs/zedge-agent_"$version"_amd64.deb /tmp/debs/zedge-coordinator_"$version"_amd64.deb \
  /tmp/debs/zedgectl_"$version"_amd64.deb > "$work/dpkg-i.log" 2>&1 || true   # fails until the dependencies come
in_root apt-get update -qq > "$work/apt.log" 2>&1
in_root apt-get -f install -y -qq --no-install-recommends >> "$work/apt.log" 2>&1
installed() { for p in zedge-agent zedge-coordinator zedgectl; do
  in_root dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -qx "install ok installed" || return 1; done; }
if installed; then
  record "dpkg -i + apt-get -f install into the clean root" ok
else
  tail -30 "$work/dpkg-i.log" "$work/apt.log"
  record "dpkg -i + apt-get -f install into the clean root" FAILED
fi

# 5. The binaries run with nothing but their Depends.
out="$(in_root zedge-agent --version 2>&1)"
if [ "$out" = "$version" ]; then record "zedge-agent --version" ok "$out"; else record "zedge-agent --version" FAILED "$out"; fi
out="$(in_root zedgectl --version 2>&1)"
if [ "$out" = "$version" ]; then record "zedgectl --version" ok "$out"; else record "zedgectl --version" FAILED "$out"; fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# As the unit runs it: the zedge user, the installed configuration and data dir; only the address differs.
chroot "$chroot_dir" /usr/bin/env -i PATH=/usr/bin:/bin LC_ALL=C.UTF-8 ZEDGE_BOOTSTRAP_ADMIN_PASSWORD=package-test-pw \
  setpriv --reuid=zedge --regid=zedge --init-groups -- /usr/bin/zedge-coordinator serve \
  --config /etc/zedge/coordinator.json --listen "127.0.0.1:$port" --insecure-http > "$work/coordinator.log" 2>&1 &
coordinator_pid=$!
health=""
for _ in $(seq 1 120); do
  health="$(in_root bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && head -n 1 <&3" 2>/dev/null | tr -d '\r')"
  case "$health" in *" 200"*) break ;; esac
  kill -0 "$coordinator_pid" 2>/dev/null || break
  sleep 0.5
done
case "$health" in
  *" 200"*) record "zedge-coordinator serve answers /healthz" ok "$health on 127.0.0.1:$port" ;;
  *) tail -20 "$work/coordinator.log"; record "zedge-coordinator serve answers /healthz" FAILED "${health:-no answer}" ;;
esac
kill -TERM "$coordinator_pid" 2>/dev/null; wait "$coordinator_pid" 2>/dev/null
check "coordinator wrote its database in /var/lib/zedge" test -s "$chroot_dir/var/lib/zedge/coordinator.db"

# 6. What the maintainer scripts made.
stat_of() { in_root stat -c '%U:%G %a' "$1" 2>/dev/null; }
expect_stat() { local got; got="$(stat_of "$1")"
  if [ "$got" = "$2" ]; then record "$1 is $2" ok; else record "$1 is $2" FAILED "got ${got:-missing}"; fi; }
has_system_user() { in_root getent passwd zedge | grep -q ':/usr/sbin/nologin$'; }
check "system user zedge (no login shell)" has_system_user
expect_stat /var/lib/zedge "zedge:zedge 700"
expect_stat /var/lib/zedge-agent "root:root 711"
expect_stat /etc/zedge/coordinator.json "root:zedge 640"
expect_stat /etc/zedge/agent.json "root:root 644"
conffiles="$(in_root dpkg-query -W -f='${Conffiles}\n' zedge-agent zedge-coordinator 2>/dev/null)"
check "conffiles /etc/zedge/agent.json and coordinator.json" \
  bash -c "grep -q ' /etc/zedge/agent.json ' <<<'$conffiles' && grep -q ' /etc/zedge/coordinator.json ' <<<'$conffiles'"
check "zedge-agent.service enabled (deb-systemd-helper)" test -L "$chroot_dir/etc/systemd/system/multi-user.target.wants/zedge-agent.service"
check "zedge-coordinator.service enabled (deb-systemd-helper)" test -L "$chroot_dir/etc/systemd/system/multi-user.target.wants/zedge-coordinator.service"

# 7. The installed units.
verify_out="$(in_root systemd-analyze verify /lib/systemd/system/zedge-agent.service /lib/systemd/system/zedge-coordinator.service 2>&1)"
verify_rc=$?
if [ $verify_rc -eq 0 ] && [ -z "$verify_out" ]; then record "systemd-analyze verify (both units)" ok
else echo "$verify_out"; record "systemd-analyze verify (both units)" FAILED; fi
exposure=()
for unit in zedge-agent zedge-coordinator; do
  score="$(in_root systemd-analyze security --offline=true "/lib/systemd/system/$unit.service" 2>/dev/null \
    | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]* [A-Z]*\).*/\1/p')"
  exposure+=("$unit.service exposure ${score:-unknown}")
done

# 8. remove keeps configuration and state; purge deletes them.
echo "state" > "$chroot_dir/var/lib/zedge-agent/package-test-marker"
remove_all() { in_root apt-get remove -y -qq zedge-agent zedge-coordinator zedgectl > "$work/remove.log" 2>&1; }
check "apt-get remove of the three" remove_all
check "apt-get remove removes the binaries" bash -c "! test -e '$chroot_dir/usr/bin/zedge-agent' && ! test -e '$chroot_dir/usr/bin/zedge-coordinator' && ! test -e '$chroot_dir/usr/bin/zedgectl'"
check "apt-get remove keeps /etc/zedge/*.json" test -f "$chroot_dir/etc/zedge/agent.json" -a -f "$chroot_dir/etc/zedge/coordinator.json"
check "apt-get remove keeps /var/lib/zedge and /var/lib/zedge-agent" \
  test -s "$chroot_dir/var/lib/zedge/coordinator.db" -a -f "$chroot_dir/var/lib/zedge-agent/package-test-marker"
# zedgectl has no configuration, so remove already left nothing of it for purge (apt-get would not find it).
purge_configured() { in_root apt-get purge -y -qq zedge-agent zedge-coordinator > "$work/purge.log" 2>&1; }
check "apt-get purge of zedge-agent and zedge-coordinator" purge_configured
check "apt-get purge removes /etc/zedge" test ! -e "$chroot_dir/etc/zedge"
check "apt-get purge removes /var/lib/zedge and /var/lib/zedge-agent" test ! -e "$chroot_dir/var/lib/zedge" -a ! -e "$chroot_dir/var/lib/zedge-agent"
check "apt-get purge drops the statoverride" bash -c "! chroot '$chroot_dir' dpkg-statoverride --list /etc/zedge/coordinator.json >/dev/null"

# Summary.
echo
echo "== package-test summary (version $version)"
for deb in "${debs[@]}"; do
  size="$(stat -c %s "$deb")"
  printf '  %-44s %10d bytes  %6.2f MB\n' "$(basename "$deb")" "$size" "$(awk -v s="$size" 'BEGIN { print s / 1000000 }')"
done
for e in "${exposure[@]}"; do echo "  $e"; done
for i in "${!check_names[@]}"; do printf '  %-64s %s\n' "${check_names[$i]}" "${check_results[$i]}"; done
if [ $failed -eq 0 ]; then echo "package-test: all checks ok"; else echo "package-test: FAILED"; fi
exit $failed

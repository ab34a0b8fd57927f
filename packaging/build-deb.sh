#!/usr/bin/env bash
# Builds the zedge-agent, zedge-coordinator and zedgectl .debs for Debian 12 amd64 into dist/ (or $ZEDGE_DIST).
#
# Each binary is a release build with the Swift runtime and Foundation linked statically
# (swift build -c release --static-swift-stdlib, scratch path .build-release), stripped, so hosts need no Swift
# toolchain. Each package is a staged tree under dist/stage/<package> packed by `dpkg-deb --build`, not
# debhelper: three binary-only packages need no source package, and this keeps the build to dpkg-dev and
# binutils (--root-owner-group makes root own the files without fakeroot). debhelper would add autotools, dwz,
# po-debconf and man-db for maintainer-script snippets that fit in a page; packaging/<package>/post* and prerm
# hold those snippets (dh_installsystemd's) written out.
#
# The version is ZedgeVersion.current (Sources/ZedgeCore/Protocol/ZedgeVersion.swift), the one every binary
# prints with --version; the build checks that each built binary reports it. Depends are computed by
# dpkg-shlibdeps from each binary's NEEDED libraries, plus the tools the agent runs (packaging/<package>/control).
#
# Environment: SWIFT (default swift), ZEDGE_DIST (default dist), ZEDGE_SKIP_SWIFT_BUILD=1 to pack the binaries
# already in .build-release (or in ZEDGE_BIN_DIR), ZEDGE_DEB_PACKAGES to build only some of the three,
# ZEDGE_DEB_MAINTAINER (default "Zedge maintainers <maintainers@zedge.invalid>").
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

SWIFT="${SWIFT:-swift}"
dist="${ZEDGE_DIST:-dist}"
scratch=.build-release
maintainer="${ZEDGE_DEB_MAINTAINER:-Zedge maintainers <maintainers@zedge.invalid>}"
read -r -a packages <<< "${ZEDGE_DEB_PACKAGES:-zedge-agent zedge-coordinator zedgectl}"

die() { echo "build-deb.sh: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/ensure-deps.sh --with-packaging"
done
[ "$(dpkg --print-architecture)" = amd64 ] || die "builds amd64 packages on an amd64 machine only"

version="$(sed -n 's/.*static let current = "\([^"]*\)".*/\1/p' Sources/ZedgeCore/Protocol/ZedgeVersion.swift)"
[[ "$version" =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || die "cannot read ZedgeVersion.current (got '$version')"
# Reproducible timestamps: the last commit's time (dpkg-deb clamps file times to SOURCE_DATE_EPOCH).
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
commit="$(git describe --always --dirty 2>/dev/null || echo unknown)"

# No RUNPATH ($ORIGIN is SwiftPM's default; Debian binaries load libraries from the system paths only) and
# immediate binding, so that the whole GOT is read-only after start (RELRO is already the linker's default).
swift_flags=(-c release --static-swift-stdlib --disable-local-rpath --scratch-path "$scratch" -Xlinker -z -Xlinker now)
if [ "${ZEDGE_SKIP_SWIFT_BUILD:-0}" != 1 ]; then
  for product in "${packages[@]}"; do
    echo "== $SWIFT build ${swift_flags[*]} --product $product"
    "$SWIFT" build "${swift_flags[@]}" --product "$product"
  done
fi
bin="${ZEDGE_BIN_DIR:-$("$SWIFT" build "${swift_flags[@]}" --show-bin-path)}"

rm -rf "$dist/stage"
mkdir -p "$dist/stage"

# The files one package installs, by package (source, then destination and mode).
stage_files() {
  local pkg="$1" dest="$2"
  case "$pkg" in
    zedge-agent)
      install -D -m 0644 agent/zedge-agent.service "$dest/lib/systemd/system/zedge-agent.service"
      install -D -m 0644 agent/agent.example.json "$dest/etc/zedge/agent.json"
      install -D -m 0644 agent/agent.example.json "$dest/usr/share/doc/$pkg/examples/agent.example.json"
      [ ! -f agent/README.md ] || install -D -m 0644 agent/README.md "$dest/usr/share/doc/$pkg/README.md"
      echo /etc/zedge/agent.json > "$dest/DEBIAN/conffiles"
      ;;
    zedge-coordinator)
      install -D -m 0644 coordinator/zedge-coordinator.service "$dest/lib/systemd/system/zedge-coordinator.service"
      install -D -m 0644 coordinator/config.example.json "$dest/etc/zedge/coordinator.json"
      install -D -m 0644 coordinator/config.example.json "$dest/usr/share/doc/$pkg/examples/config.example.json"
      install -D -m 0644 coordinator/README.md "$dest/usr/share/doc/$pkg/README.md"
      for f in coordinator/*.json; do
        case "$f" in coordinator/config.example.json) ;; *) install -D -m 0644 "$f" "$dest/usr/share/doc/$pkg/examples/${f#coordinator/}" ;; esac
      done
      echo /etc/zedge/coordinator.json > "$dest/DEBIAN/conffiles"
      ;;
  esac
}

for pkg in "${packages[@]}"; do
  src="$bin/$pkg"
  [ -x "$src" ] || die "$src is missing (build it, or unset ZEDGE_SKIP_SWIFT_BUILD)"
  ! objdump -p "$src" | grep -qE '^ *(RPATH|RUNPATH) ' || die "$src has an RPATH/RUNPATH (built without --disable-local-rpath?)"
  reported="$("$src" --version)"
  [ "$reported" = "$version" ] || die "$pkg --version says '$reported', ZedgeVersion.current is '$version'"

  dest="$dist/stage/$pkg"
  mkdir -p "$dest/DEBIAN" "$dest/usr/bin" "$dest/usr/share/doc/$pkg"
  # dh_strip's choice: drop the symbol table, .comment and .note sections (the Swift metadata sections stay).
  strip --remove-section=.comment --remove-section=.note --strip-unneeded -o "$dest/usr/bin/$pkg" "$src"
  chmod 0755 "$dest/usr/bin/$pkg"
  stage_files "$pkg" "$dest"

  section=8; [ "$pkg" = zedgectl ] && section=1
  install -d "$dest/usr/share/man/man$section"
  gzip -9n -c "packaging/man/$pkg.$section" > "$dest/usr/share/man/man$section/$pkg.$section.gz"
  install -m 0644 packaging/copyright "$dest/usr/share/doc/$pkg/copyright"
  {
    printf '%s (%s) bookworm; urgency=medium\n\n' "$pkg" "$version"
    printf '  * Built from the Zedge repository at %s.\n\n' "$commit"
    printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
  } | gzip -9n > "$dest/usr/share/doc/$pkg/changelog.gz"
  if [ -f "packaging/$pkg/lintian-overrides" ]; then
    install -D -m 0644 "packaging/$pkg/lintian-overrides" "$dest/usr/share/lintian/overrides/$pkg"
  fi
  for script in preinst postinst prerm postrm; do
    [ ! -f "packaging/$pkg/$script" ] || install -m 0755 "packaging/$pkg/$script" "$dest/DEBIAN/$script"
  done
  [ ! -f "$dest/DEBIAN/conffiles" ] || chmod 0644 "$dest/DEBIAN/conffiles"

  # Depends: the packages holding the libraries the binary really loads (its NEEDED entries), with the
  # versions their symbols files demand. dpkg-shlibdeps wants a debian/control; a scratch one is enough.
  work="$(mktemp -d)"
  mkdir -p "$work/debian"
  printf 'Source: zedge\n\nPackage: %s\nArchitecture: amd64\n' "$pkg" > "$work/debian/control"
  binary="$(realpath "$dest/usr/bin/$pkg")"
  shlibs="$(cd "$work" && dpkg-shlibdeps -O -e"$binary" 2>"$work/err" | sed -n 's/^shlibs:Depends=//p')" \
    || { cat "$work/err" >&2; die "dpkg-shlibdeps failed for $pkg"; }
  rm -rf "$work"
  [ -n "$shlibs" ] || die "dpkg-shlibdeps found no libraries for $pkg"

  find "$dest" -path "$dest/DEBIAN" -prune -o -type d -exec chmod 0755 {} +
  installed_kib="$(du -s -k --apparent-size --exclude=DEBIAN "$dest" | cut -f1)"
  sed -e "s|@VERSION@|$version|" -e "s|@MAINTAINER@|$maintainer|" -e "s|@INSTALLED_SIZE@|$installed_kib|" \
      -e "s|@SHLIBS@|$shlibs|" "packaging/$pkg/control" > "$dest/DEBIAN/control"
  (cd "$dest" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
    > "$dest/DEBIAN/md5sums"
  chmod 0644 "$dest/DEBIAN/control" "$dest/DEBIAN/md5sums"

  deb="$dist/${pkg}_${version}_amd64.deb"
  dpkg-deb --root-owner-group -Zxz -z9 --build "$dest" "$deb" >/dev/null
  size="$(stat -c %s "$deb")"
  printf '%-40s %10d bytes  %6.1f MB   Depends: %s\n' "$deb" "$size" "$(awk -v s="$size" 'BEGIN { print s / 1000000 }')" \
    "$(sed -n 's/^Depends: //p' "$dest/DEBIAN/control")"
done

#!/usr/bin/env bash
# Builds Zedge's bootable TEST guest image: OUTDIR/base.qcow2 (compressed qcow2, ~13 MB, ~17 MiB virtual), plus
# OUTDIR/build-info (what it was built from). Recipe: ../shared/recipes/test-guest-image.md.
#
# The disk: an MBR (syslinux mbr.bin), one FAT partition with syslinux, Debian's cloud kernel and a busybox
# initramfs. No mounts, no loop devices, no downloads other than the Debian archive (`apt-get download` of the
# kernel .deb, verified by apt against the signed index). Runs as any user that has the packages below.
#
# The guest's /init (PID 1, all in the initramfs; the disk is never written):
#   - waits up to 10 s for a file system labelled `cidata` (NoCloud seed on a cdrom on bus ide or scsi, or a
#     virtio disk), mounts it read-only; without one it prints `ZEDGE-NOSEED …`;
#   - if the seed has user-data, prints `ZEDGE-USERDATA bytes=N sha256=HEX`, then `ZEDGE-ECHO TEXT` for each line
#     `# zedge-echo: TEXT` in it (at most 20; a YAML/shell comment, so any user-data can carry one);
#   - gives the first NIC (if any) the first static address and gateway of network-config (v1 or v2);
#   - then prints, after the lines above, the success marker on the serial console (ttyS0):
#       ZEDGE-GUEST instance-id=<meta-data instance-id> hostname=<local-hostname> nic=… address=… gateway=… uptime=…
#   - serves that line over HTTP on port 80 (busybox httpd), keeps a root shell on ttyS0 (`virsh console`),
#     and powers off on an ACPI power button (`virsh shutdown`);
#   - watches its virtio disks (polls /sys/block/vd* each second) and prints, at boot and whenever a disk
#     appears, disappears, changes size or read-only flag (live attach, `virsh blockresize`, detach):
#       ZEDGE-DISKS uptime=… vda=BYTES:ro=0|1:serial=SERIAL vdb=…     (serial: at most 20 characters)
#     followed by one `ZEDGE-PARTITIONS <line of /proc/partitions>` per vd* line there. The boot line comes
#     before the root shell starts; the shell's prompt (`/ # ` and no newline) then shares a console line with
#     the next ZEDGE-DISKS line, so match the lines with `contains`, not at the start of a line;
#   - for each `# zedge-write-disk: SERIAL TEXT` in its user-data (at most 8), writes TEXT and a newline at the first
#     byte of the read-write disk with that serial once it is there (once per boot) and prints
#     `ZEDGE-WROTE serial=SERIAL device=vdX bytes=N`.
# Boot it with <domain type='qemu'> (TCG) on machines without real VT-x/AMD-V; the boot disk on bus='virtio'.
#
# Usage: build-test-guest.sh OUTDIR        build OUTDIR/base.qcow2 and OUTDIR/build-info
#        build-test-guest.sh --inputs      print what the image is built from (one "name value" a line): this
#                                          script's SHA-256, the kernel package and version, busybox and syslinux
#                                          versions. scripts/test-guest-image.sh hashes it into its cache key.
# Environment: ZEDGE_TEST_GUEST_KERNEL_PKG  kernel package (default: what linux-image-cloud-amd64 depends on).
# Needs (Debian): busybox-static syslinux syslinux-common mtools dosfstools fdisk cpio kmod qemu-utils, and an
# apt index that knows the kernel (apt-get update). `scripts/ensure-deps.sh --with-test-guest` installs them.
set -euo pipefail

die() { echo "build-test-guest.sh: $*" >&2; exit 1; }

need_pkgs=(busybox-static syslinux syslinux-common mtools dosfstools fdisk cpio kmod qemu-utils)
missing=()
for p in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || die "missing Debian packages: ${missing[*]}. Install them with:
  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}
(or run scripts/ensure-deps.sh --with-test-guest as root)"
[ "$(dpkg --print-architecture)" = amd64 ] || die "builds an amd64 guest only (this is $(dpkg --print-architecture))"
ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is dynamically linked: install busybox-static, not busybox"

pkg_version() { dpkg-query -W -f='${Version}' "$1"; }

# The kernel package: linux-image-cloud-amd64 is a metapackage that depends on exactly one versioned image.
KPKG=${ZEDGE_TEST_GUEST_KERNEL_PKG:-$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
  sed -n 's/^ *Depends: //p' | head -1)}
[[ "$KPKG" =~ ^linux-image-[0-9][^[:space:]]*-cloud-amd64$ ]] || die "cannot resolve the cloud kernel package \
(apt-cache depends linux-image-cloud-amd64 gave '${KPKG}'); run apt-get update, or set ZEDGE_TEST_GUEST_KERNEL_PKG"
KVER=${KPKG#linux-image-}
KPKG_VERSION=$(apt-cache show --no-all-versions "$KPKG" 2>/dev/null | sed -n 's/^Version: //p' | head -1)
[ -n "$KPKG_VERSION" ] || die "apt knows no version of $KPKG; run apt-get update"

SELF=$(realpath "$0")
inputs() {
  echo "script-sha256 $(sha256sum "$SELF" | cut -d' ' -f1)"
  echo "kernel $KPKG $KPKG_VERSION"
  for p in busybox-static syslinux syslinux-common; do echo "$p $(pkg_version "$p")"; done
}
if [ "${1:-}" = --inputs ]; then inputs; exit 0; fi
[ $# -eq 1 ] && [ -n "$1" ] && [ "${1#-}" = "$1" ] || die "usage: build-test-guest.sh OUTDIR | --inputs"

OUT=$(realpath -m "$1"); mkdir -p "$OUT"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
cd "$W"
# Fixed timestamps and ids where the tools allow it, so two builds differ as little as possible.
export SOURCE_DATE_EPOCH=0 MTOOLS_SKIP_CHECK=1 LC_ALL=C

# The kernel: the .deb of exactly the version in inputs(); apt checks it against the signed index.
# (As root apt warns "Download is performed unsandboxed as root": harmless, shown only on failure.)
apt-get -qq download "$KPKG=$KPKG_VERSION" 2>apt.err || die "apt-get download $KPKG=$KPKG_VERSION failed: $(cat apt.err)"
deb=("$W/${KPKG}_"*.deb); [ -f "${deb[0]}" ] || die "apt-get download left no ${KPKG}_*.deb"
dpkg -x "${deb[0]}" k
[ -f "k/boot/vmlinuz-$KVER" ] || die "$KPKG has no /boot/vmlinuz-$KVER"
depmod -b k "$KVER"                     # the .deb has no modules.dep (depmod runs at install time)

# Modules, in load order: virtio (PCI, net, blk, scsi), the IDE cdrom, ISO 9660, the ACPI button.
mkdir -p root/bin root/lib/modules; cp /bin/busybox root/bin/
for m in virtio_pci virtio_net virtio_blk virtio_scsi ata_piix sr_mod isofs button evdev; do
  modprobe -d k -S "$KVER" --show-depends "$m" || die "module $m not found in $KPKG"
done | awk '$1=="insmod" && !s[$2]++ {print $2}' > modules.list
while read -r ko; do
  cp "$ko" root/lib/modules/; basename "$ko" .ko >> root/lib/modules/order
done < modules.list
[ -s root/lib/modules/order ] || die "no modules collected from $KPKG"

cat > root/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /seed /etc/acpi/PWRF
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko 2>/dev/null; done
printf '#!/bin/sh\npoweroff -f\n' > /etc/acpi/PWRF/00000080; chmod +x /etc/acpi/PWRF/00000080
acpid -l /dev/null                      # ACPI power button (virsh shutdown) -> power off
i=0; while ! dev=$(findfs LABEL=cidata 2>/dev/null) && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
[ -n "$dev" ] && mount -o ro "$dev" /seed || echo "ZEDGE-NOSEED no filesystem labelled cidata"
val() { sed -n "s/^[[:space:]-]*$1:[[:space:]]*//p" "$2" 2>/dev/null | head -1 | tr -d "\"'[]"; }
iid=$(val instance-id /seed/meta-data); host=$(val local-hostname /seed/meta-data); nc=/seed/network-config
ud=/seed/user-data
if [ -f $ud ]; then
  echo "ZEDGE-USERDATA bytes=$(wc -c < $ud) sha256=$(sha256sum $ud | cut -d' ' -f1)"
  sed -n 's/^#[[:space:]]*zedge-echo:[[:space:]]\{0,1\}//p' $ud | head -20 | while IFS= read -r l; do echo "ZEDGE-ECHO $l"; done
fi
addr=$(sed -n '/address/,$p' $nc 2>/dev/null | grep -oE '[0-9]+(\.[0-9]+){3}/[0-9]+' | head -1)   # v2, or v1 a.b.c.d/nn
[ -z "$addr" ] && a=$(val address $nc) && [ -n "$a" ] && addr="$a/$(ipcalc -p $a $(val netmask $nc) | cut -d= -f2)"
gw=$(val gateway4 $nc); [ -z "$gw" ] && gw=$(val gateway $nc); [ -z "$gw" ] && gw=$(val via $nc)
[ -n "$host" ] && hostname "$host"
nic=$(ls /sys/class/net | grep -v '^lo$' | head -1)
ip link set lo up
if [ -n "$nic" ]; then
  ip link set "$nic" up
  [ -n "$addr" ] && ip addr add "$addr" dev "$nic"
  [ -n "$gw" ] && ip route add default via "$gw"
fi
line="ZEDGE-GUEST instance-id=$iid hostname=$host nic=$nic address=$addr gateway=$gw uptime=$(cut -d' ' -f1 /proc/uptime)"
echo "$line"; mkdir -p /www; echo "$line" > /www/index.html; httpd -p 80 -h /www   # also over TCP: wget http://ADDR/
# Disks: a line at boot and whenever a vd* disk appears, disappears, changes size or its read-only flag. The boot
# line is printed before the shell below starts, so that it does not share a console line with the shell's prompt.
disks() { cur=; for b in /sys/block/vd*; do [ -e "$b" ] || continue; n=${b##*/}
    cur="$cur $n=$(( $(cat $b/size) * 512 )):ro=$(cat $b/ro):serial=$(cat $b/serial 2>/dev/null)"; done
  if [ "$cur" != "$old" ]; then echo "ZEDGE-DISKS uptime=$(cut -d' ' -f1 /proc/uptime)$cur" >/dev/ttyS0
    grep -E ' vd' /proc/partitions | sed 's/^/ZEDGE-PARTITIONS /' >/dev/ttyS0; old=$cur; fi; write_disks; }
# `# zedge-write-disk: SERIAL TEXT` in user-data: once a read-write disk with that serial is there, write TEXT and a
# newline at its first byte (once per boot), then print ZEDGE-WROTE (a test's proof that the guest wrote the disk).
[ -f $ud ] && sed -n 's/^#[[:space:]]*zedge-write-disk:[[:space:]]*//p' $ud | head -8 > /zedge-writes
wrote=
write_disks() { [ -s /zedge-writes ] || return 0; while read -r s t; do case " $wrote " in *" $s "*) continue ;; esac
    for b in /sys/block/vd*; do [ -e "$b" ] || continue
      [ "$(cat $b/serial 2>/dev/null)" = "$s" ] && [ "$(cat $b/ro)" = 0 ] || continue
      printf '%s\n' "$t" | dd of=/dev/${b##*/} conv=notrunc 2>/dev/null && sync && wrote="$wrote $s" &&
        echo "ZEDGE-WROTE serial=$s device=${b##*/} bytes=$(( ${#t} + 1 ))" >/dev/ttyS0
    done; done < /zedge-writes; }
old=; disks; ( while true; do sleep 1; disks; done ) &
setsid cttyhack sh -c 'while true; do sh; done' </dev/ttyS0 >/dev/ttyS0 2>&1 &   # root shell for virsh console
while true; do sleep 3600; done
INIT
chmod +x root/init
find root -exec touch -h -d @0 {} +
(cd root && find . | sort | cpio -o -H newc --reproducible --quiet | gzip -9n) > initrd.gz

cp "k/boot/vmlinuz-$KVER" vmlinuz
printf 'SERIAL 0 115200\nDEFAULT z\nPROMPT 0\nTIMEOUT 0\nLABEL z\n KERNEL vmlinuz\n INITRD initrd.gz\n APPEND %s\n' \
  "console=ttyS0,115200 panic=-1 quiet" > syslinux.cfg
touch -d @0 vmlinuz initrd.gz syslinux.cfg
KB=$(( ($(stat -c%s vmlinuz) + $(stat -c%s initrd.gz)) / 1024 + 1024 ))   # FAT partition size, KiB
mkfs.vfat --invariant -i 5a454447 -C -n ZEDGEBOOT part.img $KB >/dev/null
mcopy -m -i part.img vmlinuz initrd.gz syslinux.cfg ::/
syslinux --install part.img              # mtools-based: writes ldlinux.sys/.c32 and the boot sector, no mount
truncate -s $(( (KB + 1024) * 1024 )) disk.raw
echo "label-id: 0x5a454447
start=2048, size=$((KB * 2)), type=c, bootable" | sfdisk -q disk.raw
dd if=part.img of=disk.raw bs=512 seek=2048 conv=notrunc status=none
dd if=/usr/lib/syslinux/mbr/mbr.bin of=disk.raw bs=440 count=1 conv=notrunc status=none

# qemu-img for a TEST artifact built by a script is acceptable here; product code uses libvirt's storage API
# instead of shelling out (DESIGN §10). -c: compressed clusters, about half the raw size.
qemu-img convert -c -f raw -O qcow2 disk.raw base.qcow2
{ inputs; echo "image-sha256 $(sha256sum base.qcow2 | cut -d' ' -f1)"; echo "image-bytes $(stat -c%s base.qcow2)"; } \
  > build-info
mv -f base.qcow2 "$OUT/base.qcow2.tmp" && mv -f "$OUT/base.qcow2.tmp" "$OUT/base.qcow2"
mv -f build-info "$OUT/build-info"
echo "built $OUT/base.qcow2 ($(stat -c%s "$OUT/base.qcow2") bytes) from $KPKG $KPKG_VERSION" >&2

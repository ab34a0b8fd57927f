#!/usr/bin/env bash
# bench-rbd.sh — write throughput into an RBD volume through libvirt, as a ratio to `rbd bench --io-type write`
# on the same throwaway cluster in the same run (issue #11). Machines are shared and noisy: only the ratio counts.
#
# Starts a cluster with scripts/start-ceph.sh (cephx, one monitor, one memstore OSD; CEPH_OSD_BYTES, default
# 3 GiB of RAM at most), then sets libvirt up exactly as Zedge's agent does (Sources/ZedgeAgent/Libvirt/
# RbdStorage.swift): a secret `ephemeral='no' private='yes'` of usage type ceph holding the base64-DECODED key of
# client.zedge, and an `rbd` storage pool with `<auth type='ceph' username='zedge'>`. Every libvirt object is
# named bench-…. Then ROUNDS rounds (default 3), alternating, each into fresh images:
#   A) libvirt: `virsh blockcopy` (virDomainBlockCopy) of a 256 MiB file of random data into an RBD volume made
#      by `vol-create` in that pool. The file is the disk of a paused, transient domain (QEMU, no guest runs); the
#      destination is the volume as a network disk (cache='none', so every write is acknowledged by the OSD).
#      Timed from just before the call to libvirt's block-job READY event (the whole file is on the volume).
#      Why not `virsh vol-upload` (virStorageVolUpload)? libvirt 9.0's rbd backend has no upload: it answers
#      "this function is not supported by the connection driver: storage pool doesn't support volume upload".
#      QEMU's librbd driver, reached through libvirt, is the path guests write RBD disks through.
#   A') libvirt storage API, for information: `virsh vol-wipe` (virStorageVolWipe, algorithm zero) of the
#      volume: libvirtd's own librbd writes zeros, 4 MiB at a time, one at a time. Not the ratio's numerator.
#   B) ceiling: `rbd bench --io-type write --io-size 4M --io-threads 16 --io-total 256M --io-pattern seq` as
#      client.zedge into a fresh 256 MiB image; also, for information, --io-size 4K over BENCH_RBD_4K_TOTAL.
# Prints MB/s (10^6 bytes/s) for each, the ratio A/B per round and the medians. A trap removes the domain,
# volumes, pool, secret and cluster on exit, failure, INT or TERM. Uses a running libvirtd, else starts one
# through scripts/with-libvirtd.sh. Needs root, Debian's ceph-mon, ceph-osd, ceph-common,
# libvirt-daemon-driver-storage-rbd and qemu-block-extra (scripts/ensure-deps.sh --with-ceph).
# Usage: bench-rbd.sh   (or: make bench-disks)
# Optional environment: ROUNDS (3), CEPH_OSD_BYTES (3 GiB), BENCH_RBD_4K_TOTAL (64M).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${ZEDGE_TEST_LIBVIRT_URI:-}" ] && [ -z "${BENCH_RBD_INNER:-}" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "bench-rbd: needs root (sudo $0)" >&2; exit 1; }
  BENCH_RBD_INNER=1 exec "$here/with-libvirtd.sh" "$0" "$@"
fi
[ "$(id -u)" -eq 0 ] || { echo "bench-rbd: needs root (sudo $0)" >&2; exit 1; }
URI=${ZEDGE_TEST_LIBVIRT_URI:-qemu:///system}
V=(virsh -q -c "$URI")
ROUNDS=${ROUNDS:-3}
SIZE_MIB=256
OSD_BYTES=${CEPH_OSD_BYTES:-$((3 * 1024 * 1024 * 1024))}
K4_TOTAL=${BENCH_RBD_4K_TOTAL:-64M}

for c in virsh rbd python3 awk; do command -v "$c" >/dev/null || { echo "bench-rbd: $c missing" >&2; exit 1; }; done
"${V[@]}" pool-capabilities | grep -q "<pool type='rbd' supported='yes'>" || {
  echo "bench-rbd: libvirtd at $URI has no rbd pool type (install libvirt-daemon-driver-storage-rbd, restart libvirtd)" >&2
  exit 1; }
# memstore keeps everything in RAM: the largest moment holds one 256 MiB image plus the source file's page cache.
avail_mib=$(free -m | awk '/^Mem:/ {print $7}')
[ "$avail_mib" -gt $((OSD_BYTES / 1048576 + 1024)) ] ||
  { echo "bench-rbd: only $avail_mib MiB available; lower CEPH_OSD_BYTES" >&2; exit 1; }

tag=bench-$$
RESULT=
dir=; secret=; evpid=
pool=$tag-rbd dom=$tag-writer
cleanup() {
  set +e
  [ -n "$evpid" ] && kill "$evpid" 2>/dev/null
  if "${V[@]}" dominfo "$dom" >/dev/null 2>&1; then "${V[@]}" destroy "$dom" >/dev/null; fi
  if "${V[@]}" pool-info "$pool" >/dev/null 2>&1; then
    for v in $("${V[@]}" vol-list "$pool" 2>/dev/null | awk '{print $1}'); do "${V[@]}" vol-delete "$v" --pool "$pool" >/dev/null; done
    "${V[@]}" pool-destroy "$pool" >/dev/null 2>&1
    "${V[@]}" pool-undefine "$pool" >/dev/null
  fi
  [ -n "$secret" ] && "${V[@]}" secret-undefine "$secret" >/dev/null 2>&1
  [ -n "$dir" ] && "$here/stop-ceph.sh" "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / s / 1e6 }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# rbd bench's summary line: "elapsed: 1   ops: 64   ops/sec: 50.1   bytes/sec: 210 MiB/s"
rbd_bench() {   # IMAGE IO_SIZE TOTAL → MB/s in $RESULT
  local out
  out=$(rbd --id zedge bench --io-type write --io-size "$2" --io-threads 16 --io-total "$3" --io-pattern seq \
    "private-data-disks/$1" 2>&1) || { echo "$out" >&2; return 1; }
  RESULT=$(echo "$out" | awk '/^elapsed:/ {
      for (i = 1; i <= NF; i++) if ($i == "bytes/sec:") { v = $(i + 1); u = $(i + 2) }
      m = (u ~ /^Ki/) ? 1024 : (u ~ /^Mi/) ? 1048576 : (u ~ /^Gi/) ? 1073741824 : 1
      printf "%.1f", v * m / 1e6 }')
  [ -n "$RESULT" ] || { echo "$out" >&2; return 1; }
}

t0=$(now)
dir=$(mktemp -d /tmp/zb.XXXX)
chmod 755 "$dir"   # QEMU (user libvirt-qemu) opens the source file in it
eval "$(CEPH_OSD_BYTES=$OSD_BYTES timeout 180 "$here/start-ceph.sh" "$dir")"
port=${CEPH_MON_HOST##*:}

# The secret and the pool, as RbdStorage.ensureSecret/ensurePool define them.
secret=$(cat /proc/sys/kernel/random/uuid)
cat > "$dir/secret.xml" <<EOF
<secret ephemeral='no' private='yes'>
  <uuid>$secret</uuid>
  <usage type='ceph'><name>$tag client.$CEPH_CLIENT secret</name></usage>
</secret>
EOF
"${V[@]}" secret-define "$dir/secret.xml" >/dev/null
(umask 077; printf '%s' "$CEPH_CLIENT_KEY" | base64 -d > "$dir/key.raw")
"${V[@]}" secret-set-value "$secret" --file "$dir/key.raw" --plain >/dev/null
rm -f "$dir/key.raw"
cat > "$dir/pool.xml" <<EOF
<pool type='rbd'>
  <name>$pool</name>
  <source>
    <name>$CEPH_POOL</name>
    <host name='127.0.0.1' port='$port'/>
    <auth type='ceph' username='$CEPH_CLIENT'>
      <secret uuid='$secret'/>
    </auth>
  </source>
</pool>
EOF
"${V[@]}" pool-define "$dir/pool.xml" >/dev/null
"${V[@]}" pool-start "$pool" >/dev/null

# The data, and the paused domain whose disk it is (no OS: QEMU only serves the block job).
head -c $((SIZE_MIB * 1048576)) /dev/urandom > "$dir/src.raw"
chmod 644 "$dir/src.raw"
cat > "$dir/dom.xml" <<EOF
<domain type='qemu'>
  <name>$dom</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$dir/src.raw'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
EOF
"${V[@]}" create "$dir/dom.xml" --paused >/dev/null
bytes=$((SIZE_MIB * 1048576))
echo "bench-rbd: cluster, secret, pool and domain ready in $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s" \
  "(mon $CEPH_MON_HOST, memstore $((OSD_BYTES / 1048576)) MiB, libvirt pool $pool)"

round_a() {   # N → $RESULT: MB/s of blockcopy into fresh volume bench-vol-N; checks the bytes in round 1
  local n=$1 vol=bench-vol-$1 ev=$dir/events-$1 start ready line
  cat > "$dir/vol.xml" <<EOF
<volume type='network'>
  <name>$vol</name>
  <capacity unit='bytes'>$bytes</capacity>
</volume>
EOF
  "${V[@]}" vol-create "$pool" "$dir/vol.xml" >/dev/null
  cat > "$dir/dest.xml" <<EOF
<disk type='network' device='disk'>
  <driver name='qemu' type='raw' cache='none'/>
  <source protocol='rbd' name='$CEPH_POOL/$vol'>
    <host name='127.0.0.1' port='$port'/>
  </source>
  <auth username='$CEPH_CLIENT'><secret type='ceph' uuid='$secret'/></auth>
</disk>
EOF
  "${V[@]}" event "$dom" --event block-job-2 --loop --timestamp --timeout 150 > "$ev" 2>&1 & evpid=$!
  sleep 0.5   # the event client is connected and registered
  start=$(now)
  "${V[@]}" blockcopy "$dom" vda --xml "$dir/dest.xml" --reuse-external >/dev/null
  for _ in $(seq 1200); do   # up to 120 s
    line=$(grep -E "block-job-2.*(ready|failed|canceled)" "$ev" | head -n 1 || true)
    [ -n "$line" ] && break; sleep 0.1
  done
  kill "$evpid" 2>/dev/null || true; wait "$evpid" 2>/dev/null || true; evpid=
  case $line in
    *ready*) ;;
    *) echo "bench-rbd: block copy into $vol did not become ready: ${line:-timeout}" >&2; return 1;;
  esac
  # "2026-11-30 06:43:16.296+0000: event 'block-job-2' for domain '…': Block Copy for vda ready"
  ready=$(date -d "$(echo "$line" | sed -E 's/^([0-9-]+ [0-9:.]+\+[0-9]+): .*/\1/')" +%s.%N)
  "${V[@]}" blockjob "$dom" vda --abort >/dev/null   # ends the copy; the disk stays the file
  if [ "$n" = 1 ]; then
    rbd --id "$CEPH_CLIENT" export --no-progress "$CEPH_POOL/$vol" - 2>/dev/null | cmp -s - "$dir/src.raw" ||
      { echo "bench-rbd: $vol does not hold the source's bytes" >&2; return 1; }
  fi
  RESULT=$(mbps "$bytes" "$(awk -v a="$start" -v b="$ready" 'BEGIN { print b - a }')")
}
round_wipe() {   # N → $RESULT: MB/s of vol-wipe (zeros) over bench-vol-N, then deletes it
  local vol=bench-vol-$1 start end
  start=$(now)
  "${V[@]}" vol-wipe "$vol" --pool "$pool" --algorithm zero >/dev/null
  end=$(now)
  "${V[@]}" vol-delete "$vol" --pool "$pool" >/dev/null
  RESULT=$(mbps "$bytes" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')")
}
round_b() {   # N → $RESULT: "4M-MB/s 4K-MB/s", writing into fresh images made and removed by client.zedge
  local img=bench-ceiling-$1 m4 k4
  rbd --id "$CEPH_CLIENT" create "$CEPH_POOL/$img" --size ${SIZE_MIB}M
  rbd_bench "$img" 4M ${SIZE_MIB}M; m4=$RESULT
  rbd --id "$CEPH_CLIENT" rm --no-progress "$CEPH_POOL/$img"
  rbd --id "$CEPH_CLIENT" create "$CEPH_POOL/$img-4k" --size ${SIZE_MIB}M
  rbd_bench "$img-4k" 4K "$K4_TOTAL"; k4=$RESULT
  rbd --id "$CEPH_CLIENT" rm --no-progress "$CEPH_POOL/$img-4k"
  RESULT="$m4 $k4"
}

as=(); bs=(); ws=(); ks=(); rs=()
printf '%-6s %-5s %12s %12s %12s %14s %9s\n' round order "A MB/s" "B 4M MB/s" "A/B" "A' wipe MB/s" "B 4K MB/s"
for n in $(seq "$ROUNDS"); do
  if [ $((n % 2)) = 1 ]; then order=A,B; round_a "$n"; a=$RESULT; round_b "$n"; b=$RESULT
  else order=B,A; round_b "$n"; b=$RESULT; round_a "$n"; a=$RESULT; fi
  round_wipe "$n"; w=$RESULT
  b4m=${b% *} b4k=${b#* }
  r=$(awk -v a="$a" -v b="$b4m" 'BEGIN { printf "%.3f", a / b }')
  as+=("$a"); bs+=("$b4m"); ks+=("$b4k"); ws+=("$w"); rs+=("$r")
  printf '%-6s %-5s %12s %12s %12s %14s %9s\n' "$n" "$order" "$a" "$b4m" "$r" "$w" "$b4k"
done
printf '%-6s %-5s %12s %12s %12s %14s %9s\n' median "" "$(median "${as[@]}")" "$(median "${bs[@]}")" \
  "$(median "${rs[@]}")" "$(median "${ws[@]}")" "$(median "${ks[@]}")"
echo "A  = virsh blockcopy (virDomainBlockCopy, QEMU librbd, cache=none) of ${SIZE_MIB} MiB of random data into a fresh libvirt rbd volume, start → READY event"
echo "A' = virsh vol-wipe --algorithm zero (virStorageVolWipe: libvirtd's librbd writes zeros) over that volume; information only"
echo "B  = rbd bench --io-type write --io-size 4M --io-threads 16 --io-total ${SIZE_MIB}M --io-pattern seq as client.$CEPH_CLIENT (4K: --io-total $K4_TOTAL)"
echo "A/B median $(median "${rs[@]}") over $ROUNDS rounds; total $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"

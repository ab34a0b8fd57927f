#!/usr/bin/env bash
# start-ceph.sh DIR — a throwaway single-node Ceph cluster with cephx ON, for end-to-end tests, following
# ../shared/recipes/ceph-rbd-on-these-machines.md (this is that recipe's script). scripts/with-ceph.sh runs a
# command with one; use this directly to keep a cluster across commands, and stop it with scripts/stop-ceph.sh DIR.
#
# One monitor on 127.0.0.1:<free port> and one OSD on the memstore backend (RAM only, no disk), a pool
# `private-data-disks` (rbd application) and a restricted client `client.zedge`
# (mon 'profile rbd', osd 'profile rbd pool=private-data-disks'). Everything lives under DIR, which must be
# absent or empty. Needs root and Debian's ceph-mon, ceph-osd and ceph-common (python3 comes with them).
#
# On success it prints only shell `export` lines on stdout (use: eval "$(start-ceph.sh DIR)"):
#   CEPH_CONF        DIR/ceph.conf; `ceph`/`rbd` act as client.admin with it, `rbd --id zedge` as client.zedge
#   CEPH_MON_HOST    127.0.0.1:PORT (the monitor; msgr v2, because PORT is neither 6789 nor 3300)
#   CEPH_CLIENT      zedge (the cephx user, without "client.")
#   CEPH_CLIENT_KEY  client.zedge's base64 key, the value for a libvirt secret of usage type ceph
#   CEPH_POOL        private-data-disks
#   CEPH_PIDS        "MONPID [MGRPID] OSDPID"
# Progress goes to stderr. On failure it kills what it started, shows the daemons' log tails and exits 1,
# leaving DIR (logs) for stop-ceph.sh DIR to remove.
# Stop with stop-ceph.sh DIR. Optional environment:
#   CEPH_OSD_BYTES  memstore capacity (default 1 GiB; RAM is used only as data is written)
#   CEPH_MGR=1      also start a ceph-mgr (Debian package ceph-mgr, 35 more packages; about 300 MB RSS) and wait
#                   until it reports capacity. Without a mgr, I/O works but every capacity figure is 0 or
#                   garbage: `ceph df`, rados_cluster_stat, and libvirt's `virsh pool-info` of an rbd pool.
set -Eeuo pipefail

D=${1:?usage: start-ceph.sh DIR}
POOL=private-data-disks
CLIENT=zedge
OSD_BYTES=${CEPH_OSD_BYTES:-1073741824}
WITH_MGR=${CEPH_MGR:-0}

for c in ceph-mon ceph-osd ceph-authtool monmaptool ceph rbd python3 $([ "$WITH_MGR" = 1 ] && echo ceph-mgr); do
  command -v "$c" >/dev/null || { echo "start-ceph: $c missing (scripts/ensure-deps.sh --with-ceph, or apt-get install ceph-mon ceph-osd ceph-common)" >&2; exit 1; }
done
case $D in *[[:space:]]*) echo "start-ceph: DIR must not contain white space" >&2; exit 1;; esac
mkdir -p "$D"; D=$(cd "$D" && pwd)
[ -z "$(ls -A "$D")" ] || { echo "start-ceph: $D is not empty" >&2; exit 1; }
# Unix socket paths are limited to 107 bytes: DIR/run/mon.a.asok must fit.
[ ${#D} -le 80 ] || echo "start-ceph: warning: $D is long; admin sockets may not bind" >&2

log() { echo "start-ceph: $*" >&2; }
pids=()
cleanup_on_error() {   # $1 $2: the line and the command that failed (the first words of the reason)
  log "failed at line $1 (exit $3): $2"
  log "failed; stopping what was started"
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for f in "$D"/log/*.log "$D"/log/*.out; do [ -s "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
}
trap 'cleanup_on_error "$LINENO" "$BASH_COMMAND" "$?"' ERR

free_port() {   # a test asks the kernel for a free port: bind port 0, read the port back, close
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
pid_of() {      # wait for a daemon's pid file (written before the daemon's parent returns)
  local f=$D/run/$1.pid i
  for i in $(seq 50); do [ -s "$f" ] && { cat "$f"; return 0; }; sleep 0.1; done
  return 1
}
unset CEPH_CONF CEPH_ARGS   # inherited ones (another cluster's conf, --id, -m …) would redirect the tools

mkdir -p "$D"/mon/ceph-a "$D"/osd/ceph-0 "$D"/run "$D"/log
fsid=$(cat /proc/sys/kernel/random/uuid)

ceph-authtool "$D"/mon.keyring --create-keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$D"/client.admin.keyring --create-keyring --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
ceph-authtool "$D"/mon.keyring --import-keyring "$D"/client.admin.keyring >/dev/null

write_conf() {
cat > "$D"/ceph.conf <<CONF
[global]
fsid = $fsid
mon_host = 127.0.0.1:$1
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
# a wrong key or a dead monitor makes a client retry until this timeout (default 300 s)
client_mount_timeout = 15
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
# the monitor stops itself below mon_data_avail_crit (5 %) free disk; tests must not depend on that
mon_data_avail_warn = 1
mon_data_avail_crit = 0
# default 1 s: each pool/PG/auth change waited for it; a new pool took 3 s to serve its first write
paxos_propose_interval = 0.1
osd_objectstore = memstore
memstore_device_bytes = $OSD_BYTES
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_autoscale_mode = off
run_dir = $D/run
[mon]
# a taken port: fail at once (default: 3 tries 5 s apart) and let this script retry with another port
ms_bind_retry_count = 1
mon_data = $D/mon/ceph-\$id
keyring = $D/mon/ceph-\$id/keyring
log_file = $D/log/\$name.log
pid_file = $D/run/\$name.pid
admin_socket = $D/run/\$name.asok
[osd]
osd_data = $D/osd/ceph-\$id
keyring = $D/osd/ceph-\$id/keyring
log_file = $D/log/\$name.log
pid_file = $D/run/\$name.pid
admin_socket = $D/run/\$name.asok
[mgr]
mgr_data = $D/mgr/ceph-\$id
keyring = $D/mgr/ceph-\$id/keyring
log_file = $D/log/\$name.log
pid_file = $D/run/\$name.pid
admin_socket = $D/run/\$name.asok
[client.admin]
keyring = $D/client.admin.keyring
[client.$CLIENT]
keyring = $D/client.$CLIENT.keyring
CONF
}

export CEPH_CONF=$D/ceph.conf   # for the ceph/rbd calls below, once write_conf has written it
# Monitor. The port is free when chosen but could be taken before the monitor binds it: retry then.
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  write_conf "$port"
  rm -rf "$D"/mon/ceph-a; mkdir -p "$D"/mon/ceph-a
  monmaptool --create --clobber --add a 127.0.0.1:"$port" --fsid "$fsid" "$D"/monmap >/dev/null
  ceph-mon -c "$D"/ceph.conf --mkfs -i a --monmap "$D"/monmap --keyring "$D"/mon.keyring >>"$D"/log/mkfs.out 2>&1
  if ceph-mon -c "$D"/ceph.conf -i a </dev/null >>"$D"/log/mon.out 2>&1 && monpid=$(pid_of mon.a); then
    pids+=("$monpid")
    if timeout 20 ceph --connect-timeout 15 mon stat >/dev/null 2>&1; then break; fi
  fi
  log "monitor did not come up on port $port (attempt $attempt)"
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; pids=()
  rm -f "$D"/run/mon.a.pid
  [ "$attempt" = 5 ] && false
done
log "monitor up on 127.0.0.1:$port (pid $monpid)"

if [ "$WITH_MGR" = 1 ]; then   # started now, so that it comes up while the OSD and the pool are made
  mkdir -p "$D"/mgr/ceph-x
  ceph auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
    -o "$D"/mgr/ceph-x/keyring 2>/dev/null
  ceph-mgr -c "$D"/ceph.conf -i x </dev/null >>"$D"/log/mgr.out 2>&1
  mgrpid=$(pid_of mgr.x); pids+=("$mgrpid")
  log "mgr.x started (pid $mgrpid)"
fi

# OSD 0: its id in the OSD map, its cephx key (written where [osd] keyring points), mkfs, start.
osd_id=$(ceph osd create)
[ "$osd_id" = 0 ]
ceph auth get-or-create osd.0 mon 'allow profile osd' mgr 'allow profile osd' osd 'allow *' \
  -o "$D"/osd/ceph-0/keyring 2>/dev/null
ceph-osd -c "$D"/ceph.conf -i 0 --mkfs </dev/null >>"$D"/log/mkfs.out 2>&1
ceph-osd -c "$D"/ceph.conf -i 0 </dev/null >>"$D"/log/osd.out 2>&1
osdpid=$(pid_of osd.0); pids+=("$osdpid")
log "osd.0 started (pid $osdpid)"

# Pool and the restricted client. `rbd pool init` returns once the pool's PGs serve I/O.
ceph osd pool create "$POOL" 8 >/dev/null 2>&1
timeout 60 rbd pool init "$POOL"
ceph auth get-or-create client.$CLIENT mon 'profile rbd' osd "profile rbd pool=$POOL" \
  -o "$D"/client.$CLIENT.keyring 2>/dev/null
key=$(ceph auth get-key client.$CLIENT)
timeout 30 rbd --id "$CLIENT" ls "$POOL" >/dev/null     # the restricted client can reach the pool
log "pool $POOL ready"
if [ "$WITH_MGR" = 1 ]; then   # capacity is known once the mgr is active and has the OSD's first report
  for i in $(seq 120); do
    total=$(ceph df -f json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["stats"]["total_bytes"])' 2>/dev/null || echo 0)
    [ "${total:-0}" -gt 0 ] && break; sleep 0.25
  done
  [ "${total:-0}" -gt 0 ]
  log "mgr reports $total bytes"
fi
trap - ERR

cat <<EOF
export CEPH_CONF=$D/ceph.conf
export CEPH_MON_HOST=127.0.0.1:$port
export CEPH_CLIENT=$CLIENT
export CEPH_CLIENT_KEY=$key
export CEPH_POOL=$POOL
export CEPH_PIDS="${pids[*]}"
EOF

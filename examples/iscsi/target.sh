#!/bin/sh
# A local iSCSI target (tgtd, userspace) for trying examples/iscsi/pod.yaml:
#   ./target.sh start   a 256 MiB LUN 1 on iqn.2026-11.io.boxd:store at 127.0.0.1:3260, CHAP
#                       user boxd-store / change-me-0123 (the pod's Secret)
#   ./target.sh stop    stops tgtd and removes the LUN's file
# State lives in /run/boxd-example-tgt. Needs root and the tgt package (apt-get install tgt).
set -eu
dir=/run/boxd-example-tgt
export TGT_IPC_SOCKET=$dir/tgtd.sock
adm() { tgtadm -C 0 --lld iscsi "$@"; }

case "${1:-}" in
start)
  mkdir -p "$dir"
  if [ -f "$dir/tgtd.pid" ] && kill -0 "$(cat "$dir/tgtd.pid")" 2>/dev/null; then
    echo "already running (pid $(cat "$dir/tgtd.pid"))"; exit 0
  fi
  tgtd -f -C 0 --iscsi portal=127.0.0.1:3260 </dev/null >"$dir/tgtd.log" 2>&1 &
  echo $! >"$dir/tgtd.pid"
  for _ in $(seq 1 50); do adm --mode system --op show >/dev/null 2>&1 && break; sleep 0.1; done
  # tgtd keeps running without a portal when 3260 is taken: check that it listens.
  if ! ss -ltn 'sport = :3260' | grep -q 3260; then
    echo "tgtd could not listen on 127.0.0.1:3260 (see $dir/tgtd.log)" >&2; exit 1
  fi
  truncate -s 256M "$dir/lun1.img"
  adm --mode target --op new --tid 1 -T iqn.2026-11.io.boxd:store
  adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$dir/lun1.img" --bstype rdwr
  adm --mode target --op bind --tid 1 -I 127.0.0.1
  adm --mode account --op new --user boxd-store --password change-me-0123
  adm --mode account --op bind --tid 1 --user boxd-store
  echo "target iqn.2026-11.io.boxd:store lun 1 at 127.0.0.1:3260 (pid $(cat "$dir/tgtd.pid"))"
  ;;
stop)
  [ -f "$dir/tgtd.pid" ] || { echo "not running"; exit 0; }
  adm --mode system --op delete >/dev/null 2>&1 || true
  pid=$(cat "$dir/tgtd.pid")
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -rf "$dir"
  echo "target stopped"
  ;;
*)
  echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

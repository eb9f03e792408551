#!/bin/sh
# Installs what boxd needs, builds it, makes a busybox image from Debian's busybox-static, starts
# boxd on examples/ and shows `boxctl status`. Run as root on Debian 12.
#   packaging/demo.sh        start (boxd keeps running in the background; pods keep running)
#   packaging/demo.sh stop   tear every demo pod down, then stop boxd
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
bin=$top/build/bin
log=/var/log/boxd-demo.log
pidfile=/run/boxd-demo.pid

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
# The state dirs the demo's boxd made (it uses boxd's defaults): `stop` removes them, so that the
# demo leaves no state behind that a later boxd package install would find. Dirs that were there
# before the demo (a package's) are never removed.
made=$top/build/demo/made-dirs

if [ "${1:-}" = "stop" ]; then
  if running; then kill "$(cat "$pidfile")"; sleep 0.5; fi
  # The same boxd, pointed at an empty specs dir, tears every pod down: nothing special-cased.
  empty=$(mktemp -d)
  "$bin/boxd" --specs "$empty" >>"$log" 2>&1 &
  pid=$!
  gone=""
  for _ in $(seq 1 100); do
    if "$bin/boxctl" status 2>/dev/null | grep -q '^No pods'; then gone=1; break; fi
    sleep 0.1
  done
  "$bin/boxctl" status || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rmdir "$empty"; rm -f "$pidfile"
  rmdir /sys/fs/cgroup/*/boxd /sys/fs/cgroup/boxd 2>/dev/null || true
  # Only once every pod is gone (a pod's mounts and netns files live below these dirs), and
  # never across a mount.
  if [ -n "$gone" ] && [ -f "$made" ]; then
    while read -r d; do rm -rf --one-file-system -- "$d"; done <"$made"
    rm -f "$made"
  fi
  echo "boxd stopped; every demo pod is gone"
  exit 0
fi

./packaging/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build

rootfs=$top/build/demo/busybox-rootfs
[ -x "$rootfs/bin/busybox" ] || ./packaging/make-busybox-rootfs.sh "$rootfs"

if ! running; then
  mkdir -p "$(dirname "$made")"
  for d in /var/lib/boxd /run/boxd; do
    [ -e "$d" ] || grep -qx "$d" "$made" 2>/dev/null || echo "$d" >>"$made"
  done
  "$bin/boxd" --specs "$top/examples" >>"$log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 50); do [ -S /run/boxd/boxd.sock ] && break; sleep 0.1; done
fi
"$bin/boxctl" image import busybox "$rootfs"
for _ in $(seq 1 50); do
  "$bin/boxctl" status -o json | grep -q '"phase": "Pending"' || break
  sleep 0.1
done
"$bin/boxctl" status
cat <<MSG

boxd runs in the background (pid $(cat "$pidfile"), log $log) on the specs in $top/examples.
Try:  $bin/boxctl describe web
      $bin/boxctl logs web -c client -f
      busybox wget -q -O - http://127.0.0.1:18080/    (web's hostPort)
      $bin/boxctl events
Stop: packaging/demo.sh stop   (tears the demo pods down, then stops boxd)
MSG

#!/bin/sh
# Image pulls: boxd vs `podman pull`, from the same local registry, in the same run (root).
#
#   cold         the multi-layer image app1 (4 layers, ~41 MiB unpacked) into an empty store
#   shared base  app2 with base (its two bottom layers) already stored: 2 of 4 layers to fetch
#   spec->Running a pod whose image must be pulled: boxd (spec file written -> Running in
#                `boxctl status`) vs `podman kube play --network none` (returns with it running)
#
# docker-registry serves on 127.0.0.1:<free port> (plain HTTP) from a temp dir; the images are
# built by bench/pull_images.py and pushed with skopeo. boxd and podman each get private dirs
# (podman with the workarounds of /work/shared/notes/podman-peer.md: private containers.conf
# and storage.conf, a private mount namespace without /sys/fs/cgroup/unified, a tmpfs over
# /var/lib/containers there). Everything is removed at the end, also on failure or Ctrl-C.
#
# Usage: bench/pull.sh [ROUNDS]     (default 5; medians reported)
#        BOXD_BENCH_BUILD_DIR=DIR   build dir with bin/boxd, boxctl, boxd-shim (default build-bench)
set -eu
rounds=${1:-5}
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BOXD_BENCH_BUILD_DIR:-$src/build-bench}
[ "$(id -u)" = 0 ] || { echo "pull.sh: needs root" >&2; exit 1; }
for t in docker-registry skopeo python3 podman crun nsenter unshare; do
  command -v "$t" >/dev/null || { echo "pull.sh: $t not found (packaging/install-deps.sh --bench)" >&2; exit 1; }
done
if [ ! -x "$build/bin/boxd" ]; then
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" --target bench >/dev/null
fi

id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
work=$(mktemp -d /tmp/boxd-bench-pull-XXXXXX)
prun=/run/boxd-bench-pull-$id
cgparent=boxd-bench-pull-$id
reg_pid="" boxd_pid="" ns_mounted="" podman_made=""
mkdir -p "$prun"

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

cleanup() {
  set +e
  if [ -n "$boxd_pid" ]; then
    rm -f "$work/boxd/specs/"*.yaml
    for _ in $(seq 1 100); do
      "$build/bin/boxctl" --run-dir "$work/boxd/run" status -o json 2>/dev/null | grep -q '"pods": \[\]' && break
      sleep 0.1
    done
    kill "$boxd_pid" 2>/dev/null; wait "$boxd_pid" 2>/dev/null
  fi
  if [ -n "$ns_mounted" ]; then
    pm kube down "$work/podman-pod.yaml" >/dev/null 2>&1
    pm rm -a -f >/dev/null 2>&1
    pm rmi -a -f >/dev/null 2>&1
    umount "$prun/mntns" 2>/dev/null
  fi
  # Host dirs podman made (cgroups of its conmons, crun's state, the cache mount point) that
  # were not there before: only empty directories are removed.
  for d in $podman_made; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
  for c in /sys/fs/cgroup/*/"$cgparent"; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null; done
  umount -R "$work/podman/storage/overlay" 2>/dev/null
  rm -rf "$work" "$prun"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- registry and images ----------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
mkdir -p "$work/registry"
printf 'version: 0.1\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: "%s"}\nlog: {level: error}\n' \
  "$work/registry/data" "$reg" > "$work/registry/config.yml"
docker-registry serve "$work/registry/config.yml" > "$work/registry/log" 2>&1 &
reg_pid=$!
for _ in $(seq 1 100); do curl -sf "http://$reg/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
sh "$src/packaging/make-busybox-rootfs.sh" "$work/rootfs" >/dev/null
python3 "$src/bench/pull_images.py" "$work/rootfs" "$work/layouts"
for i in base app1 app2; do
  skopeo copy -q --dest-tls-verify=false "oci:$work/layouts/$i" "docker://$reg/bench/$i:v1"
done

# ---- boxd ---------------------------------------------------------------------------------------
mkdir -p "$work/boxd/specs"
printf 'network: {enabled: false}\nimages: {offline: false}\n' > "$work/boxd/boxd.yaml"
"$build/bin/boxd" --config "$work/boxd/boxd.yaml" --specs "$work/boxd/specs" \
  --state-dir "$work/boxd/state" --run-dir "$work/boxd/run" --cgroup-parent "$cgparent" \
  > "$work/boxd/log" 2>&1 &
boxd_pid=$!
bx() { "$build/bin/boxctl" --run-dir "$work/boxd/run" "$@"; }
for _ in $(seq 1 100); do bx status >/dev/null 2>&1 && break; sleep 0.1; done
bx_empty() {
  for i in base app1 app2; do bx image rm "$reg/bench/$i:v1" >/dev/null 2>&1 || true; done
  bx image prune >/dev/null
}
bx_pull() {  # prints wall ms
  t0=$(now_ms); bx image pull "$reg/bench/$1:v1" >/dev/null; echo $(( $(now_ms) - t0 ))
}
bx_running() {  # spec written -> Running; prints wall ms
  cat > "$work/boxd/specs/.p.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: pulled}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: OnFailure
  containers:
  - name: c
    image: $reg/bench/app1:v1
EOF
  t0=$(now_ms)
  mv "$work/boxd/specs/.p.yaml" "$work/boxd/specs/p.yaml"
  until bx status -o json | grep -q '"phase": "Running"'; do sleep 0.01; done
  echo $(( $(now_ms) - t0 ))
  rm -f "$work/boxd/specs/p.yaml"
  until bx status -o json | grep -q '"pods": \[\]'; do sleep 0.05; done
}

# ---- podman -------------------------------------------------------------------------------------
mkdir -p "$work/podman"
cat > "$prun/containers.conf" <<EOF
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "crun"
tmp_dir = "$prun/libpod"
[network]
network_config_dir = "$prun/cni"
EOF
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' \
  "$work/podman/storage" "$prun/storage" > "$prun/storage.conf"
: > "$prun/mntns"
for d in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
  [ -e "${d}libpod_parent" ] || podman_made="$podman_made ${d}libpod_parent"
done
for d in /run/crun /run/containers /run/libpod /var/lib/containers /var/lib/cni; do
  [ -e "$d" ] || podman_made="$podman_made $d"
done
mkdir -p /var/lib/containers
unshare --mount="$prun/mntns" --propagation private sh -c \
  "set -e; if grep -q ' /sys/fs/cgroup/unified ' /proc/self/mountinfo; then umount /sys/fs/cgroup/unified; fi; mount -t tmpfs -o mode=0700 boxd-bench /var/lib/containers"
ns_mounted=1
pm() {
  CONTAINERS_CONF="$prun/containers.conf" CONTAINERS_STORAGE_CONF="$prun/storage.conf" \
    nsenter --mount="$prun/mntns" podman --cgroup-manager cgroupfs "$@"
}
pm_empty() { pm rmi -a -f >/dev/null 2>&1 || true; }
pm_pull() {
  t0=$(now_ms); pm pull -q --tls-verify=false "$reg/bench/$1:v1" >/dev/null; echo $(( $(now_ms) - t0 ))
}
pm_running() {
  cat > "$work/podman-pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: pulled-$id}
spec:
  restartPolicy: OnFailure
  containers:
  - name: c
    image: $reg/bench/app1:v1
EOF
  t0=$(now_ms)
  pm kube play --network none --tls-verify=false "$work/podman-pod.yaml" >/dev/null 2>&1
  until [ "$(pm inspect -f '{{.State.Running}}' "pulled-$id-c" 2>/dev/null)" = true ]; do sleep 0.01; done
  echo $(( $(now_ms) - t0 ))
  pm kube down "$work/podman-pod.yaml" >/dev/null 2>&1
}

# ---- rounds -------------------------------------------------------------------------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
: > "$work/r"
for r in $(seq 1 "$rounds"); do
  bx_empty; echo "boxd cold $(bx_pull app1)" >> "$work/r"
  bx_empty; bx_pull base >/dev/null; echo "boxd shared $(bx_pull app2)" >> "$work/r"
  bx_empty; echo "boxd running $(bx_running)" >> "$work/r"
  pm_empty; echo "podman cold $(pm_pull app1)" >> "$work/r"
  pm_empty; pm_pull base >/dev/null; echo "podman shared $(pm_pull app2)" >> "$work/r"
  pm_empty; echo "podman running $(pm_running)" >> "$work/r"
  echo "round $r/$rounds done" >&2
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

m() { awk -v a="$1" -v b="$2" '$1 == a && $2 == b {print $3}' "$work/r" | median; }
echo "pull benchmark: $rounds rounds, medians in ms; podman $(podman --version | awk '{print $3}')"
echo "image app1/app2: 4 gzip layers (busybox, 16 MiB, 2 x 8 MiB), registry $reg (docker-registry)"
printf '%-34s %8s %8s\n' scenario boxd podman
printf '%-34s %8s %8s\n' "pull, empty store" "$(m boxd cold)" "$(m podman cold)"
printf '%-34s %8s %8s\n' "pull, base layers present" "$(m boxd shared)" "$(m podman shared)"
printf '%-34s %8s %8s\n' "pod spec -> Running (pull)" "$(m boxd running)" "$(m podman running)"
echo "load average before: $load_before; after: $load_after ($(nproc) CPUs)"

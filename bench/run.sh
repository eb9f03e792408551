#!/bin/sh
# Builds boxd and boxd-bench, then runs the benchmark (root; a few minutes with podman).
# Usage: bench/run.sh [BOXD-BENCH OPTIONS]     e.g. bench/run.sh --json /tmp/bench.json
#        bench/run.sh --block [BOXD-BENCH-BLOCK OPTIONS]   block volumes vs their raw peers
#                                                          (tgtd, Ceph; see --block --help)
# podman is the peer: install it with packaging/install-deps.sh --bench.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BOXD_BENCH_BUILD_DIR:-$src/build-bench}
target=bench program=boxd-bench
if [ "${1:-}" = "--block" ]; then
  shift
  target=bench-block program=boxd-bench-block
fi
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target "$target" >/dev/null
exec "$build/bin/$program" --source-dir "$src" "$@"

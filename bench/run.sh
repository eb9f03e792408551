#!/bin/sh
# Builds boxd and boxd-bench, then runs the benchmark (root; a few minutes with podman).
# Usage: bench/run.sh [BOXD-BENCH OPTIONS]     e.g. bench/run.sh --json /tmp/bench.json
# podman is the peer: install it with packaging/install-deps.sh --bench.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BOXD_BENCH_BUILD_DIR:-$src/build-bench}
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target bench >/dev/null
exec "$build/bin/boxd-bench" --source-dir "$src" "$@"

#!/bin/sh
# Installs what boxd needs, builds it with warnings as errors, and runs every test tier.
set -eu
cd "$(dirname "$0")/.."
./packaging/install-deps.sh
cmake -S . -B build -G Ninja -DBOXD_WERROR=ON
cmake --build build
cd build
ctest --output-on-failure -j2 --timeout 300

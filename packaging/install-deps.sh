#!/bin/sh
# The one place that knows boxd's Debian 12 packages. Idempotent; run as root.
# Usage: install-deps.sh [--bench]
#   --bench  also install the podman peer the benchmark (bench/run.sh) compares boxd against
set -eu

BUILD="build-essential cmake ninja-build pkg-config git"
LIBS="libyaml-cpp-dev libsqlite3-dev libuv1-dev libmount-dev libnl-3-dev libnl-route-3-dev \
      librbd-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libarchive-dev libssl-dev libgtest-dev libgmock-dev \
      libseccomp-dev libnftables-dev libfuse3-dev libiscsi-dev libblkid-dev libcurl4-openssl-dev libnghttp2-dev"
RUNTIME="busybox-static sqlite3 iproute2 nftables util-linux procps e2fsprogs xfsprogs"
# The peers of the integration tests: a one-node Ceph cluster and an iSCSI target (tests/fixtures),
# an OCI registry with skopeo, htpasswd (bcrypt) for the registry's basic auth, python3-jwt
# for the registry token service the tests run (tests/integration/token_server.py), and
# Prometheus (and curl) for the metrics scrape test.
PEERS="ceph-mon ceph-osd ceph-common tgt docker-registry skopeo apache2-utils python3-jwt python3-cryptography \
       prometheus curl"
# The package test (tests/package): lint the .deb, verify its systemd unit offline.
PACKAGING="lintian systemd"
BENCH=""

for arg in "$@"; do
  case "$arg" in
    --bench) BENCH="podman crun catatonit containernetworking-plugins conmon golang-github-containers-common \
                    uidmap slirp4netns" ;;
    -h|--help) echo "usage: install-deps.sh [--bench]"; exit 0 ;;
    *) echo "install-deps.sh: unknown argument $arg (usage: install-deps.sh [--bench])" >&2; exit 2 ;;
  esac
done

missing=""
for p in $BUILD $LIBS $RUNTIME $PEERS $PACKAGING $BENCH; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi

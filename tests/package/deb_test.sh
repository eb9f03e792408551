#!/bin/sh
# The .deb end to end: built with cpack from the build dir, checked with lintian, installed with
# dpkg -i, `boxd --version`, the unit verified with systemd-analyze, the daemon started from the
# unit's ExecStart with a config of this test's own (temp dirs, its own cgroup parent, no pod
# network: no bridge or nftables table of the default config), a pod brought up and torn down,
# then dpkg --purge while that boxd runs (the pod network named in the conffile is kept), and
# again after a reinstall with boxd stopped (that bridge and nftables table go, another bridge
# and table stay), after which nothing of the package is left but what Debian policy keeps.
# Usage: deb_test.sh BUILD_DIR SOURCE_DIR VERSION
set -eu
build=$1 src=$2 version=$3

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (dpkg -i)"
for t in cpack lintian dpkg systemd-analyze timeout ip nft; do
    command -v "$t" >/dev/null || fail "$t not found (packaging/install-deps.sh installs it)"
done
# A boxd this test did not install is not ours to overwrite or purge.
if ! dpkg-query -W -f='${Status}' boxd 2>/dev/null | grep -q "install ok"; then
    for p in /usr/sbin/boxd /usr/sbin/boxctl /usr/lib/boxd /etc/boxd /var/lib/boxd /run/boxd; do
        [ ! -e "$p" ] || skip "$p exists and is not from the boxd package"
    done
else
    echo "boxd package left installed by an earlier run of this test: purging it first"
    timeout 120 dpkg --purge boxd
fi

tmp=$(mktemp -d /tmp/boxd-deb-XXXXXX)
id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
cgparent="boxd-debtest-$id"
boxd_pid=""
installed=""
# A pod network of this test's own, named in the conffile's network section for postrm, and
# another bridge and table that purge must leave alone; all removed by cleanup if still there.
bridge="bxdeb$id" table="boxd_deb_$id"
other_bridge="bxoth$id" other_table="boxd_oth_$id"
made_network=""

boxctl() { timeout 60 /usr/sbin/boxctl --run-dir "$tmp/run" "$@"; }

cleanup() {
    rc=$?
    set +e
    if [ -n "$boxd_pid" ] && kill -0 "$boxd_pid" 2>/dev/null; then
        # Tear the pods down the way an operator does, then stop boxd.
        rm -f "$tmp"/specs/*.yaml
        i=0
        while [ $i -lt 60 ] && boxctl status -o json 2>/dev/null | grep -q '"name"'; do
            sleep 0.5; i=$((i + 1))
        done
        kill -TERM "$boxd_pid"
        i=0
        while [ $i -lt 50 ] && kill -0 "$boxd_pid" 2>/dev/null; do sleep 0.2; i=$((i + 1)); done
        kill -KILL "$boxd_pid" 2>/dev/null
    fi
    # Whatever a failed run left: shims of this run (by pid), mounts under tmp, cgroups.
    for p in $(grep -l -s "$tmp/[r]un" /proc/[0-9]*/cmdline | cut -d/ -f3); do kill -KILL "$p"; done
    grep " $tmp/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
        umount -l "$m"
    done
    for c in /sys/fs/cgroup/*/"$cgparent" /sys/fs/cgroup/"$cgparent"; do
        [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    if [ -n "$made_network" ]; then
        for b in "$bridge" "$other_bridge"; do
            [ ! -d "/sys/class/net/$b" ] || ip link delete dev "$b" type bridge
        done
        for t in "$table" "$other_table"; do
            ! nft list table ip "$t" >/dev/null 2>&1 || nft delete table ip "$t"
        done
    fi
    if [ -n "$installed" ] && dpkg-query -W boxd >/dev/null 2>&1; then
        timeout 120 dpkg --purge boxd >/dev/null 2>&1 || echo "WARNING: dpkg --purge boxd failed" >&2
    fi
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

step "cpack -G DEB"
(cd "$build" && timeout 600 cpack -G DEB -B "$tmp/pkg") >"$tmp/cpack.log" 2>&1 ||
    { cat "$tmp/cpack.log"; fail "cpack"; }
deb="$tmp/pkg/boxd_${version}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || { ls "$tmp/pkg"; fail "no $deb"; }

step "lintian"
timeout 300 lintian --fail-on error,warning --display-info "$deb" || fail "lintian"

step "control: conffiles, maintainer scripts"
dpkg-deb -e "$deb" "$tmp/control"
grep -qx /etc/boxd/boxd.yaml "$tmp/control/conffiles" || fail "boxd.yaml is not a conffile"

step "dpkg -i"
installed=1
timeout 300 dpkg -i "$deb"
dpkg-query -W -f='${Conffiles}\n' boxd | grep -q "/etc/boxd/boxd.yaml" || fail "conffile not registered"
for f in /usr/sbin/boxd /usr/sbin/boxctl /usr/sbin/boxd-blockd /usr/lib/boxd/boxd-shim \
    /lib/systemd/system/boxd.service /usr/lib/tmpfiles.d/boxd.conf /etc/boxd/boxd.yaml \
    /usr/share/bash-completion/completions/boxctl /usr/share/doc/boxd/copyright; do
    [ -e "$f" ] || fail "$f not installed"
done
dpkg -L boxd >"$tmp/files"
# postinst made the unit's directories (packaging/boxd.tmpfiles); purge must take them away.
if command -v systemd-tmpfiles >/dev/null; then
    for d in /etc/boxd/specs /var/lib/boxd /run/boxd; do [ -d "$d" ] || fail "postinst made no $d"; done
fi

step "boxd --version"
got=$(/usr/sbin/boxd --version)
[ "$got" = "boxd $version" ] || fail "boxd --version said '$got', want 'boxd $version'"

# What bash offers for the words "$@" (the last one being completed), with the installed file
# (and bash-completion's helpers when that package is installed).
complete_words() {
    bash -c '[ ! -f /usr/share/bash-completion/bash_completion ] ||
            . /usr/share/bash-completion/bash_completion
        . /usr/share/bash-completion/completions/boxctl
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _boxctl boxctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        echo "${COMPREPLY[*]}"' complete "$@"
}

step "bash completion"
out=$(complete_words boxctl sta)
[ "$out" = "status" ] || fail "completion of 'boxctl sta' gave '$out'"
out=$(complete_words boxctl status -)
[ "$out" = "-o -w --watch" ] || fail "completion of 'boxctl status -' gave '$out'"

step "systemd-analyze verify"
timeout 60 systemd-analyze verify /lib/systemd/system/boxd.service || fail "unit does not verify"

step "the unit's ExecStart, with this test's config"
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/boxd.service)
[ -n "$exec_start" ] || fail "no ExecStart in the unit"
mkdir -p "$tmp/specs"
cat >"$tmp/boxd.yaml" <<YAML
specs: $tmp/specs
stateDir: $tmp/state
runDir: $tmp/run
cgroupParent: $cgparent
network:
  enabled: false
YAML
# shellcheck disable=SC2086
$exec_start --config "$tmp/boxd.yaml" >"$tmp/boxd.log" 2>&1 &
boxd_pid=$!
i=0
until boxctl status >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -ge 50 ] || ! kill -0 "$boxd_pid" 2>/dev/null; then
        cat "$tmp/boxd.log"
        fail "boxd did not start"
    fi
    sleep 0.2
done

step "a pod"
sh "$src/packaging/make-busybox-rootfs.sh" "$tmp/rootfs" >/dev/null
boxctl image import busybox "$tmp/rootfs" >/dev/null
cat >"$tmp/specs/debtest.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: debtest}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 1 & wait; done']
YAML
i=0
until boxctl status | grep -q "^debtest .*Running"; do
    i=$((i + 1))
    [ $i -lt 100 ] || { boxctl status; cat "$tmp/boxd.log"; fail "pod not Running"; }
    sleep 0.2
done
# The pod's shim is the installed one (boxd finds it in ../lib/boxd from /usr/sbin).
shims=""
for p in $(grep -l -s "$tmp/[r]un" /proc/[0-9]*/cmdline | cut -d/ -f3); do
    [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = /usr/lib/boxd/boxd-shim ] && shims="$shims $p"
done
[ -n "$shims" ] || fail "no /usr/lib/boxd/boxd-shim runs the pod"
boxctl status
out=$(PATH=/usr/sbin:$PATH complete_words boxctl --run-dir "$tmp/run" describe deb)
[ "$out" = "debtest" ] || fail "completion of a pod name gave '$out'"

step "the pod torn down"
rm "$tmp/specs/debtest.yaml"
i=0
while boxctl status | grep -q "^debtest "; do
    i=$((i + 1))
    [ $i -lt 100 ] || { boxctl status; fail "pod not torn down"; }
    sleep 0.2
done

# The conffile names this test's bridge and table; both exist, with another bridge and table
# purge must not touch.
make_network() {
    printf 'network:\n  bridge: %s\n  nftTable: %s\n' "$bridge" "$table" >>/etc/boxd/boxd.yaml
    made_network=1
    for b in "$bridge" "$other_bridge"; do
        [ -d "/sys/class/net/$b" ] || ip link add name "$b" type bridge
    done
    for t in "$table" "$other_table"; do nft add table ip "$t"; done
}
has_bridge() { [ -d "/sys/class/net/$1/bridge" ]; }
has_table() { nft list table ip "$1" >/dev/null 2>&1; }

step "dpkg --purge while boxd runs: its bridge and nftables table are kept"
make_network
timeout 120 dpkg --purge boxd >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; fail "purge"; }
installed=""
grep -q "boxd: still running; its bridge $bridge and nftables table ip $table are kept" \
    "$tmp/purge.log" || { cat "$tmp/purge.log"; fail "purge did not say boxd runs"; }
has_bridge "$bridge" || fail "purge removed bridge $bridge while boxd ran"
has_table "$table" || fail "purge removed table ip $table while boxd ran"

step "boxd stopped"
kill -TERM "$boxd_pid"
i=0
while kill -0 "$boxd_pid" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 50 ] || fail "boxd did not stop on SIGTERM"
    sleep 0.2
done
boxd_pid=""

step "dpkg -i again, dpkg --purge: the config's bridge and table go, nothing else"
installed=1
timeout 300 dpkg -i "$deb" >/dev/null
make_network
timeout 120 dpkg --purge boxd >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; fail "purge"; }
installed=""
cat "$tmp/purge.log"
! has_bridge "$bridge" || fail "bridge $bridge left after purge"
! has_table "$table" || fail "table ip $table left after purge"
grep -q "boxd: removed its bridge $bridge" "$tmp/purge.log" || fail "purge did not say so"
has_bridge "$other_bridge" || fail "purge removed bridge $other_bridge, not boxd's"
has_table "$other_table" || fail "purge removed table ip $other_table, not boxd's"
ip link delete dev "$other_bridge" type bridge
nft delete table ip "$other_table"
made_network=""

left=""
while read -r f; do
    # Directories the package shares with the system (/usr/sbin, /usr/share/doc ...) stay.
    [ -d "$f" ] && [ -n "$(ls -A "$f" 2>/dev/null)" ] && continue
    [ -e "$f" ] || [ -L "$f" ] && left="$left $f"
done <"$tmp/files"
for d in /etc/boxd /var/lib/boxd /run/boxd /usr/lib/boxd /usr/share/doc/boxd; do
    [ -e "$d" ] && left="$left $d"
done
[ -z "$left" ] || fail "left after purge:$left"
echo "PASS"

#!/bin/sh
# Builds a minimal rootfs directory from Debian's busybox-static: the demo's and tests' image.
# Usage: make-busybox-rootfs.sh DIR
set -eu
dir=${1:?usage: make-busybox-rootfs.sh DIR}
bb=/bin/busybox
[ -x "$bb" ] || { echo "make-busybox-rootfs: $bb not found (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$dir/bin" "$dir/etc" "$dir/root" "$dir/tmp" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/var/log" "$dir/www"
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
chroot "$dir" /bin/busybox --install -s /bin
for d in sbin usr/bin usr/sbin; do
  mkdir -p "$dir/$(dirname "$d")"
  [ -e "$dir/$d" ] || ln -s /bin "$dir/$d"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$dir/etc/hosts"

// A container's volumes and pod files (/etc/hosts, resolv.conf, hostname), bound by the
// container's child process in its own mount namespace, after the rootfs bind and before
// pivot_root (as runc and crun do): they vanish with the namespace, so nothing is left to unmount
// on the host and no host-side unmount ever resolves a path the container can change.
//
//   source ──open──► volume fd ──subPath, beneath the volume──► source fd ─┐
//   rootfs ──open──► root fd ──mountPath, beneath the root (created)──► target fd
//                                       mount --bind /proc/self/fd/<source> /proc/self/fd/<target>
//   readOnly: the new mount, opened again through the same walk (its mount ID must differ from
//             the target's), remounted ro,nosuid,nodev through its fd
//
// Symlinks: both walks follow a symlink only while it stays beneath its root (RESOLVE_BENEATH):
// one that leads outside, absolute or through "..", is refused with an error naming the
// mountPath or subPath. RESOLVE_NO_SYMLINKS is not used: images hold symlinks on the way to
// mount points (usrmerge's /lib -> usr/lib), Kubernetes resolves a subPath through symlinks inside
// the volume, and a symlink that stays beneath its root can only move the bind within that root,
// in the container's own namespace. (An absolute image symlink such as Debian's /var/run -> /run
// is refused too, as before; RESOLVE_IN_ROOT would resolve it the way the container sees it.)
#pragma once

#include <vector>

#include "common/result.h"
#include "reconcilers/sandbox/shim_protocol.h"

namespace boxd::shim {

// Mounts m beneath the directory rootfsFd (the container's root, not yet pivoted into).
Status mountInto(int rootfsFd, const reconcilers::ContainerMount& m);

// Every mount, in order (a parent before the mounts beneath it: the agent sorts them).
Status mountAllInto(int rootfsFd, const std::vector<reconcilers::ContainerMount>& mounts);

}  // namespace boxd::shim

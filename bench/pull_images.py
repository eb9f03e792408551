#!/usr/bin/env python3
"""Builds the pull benchmark's images as OCI layouts (bench/pull.sh pushes them with skopeo).

Usage: pull_images.py ROOTFS OUTDIR
Writes OUTDIR/base, OUTDIR/app1 and OUTDIR/app2, one image each:
  base  busybox (ROOTFS) + a 16 MiB "runtime" layer
  app1  base's two layers + two 8 MiB layers of its own
  app2  base's two layers + two other 8 MiB layers
Layer content is base64 of random bytes (gzip takes it to about 3/4), entrypoint `sleep`.
Only the standard library: tarfile, gzip, hashlib, json.
"""
import base64
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def sha(b):
    return hashlib.sha256(b).hexdigest()


def tar_of_dir(root):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name in sorted(os.listdir(root)):
            t.add(os.path.join(root, name), arcname=name, recursive=True)
    return buf.getvalue()


def tar_of_files(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1700000000
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def filler(mib):
    return base64.b64encode(os.urandom(mib * 786432))  # 3/4 MiB random -> 1 MiB text


def layer(raw):
    blob = gzip.compress(raw, compresslevel=6, mtime=0)
    return {"blob": blob, "diff": "sha256:" + sha(raw)}


def write_image(out, layers):
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(b):
        h = sha(b)
        with open(os.path.join(blobs, h), "wb") as f:
            f.write(b)
        return h

    descs = []
    for l in layers:
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": "sha256:" + put(l["blob"]), "size": len(l["blob"])})
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Entrypoint": ["/bin/sleep", "3600"],
                                    "Env": ["PATH=/bin:/sbin"]},
                         "rootfs": {"type": "layers",
                                    "diff_ids": [l["diff"] for l in layers]}}).encode()
    manifest = json.dumps({"schemaVersion": 2,
                           "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": "sha256:" + put(config), "size": len(config)},
                           "layers": descs}).encode()
    index = {"schemaVersion": 2,
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": "sha256:" + put(manifest), "size": len(manifest)}]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')


def main():
    rootfs, out = sys.argv[1], sys.argv[2]
    base = [layer(tar_of_dir(rootfs)), layer(tar_of_files([("opt/runtime", filler(16))]))]
    own = lambda tag: [layer(tar_of_files([("opt/" + tag + str(i), filler(8))])) for i in (1, 2)]
    write_image(os.path.join(out, "base"), base)
    write_image(os.path.join(out, "app1"), base + own("app1-"))
    write_image(os.path.join(out, "app2"), base + own("app2-"))


if __name__ == "__main__":
    main()

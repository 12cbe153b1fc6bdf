#!/usr/bin/env python3
"""Writes lazypull's small test layers with Python's stdlib `tarfile` (no lazypull code involved).

Usage:
    generate.py layers OUT_DIR   the Python-made tars (see README.md for the list)
    generate.py image OUT_DIR    OUT_DIR/image: an OCI layout from OUT_DIR/ustar.tar.gz and pax.tar.gz
    generate.py record OUT_DIR   OUT_DIR/record-in.json (ctr-remote record file lines)
    generate.py normalize-sparse TAR   replaces the pid in GNU tar's GNUSparseFile.<pid> member name by 0

Everything is deterministic: fixed mtimes, fixed owners, contents from a seeded PRNG.
"""

import hashlib
import io
import json
import os
import random
import sys
import tarfile

MTIME = 1704164645  # 2024-01-02T03:04:05Z, the mtime of every entry unless a test needs another one
MiB = 1 << 20


def entry(name, kind=tarfile.REGTYPE, mode=0o644, mtime=MTIME, uid=0, gid=0, uname="root", gname="root", **extra):
    """A TarInfo with every header field set explicitly; `extra` sets linkname, devmajor, pax_headers..."""
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.mtime = mtime
    ti.uid, ti.gid = uid, gid
    ti.uname, ti.gname = uname, gname
    for k, v in extra.items():
        setattr(ti, k, v)
    return ti


def add(tf, ti, data=b""):
    if ti.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    else:
        tf.addfile(ti)


def write_tar(path, members, fmt=tarfile.PAX_FORMAT, pax_headers=None):
    """members: list of (TarInfo, bytes). Returns nothing; writes `path`."""
    with open(path, "wb") as f:
        with tarfile.open(fileobj=f, mode="w", format=fmt, pax_headers=pax_headers or {}) as tf:
            for ti, data in members:
                add(tf, ti, data)


def tar_bytes_without_eof(members, fmt=tarfile.PAX_FORMAT):
    """The archive bytes up to the end of the last member: no end-of-archive blocks, no record padding."""
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w", format=fmt)
    for ti, data in members:
        add(tf, ti, data)
    end = tf.offset
    tf.close()
    return buf.getvalue()[:end]


def text_bytes(seed, size):
    """Deterministic pseudo-random bytes that compress to roughly 60%: 16 letters, spaces and newlines."""
    rnd = random.Random(seed)
    alphabet = b"etaoinshrdlucmfw  \n"
    table = bytes(alphabet[i % len(alphabet)] for i in range(256))
    return rnd.randbytes(size).translate(table)


# ---------------------------------------------------------------------------- layers


def pax_layer():
    # vfs_cap_data v2 with CAP_SETUID|CAP_NET_BIND_SERVICE permitted: byte 0x80 makes it invalid UTF-8, so
    # the PAX header must carry hdrcharset=BINARY (tarfile does that for values with surrogate escapes).
    cap = bytes.fromhex("0100000280040000000000000000000000000000")
    cap_bad = b"\xff\xfe\x00\x80binary"  # not valid UTF-8 -> the PAX header must carry hdrcharset=BINARY
    long_dir = "opt/" + "/".join(["deep-directory-name-%02d" % i for i in range(5)])
    long_path = long_dir + "/a-file-with-a-rather-long-name.txt"
    assert len(long_path) >= 127, len(long_path)

    def binary(b):
        return b.decode("utf-8", "surrogateescape")  # tarfile writes the raw bytes back out

    def xattrs(**kv):
        return {"SCHILY.xattr." + k.replace("__", "."): v for k, v in kv.items()}

    d = tarfile.DIRTYPE
    members = [
        (entry("bin", d, 0o755), b""),
        (entry("bin/ping", mode=0o755, pax_headers=xattrs(security__capability=binary(cap))), b"\x7fELF fake ping\n"),
        (entry("bin/setuid-tool", mode=0o4755), b"#!/bin/sh\necho setuid\n"),
        (entry("bin/tool", mode=0o755, pax_headers=xattrs(user__blob=binary(cap_bad))),
         b"#!/bin/sh\necho tool\n"),
        (entry("data", d, 0o2775, gid=1000, gname="app", pax_headers=xattrs(user__purpose="data")), b""),
        (entry("data/empty-xattr.txt", pax_headers=xattrs(user__empty="", user__mime_type="text/plain")), b"x\n"),
        (entry("data/epoch.txt", mtime=0), b"mtime is zero\n"),
        (entry("data/fractional-mtime.txt", mtime=MTIME + 0.6), b"mtime has a fraction\n"),
        (entry("data/secret", mode=0o600, uid=1000, gid=1000, uname="app", gname="app"), b"s3cr3t\n"),
        (entry("home", d, 0o755), b""),
        (entry("home/app", d, 0o750, uid=1000, gid=1000, uname="app", gname="app"), b""),
        (entry("home/app/notes.txt", uid=1000, gid=1000, uname="app", gname="app"), b"owned by app\n"),
        (entry("opt", d, 0o755), b""),
    ]
    parts = long_dir.split("/")
    for i in range(2, len(parts) + 1):
        members.append((entry("/".join(parts[:i]), d, 0o755), b""))
    members.append((entry(long_path), b"at the end of a long path\n"))
    members += [
        (entry("tmp", d, 0o1777), b""),
        (entry("usr", d, 0o755), b""),
        (entry("usr/share", d, 0o755), b""),
        (entry("usr/share/unicode", d, 0o755), b""),
        (entry("usr/share/unicode/caf\u00e9.txt"), "caf\u00e9\n".encode()),
        (entry("usr/share/unicode/\u65e5\u672c\u8a9e.txt"), "\u65e5\u672c\u8a9e\n".encode()),
        (entry("usr/share/unicode/\U0001f600-emoji.txt"), b"smile\n"),
        (entry("usr/share/unicode/\u00fcber", tarfile.SYMTYPE, 0o777, linkname="caf\u00e9.txt"), b""),
    ]
    return members


def layers(out):
    d = tarfile.DIRTYPE
    write_tar(os.path.join(out, "pax.tar"), pax_layer())

    write_tar(os.path.join(out, "whiteout.tar"), [
        (entry("etc", d, 0o755), b""),
        (entry("etc/.wh.motd"), b""),
        (entry("var", d, 0o755), b""),
        (entry("var/cache", d, 0o755), b""),
        (entry("var/cache/.wh..wh..opq"), b""),
        (entry("var/cache/fresh.txt"), b"new content after the opaque marker\n"),
    ])

    big = text_bytes(1, 4 * MiB + 1 * MiB + 123)
    exact = text_bytes(2, 4 * MiB)
    write_tar(os.path.join(out, "big.tar"), [
        (entry("data", d, 0o755), b""),
        (entry("data/big.bin"), big),
        (entry("data/empty"), b""),
        (entry("data/exact-4MiB.bin"), exact),
        (entry("data/one-byte"), b"1"),
    ])

    write_tar(os.path.join(out, "implicit-parent.tar"), [(entry("a/b/c.txt"), b"parents a/ and a/b/ have no entries\n")])

    write_tar(os.path.join(out, "devices.tar"), [
        (entry("dev", d, 0o755), b""),
        (entry("dev/loop0", tarfile.BLKTYPE, 0o660, gid=6, gname="disk", devmajor=7, devminor=0), b""),
        (entry("dev/null", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3), b""),
        (entry("run", d, 0o755), b""),
        (entry("run/initctl", tarfile.FIFOTYPE, 0o600), b""),
    ])

    write_tar(os.path.join(out, "duplicates.tar"), [
        (entry("etc", d, 0o755), b""),
        (entry("etc/config"), b"first version\n"),
        (entry("etc/other"), b"unchanged\n"),
        (entry("etc/config", mode=0o600, mtime=MTIME + 60), b"second version wins\n"),
    ])

    write_tar(os.path.join(out, "unsupported-global-pax.tar"), [
        (entry("hello.txt"), b"after a global header\n"),
    ], pax_headers={"comment": "a pax global extended header ('g' entry)"})

    write_tar(os.path.join(out, "empty.tar"), [])

    simple = [(entry("dir", d, 0o755), b""), (entry("dir/file.txt"), b"some content\n"), (entry("dir/second.txt"), b"more\n")]
    with open(os.path.join(out, "no-eof.tar"), "wb") as f:
        f.write(tar_bytes_without_eof(simple))
    with open(os.path.join(out, "trailing-garbage.tar"), "wb") as f:
        f.write(tar_bytes_without_eof(simple) + b"\0" * 1024 + random.Random(3).randbytes(100))


# ---------------------------------------------------------------------------- GNU tar sparse pid


def normalize_sparse(path):
    """GNU tar names a PAX 1.0 sparse member `DIR/GNUSparseFile.<pid>/NAME`; make the pid 0 so the file
    is the same on every run. Only the 100-byte name field and the header checksum change."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    pos, changed = 0, 0
    while pos + 512 <= len(data):
        block = data[pos:pos + 512]
        if block == bytes(512):
            break
        name = block[:100].rstrip(b"\0")
        marker = b"/GNUSparseFile."
        i = name.find(marker)
        if i >= 0:
            j = name.index(b"/", i + len(marker))
            fixed = name[:i + len(marker)] + b"0" + name[j:]
            block[:100] = fixed.ljust(100, b"\0")
            block[148:156] = b" " * 8
            block[148:156] = b"%06o\0 " % sum(block)
            data[pos:pos + 512] = block
            changed += 1
        size = int(block[124:136].rstrip(b"\0 ") or b"0", 8)
        pos += 512 + (size + 511) // 512 * 512
    if changed == 0:
        raise SystemExit("normalize-sparse: no GNUSparseFile member in %s (did GNU tar detect the holes?)" % path)
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------- record file


def record(out):
    manifest = "sha256:" + hashlib.sha256(b"lazypull test-fixtures record-in manifest").hexdigest()
    paths = ["etc/hostname", "usr/bin/hello", "etc/does-not-exist", "etc/motd"]
    with open(os.path.join(out, "record-in.json"), "w") as f:
        for p in paths:
            f.write(json.dumps({"path": p, "manifestDigest": manifest, "layerIndex": 0}, separators=(",", ":")) + "\n")


# ---------------------------------------------------------------------------- OCI image layout


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest(), os.path.getsize(path)


def image(out):
    import gzip  # only for reading: the layer blobs were written by `gzip -n`

    root = os.path.join(out, "image")
    blobs = os.path.join(root, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    layers, diff_ids = [], []
    for name in ("ustar.tar.gz", "pax.tar.gz"):
        with open(os.path.join(out, name), "rb") as f:
            data = f.read()
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **put(data)})
        diff_ids.append("sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest())

    created = "2024-01-02T03:04:05Z"
    config = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": created, "created_by": "test-fixtures/generate.sh: ustar.tar"},
            {"created": created, "created_by": "test-fixtures/generate.py: pax.tar"},
        ],
    }
    cfg = put(json.dumps(config, indent=2, sort_keys=True).encode() + b"\n")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg},
        "layers": layers,
    }
    man = put(json.dumps(manifest, indent=2).encode() + b"\n")
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            **man,
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    }
    with open(os.path.join(root, "index.json"), "w") as f:
        f.write(json.dumps(index, indent=2) + "\n")
    with open(os.path.join(root, "oci-layout"), "w") as f:
        f.write(json.dumps({"imageLayoutVersion": "1.0.0"}) + "\n")


def main(argv):
    if len(argv) != 3 or argv[1] not in ("layers", "image", "record", "normalize-sparse"):
        sys.stderr.write(__doc__)
        return 2
    if argv[1] == "normalize-sparse":
        normalize_sparse(argv[2])
        return 0
    out = argv[2]
    os.makedirs(out, exist_ok=True)
    {"layers": layers, "image": image, "record": record}[argv[1]](out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

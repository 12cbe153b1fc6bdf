// End-to-end: images converted by `lazypull convert` are imported, unpacked, mounted and exported by a real
// containerd (Debian's 1.6, private daemon started by @lazypull/testkit), and what containerd stores and hands
// back is exactly what we wrote: manifest digest, layer bytes, layer annotations, diffIDs, the unpacked files.
import { createHash } from "node:crypto"
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, type Stats } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import {
  type Containerd,
  loudWarning,
  repoRoot,
  requireContainerd,
  runCommand,
  startContainerd,
  tmpDir,
} from "@lazypull/testkit"
import { assertBuilt, jsonOf, lazypull, sha256 } from "./cli.test-utils.ts"

beforeAll(() => assertBuilt())

const SAMPLE = join(repoRoot(), "test-fixtures", "sample", "image")

interface Variant {
  readonly name: string
  readonly flags: ReadonlyArray<string>
  readonly layerMediaType: string
  /** ctr-remote's external TOC: a second image `<tag>-esgztoc` holds the TOCs. */
  readonly externalToc?: boolean
}

const GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
const ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
const variants: ReadonlyArray<Variant> = [
  { name: "estargz", flags: ["--oci"], layerMediaType: GZIP },
  { name: "zstdchunked", flags: ["--oci", "--zstdchunked"], layerMediaType: ZSTD },
  {
    name: "zstdchunked-storage",
    flags: ["--oci", "--zstdchunked", "--zstdchunked-dialect", "storage"],
    layerMediaType: ZSTD,
  },
  {
    name: "estargz-external-toc",
    flags: ["--oci", "--estargz-external-toc"],
    layerMediaType: GZIP,
    externalToc: true,
  },
]

const run = async (cmd: string, args: ReadonlyArray<string>) => {
  const r = await runCommand(cmd, args)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.stderr}`)
  return r
}

/** chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)): containerd's snapshot keys. */
const chainIds = (diffIds: ReadonlyArray<string>): Array<string> => {
  const out: Array<string> = []
  for (const d of diffIds) {
    const prev = out[out.length - 1]
    out.push(prev === undefined ? d : `sha256:${createHash("sha256").update(`${prev} ${d}`).digest("hex")}`)
  }
  return out
}

/** `ctr content ls` as digest -> labels. */
const contentLabels = (stdout: string): Map<string, Record<string, string>> => {
  const out = new Map<string, Record<string, string>>()
  for (const line of stdout.split("\n").slice(1)) {
    const cols = line.split("\t").filter((c) => c !== "")
    if (cols.length < 4) continue
    const labels: Record<string, string> = {}
    if (cols[cols.length - 1] !== "-")
      for (const kv of cols[cols.length - 1]!.split(",")) {
        const eq = kv.indexOf("=")
        labels[kv.slice(0, eq)] = kv.slice(eq + 1)
      }
    out.set(cols[0]!.trim(), labels)
  }
  return out
}

/** Every path below `dir` (relative, without the root itself), parents first. */
const walk = (dir: string, prefix = ""): Array<string> =>
  readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const rel = prefix === "" ? e.name : `${prefix}/${e.name}`
    return e.isDirectory() ? [rel, ...walk(dir, rel)] : [rel]
  })

const kind = (s: Stats) =>
  s.isSymbolicLink() ? "symlink" : s.isDirectory() ? "dir" : s.isFile() ? "file" : "other"

/**
 * Asserts that a root filesystem, given as overlay lower dirs (top first) or one plain directory, holds every
 * entry of `expected` with the same type, mode, owner, content, symlink target and hardlink grouping.
 */
const expectRootfs = (expected: string, dirs: ReadonlyArray<string>) => {
  const find = (rel: string): { path: string; stat: Stats } => {
    for (const d of dirs) {
      try {
        const path = join(d, rel)
        return { path, stat: lstatSync(path) }
      } catch {
        // not in this layer: look further down
      }
    }
    throw new Error(`${rel} is missing from the unpacked rootfs`)
  }
  const inodes = new Map<number, string>()
  let files = 0
  for (const rel of walk(expected)) {
    const want = lstatSync(join(expected, rel))
    const got = find(rel)
    expect(kind(got.stat), rel).toBe(kind(want))
    expect([got.stat.uid, got.stat.gid], rel).toEqual([want.uid, want.gid])
    if (want.isSymbolicLink()) {
      expect(readlinkSync(got.path), rel).toBe(readlinkSync(join(expected, rel)))
      continue
    }
    expect((got.stat.mode & 0o7777).toString(8), rel).toBe((want.mode & 0o7777).toString(8))
    if (want.isFile()) {
      files++
      expect(sha256(readFileSync(got.path)), rel).toBe(sha256(readFileSync(join(expected, rel))))
      if (want.nlink > 1) {
        // hardlinks: the first name seen for an inode of the expected tree; the others must share its inode
        const first = inodes.get(want.ino)
        if (first === undefined) inodes.set(want.ino, rel)
        else expect(got.stat.ino, `${rel} hardlinked to ${first}`).toBe(find(first).stat.ino)
      }
    }
  }
  expect(files).toBeGreaterThan(10)
  expect(inodes.size).toBeGreaterThan(0)
}

describe.skipIf(!requireContainerd())("converted images in containerd 1.6", () => {
  const dir = tmpDir()
  let containerd: Containerd
  let snapshotter = "overlayfs"
  /** The sample image's layers extracted in order by GNU tar: what an unpacked rootfs must hold. */
  const expected = join(dir, "expected-rootfs")

  beforeAll(async () => {
    mkdirSync(expected)
    const index = JSON.parse(readFileSync(join(SAMPLE, "index.json"), "utf8"))
    const blob = (digest: string) => join(SAMPLE, "blobs", "sha256", digest.slice("sha256:".length))
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), "utf8"))
    for (const layer of manifest.layers)
      await run("tar", ["-xzf", blob(layer.digest), "-C", expected, "--numeric-owner", "--same-owner", "-p"])
    containerd = await startContainerd({ dir: join(dir, "containerd") })
    // containerd's overlayfs plugin test-mounts an overlay while loading and reports `skip` when the kernel
    // or the sandbox does not allow it; then unpack into the native snapshotter (plain directory copies).
    const overlay = (await containerd.plugins()).find(
      (p) => p.type === "io.containerd.snapshotter.v1" && p.id === "overlayfs",
    )
    if (overlay?.status !== "ok") {
      snapshotter = "native"
      loudWarning([
        "containerd's overlayfs snapshotter is not usable here: unpacking into the native snapshotter,",
        "and the external-TOC image (which needs `ctr image mount` to unpack) is imported but not unpacked.",
      ])
    }
  }, 30_000)
  afterAll(async () => {
    await containerd?.stop()
  }, 20_000)

  for (const v of variants) {
    it(`${v.name}: import, unpack, content, annotations and export round-trip`, async () => {
      // one namespace per variant: snapshots and content of one import cannot stand in for another's
      const ns = `lazypull-${v.name}`
      const ctr = (args: ReadonlyArray<string>) => containerd.ctrOk(args, { namespace: ns })
      const archive = join(dir, `${v.name}.oci.tar`)
      const converted = jsonOf(
        await lazypull(
          ["convert", `oci:${SAMPLE}:latest`, `oci-archive:${archive}:latest`, ...v.flags, "--json"],
          {
            cwd: dir,
          },
        ),
      )
      const [image] = converted.images
      const manifestDigest: string = converted.descriptor.digest
      const layers: Array<{ descriptor: any; diffId: string }> = image.layers
      expect(layers.length).toBe(2)
      for (const l of layers) expect(l.descriptor.mediaType).toBe(v.layerMediaType)
      const ours = join(dir, `${v.name}.blobs`)
      mkdirSync(ours)
      await run("tar", ["-xf", archive, "-C", ours])
      const ourBlob = (digest: string) => readFileSync(join(ours, "blobs", "sha256", digest.slice(7)))

      // import: without --no-unpack containerd decompresses every layer into the snapshotter and fails unless
      // the result's digest equals the config's diffID. The external-TOC archive also holds the TOC image,
      // whose config is `{}` (no rootfs): containerd 1.6 refuses to unpack that one ("mismatched image rootfs
      // and manifest layers"), so it is imported as is and the runnable image is unpacked by `image mount`.
      const base = `lazypull.test/${v.name}`
      await ctr([
        "image",
        "import",
        "--snapshotter",
        snapshotter,
        "--base-name",
        base,
        ...(v.externalToc ? ["--no-unpack"] : []),
        archive,
      ])
      const refs = (await ctr(["image", "ls"])).stdout
        .toString("utf8")
        .split("\n")
        .slice(1)
        .map((l) => l.trim().split(/\s+/))
        .filter((cols) => cols.length > 3)
        .map((cols) => ({ ref: cols[0], mediaType: cols[1], digest: cols[2] }))
      const wantRefs = [
        {
          ref: `${base}:latest`,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: manifestDigest,
        },
        ...(v.externalToc
          ? [
              {
                ref: `${base}:latest-esgztoc`,
                mediaType: "application/vnd.oci.image.manifest.v1+json",
                digest: converted.tocImage.digest,
              },
            ]
          : []),
      ]
      expect(refs).toEqual(wantRefs)

      // what containerd stores is our bytes: manifest (with our layer descriptors and annotations), config,
      // every layer blob
      const manifestBytes = (await ctr(["content", "get", manifestDigest])).stdout
      expect(sha256(manifestBytes)).toBe(manifestDigest)
      expect(Buffer.compare(manifestBytes, ourBlob(manifestDigest))).toBe(0)
      const stored = JSON.parse(manifestBytes.toString("utf8"))
      expect(stored.layers).toEqual(layers.map((l) => l.descriptor))
      for (const l of stored.layers) expect(Object.keys(l.annotations ?? {}).length).toBeGreaterThan(1)
      const config = JSON.parse((await ctr(["content", "get", stored.config.digest])).stdout.toString("utf8"))
      expect(config.rootfs.diff_ids).toEqual(layers.map((l) => l.diffId))
      for (const l of layers) {
        const bytes = (await ctr(["content", "get", l.descriptor.digest])).stdout
        expect(bytes.length).toBe(l.descriptor.size)
        expect(Buffer.compare(bytes, ourBlob(l.descriptor.digest)), l.descriptor.digest).toBe(0)
      }
      if (v.externalToc) {
        const toc = JSON.parse(
          (await ctr(["content", "get", converted.tocImage.digest])).stdout.toString("utf8"),
        )
        for (const d of [toc.config, ...toc.layers]) {
          const bytes = (await ctr(["content", "get", d.digest])).stdout
          expect(Buffer.compare(bytes, ourBlob(d.digest)), d.digest).toBe(0)
        }
      }

      // unpack (external TOC: now, through `ctr image mount`, which needs a working overlay mount)
      const chain = chainIds(layers.map((l) => l.diffId))
      const top = chain[chain.length - 1]!
      const canMount = snapshotter === "overlayfs"
      if (canMount) {
        const target = join(dir, `${v.name}.mnt`)
        mkdirSync(target)
        await ctr(["image", "mount", "--snapshotter", snapshotter, `${base}:latest`, target])
        try {
          // through the kernel's overlay mount of the image's top snapshot
          expectRootfs(expected, [target])
        } finally {
          await ctr(["image", "unmount", "--snapshotter", snapshotter, "--rm", target])
        }
      }
      if (!v.externalToc || canMount) {
        const snapshots = (await ctr(["snapshot", "--snapshotter", snapshotter, "ls"])).stdout.toString(
          "utf8",
        )
        for (const c of chain) expect(snapshots).toContain(c)
        // containerd records the diffID it computed while decompressing each of our blobs
        const labels = contentLabels((await ctr(["content", "ls"])).stdout.toString("utf8"))
        for (const l of layers)
          expect(labels.get(l.descriptor.digest)?.["containerd.io/uncompressed"], l.descriptor.digest).toBe(
            l.diffId,
          )
        // the unpacked directories themselves, read without mounting: a read-only view of the top snapshot
        // tells where they are (overlay lower dirs, top first, or one directory for native)
        const view = `view-${v.name}`
        const mounts = JSON.parse(
          (
            await ctr(["snapshot", "--snapshotter", snapshotter, "view", "--mounts", view, top])
          ).stdout.toString("utf8"),
        )
        try {
          const [m] = mounts
          const dirs: Array<string> =
            m.Type === "overlay"
              ? m.Options.find((o: string) => o.startsWith("lowerdir="))
                  .slice("lowerdir=".length)
                  .split(":")
              : [m.Source]
          expect(dirs.length).toBe(snapshotter === "overlayfs" ? layers.length : 1)
          expectRootfs(expected, dirs)
        } finally {
          // the view holds no lease, so containerd's garbage collector may already have removed it (seen in CI):
          // either outcome is fine, anything else is not
          const rm = await containerd.ctr(["snapshot", "--snapshotter", snapshotter, "rm", view], {
            namespace: ns,
          })
          if (rm.code !== 0) expect(rm.stderr).toMatch(/does not exist: not found/)
        }
      }

      // export: containerd writes our manifest and blobs back out, and the archive checks as lazy-pullable
      const exported = join(dir, `${v.name}.exported.oci.tar`)
      await ctr(["image", "export", exported, ...wantRefs.map((r) => r.ref)])
      const check = await lazypull(["check", `oci-archive:${exported}:latest`, "--json"], { cwd: dir })
      expect(check.code, check.stderr).toBe(0)
      const report = jsonOf(check)
      expect(report.ok).toBe(true)
      const ourCheck = jsonOf(
        await lazypull(["check", `oci-archive:${archive}:latest`, "--json"], { cwd: dir }),
      )
      expect(report.images.map((i: any) => ({ ...i, image: "" }))).toEqual(
        ourCheck.images.map((i: any) => ({ ...i, image: "" })),
      )
      expect(report.images[0].manifestDigest).toBe(manifestDigest)
      for (const l of report.images[0].layers) expect(l.lazy).toBe(true)
    }, 60_000)
  }
})

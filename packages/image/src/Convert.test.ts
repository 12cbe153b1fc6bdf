import { createHash } from "node:crypto"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { TOC_DIGEST_ANNOTATION, UNCOMPRESSED_SIZE_ANNOTATION } from "@lazypull/estargz"
import { blobPath, OCI_LAYER_GZIP, OCI_LAYER_ZSTD } from "@lazypull/oci"
import { fixture, requireTool, runCommand, tmpDir } from "@lazypull/testkit"
import { MANIFEST_CHECKSUM_ANNOTATION, STORAGE_MANIFEST_CHECKSUM_ANNOTATION } from "@lazypull/zstd-chunked"
import {
  checkDir,
  convertArchive,
  convertDir,
  editLayout,
  lastTmp,
  TestServices,
} from "./Convert.test-utils.ts"

const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"))
const manifestOf = (dir: string, at = 0) => {
  const index = readJson(join(dir, "index.json"))
  return readJson(join(dir, blobPath(index.manifests[at].digest)))
}

describe("convertImages + checkImage", () => {
  it.effect("the plain gzip image is not lazy-pullable; converted to eStargz it is, every layer", () =>
    Effect.gen(function* () {
      const [plain] = yield* checkDir(fixture("image"))
      assert.isFalse(plain!.ok)
      expect(plain!.layers.map((l) => l.format)).toEqual(["gzip", "gzip"])
      expect(plain!.layers[0]!.reason).toMatch(
        /plain gzip layer: no containerd.io\/snapshot\/stargz\/toc.digest/,
      )

      const { out, result } = yield* convertDir(fixture("image"), { tag: "esgz", oci: true })
      expect(result.images).toHaveLength(1)
      expect(result.images[0]!.layers.map((l) => l.kept)).toEqual([false, false])
      const [report] = yield* checkDir(out, "esgz")
      assert.isTrue(report!.ok, JSON.stringify(report))
      expect(report!.layers.map((l) => l.format)).toEqual(["estargz", "estargz"])
      // the config's diff_ids are the converted layers' diffIDs, checked by checkImage against the stream
      const m = manifestOf(out)
      expect(m.layers.map((l: any) => l.mediaType)).toEqual([OCI_LAYER_GZIP, OCI_LAYER_GZIP])
      for (const l of m.layers) {
        expect(l.annotations[TOC_DIGEST_ANNOTATION]).toMatch(/^sha256:[0-9a-f]{64}$/)
        expect(l.annotations[UNCOMPRESSED_SIZE_ANNOTATION]).toMatch(/^[0-9]+$/)
      }
      const index = readJson(join(out, "index.json"))
      expect(index.manifests[0].annotations["org.opencontainers.image.ref.name"]).toBe("esgz")
      // history and other config keys are kept
      const srcM = manifestOf(fixture("image"))
      const srcConfig = readJson(join(fixture("image"), blobPath(srcM.config.digest)))
      const config = readJson(join(out, blobPath(m.config.digest)))
      expect({ ...config, rootfs: undefined }).toEqual({ ...srcConfig, rootfs: undefined })
      expect(config.rootfs.diff_ids).toEqual(result.images[0]!.layers.map((l) => l.diffId))
    }).pipe(Effect.provide(TestServices)),
  )

  for (const dialect of ["stargz", "storage"] as const)
    it.effect(`zstd:chunked (${dialect} dialect): converted image checks out, one annotation family`, () =>
      Effect.gen(function* () {
        const { out } = yield* convertDir(fixture("image"), {
          format: "zstdchunked",
          zstdchunked: { dialect },
          tag: "zstd",
        })
        const [report] = yield* checkDir(out, "zstd")
        assert.isTrue(report!.ok, JSON.stringify(report))
        expect(report!.layers.map((l) => l.format)).toEqual(
          dialect === "stargz"
            ? ["zstd:chunked", "zstd:chunked"]
            : ["zstd:chunked/storage", "zstd:chunked/storage"],
        )
        const m = manifestOf(out)
        for (const l of m.layers) {
          expect(l.mediaType).toBe(OCI_LAYER_ZSTD)
          expect(l.annotations[MANIFEST_CHECKSUM_ANNOTATION] !== undefined).toBe(dialect === "stargz")
          expect(l.annotations[STORAGE_MANIFEST_CHECKSUM_ANNOTATION] !== undefined).toBe(
            dialect === "storage",
          )
        }
        if (dialect === "storage") {
          // the storage dialect keeps the tar: the diffIDs do not change
          const src = readJson(join(fixture("image"), blobPath(manifestOf(fixture("image")).config.digest)))
          const got = readJson(join(out, blobPath(m.config.digest)))
          expect(got.rootfs.diff_ids).toEqual(src.rootfs.diff_ids)
        }
      }).pipe(Effect.provide(TestServices)),
    )

  it.effect(
    "external TOC: writes the -esgztoc image as the reference does; keep-diff-id keeps the diffIDs",
    () =>
      Effect.gen(function* () {
        const { out, result } = yield* convertDir(fixture("image"), {
          tag: "ext",
          estargz: { externalToc: true, keepDiffId: true },
        })
        assert.isDefined(result.tocImage)
        const index = readJson(join(out, "index.json"))
        const refs = index.manifests.map((d: any) => d.annotations["org.opencontainers.image.ref.name"])
        expect(refs.sort()).toEqual(["ext", "ext-esgztoc"])
        const tocManifest = readJson(join(out, blobPath(result.tocImage!.digest)))
        expect(tocManifest.config).toEqual({
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
          size: 2,
        })
        const digests = tocManifest.layers.map((l: any) => l.digest)
        expect(digests).toEqual([...digests].sort())
        const layerDigests = manifestOf(out, refs.indexOf("ext") === 0 ? 0 : 0).layers.map(
          (l: any) => l.digest,
        )
        expect(
          tocManifest.layers
            .map((l: any) => l.annotations["containerd.io/snapshot/stargz/layer.digest"])
            .sort(),
        ).toEqual([...layerDigests].sort())
        const src = readJson(join(fixture("image"), blobPath(manifestOf(fixture("image")).config.digest)))
        expect(result.images[0]!.layers.map((l) => l.diffId)).toEqual(src.rootfs.diff_ids)
        const [report] = yield* checkDir(out, "ext")
        assert.isTrue(report!.ok, JSON.stringify(report))
        expect(report!.layers.map((l) => l.format)).toEqual(["estargz-external", "estargz-external"])
        // without the TOC image the layers cannot be pulled lazily
        const [blind] = yield* checkDir(out, "ext", false)
        assert.isFalse(blind!.ok)
        expect(blind!.layers[0]!.reason).toMatch(/external/)
      }).pipe(Effect.provide(TestServices)),
  )

  it.effect("an already converted image is kept layer for layer, not converted twice", () =>
    Effect.gen(function* () {
      const first = yield* convertDir(fixture("image"), { tag: "a" })
      const second = yield* convertDir(first.out, { tag: "b" })
      expect(second.result.images[0]!.layers.map((l) => l.kept)).toEqual([true, true])
      expect(second.result.images[0]!.layers.map((l) => l.descriptor.digest)).toEqual(
        first.result.images[0]!.layers.map((l) => l.descriptor.digest),
      )
      const [report] = yield* checkDir(second.out, "b")
      assert.isTrue(report!.ok)
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("writes an OCI archive that reads back and checks out", () =>
    Effect.gen(function* () {
      const { out } = yield* convertDir(fixture("image"), { tag: "latest" }, true)
      const list = yield* Effect.promise(() => runCommand("tar", ["-tf", out]))
      expect(list.stdout.toString()).toMatch(/index\.json/)
      const dir = join(tmpDir(), "unpacked")
      yield* Effect.promise(() => runCommand("mkdir", ["-p", dir]))
      yield* Effect.promise(() => runCommand("tar", ["-xf", out, "-C", dir]))
      const [report] = yield* checkDir(dir, "latest")
      assert.isTrue(report!.ok)
    }).pipe(Effect.provide(TestServices)),
  )
})

describe("checkImage finds what makes a layer not lazy-pullable", () => {
  const converted = () => convertDir(fixture("image"), { tag: "x", oci: true })

  it.effect("a wrong TOC digest annotation, a wrong uncompressed size, a wrong diffID in the config", () =>
    Effect.gen(function* () {
      const { out } = yield* converted()
      const cases: Array<[string, (m: any, c: any) => void, RegExp]> = [
        [
          "toc digest",
          (m) => {
            m.layers[0].annotations[TOC_DIGEST_ANNOTATION] = `sha256:${"0".repeat(64)}`
          },
          /TocDigestMismatch|TOC digest/,
        ],
        [
          "size",
          (m) => {
            m.layers[1].annotations[UNCOMPRESSED_SIZE_ANNOTATION] = "12"
          },
          /uncompressed size/,
        ],
        [
          "diffID",
          (_m, c) => {
            c.rootfs.diff_ids[0] = `sha256:${"1".repeat(64)}`
          },
          /diffID/,
        ],
        [
          "missing annotation",
          (m) => {
            delete m.layers[1].annotations[UNCOMPRESSED_SIZE_ANNOTATION]
          },
          /io.containers.estargz.uncompressed-size missing/,
        ],
        [
          "docker manifest",
          (m) => {
            m.mediaType = "application/vnd.docker.distribution.manifest.v2+json"
          },
          /Docker schema-2 manifest/,
        ],
      ]
      for (const [what, edit, reason] of cases) {
        const [report] = yield* checkDir(editLayout(out, edit))
        assert.isFalse(report!.ok, what)
        const bad = report!.layers.filter((l) => !l.lazy)
        expect(bad.length, what).toBeGreaterThan(0)
        expect(bad[0]!.reason, what).toMatch(reason)
      }
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("a flipped byte inside a chunk (descriptor digest updated to match) fails the chunk check", () =>
    Effect.gen(function* () {
      const { out } = yield* converted()
      const copy = editLayout(out, () => {})
      const m = manifestOf(copy)
      const layerPath = join(copy, blobPath(m.layers[1].digest))
      const bytes = readFileSync(layerPath)
      bytes[200] = bytes[200]! ^ 0xff
      const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`
      writeFileSync(join(copy, blobPath(digest)), bytes)
      const edited = editLayout(copy, (mm) => {
        mm.layers[1].digest = digest
      })
      const [report] = yield* checkDir(edited)
      assert.isFalse(report!.ok)
      expect(report!.layers[0]!.lazy).toBe(true)
      expect(report!.layers[1]!.lazy).toBe(false)
      expect(report!.layers[1]!.reason).toMatch(/digest|corrupt|invalid|Codec|BadMember|mismatch/i)
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("a blob that does not hash to its digest", () =>
    Effect.gen(function* () {
      const { out } = yield* converted()
      const copy = editLayout(out, () => {})
      const m = manifestOf(copy)
      const layerPath = join(copy, blobPath(m.layers[0].digest))
      const bytes = readFileSync(layerPath)
      bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 1
      writeFileSync(layerPath, bytes)
      const [report] = yield* checkDir(copy)
      expect(report!.layers[0]!.lazy).toBe(false)
      expect(report!.layers[0]!.reason).toMatch(/hash|digest/i)
    }).pipe(Effect.provide(TestServices)),
  )
})

describe("convert: bad input leaves nothing behind", () => {
  it.effect("a layer that is not a tar fails with a typed error naming the layer; no output appears", () =>
    Effect.gen(function* () {
      const copy = editLayout(fixture("image"), () => {})
      const _m = manifestOf(copy)
      const garbage = Buffer.alloc(5000, 7)
      const digest = `sha256:${createHash("sha256").update(garbage).digest("hex")}`
      writeFileSync(join(copy, blobPath(digest)), garbage)
      const broken = editLayout(copy, (mm) => {
        mm.layers[1] = {
          ...mm.layers[1],
          mediaType: "application/vnd.oci.image.layer.v1.tar",
          digest,
          size: 5000,
        }
      })
      const failure = yield* Effect.flip(convertDir(broken, { tag: "t" }))
      expect(failure._tag).toBe("ImageError")
      // nothing appeared at the destination, no temp files beside it
      expect(readdirSync(join(lastTmp(), ".."))).toEqual([])
      expect((failure as any).layer).toBe(1)
      expect(failure.message).toMatch(/layer 1/)
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("a missing layer blob and a blob whose digest does not match its descriptor", () =>
    Effect.gen(function* () {
      const copy = editLayout(fixture("image"), () => {})
      const m = manifestOf(copy)
      const bytes = readFileSync(join(copy, blobPath(m.layers[0].digest)))
      bytes[50] = bytes[50]! ^ 1
      writeFileSync(join(copy, blobPath(m.layers[0].digest)), bytes)
      const bad = yield* Effect.flip(convertDir(copy, { tag: "t" }))
      expect(bad._tag).toBe("ImageError")
      expect(bad.message).toMatch(/hash|digest|gzip|corrupt|invalid/i)
      expect(readdirSync(join(lastTmp(), ".."))).toEqual([])
      const { rmSync } = yield* Effect.promise(() => import("node:fs"))
      rmSync(join(copy, blobPath(m.layers[1].digest)))
      const missing = yield* Effect.flip(convertDir(copy, { tag: "t" }))
      expect(missing.reason).toBe("NotFound")
      expect(missing.message).toContain(m.layers[1].digest.slice(7))
    }).pipe(Effect.provide(TestServices)),
  )
})

describe.skipIf(!requireTool("skopeo"))("convert from archives written by skopeo", () => {
  for (const transport of ["docker-archive", "oci-archive"] as const)
    it.effect(`${transport}: converts and checks out`, () =>
      Effect.gen(function* () {
        const archive = join(tmpDir(), `${transport}.tar`)
        const r = yield* Effect.promise(() =>
          runCommand("skopeo", [
            "copy",
            "-q",
            `oci:${fixture("image")}:latest`,
            `${transport}:${archive}:x/y:latest`,
          ]),
        )
        expect(r.code, r.stderr).toBe(0)
        const { out, result } = yield* convertArchive(archive, { tag: "latest", oci: true })
        expect(result.images[0]!.layers).toHaveLength(2)
        const [report] = yield* checkDir(out, "latest")
        assert.isTrue(report!.ok, JSON.stringify(report))
        expect(manifestOf(out).mediaType).toBe("application/vnd.oci.image.manifest.v1+json")
      }).pipe(Effect.provide(TestServices)),
    )
})

describe("multi-platform images", () => {
  /** An index over two platform manifests that share the fixture's layers (arm64 gets its own config). */
  const multiPlatform = () => {
    const amd = editLayout(fixture("image"), (_m, c) => {
      c.architecture = "amd64"
      c.os = "linux"
    })
    const both = editLayout(amd, (_m, c) => {
      c.architecture = "arm64"
      c.variant = "v8"
    })
    // `both` holds the blobs of both manifests; build an index over them
    const amdIndex = readJson(join(amd, "index.json"))
    const armIndex = readJson(join(both, "index.json"))
    for (const f of readdirSync(join(amd, "blobs", "sha256")))
      writeFileSync(join(both, "blobs", "sha256", f), readFileSync(join(amd, "blobs", "sha256", f)))
    const index = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          ...amdIndex.manifests[0],
          annotations: undefined,
          platform: { os: "linux", architecture: "amd64" },
        },
        {
          ...armIndex.manifests[0],
          annotations: undefined,
          platform: { os: "linux", architecture: "arm64", variant: "v8" },
        },
      ],
    }
    const bytes = Buffer.from(JSON.stringify(index))
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`
    writeFileSync(join(both, blobPath(digest)), bytes)
    writeFileSync(
      join(both, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: "application/vnd.oci.image.index.v1+json",
            digest,
            size: bytes.length,
            annotations: { "org.opencontainers.image.ref.name": "multi" },
          },
        ],
      }),
    )
    return both
  }

  it.effect("--all-platforms converts every platform into an index; shared layers are converted once", () =>
    Effect.gen(function* () {
      const src = multiPlatform()
      const { out, result } = yield* convertDir(src, { tag: "m", allPlatforms: true })
      expect(result.descriptor.mediaType).toBe("application/vnd.oci.image.index.v1+json")
      expect(result.images.map((i) => i.platform)).toEqual(["linux/amd64", "linux/arm64/v8"])
      expect(result.images[0]!.layers.map((l) => l.descriptor.digest)).toEqual(
        result.images[1]!.layers.map((l) => l.descriptor.digest),
      )
      const index = readJson(join(out, blobPath(result.descriptor.digest)))
      expect(index.manifests.map((d: any) => d.platform)).toEqual([
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm64", variant: "v8" },
      ])
      const reports = yield* checkDir(out, "m")
      expect(reports.map((r) => r.ok)).toEqual([true, true])
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("--platform picks one; without it the default platform; an unknown platform is NotFound", () =>
    Effect.gen(function* () {
      const src = multiPlatform()
      const arm = yield* convertDir(src, { platform: "linux/arm64" })
      expect(arm.result.images.map((i) => i.platform)).toEqual(["linux/arm64/v8"])
      const def = yield* convertDir(src, { defaultPlatform: "linux/amd64" })
      expect(def.result.images.map((i) => i.platform)).toEqual(["linux/amd64"])
      const none = yield* Effect.flip(convertDir(src, { platform: "linux/s390x" }))
      expect(none.reason).toBe("NotFound")
      expect(none.message).toMatch(/linux\/amd64, linux\/arm64\/v8/)
      const both = yield* Effect.flip(convertDir(src, { platform: "linux/amd64", allPlatforms: true }))
      expect(both.reason).toBe("BadOption")
    }).pipe(Effect.provide(TestServices)),
  )
})

import { linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { fromBytes } from "@lazypull/range"
import { tmpDir } from "@lazypull/testkit"
import { Effect, Exit } from "effect"
import fc from "fast-check"
import { normalizePath, openArchive, openImage, tarSource } from "./Archive.ts"
import { layerReader, readFile, verifyFile } from "./LayoutSource.ts"
import { OCI_LAYER_GZIP, OCI_LAYER_TAR } from "./MediaType.ts"
import { OciError } from "./OciError.ts"
import {
  buildLayout,
  dirSource,
  fileReader,
  noise,
  packTar,
  sha256Hex,
  sha256Layer,
} from "./Oci.test-utils.ts"

/** Lays out a docker-save style directory: manifest.json, `<config>.json`, layers under `<id>/layer.tar`. */
const buildDocker = (dir: string) => {
  mkdirSync(dir, { recursive: true })
  const raws = [noise(5000, 11), noise(600_000, 12), noise(3000, 13)]
  const diffIds = raws.map((r) => `sha256:${sha256Hex(r)}`)
  const gz = gzipSync(raws[2]!)
  // layer 0: legacy `<id>/layer.tar` symlink to a top-level file; layer 1: a real file; layer 2: gzip;
  // layer 3: a hard link to layer 1's file
  writeFileSync(join(dir, `${sha256Hex(raws[0]!)}.tar`), raws[0]!)
  mkdirSync(join(dir, "aaa"))
  symlinkSync(`../${sha256Hex(raws[0]!)}.tar`, join(dir, "aaa", "layer.tar"))
  mkdirSync(join(dir, "bbb"))
  writeFileSync(join(dir, "bbb", "layer.tar"), raws[1]!)
  mkdirSync(join(dir, "ccc"))
  writeFileSync(join(dir, "ccc", "layer.tar"), gz)
  mkdirSync(join(dir, "ddd"))
  linkSync(join(dir, "bbb", "layer.tar"), join(dir, "ddd", "layer.tar"))
  const config = JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [...diffIds, diffIds[1]] },
    history: [{ created_by: "a" }],
  })
  const configHex = sha256Hex(config)
  writeFileSync(join(dir, `${configHex}.json`), config)
  const layers = ["aaa/layer.tar", "./bbb/layer.tar", "ccc/layer.tar", "ddd/layer.tar"]
  writeFileSync(
    join(dir, "manifest.json"),
    JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ["example.com/app:v1"], Layers: layers }]),
  )
  writeFileSync(join(dir, "repositories"), "{}")
  return {
    configDigest: `sha256:${configHex}`,
    expected: [
      [`sha256:${sha256Hex(raws[0]!)}`, raws[0]!.length, OCI_LAYER_TAR, "none", diffIds[0]],
      [`sha256:${sha256Hex(raws[1]!)}`, raws[1]!.length, OCI_LAYER_TAR, "none", diffIds[1]],
      [`sha256:${sha256Hex(gz)}`, gz.length, OCI_LAYER_GZIP, "gzip", diffIds[2]],
      [`sha256:${sha256Hex(raws[1]!)}`, raws[1]!.length, OCI_LAYER_TAR, "none", diffIds[1]],
    ],
  }
}

describe("Archive", () => {
  it("normalizes paths", () => {
    assert.strictEqual(normalizePath("./a//b/./c"), "a/b/c")
    assert.strictEqual(normalizePath("/a/b/../c"), "a/c")
    assert.strictEqual(normalizePath("a/../../b"), "b")
  })

  it.effect("an OCI archive opens like its directory, reading headers rather than the whole archive", () =>
    Effect.gen(function* () {
      const root = tmpDir()
      const dir = join(root, "layout")
      const built = buildLayout(dir, { gzip: false, layers: [noise(2_000_000, 3), noise(100, 4)] })
      const reader = fileReader(packTar(dir, join(root, "image.oci.tar")))
      const image = yield* openArchive(reader, { ref: "latest" })
      assert.isBelow(reader.stats.bytes, reader.size / 20, "payloads are skipped while indexing")
      const fromDir = yield* openImage(dirSource(dir), { ref: "latest" })
      assert.strictEqual(image.format, "oci")
      assert.strictEqual(image.manifestDescriptor!.digest, built.manifest.digest)
      assert.deepStrictEqual(image.configBytes, fromDir.configBytes)
      assert.deepStrictEqual(
        image.layers.map((l) => [l.descriptor.digest, l.descriptor.size, l.diffId, l.path]),
        fromDir.layers.map((l) => [l.descriptor.digest, l.descriptor.size, l.diffId, l.path]),
      )
      for (const l of image.layers) yield* verifyFile(image.source, l.path, l.descriptor)
      const big = image.layers[0]!
      const r = layerReader(image.source, big.path, big.descriptor.size)
      assert.deepStrictEqual(
        yield* r.readAt(1_000_000, 100),
        noise(2_000_000, 3).subarray(1_000_000, 1_000_100),
      )
      assert.strictEqual((yield* Effect.flip(r.readAt(big.descriptor.size - 10, 11))).reason, "OutOfBounds")
      assert.strictEqual(r.stats.reads, 1)
      const listed = yield* image.source.list()
      assert.includeMembers([...listed], ["oci-layout", "index.json", image.layers[0]!.path])
    }).pipe(Effect.provide(sha256Layer)),
  )

  it.effect("a docker archive exposes the same Image shape, following symlinks and hard links", () =>
    Effect.gen(function* () {
      const root = tmpDir()
      const dir = join(root, "docker")
      const { configDigest, expected } = buildDocker(dir)
      const path = packTar(dir, join(root, "image.docker.tar"))
      for (const ref of [undefined, "v1", "example.com/app:v1"]) {
        const image = yield* openArchive(fileReader(path), { ref })
        assert.strictEqual(image.format, "docker")
        assert.strictEqual(image.configDescriptor.digest, configDigest)
        assert.isUndefined(image.manifestDescriptor)
        assert.deepStrictEqual(
          image.layers.map((l) => [
            l.descriptor.digest,
            l.descriptor.size,
            l.descriptor.mediaType,
            l.compression,
            l.diffId,
          ]),
          expected,
        )
        assert.deepStrictEqual(
          image.manifest.layers,
          image.layers.map((l) => l.descriptor),
        )
      }
      // the same directory, unpacked, opens the same way
      const fromDir = yield* openImage(dirSource(dir))
      assert.deepStrictEqual(
        fromDir.layers.map((l) => l.descriptor.digest),
        expected.map((e) => e[0]),
      )
      assert.strictEqual(
        (yield* Effect.flip(openArchive(fileReader(path), { ref: "v2" }))).reason,
        "NotFound",
      )
    }).pipe(Effect.provide(sha256Layer)),
  )

  it.effect("a docker manifest.json naming a missing layer fails with NotFound", () =>
    Effect.gen(function* () {
      const root = tmpDir()
      const dir = join(root, "docker")
      buildDocker(dir)
      const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"))
      m[0].Layers[1] = "zzz/layer.tar"
      writeFileSync(join(dir, "manifest.json"), JSON.stringify(m))
      const e = yield* Effect.flip(openArchive(fileReader(packTar(dir, join(root, "d.tar")))))
      assert.strictEqual(e.reason, "NotFound")
      assert.strictEqual(e.path, "zzz/layer.tar")
      writeFileSync(join(dir, "manifest.json"), JSON.stringify({ Config: "x" }))
      const e2 = yield* Effect.flip(openArchive(fileReader(packTar(dir, join(root, "d2.tar")))))
      assert.strictEqual(e2.reason, "BadSchema")
    }).pipe(Effect.provide(sha256Layer)),
  )

  it.effect("truncated, garbage and empty archives fail with the right reason", () =>
    Effect.gen(function* () {
      const root = tmpDir()
      const dir = join(root, "layout")
      buildLayout(dir, { layers: [noise(300_000, 5)] })
      const path = packTar(dir, join(root, "a.tar"))
      const whole = readFileSync(path)
      const src = yield* tarSource(fromBytes(whole))
      assert.isTrue((yield* readFile(src, "oci-layout")).length > 0)
      // readInto serves a member's bytes in place, without allocating, and stays inside the member
      let checked = 0
      for (const f of yield* src.list()) {
        const size = (yield* src.stat(f))!
        if (size < 300_000) continue
        checked++
        const t = new Uint8Array(5000)
        yield* src.readInto!(f, 1234, t)
        assert.deepStrictEqual(t, noise(300_000, 5).subarray(1234, 6234))
        assert.strictEqual((yield* Effect.flip(src.readInto!(f, size - 10, t))).reason, "Truncated")
      }
      assert.strictEqual(checked, 1)
      // where the big layer's payload starts in the archive
      const blobAt = Buffer.from(whole).indexOf(Buffer.from(noise(300_000, 5).subarray(0, 64)))
      assert.isAbove(blobAt, 0)
      for (const cut of [blobAt + 1000, blobAt - 100, 700]) {
        const p = join(root, `cut-${cut}.tar`)
        writeFileSync(p, whole.subarray(0, cut))
        const e = yield* Effect.flip(openArchive(fileReader(p)))
        assert.strictEqual(e.reason, "Truncated", `cut at ${cut}: ${e.message}`)
      }
      assert.strictEqual((yield* Effect.flip(tarSource(fromBytes(noise(2048, 9))))).reason, "BadSchema")
      assert.strictEqual(
        (yield* Effect.flip(openArchive(fromBytes(new Uint8Array(1024))))).reason,
        "NotFound",
      )
    }).pipe(Effect.provide(sha256Layer)),
  )

  it.effect("opening any prefix or corruption of an archive only ever fails with OciError", () =>
    Effect.gen(function* () {
      const root = tmpDir()
      const dir = join(root, "layout")
      buildLayout(dir, { layers: [noise(2000, 6)] })
      const whole = new Uint8Array(readFileSync(packTar(dir, join(root, "p.tar"))))
      yield* Effect.sync(() =>
        fc.assert(
          fc.property(
            fc.nat(whole.length),
            fc.array(fc.tuple(fc.nat(whole.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
            (cut, flips) => {
              const bytes = whole.slice(0, cut)
              for (const [at, v] of flips) if (at < bytes.length) bytes[at] = v
              const exit = Effect.runSyncExit(Effect.provide(openArchive(fromBytes(bytes)), sha256Layer))
              if (Exit.isSuccess(exit)) return true
              const e = Effect.runSync(
                Effect.flip(Effect.provide(openArchive(fromBytes(bytes)), sha256Layer)),
              )
              return e instanceof OciError
            },
          ),
          { numRuns: 200 },
        ),
      )
    }),
  )
})

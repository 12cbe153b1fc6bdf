// Tests of @lazypull/oci's directorySource: they live here because they need a real FileSystem
// (@effect/platform-node), which @lazypull/oci does not depend on.
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { NodeEngine } from "@lazypull/engine-node"
import { directorySource, layerReader, openImage, readFile, verifyBlob } from "@lazypull/oci"
import { fixture, tmpDir } from "@lazypull/testkit"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { noise } from "./BlobStore.suite.ts"

const layer = Layer.mergeAll(NodeFileSystem.layer, NodeEngine.layerSha256)

/** root/dir with files, a nested file, links inside and outside, and a secret beside it. */
const setup = () => {
  const root = tmpDir()
  const dir = join(root, "dir")
  mkdirSync(join(dir, "sub", "deeper"), { recursive: true })
  writeFileSync(join(dir, "a.txt"), "hello")
  writeFileSync(join(dir, "sub", "deeper", "big.bin"), noise(200_000, 3))
  writeFileSync(join(root, "secret"), "outside")
  mkdirSync(join(root, "elsewhere"))
  writeFileSync(join(root, "elsewhere", "x"), "outside too")
  symlinkSync("../a.txt", join(dir, "sub", "link-in"))
  symlinkSync("../secret", join(dir, "link-out"))
  symlinkSync(join(root, "secret"), join(dir, "link-abs"))
  symlinkSync("../elsewhere", join(dir, "dir-out"))
  symlinkSync("missing", join(dir, "dangling"))
  return dir
}

describe("directorySource", () => {
  it.effect("lists regular files (and links to files inside), sorted; stat and readAt them", () =>
    Effect.gen(function* () {
      const src = yield* directorySource(setup())
      assert.deepStrictEqual(yield* src.list(), ["a.txt", "sub/deeper/big.bin", "sub/link-in"])
      assert.strictEqual(yield* src.stat("a.txt"), 5)
      assert.strictEqual(yield* src.stat("./sub/link-in"), 5)
      assert.strictEqual(yield* src.stat("sub"), undefined)
      assert.strictEqual(yield* src.stat("nope"), undefined)
      assert.strictEqual(yield* src.stat("dangling"), undefined)
      assert.strictEqual(new TextDecoder().decode(yield* src.readAt("sub/link-in", 1, 3)), "ell")
      const big = noise(200_000, 3)
      const parts = yield* Effect.forEach(
        [0, 65_536, 199_000],
        (off) => src.readAt("sub/deeper/big.bin", off, 1000),
        { concurrency: 3 },
      )
      assert.deepStrictEqual(parts, [
        big.subarray(0, 1000),
        big.subarray(65_536, 66_536),
        big.subarray(199_000),
      ])
      assert.strictEqual((yield* Effect.flip(src.readAt("a.txt", 3, 3))).reason, "Truncated")
      assert.strictEqual((yield* Effect.flip(src.readAt("a.txt", -1, 1))).reason, "Truncated")
      assert.strictEqual((yield* Effect.flip(src.readAt("nope", 0, 1))).reason, "NotFound")
      assert.strictEqual((yield* Effect.flip(src.readAt("sub", 0, 1))).reason, "NotFound")
    }).pipe(Effect.provide(layer)),
  )

  it.effect("readInto fills a buffer with the same bytes as readAt, and layerReader exposes it", () =>
    Effect.gen(function* () {
      const src = yield* directorySource(setup())
      const big = noise(200_000, 3)
      const target = new Uint8Array(70_000)
      yield* src.readInto!("sub/deeper/big.bin", 100_000, target)
      assert.deepStrictEqual(target, big.subarray(100_000, 170_000))
      const r = layerReader(src, "sub/deeper/big.bin", 200_000)
      const t2 = new Uint8Array(1000)
      yield* r.readInto!(199_000, t2)
      assert.deepStrictEqual(t2, big.subarray(199_000))
      assert.strictEqual(
        (yield* Effect.flip(r.readInto!(199_500, new Uint8Array(1000)))).reason,
        "OutOfBounds",
      )
      assert.strictEqual(
        (yield* Effect.flip(src.readInto!("a.txt", 3, new Uint8Array(3)))).reason,
        "Truncated",
      )
      assert.strictEqual((yield* Effect.flip(src.readInto!("nope", 0, new Uint8Array(1)))).reason, "NotFound")
    }).pipe(Effect.provide(layer)),
  )

  it.effect("hostile paths never reach outside the directory", () =>
    Effect.gen(function* () {
      const src = yield* directorySource(setup())
      for (const p of [
        "../secret",
        "sub/../../secret",
        "/etc/passwd",
        "link-out",
        "link-abs",
        "dir-out/x",
        "a.txt\0",
        "..\\secret",
        "",
      ]) {
        const e = yield* Effect.flip(src.stat(p))
        assert.strictEqual(e.reason, "BadReference", JSON.stringify(p))
        assert.strictEqual(
          (yield* Effect.flip(src.readAt(p, 0, 1))).reason,
          "BadReference",
          JSON.stringify(p),
        )
      }
    }).pipe(Effect.provide(layer)),
  )

  it.effect("a missing directory or a file fails with NotFound", () =>
    Effect.gen(function* () {
      const root = tmpDir()
      assert.strictEqual((yield* Effect.flip(directorySource(join(root, "none")))).reason, "NotFound")
      writeFileSync(join(root, "f"), "x")
      assert.strictEqual((yield* Effect.flip(directorySource(join(root, "f")))).reason, "NotFound")
    }).pipe(Effect.provide(layer)),
  )

  it.effect("opens and verifies the generated OCI layout fixture", () =>
    Effect.gen(function* () {
      const src = yield* directorySource(fixture("image"))
      const image = yield* openImage(src, { ref: "latest" })
      assert.strictEqual(image.format, "oci")
      assert.strictEqual(image.layers.length, 2)
      for (const l of image.layers) yield* verifyBlob(src, l.descriptor)
      assert.include(new TextDecoder().decode(yield* readFile(src, "oci-layout")), "imageLayoutVersion")
    }).pipe(Effect.provide(layer)),
  )
})

import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { NodeEngine } from "@lazypull/engine-node"
import {
  type Descriptor,
  directorySource,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_TAR,
  OCI_MANIFEST,
  openArchive,
  openLayoutImage,
  REF_NAME,
  tarSource,
  verifyBlob,
} from "@lazypull/oci"
import { writeTar } from "@lazypull/tar"
import { requireTool, runCommand, tmpDir } from "@lazypull/testkit"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type { BlobStore } from "./BlobStore.ts"
import { digestOf, noise, storageError } from "./BlobStore.suite.ts"
import { fileRangeReader } from "./FileReader.ts"
import {
  type ImageOutput,
  mergeIndex,
  OCI_LAYOUT_CONTENT,
  openOciArchiveOutput,
  openOciLayoutOutput,
} from "./ImageOutput.ts"

const layer = Layer.mergeAll(NodeFileSystem.layer, NodeEngine.layerSha256)
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v))

interface Written {
  readonly manifest: Descriptor
  readonly layers: ReadonlyArray<Descriptor>
  readonly config: Descriptor
}

/** Puts a small image (one small tar layer, one multi-MiB layer streamed in pieces) into a store. */
const putImage = (store: BlobStore, seed: number, bigLayer = 3_200_000) =>
  Effect.scoped(
    Effect.gen(function* () {
      const small = writeTar([
        { entry: { name: `file-${seed}.txt`, typeflag: "0", mode: 0o644 }, data: noise(5000, seed) },
      ])
      const big = noise(bigLayer, seed + 1)
      const l1 = yield* store.put(small)
      const w = yield* store.writer()
      for (let off = 0; off < big.length; off += 300_000) yield* w.write(big.subarray(off, off + 300_000))
      const l2 = yield* w.commit({ digest: digestOf(big), size: big.length })
      const layers = [l1, l2].map((l) => ({ mediaType: OCI_LAYER_TAR, ...l }))
      const configInfo = yield* store.put(
        json({
          architecture: "amd64",
          os: "linux",
          config: { Env: [`SEED=${seed}`] },
          rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
        }),
      )
      const config = { mediaType: OCI_CONFIG, ...configInfo }
      const m = yield* store.put(json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }))
      return { manifest: { mediaType: OCI_MANIFEST, ...m }, layers, config } satisfies Written
    }),
  )

/** Temporary names (`.lazypull-tmp-`) anywhere under `dir`. */
const tempsUnder = (dir: string): Array<string> => {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((p) => p.includes(".lazypull-tmp-"))
}

const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"))

/** Every file under `dir` with its bytes, for "untouched" checks. */
const snapshot = (dir: string): Map<string, string> => {
  const out = new Map<string, string>()
  for (const p of readdirSync(dir, { recursive: true, encoding: "utf8" }).sort()) {
    const full = join(dir, p)
    if (statSync(full).isFile()) out.set(p, readFileSync(full).toString("base64"))
  }
  return out
}

const checkLayout = (dir: string, ref: string, w: Written) =>
  Effect.gen(function* () {
    const src = yield* directorySource(dir)
    const image = yield* openLayoutImage(src, { ref })
    assert.strictEqual(image.manifestDescriptor?.digest, w.manifest.digest)
    assert.deepStrictEqual(
      image.layers.map((l) => l.descriptor.digest),
      w.layers.map((l) => l.digest),
    )
    for (const l of image.layers) yield* verifyBlob(src, l.descriptor)
    assert.strictEqual(readFileSync(join(dir, "oci-layout"), "utf8"), OCI_LAYOUT_CONTENT)
  })

const run = <A, E>(effect: Effect.Effect<A, E, Layer.Success<typeof layer> | Scope.Scope>) =>
  Effect.scoped(effect).pipe(Effect.provide(layer))

describe("mergeIndex", () => {
  it("replaces descriptors with the same ref name, keeps the others and top-level keys", () => {
    const d = (n: number, ref?: string): Descriptor => ({
      mediaType: OCI_MANIFEST,
      digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
      size: n,
      ...(ref === undefined ? {} : { annotations: { [REF_NAME]: ref, other: "x" } }),
    })
    const existing = {
      schemaVersion: 2 as const,
      annotations: { keep: "me" },
      manifests: [d(1, "v1"), d(2, "v2"), d(3), d(4)],
    }
    const merged = mergeIndex(existing, [
      { descriptor: d(5), ref: "v1" },
      { descriptor: d(3) },
      { descriptor: d(6, "v2"), ref: "v3" },
    ])
    assert.strictEqual(merged.mediaType, OCI_INDEX)
    assert.deepStrictEqual(merged.annotations, { keep: "me" })
    assert.deepStrictEqual(
      merged.manifests.map((m) => [m.size, m.annotations?.[REF_NAME]]),
      [
        [2, "v2"],
        [4, undefined],
        [5, "v1"],
        [3, undefined],
        [6, "v3"],
      ],
    )
    // the annotation written for a ref keeps the descriptor's other annotations
    assert.strictEqual(merged.manifests[4]!.annotations?.other, "x")
  })
})

describe("oci: layout output", () => {
  it.effect("a new directory (and missing parents) appears only on commit, complete", () =>
    run(
      Effect.gen(function* () {
        const root = tmpDir()
        const dir = join(root, "a", "b", "image")
        const w = yield* Effect.scoped(
          Effect.gen(function* () {
            const out = yield* openOciLayoutOutput(dir)
            const w = yield* putImage(out.store, 1)
            assert.isFalse(existsSync(dir), "nothing at the destination before commit")
            assert.deepStrictEqual(
              readdirSync(join(root, "a", "b")).map((n) => n.replace(/-[a-f0-9]{12}$/, "")),
              ["image.lazypull-tmp"],
              "one staging directory beside the target",
            )
            yield* out.commit([{ descriptor: w.manifest, ref: "latest" }])
            assert.strictEqual((yield* storageError(out.commit([]))).reason, "Closed")
            return w
          }),
        )
        yield* checkLayout(dir, "latest", w)
        assert.deepStrictEqual(tempsUnder(root), [])
        const index = readJson(join(dir, "index.json"))
        assert.deepStrictEqual(index, {
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: [{ ...w.manifest, annotations: { [REF_NAME]: "latest" } }],
        })
      }),
    ),
  )

  it.effect("an existing layout: blobs go in, index.json is rewritten, same ref replaced, others kept", () =>
    run(
      Effect.gen(function* () {
        const dir = join(tmpDir(), "image")
        const first = yield* Effect.scoped(
          Effect.gen(function* () {
            const out = yield* openOciLayoutOutput(dir)
            const a = yield* putImage(out.store, 10, 1000)
            const b = yield* putImage(out.store, 20, 1000)
            yield* out.commit([
              { descriptor: a.manifest, ref: "v1" },
              { descriptor: b.manifest, ref: "v2" },
            ])
            return { a, b }
          }),
        )
        // someone else's top-level annotation survives the rewrite
        const idx = readJson(join(dir, "index.json"))
        writeFileSync(join(dir, "index.json"), JSON.stringify({ ...idx, annotations: { owner: "someone" } }))
        const c = yield* Effect.scoped(
          Effect.gen(function* () {
            const out = yield* openOciLayoutOutput(dir)
            const c = yield* putImage(out.store, 30, 1000)
            yield* out.commit([{ descriptor: c.manifest, ref: "v1" }])
            return c
          }),
        )
        const index = readJson(join(dir, "index.json"))
        assert.deepStrictEqual(index.annotations, { owner: "someone" })
        assert.deepStrictEqual(
          index.manifests.map((m: Descriptor) => [m.digest, m.annotations?.[REF_NAME]]),
          [
            [first.b.manifest.digest, "v2"],
            [c.manifest.digest, "v1"],
          ],
        )
        yield* checkLayout(dir, "v1", c)
        yield* checkLayout(dir, "v2", first.b)
        // the replaced image's blobs stay (content addressed; garbage collection is not ours)
        assert.isTrue(existsSync(join(dir, "blobs", "sha256", first.a.manifest.digest.slice(7))))
        assert.deepStrictEqual(tempsUnder(dir), [])
      }),
    ),
  )

  it.effect("an empty directory is written in place; a failed run empties it again", () =>
    run(
      Effect.gen(function* () {
        const dir = join(tmpDir(), "empty")
        mkdirSync(dir)
        const failed = yield* Effect.exit(
          Effect.scoped(
            Effect.gen(function* () {
              const out = yield* openOciLayoutOutput(dir)
              yield* putImage(out.store, 2, 1000)
              return yield* Effect.fail("interrupted by the test")
            }),
          ),
        )
        assert.isTrue(Exit.isFailure(failed))
        assert.deepStrictEqual(readdirSync(dir), [])
        const w = yield* Effect.scoped(
          Effect.gen(function* () {
            const out = yield* openOciLayoutOutput(dir)
            const w = yield* putImage(out.store, 2, 1000)
            yield* out.commit([{ descriptor: w.manifest, ref: "x" }])
            return w
          }),
        )
        yield* checkLayout(dir, "x", w)
      }),
    ),
  )

  it.effect("a non-empty directory that is not a layout, or a file, fails with Exists", () =>
    run(
      Effect.gen(function* () {
        const root = tmpDir()
        const dir = join(root, "stuff")
        mkdirSync(dir)
        writeFileSync(join(dir, "notes.txt"), "mine")
        assert.strictEqual((yield* storageError(openOciLayoutOutput(dir))).reason, "Exists")
        assert.deepStrictEqual(readdirSync(dir), ["notes.txt"])
        const file = join(root, "file")
        writeFileSync(file, "x")
        assert.strictEqual((yield* storageError(openOciLayoutOutput(file))).reason, "Exists")
        assert.strictEqual((yield* storageError(openOciLayoutOutput(join(file, "sub")))).reason, "Exists")
        assert.deepStrictEqual(tempsUnder(root), [])
      }),
    ),
  )

  it.effect("a layout with a malformed index.json or oci-layout fails with BadDocument", () =>
    run(
      Effect.gen(function* () {
        const dir = join(tmpDir(), "bad")
        mkdirSync(dir)
        writeFileSync(join(dir, "oci-layout"), OCI_LAYOUT_CONTENT)
        writeFileSync(join(dir, "index.json"), "{not json")
        assert.strictEqual((yield* storageError(openOciLayoutOutput(dir))).reason, "BadDocument")
        writeFileSync(join(dir, "oci-layout"), '{"imageLayoutVersion":"2.0.0"}')
        assert.strictEqual((yield* storageError(openOciLayoutOutput(dir))).reason, "BadDocument")
      }),
    ),
  )

  it.effect("commit refuses incomplete images (missing or wrong-size blobs) and open writers", () =>
    run(
      Effect.gen(function* () {
        const dir = join(tmpDir(), "incomplete")
        const out = yield* openOciLayoutOutput(dir)
        const missingLayer = json({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: OCI_CONFIG, digest: digestOf(json({})), size: 2 },
          layers: [],
        })
        const m = yield* out.store.put(missingLayer)
        const e1 = yield* storageError(out.commit([{ descriptor: { mediaType: OCI_MANIFEST, ...m } }]))
        assert.strictEqual(e1.reason, "NotFound")
        assert.strictEqual(e1.digest, digestOf(json({})))
        yield* out.store.put(json({}))
        const e2 = yield* storageError(
          out.commit([{ descriptor: { mediaType: OCI_MANIFEST, digest: m.digest, size: m.size + 1 } }]),
        )
        assert.strictEqual(e2.reason, "SizeMismatch")
        const notJson = yield* out.store.put(json("not a manifest"))
        const e3 = yield* storageError(out.commit([{ descriptor: { mediaType: OCI_MANIFEST, ...notJson } }]))
        assert.strictEqual(e3.reason, "BadDocument")
        const scope = yield* Scope.make()
        const w = yield* Scope.provide(out.store.writer(), scope)
        yield* w.write(noise(10, 1))
        assert.strictEqual((yield* storageError(out.commit([]))).reason, "Io")
        yield* Scope.close(scope, Exit.void)
        assert.isFalse(existsSync(dir))
        // after the failures, a good commit still works
        yield* out.commit([{ descriptor: { mediaType: OCI_MANIFEST, ...m }, ref: "ok" }])
        assert.isTrue(existsSync(join(dir, "index.json")))
      }),
    ),
  )

  it.effect("interrupted runs leave nothing: new dir, and an existing layout stays byte for byte", () =>
    run(
      Effect.gen(function* () {
        const root = tmpDir()
        const fresh = join(root, "p", "fresh")
        const existing = join(root, "existing")
        yield* Effect.scoped(
          Effect.gen(function* () {
            const out = yield* openOciLayoutOutput(existing)
            const w = yield* putImage(out.store, 5, 1000)
            yield* out.commit([{ descriptor: w.manifest, ref: "keep" }])
          }),
        )
        const before = snapshot(existing)
        for (const dir of [fresh, join(root, "fresh-here"), existing]) {
          const ready = yield* Deferred.make<void>()
          const fiber = yield* Effect.forkChild(
            Effect.scoped(
              Effect.gen(function* () {
                const out: ImageOutput = yield* openOciLayoutOutput(dir)
                const w = yield* putImage(out.store, 6, 2_000_000)
                const writer = yield* out.store.writer()
                yield* writer.write(noise(100_000, 3))
                yield* Deferred.succeed(ready, undefined)
                yield* Effect.never
                yield* out.commit([{ descriptor: w.manifest, ref: "keep" }])
              }),
            ),
          )
          yield* Deferred.await(ready)
          assert.isNotEmpty(tempsUnder(root), "temporary files while running")
          yield* Fiber.interrupt(fiber)
          assert.deepStrictEqual(tempsUnder(root), [])
        }
        assert.isFalse(existsSync(join(root, "p")), "created parents are removed")
        assert.deepStrictEqual(readdirSync(root), ["existing"])
        // the existing layout's files are unchanged; only new content-addressed blobs were added
        const after = snapshot(existing)
        for (const [p, b] of before) assert.strictEqual(after.get(p), b, p)
        for (const p of after.keys()) if (!before.has(p)) assert.match(p, /^blobs\/sha256\/[a-f0-9]{64}$/)
      }),
    ),
  )
})

describe("oci-archive: output", () => {
  const writeArchive = (file: string, seed: number, ref = "latest") =>
    Effect.scoped(
      Effect.gen(function* () {
        const out = yield* openOciArchiveOutput(file)
        const w = yield* putImage(out.store, seed)
        yield* out.commit([{ descriptor: w.manifest, ref }])
        return w
      }),
    )

  it.effect("writes a deterministic tar that oci's openArchive reads back", () =>
    run(
      Effect.gen(function* () {
        const root = tmpDir()
        const file = join(root, "out", "image.tar")
        const w = yield* writeArchive(file, 7)
        assert.deepStrictEqual(readdirSync(root, { recursive: true }).sort(), ["out", "out/image.tar"])
        const reader = yield* fileRangeReader(file)
        const image = yield* openArchive(reader, { ref: "latest" })
        assert.strictEqual(image.manifestDescriptor?.digest, w.manifest.digest)
        const src = yield* tarSource(reader)
        for (const l of image.layers) yield* verifyBlob(src, l.descriptor)
        assert.deepStrictEqual([...(yield* src.list())].sort(), [
          ...[w.config, w.manifest, ...w.layers].map((d) => `blobs/sha256/${d.digest.slice(7)}`).sort(),
          "index.json",
          "oci-layout",
        ])
        // the same image written again is the same archive, byte for byte
        const again = join(root, "again.tar")
        yield* writeArchive(again, 7)
        assert.isTrue(readFileSync(file).equals(readFileSync(again)))
      }),
    ),
  )

  it.effect.skipIf(!requireTool("gnu-tar"))("tar -tvf: sorted names, mtime 0, root owner, 0644/0755", () =>
    run(
      Effect.gen(function* () {
        const file = join(tmpDir(), "image.tar")
        const w = yield* writeArchive(file, 8)
        const listing = execFileSync("tar", ["--numeric-owner", "--utc", "-tvf", file], { encoding: "utf8" })
          .trim()
          .split("\n")
          .map((l) => l.split(/\s+/))
        const names = listing.map((f) => f[5])
        assert.deepStrictEqual(names, [
          "blobs/",
          "blobs/sha256/",
          ...[w.config, w.manifest, ...w.layers].map((d) => `blobs/sha256/${d.digest.slice(7)}`).sort(),
          "index.json",
          "oci-layout",
        ])
        for (const f of listing) {
          assert.strictEqual(f[1], "0/0", f.join(" "))
          assert.strictEqual(f[3], "1970-01-01", f.join(" "))
          assert.strictEqual(f[4], "00:00", f.join(" "))
          assert.strictEqual(f[0], f[5]!.endsWith("/") ? "drwxr-xr-x" : "-rw-r--r--", f.join(" "))
        }
      }),
    ),
  )

  it.effect.skipIf(!requireTool("skopeo"))("skopeo inspects and copies the archive", () =>
    run(
      Effect.gen(function* () {
        const root = tmpDir()
        const file = join(root, "image.tar")
        const w = yield* writeArchive(file, 9, "v9")
        const inspect = yield* Effect.promise(() =>
          runCommand("skopeo", ["--insecure-policy", "inspect", `oci-archive:${file}:v9`]),
        )
        assert.strictEqual(inspect.code, 0, inspect.stderr)
        const info = JSON.parse(inspect.stdout.toString("utf8"))
        assert.strictEqual(info.Digest, w.manifest.digest)
        assert.deepStrictEqual(
          info.Layers,
          w.layers.map((l) => l.digest),
        )
        assert.include(info.Env, "SEED=9")
        const out = join(root, "copied")
        const copy = yield* Effect.promise(() =>
          runCommand("skopeo", ["--insecure-policy", "copy", `oci-archive:${file}`, `dir:${out}`]),
        )
        assert.strictEqual(copy.code, 0, copy.stderr)
        for (const d of [w.config, ...w.layers]) {
          const blob = readFileSync(join(out, d.digest.slice(7)))
          assert.strictEqual(digestOf(blob), d.digest)
        }
        assert.strictEqual(digestOf(readFileSync(join(out, "manifest.json"))), w.manifest.digest)
      }),
    ),
  )

  it.effect("an existing FILE is replaced on commit and untouched by an interrupted or failed run", () =>
    run(
      Effect.gen(function* () {
        const root = tmpDir()
        const file = join(root, "image.tar")
        writeFileSync(file, "previous contents")
        const ready = yield* Deferred.make<void>()
        const fiber = yield* Effect.forkChild(
          Effect.scoped(
            Effect.gen(function* () {
              const out = yield* openOciArchiveOutput(file)
              yield* putImage(out.store, 11, 1000)
              yield* Deferred.succeed(ready, undefined)
              yield* Effect.never
            }),
          ),
        )
        yield* Deferred.await(ready)
        assert.isNotEmpty(tempsUnder(root))
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(readdirSync(root), ["image.tar"])
        assert.strictEqual(readFileSync(file, "utf8"), "previous contents")
        const failed = yield* Effect.exit(
          Effect.scoped(
            Effect.gen(function* () {
              const out = yield* openOciArchiveOutput(file)
              const w = yield* putImage(out.store, 12, 1000)
              const broken = { ...w.manifest, size: w.manifest.size + 5 }
              return yield* out.commit([{ descriptor: broken, ref: "x" }])
            }),
          ),
        )
        assert.isTrue(Exit.isFailure(failed))
        assert.deepStrictEqual(readdirSync(root), ["image.tar"])
        assert.strictEqual(readFileSync(file, "utf8"), "previous contents")
        yield* writeArchive(file, 12)
        assert.deepStrictEqual(readdirSync(root), ["image.tar"])
        const image = yield* openArchive(yield* fileRangeReader(file))
        assert.strictEqual(image.layers.length, 2)
      }),
    ),
  )

  it.effect("a directory at FILE fails with Exists", () =>
    run(
      Effect.gen(function* () {
        const root = tmpDir()
        assert.strictEqual((yield* storageError(openOciArchiveOutput(root))).reason, "Exists")
        assert.deepStrictEqual(readdirSync(root), [])
      }),
    ),
  )
})

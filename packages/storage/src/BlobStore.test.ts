import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { NodeEngine } from "@lazypull/engine-node"
import { fromBytes } from "@lazypull/range"
import { tmpDir } from "@lazypull/testkit"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import fc from "fast-check"
import { copyBlob, copyFromReader, sha256Hex } from "./BlobStore.ts"
import { blobStoreSuite, digestOf, type HarnessServices, noise, storageError } from "./BlobStore.suite.ts"
import { openLayoutStore } from "./LayoutStore.ts"
import { makeMemoryStore } from "./MemoryStore.ts"

const layer = Layer.mergeAll(NodeFileSystem.layer, NodeEngine.layerSha256)

blobStoreSuite(
  "memory",
  Effect.map(makeMemoryStore("suite"), (store) => ({
    store,
    onDisk: false,
    // the memory store's readers are views of the stored bytes: flipping one corrupts the blob
    corrupt: (digest: string) =>
      Effect.orDie(
        Effect.scoped(
          Effect.flatMap(store.reader(digest), (r) =>
            Effect.map(r.readAt(0, 1), (v) => {
              v[0] = v[0]! ^ 0xff
            }),
          ),
        ),
      ),
    leftovers: () => Effect.succeed([]),
  })),
  layer,
)

blobStoreSuite(
  "OCI layout directory",
  Effect.gen(function* () {
    const dir = join(tmpDir(), "layout")
    const store = yield* openLayoutStore(dir)
    const blobDir = join(dir, "blobs", "sha256")
    return {
      store,
      onDisk: true,
      corrupt: (digest: string) =>
        Effect.sync(() => {
          const p = join(blobDir, digest.slice(7))
          const b = readFileSync(p)
          b[b.length >> 1] = b[b.length >> 1]! ^ 0x01
          writeFileSync(p, b)
        }),
      leftovers: () =>
        Effect.sync(() => [
          ...readdirSync(blobDir).filter((n) => !/^[a-f0-9]{64}$/.test(n)),
          ...readdirSync(dir).filter((n) => n !== "blobs"),
        ]),
    }
  }),
  layer,
)

describe("layout store specifics", () => {
  it.effect("blobs land at blobs/sha256/<hex>; a second store on the same directory sees them", () =>
    Effect.gen(function* () {
      const dir = join(tmpDir(), "l")
      const a = yield* openLayoutStore(dir)
      const b = noise(1234, 4)
      const { digest } = yield* a.put(b)
      assert.isTrue(readFileSync(join(dir, "blobs", "sha256", digest.slice(7))).equals(Buffer.from(b)))
      writeFileSync(join(dir, "blobs", "sha256", "README"), "not a blob")
      const again = yield* openLayoutStore(dir)
      assert.deepStrictEqual(yield* again.list(), [digest])
      assert.strictEqual(yield* again.stat(digest), 1234)
    }).pipe(Effect.provide(layer)),
  )

  it.effect("a directory path that is a file fails with a typed error", () =>
    Effect.gen(function* () {
      const file = join(tmpDir(), "f")
      writeFileSync(file, "x")
      const e = yield* storageError(openLayoutStore(file))
      assert.include(["Io", "Exists", "NotFound"], e.reason)
    }).pipe(Effect.provide(layer)),
  )

  it.effect("a truncated blob file: the reader reports ShortRead, get DigestMismatch", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = join(tmpDir(), "t")
        const store = yield* openLayoutStore(dir)
        const b = noise(10_000, 8)
        const { digest } = yield* store.put(b)
        const r = yield* store.reader(digest)
        writeFileSync(join(dir, "blobs", "sha256", digest.slice(7)), b.subarray(0, 5000))
        assert.strictEqual((yield* Effect.flip(r.readAt(4000, 2000))).reason, "ShortRead")
        assert.strictEqual((yield* storageError(store.get(digest))).reason, "DigestMismatch")
      }),
    ).pipe(Effect.provide(layer)),
  )
})

describe("copying", () => {
  it.effect("copyFromReader streams and verifies; copyBlob skips what is there", () =>
    Effect.gen(function* () {
      const mem = yield* makeMemoryStore()
      const disk = yield* openLayoutStore(join(tmpDir(), "c"))
      const b = noise(2_300_000, 12)
      const info = yield* copyFromReader(mem, fromBytes(b), { digest: digestOf(b), size: b.length })
      assert.deepStrictEqual(info, { digest: digestOf(b), size: b.length })
      const wrong = yield* storageError(copyFromReader(disk, fromBytes(b), { digest: digestOf(noise(5, 1)) }))
      assert.strictEqual(wrong.reason, "DigestMismatch")
      assert.deepStrictEqual(yield* disk.list(), [])
      assert.deepStrictEqual(yield* copyBlob(mem, disk, info.digest), info)
      assert.deepStrictEqual(yield* copyBlob(mem, disk, info.digest), info)
      assert.deepStrictEqual(yield* disk.list(), [info.digest])
      assert.strictEqual((yield* storageError(copyBlob(mem, disk, digestOf(noise(9, 9))))).reason, "NotFound")
      assert.strictEqual(yield* sha256Hex("x", info.digest), info.digest.slice(7))
    }).pipe(Effect.provide(layer)),
  )

  it.effect("property: random blob sets copied memory -> layout -> memory come back the same", () =>
    Effect.gen(function* () {
      const services = yield* Effect.context<HarnessServices>()
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.uniqueArray(fc.uint8Array({ maxLength: 5000 }), {
              maxLength: 8,
              selector: (b) => digestOf(b),
            }),
            (blobs) =>
              Effect.runPromise(
                Effect.gen(function* () {
                  const a = yield* makeMemoryStore("a")
                  const disk = yield* openLayoutStore(join(tmpDir(), "p"))
                  const c = yield* makeMemoryStore("c")
                  for (const b of blobs) yield* a.put(b)
                  for (const d of yield* a.list()) yield* copyBlob(a, disk, d)
                  for (const d of yield* disk.list()) yield* copyBlob(disk, c, d)
                  const want = blobs.map(digestOf).sort()
                  assert.deepStrictEqual(yield* disk.list(), want)
                  assert.deepStrictEqual(yield* c.list(), want)
                  for (const b of blobs)
                    assert.isTrue(Buffer.from(yield* c.get(digestOf(b))).equals(Buffer.from(b)))
                }).pipe(Effect.provideContext(services)),
              ),
          ),
          { numRuns: 20 },
        ),
      )
    }).pipe(Effect.provide(layer)),
  )
})

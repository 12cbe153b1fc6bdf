import { noise } from "@lazypull/testkit"
import { createHash } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as FileSystem from "effect/FileSystem"
import type * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type { Sha256 } from "@lazypull/codec"
import fc from "fast-check"
import type { BlobStore } from "./BlobStore.ts"
import { StorageError } from "./StorageError.ts"

/** A backend under test, plus the hooks the suite needs to look behind its back. */
export interface BlobStoreHarness {
  readonly store: BlobStore
  /** Changes one byte of a stored blob without going through the store. */
  readonly corrupt: (digest: string) => Effect.Effect<void>
  /** Whatever the backend keeps besides committed blobs (temporary files); must be empty when idle. */
  readonly leftovers: () => Effect.Effect<ReadonlyArray<string>>
  /** Whether writers stage bytes in files (so leftovers must show one while a writer is open). */
  readonly onDisk: boolean
}

/** The services a harness may use. */
export type HarnessServices = Sha256 | FileSystem.FileSystem

/** `sha256:<hex>` computed with node:crypto, independently of the stores. */
export const digestOf = (b: Uint8Array): string => `sha256:${createHash("sha256").update(b).digest("hex")}`

/** Deterministic pseudo-random bytes (from @lazypull/testkit). */
export { noise }

const text = (s: string) => new TextEncoder().encode(s)

/** Runs an effect expecting a StorageError and returns it (fails the test on success). */
export const storageError = <A, R>(
  effect: Effect.Effect<A, StorageError, R>,
): Effect.Effect<StorageError, never, R> =>
  Effect.map(Effect.orDie(Effect.flip(effect)), (e) => {
    assert.instanceOf(e, StorageError)
    return e
  })

const sameBytes = (a: Uint8Array, b: Uint8Array) => {
  assert.strictEqual(a.length, b.length)
  assert.isTrue(Buffer.from(a).equals(Buffer.from(b)), "bytes differ")
}

/**
 * The BlobStore conformance suite: every backend runs it with a fresh harness per test.
 *
 * @example
 * blobStoreSuite("memory", Effect.map(makeMemoryStore(), (store) => ({ store, ... })), layer)
 */
export const blobStoreSuite = (
  name: string,
  make: Effect.Effect<BlobStoreHarness, unknown, HarnessServices | Scope.Scope>,
  layer: Layer.Layer<HarnessServices>,
): void => {
  const test = (
    title: string,
    body: (h: BlobStoreHarness) => Effect.Effect<void, unknown, HarnessServices | Scope.Scope>,
  ) => it.effect(title, () => Effect.flatMap(make, body).pipe(Effect.provide(layer)))

  describe(`BlobStore conformance: ${name}`, () => {
    test("put / get / stat / list, idempotent put, empty blob", ({ store }) =>
      Effect.gen(function* () {
        const blobs = [text("hello"), new Uint8Array(0), noise(300_000, 7)]
        for (const b of blobs) {
          const info = yield* store.put(b)
          assert.deepStrictEqual(info, { digest: digestOf(b), size: b.length })
        }
        for (const b of blobs) {
          sameBytes(yield* store.get(digestOf(b)), b)
          assert.strictEqual(yield* store.stat(digestOf(b)), b.length)
        }
        assert.deepStrictEqual(yield* store.put(blobs[0]!), { digest: digestOf(blobs[0]!), size: 5 })
        assert.deepStrictEqual(yield* store.list(), blobs.map(digestOf).sort())
      }))

    test("put copies its input", ({ store }) =>
      Effect.gen(function* () {
        const b = text("mutable")
        const { digest } = yield* store.put(b)
        b[0] = 0
        sameBytes(yield* store.get(digest), text("mutable"))
      }))

    test("a streaming writer hashes as it writes and commits under the digest", ({ store }) =>
      Effect.scoped(
        Effect.gen(function* () {
          const whole = noise(2_500_000, 3)
          const w = yield* store.writer()
          const chunk = new Uint8Array(65_536)
          for (let off = 0; off < whole.length; off += chunk.length) {
            const n = Math.min(chunk.length, whole.length - off)
            // the same buffer is reused for every chunk: the writer must not keep it
            chunk.set(whole.subarray(off, off + n))
            yield* w.write(chunk.subarray(0, n))
          }
          assert.strictEqual(w.bytesWritten, whole.length)
          assert.strictEqual(yield* store.stat(digestOf(whole)), undefined, "visible before commit")
          const info = yield* w.commit({ digest: digestOf(whole), size: whole.length })
          assert.deepStrictEqual(info, { digest: digestOf(whole), size: whole.length })
          const r = yield* store.reader(info.digest)
          assert.strictEqual(r.size, whole.length)
          sameBytes(yield* r.readAt(1_000_000, 70_000), whole.subarray(1_000_000, 1_070_000))
          assert.strictEqual((yield* storageError(w.write(text("late")))).reason, "Closed")
          assert.strictEqual((yield* storageError(w.commit())).reason, "Closed")
        }),
      ))

    test("commit checks the expected size and digest with typed errors, keeping nothing", (h) =>
      Effect.scoped(
        Effect.gen(function* () {
          const { store } = h
          const b = text("expected")
          const cases: ReadonlyArray<readonly [{ digest?: string; size?: number }, string]> = [
            [{ size: b.length + 1 }, "SizeMismatch"],
            [{ digest: digestOf(text("other")) }, "DigestMismatch"],
            [{ digest: digestOf(b), size: 3 }, "SizeMismatch"],
            [{ digest: "sha256:XYZ" }, "BadDigest"],
            [{ digest: `sha512:${"a".repeat(128)}` }, "BadDigest"],
          ]
          for (const [expected, reason] of cases) {
            const w = yield* store.writer()
            yield* w.write(b)
            const e = yield* storageError(w.commit(expected))
            assert.strictEqual(e.reason, reason, JSON.stringify(expected))
            assert.strictEqual((yield* storageError(w.write(b))).reason, "Closed")
          }
          assert.deepStrictEqual(yield* store.list(), [])
          assert.deepStrictEqual(yield* h.leftovers(), [])
          const w = yield* store.writer()
          yield* w.write(b)
          assert.deepStrictEqual(yield* w.commit({ digest: digestOf(b), size: b.length }), {
            digest: digestOf(b),
            size: b.length,
          })
        }),
      ))

    test("abort, and a scope closed without commit, leave nothing behind", (h) =>
      Effect.gen(function* () {
        const { store } = h
        yield* Effect.scoped(
          Effect.gen(function* () {
            const w = yield* store.writer()
            yield* w.write(noise(10_000, 1))
            yield* w.abort()
            yield* w.abort()
            assert.strictEqual((yield* storageError(w.write(text("x")))).reason, "Closed")
            assert.strictEqual((yield* storageError(w.commit())).reason, "Closed")
          }),
        )
        const scope = yield* Scope.make()
        const w = yield* Scope.provide(store.writer(), scope)
        yield* w.write(noise(10_000, 2))
        if (h.onDisk) assert.strictEqual((yield* h.leftovers()).length, 1, "a temporary file while writing")
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(yield* store.list(), [])
        assert.deepStrictEqual(yield* h.leftovers(), [])
        // a failure inside the scope aborts too
        const failed = yield* Effect.exit(
          Effect.scoped(
            Effect.gen(function* () {
              const w2 = yield* store.writer()
              yield* w2.write(noise(5_000, 3))
              return yield* Effect.fail("boom")
            }),
          ),
        )
        assert.isTrue(Exit.isFailure(failed))
        assert.deepStrictEqual(yield* store.list(), [])
        assert.deepStrictEqual(yield* h.leftovers(), [])
      }))

    test("writers run side by side; committing an existing blob again is idempotent", ({ store }) =>
      Effect.scoped(
        Effect.gen(function* () {
          const a = noise(100_000, 10)
          const b = noise(100_000, 11)
          const wa = yield* store.writer()
          const wb = yield* store.writer()
          const wc = yield* store.writer()
          for (let off = 0; off < a.length; off += 10_000) {
            yield* wa.write(a.subarray(off, off + 10_000))
            yield* wb.write(b.subarray(off, off + 10_000))
            yield* wc.write(a.subarray(off, off + 10_000))
          }
          const [ia, ib] = yield* Effect.all([wa.commit(), wb.commit()], { concurrency: 2 })
          assert.strictEqual(ia.digest, digestOf(a))
          assert.strictEqual(ib.digest, digestOf(b))
          assert.deepStrictEqual(yield* wc.commit({ digest: digestOf(a) }), ia)
          assert.deepStrictEqual(yield* store.list(), [digestOf(a), digestOf(b)].sort())
          sameBytes(yield* store.get(digestOf(a)), a)
        }),
      ))

    test("reader: exact ranges, bounds checked, concurrent reads", ({ store }) =>
      Effect.scoped(
        Effect.gen(function* () {
          const b = noise(50_000, 5)
          const { digest } = yield* store.put(b)
          const r = yield* store.reader(digest)
          assert.strictEqual(r.size, b.length)
          sameBytes(yield* r.readAt(0, 0), new Uint8Array(0))
          sameBytes(yield* r.readAt(b.length - 1, 1), b.subarray(b.length - 1))
          const offsets = [0, 7_000, 13_001, 40_000]
          const pieces = yield* Effect.forEach(offsets, (off) => r.readAt(off, 9_999), { concurrency: 4 })
          for (let i = 0; i < offsets.length; i++) {
            sameBytes(pieces[i]!, b.subarray(offsets[i]!, offsets[i]! + 9_999))
          }
          if (r.readInto !== undefined) {
            const into = new Uint8Array(100)
            yield* r.readInto(49_900, into)
            sameBytes(into, b.subarray(49_900))
          }
          for (const [off, len] of [
            [b.length, 1],
            [b.length - 10, 11],
            [-1, 2],
            [0, -1],
            [0.5, 1],
          ] as const) {
            const e = yield* Effect.flip(r.readAt(off, len))
            assert.strictEqual(e.reason, "OutOfBounds", `${off}+${len}`)
          }
        }),
      ))

    test("missing blobs and malformed digests fail with NotFound and BadDigest", ({ store }) =>
      Effect.scoped(
        Effect.gen(function* () {
          const missing = digestOf(text("never stored"))
          assert.strictEqual(yield* store.stat(missing), undefined)
          assert.strictEqual((yield* storageError(store.get(missing))).reason, "NotFound")
          const e = yield* storageError(store.reader(missing))
          assert.strictEqual(e.reason, "NotFound")
          for (const bad of [
            "sha256:../../../etc/passwd",
            `sha256:${"A".repeat(64)}`,
            `sha512:${"a".repeat(128)}`,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "",
          ]) {
            assert.strictEqual((yield* storageError(store.stat(bad))).reason, "BadDigest", bad)
            assert.strictEqual((yield* storageError(store.get(bad))).reason, "BadDigest", bad)
            assert.strictEqual((yield* storageError(store.reader(bad))).reason, "BadDigest", bad)
          }
        }),
      ))

    test("get catches a blob corrupted behind the store's back", (h) =>
      Effect.gen(function* () {
        const b = noise(4096, 9)
        const { digest } = yield* h.store.put(b)
        yield* h.corrupt(digest)
        const e = yield* storageError(h.store.get(digest))
        assert.strictEqual(e.reason, "DigestMismatch")
        assert.strictEqual(e.digest, digest)
      }))

    test("property: random blob sets round-trip (put and streamed writes)", ({ store }) =>
      Effect.gen(function* () {
        const services = yield* Effect.context<HarnessServices>()
        const expected = new Map<string, Uint8Array>()
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(
              fc.array(
                fc.record({
                  bytes: fc.uint8Array({ maxLength: 3000 }),
                  chunk: fc.integer({ min: 1, max: 1000 }),
                  streamed: fc.boolean(),
                }),
                { maxLength: 6 },
              ),
              (blobs) =>
                Effect.runPromise(
                  Effect.gen(function* () {
                    for (const { bytes, chunk, streamed } of blobs) {
                      const info = streamed
                        ? yield* Effect.scoped(
                            Effect.gen(function* () {
                              const w = yield* store.writer()
                              for (let off = 0; off < bytes.length; off += chunk)
                                yield* w.write(bytes.subarray(off, off + chunk))
                              return yield* w.commit({ size: bytes.length })
                            }),
                          )
                        : yield* store.put(bytes)
                      assert.strictEqual(info.digest, digestOf(bytes))
                      expected.set(info.digest, bytes.slice())
                    }
                    assert.deepStrictEqual(yield* store.list(), [...expected.keys()].sort())
                    for (const [digest, bytes] of expected) {
                      sameBytes(yield* store.get(digest), bytes)
                      const got = yield* Effect.scoped(
                        Effect.flatMap(store.reader(digest), (r) => r.readAt(0, r.size)),
                      )
                      sameBytes(got, bytes)
                    }
                  }).pipe(Effect.provideContext(services)),
                ),
            ),
            { numRuns: 25 },
          ),
        )
      }))
  })
}

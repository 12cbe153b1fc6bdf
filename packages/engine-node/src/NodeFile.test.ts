import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { assertBytesEqual, concatBytes, randomBytes } from "@lazypull/codec/testing"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope, Stream } from "effect"
import { atomicFileSink, fileRangeReader, fileStream } from "./NodeFile.ts"

const dirs: Array<string> = []
const tempDir = () => {
  const d = fs.mkdtempSync(nodePath.join(os.tmpdir(), "lazypull-nodefile-"))
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})
const withFile = (bytes: Uint8Array) => {
  const p = nodePath.join(tempDir(), "blob")
  fs.writeFileSync(p, bytes)
  return p
}

const reason = <A, E extends { readonly reason: string }, R>(e: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(e), (x) => x.reason)

describe("fileRangeReader", () => {
  it.effect("reads exact ranges, counts them and checks bounds", () =>
    Effect.gen(function* () {
      const data = randomBytes(300_000, 1)
      const r = yield* fileRangeReader(withFile(data))
      assert.strictEqual(r.size, data.length)
      assertBytesEqual(yield* r.readAt(0, 10), data.subarray(0, 10), "head")
      assertBytesEqual(yield* r.readAt(data.length - 51, 51), data.subarray(data.length - 51), "tail")
      assertBytesEqual(yield* r.readAt(1000, 250_000), data.subarray(1000, 251_000), "middle")
      assert.strictEqual((yield* r.readAt(5, 0)).length, 0)
      assert.deepStrictEqual(r.stats, { reads: 4, bytes: 10 + 51 + 250_000 })
      assert.strictEqual(yield* reason(r.readAt(data.length - 1, 2)), "OutOfBounds")
      assert.strictEqual(yield* reason(r.readAt(-1, 1)), "OutOfBounds")
      assert.strictEqual(yield* reason(r.readAt(0.5, 1)), "OutOfBounds")
      assert.strictEqual(r.stats.reads, 4)
    }),
  )

  it.effect("parallel reads return the right bytes", () =>
    Effect.gen(function* () {
      const data = randomBytes(1_000_000, 2)
      const r = yield* fileRangeReader(withFile(data))
      const offsets = Array.from({ length: 50 }, (_, i) => i * 19_001)
      const got = yield* Effect.forEach(offsets, (o) => r.readAt(o, 7000), { concurrency: 8 })
      for (const [i, g] of got.entries())
        assertBytesEqual(g, data.subarray(offsets[i]!, offsets[i]! + 7000), `read ${i}`)
    }),
  )

  it.effect("a file truncated after open gives ShortRead; a missing file gives Io", () =>
    Effect.gen(function* () {
      const path = withFile(randomBytes(10_000, 3))
      const r = yield* fileRangeReader(path)
      fs.truncateSync(path, 5000)
      assert.strictEqual(yield* reason(r.readAt(4000, 2000)), "ShortRead")
      assert.strictEqual(yield* reason(fileRangeReader(`${path}.missing`)), "Io")
    }),
  )

  it.effect("the file is closed when the scope closes", () =>
    Effect.gen(function* () {
      const path = withFile(randomBytes(100, 4))
      const scope = yield* Scope.make()
      const r = yield* fileRangeReader(path).pipe(Scope.provide(scope))
      yield* r.readAt(0, 100)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* reason(r.readAt(0, 100)), "Io")
    }),
  )
})

describe("fileStream", () => {
  it.effect("streams a file's bytes in chunks of the requested size", () =>
    Effect.gen(function* () {
      const data = randomBytes(3 * 1024 * 1024 + 12_345, 5)
      const path = withFile(data)
      for (const chunkSize of [1, 64 * 1024, 100_000, 1024 * 1024, 50 * 1024 * 1024, undefined]) {
        const chunks = yield* Stream.runCollect(
          fileStream(path, chunkSize === undefined ? {} : { chunkSize }),
        )
        assertBytesEqual(concatBytes(chunks), data, `chunkSize ${chunkSize}`)
        const expected = Math.min(1024 * 1024, Math.max(64 * 1024, chunkSize ?? 256 * 1024))
        assert.strictEqual(chunks[0]!.length, expected, `first chunk for ${chunkSize}`)
        assert.isTrue(
          chunks.every((c) => c.length <= expected && c.length > 0),
          "chunks within bounds",
        )
      }
    }),
  )

  it.effect("an empty file is an empty stream; a missing file fails NotFound", () =>
    Effect.gen(function* () {
      const chunks = yield* Stream.runCollect(fileStream(withFile(new Uint8Array(0))))
      assert.strictEqual(chunks.length, 0)
      const e = yield* Effect.flip(Stream.runCollect(fileStream(nodePath.join(tempDir(), "nope"))))
      assert.strictEqual(e.reason, "NotFound")
      assert.strictEqual(e.operation, "open")
    }),
  )

  it.effect("stops early without reading the rest (take)", () =>
    Effect.gen(function* () {
      const data = randomBytes(2 * 1024 * 1024, 6)
      const first = yield* Stream.runCollect(
        fileStream(withFile(data), { chunkSize: 65536 }).pipe(Stream.take(2)),
      )
      assertBytesEqual(concatBytes(first), data.subarray(0, 131072), "first two chunks")
    }),
  )
})

const listDir = (dir: string) => fs.readdirSync(dir).sort()

describe("atomicFileSink", () => {
  it.effect("commit makes the file appear with all bytes and leaves no temporary file", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const path = nodePath.join(dir, "out.bin")
      const parts = [randomBytes(100_000, 7), randomBytes(1, 8), new Uint8Array(0), randomBytes(3_000_000, 9)]
      yield* Effect.scoped(
        Effect.gen(function* () {
          const sink = yield* atomicFileSink(path)
          assert.isTrue(sink.tempPath.startsWith(`${path}.lazypull-tmp-`))
          for (const p of parts) yield* sink.write(p)
          assert.isFalse(fs.existsSync(path), "nothing at the path before commit")
          assert.strictEqual(sink.bytesWritten, 3_100_001)
          yield* sink.commit()
          assert.strictEqual(yield* reason(sink.write(parts[0]!)), "Closed")
          assert.strictEqual(yield* reason(sink.commit()), "Closed")
        }),
      )
      assertBytesEqual(new Uint8Array(fs.readFileSync(path)), concatBytes(parts), "committed file")
      assert.deepStrictEqual(listDir(dir), ["out.bin"])
    }),
  )

  it.effect("concurrent writes land in call order", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const path = nodePath.join(dir, "out.bin")
      const parts = Array.from({ length: 40 }, (_, i) => randomBytes(10_000 + i * 977, 100 + i))
      yield* Effect.scoped(
        Effect.gen(function* () {
          const sink = yield* atomicFileSink(path)
          yield* Effect.forEach(parts, (p) => sink.write(p), { concurrency: 8 })
          yield* sink.commit()
        }),
      )
      assertBytesEqual(new Uint8Array(fs.readFileSync(path)), concatBytes(parts), "file")
    }),
  )

  it.effect("closing the scope without commit (or after a failure) deletes the temporary file", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const path = nodePath.join(dir, "out.bin")
      fs.writeFileSync(path, "previous")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const sink = yield* atomicFileSink(path)
          yield* sink.write(randomBytes(1000, 10))
          assert.deepStrictEqual(listDir(dir), ["out.bin", nodePath.basename(sink.tempPath)].sort())
        }),
      )
      assert.deepStrictEqual(listDir(dir), ["out.bin"])
      const failed = yield* Effect.exit(
        Effect.scoped(
          Effect.gen(function* () {
            const sink = yield* atomicFileSink(path)
            yield* sink.write(randomBytes(1000, 11))
            return yield* Effect.fail("writer failed" as const)
          }),
        ),
      )
      assert.isTrue(Exit.isFailure(failed))
      assert.deepStrictEqual(listDir(dir), ["out.bin"])
      assert.strictEqual(fs.readFileSync(path, "utf8"), "previous", "the old file is untouched")
    }),
  )

  it.effect("abort deletes the temporary file and closes the sink; commit replaces an existing file", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const path = nodePath.join(dir, "out.bin")
      fs.writeFileSync(path, "previous")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const sink = yield* atomicFileSink(path)
          yield* sink.write(Uint8Array.of(1, 2, 3))
          yield* sink.abort()
          yield* sink.abort()
          assert.deepStrictEqual(listDir(dir), ["out.bin"])
          assert.strictEqual(yield* reason(sink.write(Uint8Array.of(4))), "Closed")
          assert.strictEqual(yield* reason(sink.commit()), "Closed")
        }),
      )
      assert.strictEqual(fs.readFileSync(path, "utf8"), "previous")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const sink = yield* atomicFileSink(path)
          yield* sink.write(new TextEncoder().encode("next"))
          yield* sink.commit()
          yield* sink.abort()
        }),
      )
      assert.strictEqual(fs.readFileSync(path, "utf8"), "next", "abort after commit is a no-op")
    }),
  )

  it.effect("a missing directory fails NotFound", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        Effect.scoped(atomicFileSink(nodePath.join(tempDir(), "no", "such", "file"))),
      )
      assert.strictEqual(e.reason, "NotFound")
    }),
  )
})

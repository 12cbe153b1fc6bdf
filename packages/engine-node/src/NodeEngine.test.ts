import { spawnSync } from "node:child_process"
import * as zlib from "node:zlib"
import { GzipEngine } from "@lazypull/codec"
import {
  assertBytesEqual,
  compressibleBytes,
  concatBytes,
  gzipEngineSuite,
  inflateInPieces,
  randomBytes,
  sha256Suite,
} from "@lazypull/codec/testing"
import { PortableGzip } from "@lazypull/engine-portable"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { NodeEngine, NodeGzip } from "./index.ts"

gzipEngineSuite("node:zlib", NodeEngine.layerGzip)
sha256Suite("node:crypto", NodeEngine.layerSha256)

const node = NodeGzip.make()
const fflate = PortableGzip.make()
const samples = [
  new Uint8Array(0),
  Uint8Array.of(42),
  randomBytes(100_000, 3),
  compressibleBytes(1_500_000, 4),
]

describe("node:zlib and fflate interoperate", () => {
  for (const [from, to] of [
    [node, fflate],
    [fflate, node],
  ] as const) {
    it.effect(`members made by ${from.name} decode with ${to.name}`, () =>
      Effect.gen(function* () {
        for (const level of [0, 1, 6, 9]) {
          const members: Array<Uint8Array> = []
          for (const data of samples) {
            const m = yield* from.compress(data, level)
            members.push(m)
            assertBytesEqual(yield* to.decompress(m), data, `level ${level}, ${data.length} bytes`)
          }
          const all = concatBytes(members)
          assertBytesEqual(yield* inflateInPieces(to, all, [9999, 1, 77]), concatBytes(samples), "stream")
        }
      }),
    )
  }

  it.effect("a stream mixing both engines' members decodes with both", () =>
    Effect.gen(function* () {
      const parts = [compressibleBytes(300_000, 5), randomBytes(5000, 6), compressibleBytes(70_000, 7)]
      const stream = concatBytes([
        yield* node.compress(parts[0]!, 9),
        yield* fflate.compress(parts[1]!, 9),
        yield* node.compress(parts[2]!, 1),
      ])
      const expected = concatBytes(parts)
      assertBytesEqual(yield* node.decompress(stream), expected, "node:zlib")
      assertBytesEqual(yield* fflate.decompress(stream), expected, "fflate")
    }),
  )
})

const gzipTool = spawnSync("gzip", ["--version"]).status === 0

describe("members pass the gzip tool", () => {
  it.runIf(gzipTool)("gzip -t accepts both engines' members and gzip -dc restores the data", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const data = compressibleBytes(400_000, 8)
        for (const engine of [node, fflate]) {
          const blob = concatBytes([yield* engine.compress(data, 9), yield* engine.compress(data, 1)])
          const test = spawnSync("gzip", ["-t"], { input: blob })
          assert.strictEqual(test.status, 0, `${engine.name}: gzip -t: ${test.stderr}`)
          const out = spawnSync("gzip", ["-dc"], { input: blob, maxBuffer: 16 * 1024 * 1024 })
          assert.strictEqual(out.status, 0)
          assertBytesEqual(new Uint8Array(out.stdout), concatBytes([data, data]), `${engine.name}: gzip -dc`)
        }
      }),
    ),
  )
})

describe("node:zlib engine", () => {
  it.effect("compress writes what zlib.gzipSync writes (same level, MTIME 0)", () =>
    Effect.gen(function* () {
      const data = compressibleBytes(200_000, 9)
      for (const level of [1, 6, 9]) {
        const ours = yield* node.compress(data, level)
        assertBytesEqual(ours, new Uint8Array(zlib.gzipSync(data, { level })), `level ${level}`)
      }
    }),
  )

  it.effect("concurrent compressions give the same members as sequential ones", () =>
    Effect.gen(function* () {
      const pieces = Array.from({ length: 6 }, (_, i) => compressibleBytes(1024 * 1024, 100 + i))
      const sequential = yield* Effect.forEach(pieces, (p) => node.compress(p, 6))
      const parallel = yield* Effect.forEach(pieces, (p) => node.compress(p, 6), { concurrency: 4 })
      for (const [i, m] of parallel.entries()) assertBytesEqual(m, sequential[i]!, `piece ${i}`)
    }),
  )

  it.effect("decompress results are plain Uint8Arrays (slice copies)", () =>
    Effect.gen(function* () {
      const out = yield* node.decompress(yield* node.compress(Uint8Array.of(1, 2, 3), 6))
      assert.strictEqual(Object.getPrototypeOf(out), Uint8Array.prototype)
      const m = yield* GzipEngine.use((g) => g.compress(Uint8Array.of(1), 1)).pipe(
        Effect.provide(NodeEngine.layer),
      )
      assert.strictEqual(Object.getPrototypeOf(m), Uint8Array.prototype)
    }),
  )
})

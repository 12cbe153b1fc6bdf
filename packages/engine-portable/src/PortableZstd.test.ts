import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import {
  assertBytesEqual,
  compressibleBytes,
  concatBytes,
  randomBytes,
  skippableFrame,
  zstdEngineSuite,
  zstdFrameProblems,
  zstdInflateInPieces,
} from "@lazypull/codec/testing"
import { describeWithTool } from "@lazypull/testkit"
import { Effect } from "effect"
import * as fc from "fast-check"
import { PortableZstd, PortableZstdFrames } from "./index.ts"

zstdEngineSuite("zstd-wasm (portable)", PortableZstd.layer)

const z = PortableZstd.make()

/**
 * Runs the zstd CLI on `input` (through a file, so that compressed frames record the content size,
 * unless `stdin`); returns stdout, failing the test on a non-zero exit.
 */
const zstdCli = (args: ReadonlyArray<string>, input: Uint8Array, stdin = false): Uint8Array => {
  const dir = mkdtempSync(join(tmpdir(), "lazypull-zstd-"))
  try {
    const file = join(dir, "in")
    if (!stdin) writeFileSync(file, input)
    const r = spawnSync("zstd", ["-q", ...args, ...(stdin ? [] : [file])], {
      ...(stdin ? { input } : {}),
      maxBuffer: 256 * 1024 * 1024,
    })
    assert.strictEqual(r.status, 0, `zstd ${args.join(" ")}: ${r.stderr}`)
    return new Uint8Array(r.stdout)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describeWithTool("zstd", "PortableZstd and the zstd CLI", () => {
  it.effect("zstd -t accepts our frames (with skippable frames) and zstd -dc restores the data", () =>
    Effect.gen(function* () {
      const parts = [
        compressibleBytes(2_000_000, 1),
        randomBytes(70_000, 2),
        new Uint8Array(0),
        Uint8Array.of(3),
      ]
      for (const level of [1, 3, 19]) {
        const frames = yield* Effect.forEach(parts, (p) => z.compress(p, level))
        const blob = concatBytes([frames[0]!, skippableFrame(new Uint8Array(30)), ...frames.slice(1)])
        zstdCli(["-t"], blob)
        assertBytesEqual(zstdCli(["-dc"], blob), concatBytes(parts), `zstd -dc, level ${level}`)
      }
    }),
  )

  it.effect("frames from zstd (checksums, no content size, long windows) decode in both paths", () =>
    Effect.gen(function* () {
      const data = compressibleBytes(3_000_000, 3)
      const inputs: ReadonlyArray<readonly [string, Uint8Array]> = [
        ["-3", zstdCli(["-3", "-c"], data)],
        ["-19 --no-check", zstdCli(["-19", "--no-check", "-c"], data)],
        ["--no-content-size", zstdCli(["-3", "--no-content-size", "-c"], data)],
        ["stdin (streaming)", zstdCli(["-3", "-c"], data, true)],
        ["--long=27", zstdCli(["-3", "--long=27", "-c"], data)],
        ["-B 65536 (blocks)", zstdCli(["-3", "-B65536", "-c"], data)],
      ]
      for (const [label, blob] of inputs) {
        assertBytesEqual(yield* z.decompress(blob, data.length), data, `decompress ${label}`)
        assertBytesEqual(yield* zstdInflateInPieces(z, blob, [65536, 3]), data, `inflater ${label}`)
      }
      const all = concatBytes(inputs.map(([, b]) => b))
      const splits = PortableZstdFrames.splitFrames(all)
      assert.isTrue(Array.isArray(splits) && splits.length >= inputs.length, "frames found")
      assert.strictEqual((yield* z.decompress(all, BIG)).length, data.length * inputs.length)
    }),
  )

  it.effect("a flipped checksum is Corrupt for the one-shot decoder (zstd-wasm verifies it)", () =>
    Effect.gen(function* () {
      const blob = zstdCli(["-3", "-c"], compressibleBytes(100_000, 4))
      const bad = blob.slice()
      bad[bad.length - 1]! ^= 1
      const r = yield* Effect.result(z.decompress(bad, 1 << 20))
      assert.isTrue(r._tag === "Failure" && r.failure.reason === "Corrupt", "checksum")
    }),
  )

  it.effect("the suite's frame checker judges zstd's own --no-check frames like ours", () =>
    Effect.gen(function* () {
      const data = compressibleBytes(500_000, 5)
      const ours = yield* z.compress(data, 3)
      assert.deepStrictEqual(zstdFrameProblems(ours, data.length), [])
      const theirs = zstdCli(["-3", "--no-check", "-c"], data)
      assert.deepStrictEqual(zstdFrameProblems(theirs, data.length), [])
    }),
  )
})

const BIG = Number.MAX_SAFE_INTEGER

describe("PortableZstdFrames", () => {
  it.effect("the scanner finds the same frames however the stream is split", () =>
    Effect.gen(function* () {
      const frames = [
        yield* z.compress(compressibleBytes(300_000, 6), 3),
        skippableFrame(new Uint8Array(17)),
        yield* z.compress(new Uint8Array(0), 3),
        yield* z.compress(randomBytes(200_000, 7), 1),
      ]
      const stream = concatBytes(frames)
      const whole = PortableZstdFrames.splitFrames(stream)
      assert.isTrue(Array.isArray(whole))
      if (!Array.isArray(whole)) return
      assert.deepStrictEqual(
        whole.map((f) => f.end - f.start),
        [frames[0]!.length, frames[2]!.length, frames[3]!.length],
      )
      assert.deepStrictEqual(
        whole.map((f) => f.contentSize),
        [300_000, 0, 200_000],
      )
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 30 }),
          (sizes) => {
            const seen: Array<[number, number]> = []
            const ends: Array<number> = []
            const scanner = new PortableZstdFrames.FrameScanner({
              frame: (start, size) => seen.push([start, size]),
              frameEnd: (end) => ends.push(end),
            })
            let pos = 0
            let i = 0
            while (pos < stream.length) {
              const n = sizes[i++ % sizes.length]!
              assert.isUndefined(scanner.scan(stream.subarray(pos, pos + n)))
              pos += n
            }
            assert.isUndefined(scanner.end())
            assert.deepStrictEqual(
              seen,
              whole.map((f) => [f.start, f.contentSize]),
            )
            assert.deepStrictEqual(
              ends,
              whole.map((f) => f.end),
            )
          },
        ),
        { numRuns: 50 },
      )
    }),
  )

  it("a stream that stops inside a skippable frame or a magic is Truncated, garbage is Corrupt", () => {
    const skip = skippableFrame(new Uint8Array(10))
    for (let cut = 1; cut < skip.length; cut++) {
      const r = PortableZstdFrames.splitFrames(skip.subarray(0, cut))
      assert.isFalse(Array.isArray(r))
      if (!Array.isArray(r)) assert.strictEqual(r.reason, "Truncated", `cut ${cut}`)
    }
    const r = PortableZstdFrames.splitFrames(concatBytes([skip, Uint8Array.of(1, 2, 3, 4)]))
    assert.isTrue(!Array.isArray(r) && r.reason === "Corrupt" && r.message.includes(`${skip.length}`))
  })
})

describe("PortableZstd limits", () => {
  it.effect("inputs over MAX_COMPRESS_INPUT are TooLarge before any work", () =>
    Effect.gen(function* () {
      const fake = { length: PortableZstd.MAX_COMPRESS_INPUT + 1 } as Uint8Array
      const r = yield* Effect.result(z.compress(fake, 3))
      assert.isTrue(r._tag === "Failure" && r.failure.reason === "TooLarge")
    }),
  )

  it("zstd-wasm error codes map to reasons", () => {
    assert.strictEqual(
      PortableZstd.wasmError(new Error("Failed to compress with code -20")).reason,
      "Corrupt",
    )
    assert.strictEqual(
      PortableZstd.wasmError(new Error("Failed to compress with code -72")).reason,
      "Corrupt",
    )
    assert.strictEqual(
      PortableZstd.wasmError(new Error("Failed to compress with code -16")).reason,
      "Unsupported",
    )
    assert.strictEqual(PortableZstd.wasmError(new Error("Failed to compress with code -64")).reason, "Engine")
    assert.strictEqual(PortableZstd.wasmError(new Error("RuntimeError: unreachable")).reason, "Engine")
  })
})

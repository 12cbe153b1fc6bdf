import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import * as fc from "fast-check"
import type { CodecError } from "../CodecError.ts"
import type { GzipInflater } from "../GzipEngine.ts"
import { ZstdEngine } from "../ZstdEngine.ts"
import { assertBytesEqual } from "./GzipEngineSuite.ts"
import { compressibleBytes, concatBytes, randomBytes } from "./TestData.ts"

type Engine = ZstdEngine["Service"]
type Outcome = "ok" | CodecError["reason"]

// ---------------------------------------------------------------------------------------------------------------
// A tiny, independent zstd frame walker (RFC 8878 §3.1.1), to judge engines without trusting any of them.

/** The header fields of one zstd frame and where its blocks end. */
export interface ZstdFrameInfo {
  readonly singleSegment: boolean
  readonly checksum: boolean
  readonly dictionaryId: number
  /** Frame_Content_Size, or -1 when the header has none. */
  readonly contentSize: number
  readonly blocks: number
  /** Offset just past the frame (after the last block and the checksum, if any). */
  readonly end: number
}

const u24 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)

/** Length of the frame header (magic included) of the zstd frame at `at`. */
export const zstdFrameHeaderLength = (b: Uint8Array, at = 0): number => {
  const d = b[at + 4]!
  const singleSegment = (d & 0x20) !== 0
  const fcsFlag = d >> 6
  return (
    5 +
    (singleSegment ? 0 : 1) +
    [0, 1, 2, 4][d & 3]! +
    (fcsFlag === 0 ? (singleSegment ? 1 : 0) : 1 << fcsFlag)
  )
}

/** Walks the zstd frame that starts at `at` (header, block headers, checksum); a string says what is wrong. */
export const walkZstdFrame = (b: Uint8Array, at = 0): ZstdFrameInfo | string => {
  if (b.length - at < 6) return `too short for a zstd frame: ${b.length - at} bytes`
  if (b[at] !== 0x28 || b[at + 1] !== 0xb5 || b[at + 2] !== 0x2f || b[at + 3] !== 0xfd)
    return "bad zstd magic"
  const d = b[at + 4]!
  if (d & 0x08) return "reserved descriptor bit set"
  const singleSegment = (d & 0x20) !== 0
  const fcsFlag = d >> 6
  let p = at + 5 + (singleSegment ? 0 : 1)
  if (zstdFrameHeaderLength(b, at) > b.length - at) return "frame header runs past the end"
  const dictBytes = [0, 1, 2, 4][d & 3]!
  let dictionaryId = 0
  for (let k = 0; k < dictBytes; k++) dictionaryId += b[p++]! * 2 ** (8 * k)
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : 1 << fcsFlag
  let contentSize = fcsBytes === 0 ? -1 : 0
  for (let k = 0; k < fcsBytes; k++) contentSize += b[p++]! * 2 ** (8 * k)
  if (fcsFlag === 1) contentSize += 256
  let blocks = 0
  for (;;) {
    if (p + 3 > b.length) return `block header ${blocks} runs past the end`
    const h = u24(b, p)
    const type = (h >> 1) & 3
    if (type === 3) return `block ${blocks} has the reserved type`
    p += 3 + (type === 1 ? 1 : h >>> 3)
    blocks++
    if (p > b.length) return `block ${blocks - 1} runs past the end`
    if (h & 1) break
  }
  const checksum = (d & 0x04) !== 0
  if (checksum) p += 4
  if (p > b.length) return "checksum runs past the end"
  return { singleSegment, checksum, dictionaryId, contentSize, blocks, end: p }
}

/**
 * What is wrong with `frame` as the output of `compress(data)` (empty when nothing): exactly one
 * zstd frame, its content size recorded and equal to `dataLength`, no checksum, no dictionary, and
 * the last block ending exactly at the end of the buffer.
 */
export const zstdFrameProblems = (frame: Uint8Array, dataLength: number): Array<string> => {
  const info = walkZstdFrame(frame)
  if (typeof info === "string") return [info]
  const problems: Array<string> = []
  if (info.contentSize < 0) problems.push("no Frame_Content_Size")
  else if (info.contentSize !== dataLength)
    problems.push(`Frame_Content_Size ${info.contentSize}, expected ${dataLength}`)
  if (info.checksum) problems.push("content checksum flag set")
  if (info.dictionaryId !== 0) problems.push(`dictionary ${info.dictionaryId}`)
  if (info.end !== frame.length) problems.push(`the frame ends at ${info.end} of ${frame.length} bytes`)
  return problems
}

/** A skippable frame (magic 0x184D2A5X little-endian, u32 LE length, payload). */
export const skippableFrame = (payload: Uint8Array, nibble = 0): Uint8Array => {
  const h = Uint8Array.of(0x50 | (nibble & 15), 0x2a, 0x4d, 0x18, 0, 0, 0, 0)
  new DataView(h.buffer).setUint32(4, payload.length, true)
  return concatBytes([h, payload])
}

/** A block header: last flag, type (0 raw, 1 RLE, 2 compressed, 3 reserved), size. */
const blockHeader = (last: boolean, type: number, size: number) => {
  const v = (last ? 1 : 0) | (type << 1) | (size << 3)
  return Uint8Array.of(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff)
}

/**
 * A hand-made frame with NO content size (window 128 KiB): raw blocks for `raw`, then `rleBlocks`
 * RLE blocks of 128 KiB of `rleByte`. Real encoders write such frames when streaming.
 */
export const handMadeFrame = (raw: Uint8Array, rleBlocks = 0, rleByte = 0): Uint8Array => {
  const parts: Array<Uint8Array> = [Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3)]
  const rawBlocks = Math.ceil(raw.length / 131072)
  if (rawBlocks === 0 && rleBlocks === 0) parts.push(blockHeader(true, 0, 0))
  for (let i = 0; i < rawBlocks; i++) {
    const piece = raw.subarray(i * 131072, (i + 1) * 131072)
    parts.push(blockHeader(i === rawBlocks - 1 && rleBlocks === 0, 0, piece.length), piece)
  }
  for (let i = 0; i < rleBlocks; i++)
    parts.push(blockHeader(i === rleBlocks - 1, 1, 131072), Uint8Array.of(rleByte))
  return concatBytes(parts)
}

// ---------------------------------------------------------------------------------------------------------------

/** Feeds `data` to a fresh zstd inflater in pieces of the given sizes (cycled; none: one piece), then ends it. */
export const zstdInflateInPieces = (
  engine: { inflater(): Effect.Effect<GzipInflater, CodecError> },
  data: Uint8Array,
  sizes: ReadonlyArray<number>,
): Effect.Effect<Uint8Array, CodecError> =>
  Effect.gen(function* () {
    const inflater = yield* engine.inflater()
    const out: Array<Uint8Array> = []
    let pos = 0
    let i = 0
    while (pos < data.length) {
      const n = sizes.length === 0 ? data.length : Math.max(1, sizes[i++ % sizes.length]!)
      for (const c of yield* inflater.push(data.subarray(pos, pos + n))) out.push(c)
      pos += n
    }
    for (const c of yield* inflater.end()) out.push(c)
    return concatBytes(out)
  })

const inflateInPieces = zstdInflateInPieces

const outcome = <A>(effect: Effect.Effect<A, CodecError>): Effect.Effect<Outcome> =>
  Effect.map(Effect.result(effect), (r) => (r._tag === "Success" ? "ok" : r.failure.reason))

const BIG = Number.MAX_SAFE_INTEGER

/** The outcome of `decompress` and of the inflater (in 1000-byte pieces) on the same input. */
const bothOutcomes = (engine: Engine, data: Uint8Array, maxOutput = BIG) =>
  Effect.all([outcome(engine.decompress(data, maxOutput)), outcome(inflateInPieces(engine, data, [1000]))])

const LEVELS = [1, 3, 9, 19] as const

const INPUTS: ReadonlyArray<readonly [string, () => Uint8Array]> = [
  ["empty", () => new Uint8Array(0)],
  ["1 byte", () => Uint8Array.of(0x5a)],
  ["64 KiB random", () => randomBytes(64 * 1024, 111)],
  ["5 MiB text", () => compressibleBytes(5 * 1024 * 1024, 112)],
]

const cache = new Map<string, Uint8Array>()
const input = (name: string, make: () => Uint8Array): Uint8Array => {
  let v = cache.get(name)
  if (!v) {
    v = make()
    cache.set(name, v)
  }
  return v
}

/**
 * Registers the conformance tests every `ZstdEngine` must pass: round trips at levels 1/3/9/19,
 * exactly one frame per `compress` with its content size, multi-frame streams with skippable
 * frames, frames without a content size, determinism, error reasons (Corrupt / Truncated /
 * TooLarge / Unsupported) and the streaming inflater fed in random pieces.
 *
 * @example
 * zstdEngineSuite("zstd-wasm", PortableEngine.layerZstd)
 */
export const zstdEngineSuite = (name: string, layer: Layer.Layer<ZstdEngine, unknown>): void => {
  const run = <A, E>(body: (engine: Engine) => Effect.Effect<A, E>) =>
    ZstdEngine.use(body).pipe(Effect.provide(layer))

  describe(`ZstdEngine conformance: ${name}`, () => {
    it.effect("has a name", () =>
      run((engine) =>
        Effect.sync(() => {
          assert.isTrue(engine.name.length > 0)
        }),
      ),
    )

    for (const level of LEVELS) {
      for (const [label, make] of INPUTS) {
        it.effect(`round trip, level ${level}, ${label}`, () =>
          run((engine) =>
            Effect.gen(function* () {
              const data = input(label, make)
              const frame = yield* engine.compress(data, level)
              assert.deepStrictEqual(zstdFrameProblems(frame, data.length), [], "not one zstd frame")
              assertBytesEqual(yield* engine.decompress(frame, data.length), data, "decompress")
              assertBytesEqual(yield* inflateInPieces(engine, frame, [4093]), data, "inflater")
              // (level 19 takes seconds on 5 MiB: its determinism is checked on smaller inputs)
              if (level !== 19 || data.length < 1024 * 1024) {
                const again = yield* engine.compress(data, level)
                assertBytesEqual(again, frame, "second compression of the same input (determinism)")
              }
              if (label === "5 MiB text") {
                assert.isTrue(frame.length < data.length / 2, `level ${level} compresses text`)
              }
              if (label === "64 KiB random") {
                assert.isTrue(frame.length <= data.length + 64, "random data does not grow much")
              }
            }),
          ),
        )
      }
    }

    it.effect("level -1 is level 3; levels outside -1, 1..22 are Unsupported", () =>
      run((engine) =>
        Effect.gen(function* () {
          const data = compressibleBytes(200_000, 113)
          assertBytesEqual(yield* engine.compress(data, -1), yield* engine.compress(data, 3), "-1 vs 3")
          const l22 = yield* engine.compress(data, 22)
          assert.deepStrictEqual(zstdFrameProblems(l22, data.length), [])
          assertBytesEqual(yield* engine.decompress(l22, data.length), data, "level 22")
          for (const level of [0, 23, -2, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
            assert.strictEqual(
              yield* outcome(engine.compress(Uint8Array.of(1), level)),
              "Unsupported",
              `${level}`,
            )
          }
        }),
      ),
    )

    it.effect("compress leaves its input alone and returns a plain, exact Uint8Array", () =>
      run((engine) =>
        Effect.gen(function* () {
          const backing = compressibleBytes(300_000, 114)
          const view = backing.subarray(1000, 201_000)
          const copy = view.slice()
          const frame = yield* engine.compress(view, 3)
          assertBytesEqual(view, copy, "input after compress")
          assertBytesEqual(backing.subarray(1000, 201_000), copy, "backing buffer after compress")
          assert.strictEqual(Object.getPrototypeOf(frame), Uint8Array.prototype)
          assertBytesEqual(yield* engine.decompress(frame, view.length), copy, "round trip of a view")
          assertBytesEqual(frame, yield* engine.compress(copy, 3), "a view compresses like a copy")
        }),
      ),
    )

    it.effect("concurrent compressions give the same frames as sequential ones", () =>
      run((engine) =>
        Effect.gen(function* () {
          const pieces = Array.from({ length: 8 }, (_, i) =>
            i % 3 === 2 ? randomBytes(100_000 + i, 120 + i) : compressibleBytes(300_000 * (i + 1), 120 + i),
          )
          const sequential = yield* Effect.forEach(pieces, (p) => engine.compress(p, 3))
          const parallel = yield* Effect.forEach(pieces, (p) => engine.compress(p, 3), { concurrency: 5 })
          for (const [i, f] of parallel.entries()) assertBytesEqual(f, sequential[i]!, `piece ${i}`)
          const back = yield* Effect.forEach(parallel, (f, i) => engine.decompress(f, pieces[i]!.length), {
            concurrency: 3,
          })
          for (const [i, b] of back.entries()) assertBytesEqual(b, pieces[i]!, `piece ${i} back`)
        }),
      ),
    )

    it.effect("frames and skippable frames concatenated decode to the concatenated data", () =>
      run((engine) =>
        Effect.gen(function* () {
          const a = concatBytes([randomBytes(70_000, 131), compressibleBytes(100_000, 132)])
          const b = compressibleBytes(1024 * 1024, 133)
          const c = Uint8Array.of(7)
          const fa = yield* engine.compress(a, 19)
          const fb = yield* engine.compress(b, 1)
          const fe = yield* engine.compress(new Uint8Array(0), 3)
          const fc3 = yield* engine.compress(c, 3)
          const toc = skippableFrame(compressibleBytes(5000, 134))
          const footer = skippableFrame(new Uint8Array(64).fill(0x47), 0xf)
          const stream = concatBytes([
            skippableFrame(new Uint8Array(0)),
            fa,
            toc,
            fb,
            fe,
            skippableFrame(Uint8Array.of(1, 2, 3), 5),
            fc3,
            footer,
          ])
          const expected = concatBytes([a, b, c])
          assertBytesEqual(yield* engine.decompress(stream, expected.length), expected, "decompress")
          assertBytesEqual(yield* inflateInPieces(engine, stream, []), expected, "inflater, one piece")
          assertBytesEqual(
            yield* inflateInPieces(engine, concatBytes([fc3, toc, fe, fc3]), [1]),
            concatBytes([c, c]),
            "inflater, 1-byte pieces",
          )
          const onlySkippable = concatBytes([toc, footer])
          assert.strictEqual((yield* engine.decompress(onlySkippable, 0)).length, 0, "skippable frames only")
          assert.strictEqual((yield* inflateInPieces(engine, onlySkippable, [3])).length, 0)
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(
                fc.array(fc.integer({ min: 1, max: 300_000 }), { minLength: 1, maxLength: 40 }),
                (sizes) =>
                  Effect.runPromise(inflateInPieces(engine, stream, sizes)).then((out) =>
                    assertBytesEqual(out, expected, `inflater, pieces ${sizes.join(",")}`),
                  ),
              ),
              { numRuns: 30 },
            ),
          )
        }),
      ),
    )

    it.effect("frames without a content size (streaming encoders) decode, bounded", () =>
      run((engine) =>
        Effect.gen(function* () {
          const raw = compressibleBytes(300_000, 141)
          const frame = handMadeFrame(raw, 3, 0x61)
          const expected = concatBytes([raw, new Uint8Array(3 * 131072).fill(0x61)])
          const info = walkZstdFrame(frame)
          assert.strictEqual(typeof info === "string" ? info : info.contentSize, -1, "hand-made frame")
          assertBytesEqual(yield* engine.decompress(frame, expected.length), expected, "decompress")
          assertBytesEqual(yield* inflateInPieces(engine, frame, [777]), expected, "inflater")
          const mixed = concatBytes([yield* engine.compress(raw, 3), handMadeFrame(new Uint8Array(0)), frame])
          assertBytesEqual(yield* engine.decompress(mixed, BIG), concatBytes([raw, expected]), "mixed")
          assert.strictEqual(yield* outcome(engine.decompress(frame, expected.length - 1)), "TooLarge")
          const bomb = handMadeFrame(new Uint8Array(0), 200) // 25 MiB from 806 bytes
          assert.strictEqual(yield* outcome(engine.decompress(bomb, 1024 * 1024)), "TooLarge")
        }),
      ),
    )

    it.effect("the inflater returns output before the end (streaming, not buffering)", () =>
      run((engine) =>
        Effect.gen(function* () {
          const data = compressibleBytes(4 * 1024 * 1024, 151)
          const frame = yield* engine.compress(data, 3)
          const inflater = yield* engine.inflater()
          let beforeEnd = 0
          for (let pos = 0; pos < frame.length; pos += 65536) {
            for (const c of yield* inflater.push(frame.subarray(pos, pos + 65536))) beforeEnd += c.length
          }
          let total = beforeEnd
          for (const c of yield* inflater.end()) total += c.length
          assert.strictEqual(total, data.length)
          assert.isTrue(
            beforeEnd >= data.length / 2,
            `only ${beforeEnd} of ${data.length} bytes before end()`,
          )
        }),
      ),
    )

    it.effect("corrupt framing fails with Corrupt in decompress and in the inflater", () =>
      run((engine) =>
        Effect.gen(function* () {
          const data = compressibleBytes(50_000, 161)
          const f = yield* engine.compress(data, 3)
          const edited = (edit: (b: Uint8Array) => void) => {
            const b = f.slice()
            edit(b)
            return b
          }
          const headerLength = zstdFrameHeaderLength(f)
          const cases: ReadonlyArray<readonly [string, Uint8Array]> = [
            ["bad magic", edited((b) => (b[0] = 0x29))],
            ["zeros", new Uint8Array(64)],
            ["reserved descriptor bit", edited((b) => (b[4]! |= 0x08))],
            ["reserved block type", edited((b) => (b[headerLength]! |= 0x06))],
            ["garbage after a frame", concatBytes([f, new TextEncoder().encode("GARBAGE!")])],
            ["garbage before a frame", concatBytes([Uint8Array.of(0x41, 0x42, 0x43, 0x44), f])],
            [
              "a gzip member",
              Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            ],
            [
              "a frame whose content is not what its size says",
              concatBytes([
                Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x20, 10),
                blockHeader(true, 0, 5),
                Uint8Array.of(1, 2, 3, 4, 5),
              ]),
            ],
          ]
          for (const [label, bytes] of cases) {
            assert.deepStrictEqual(yield* bothOutcomes(engine, bytes), ["Corrupt", "Corrupt"], label)
          }
        }),
      ),
    )

    it.effect("frames needing a dictionary or a window over 128 MiB are Unsupported", () =>
      run((engine) =>
        Effect.gen(function* () {
          // descriptor 0x21: single segment, 1-byte dictionary id (7), 1-byte content size (0)
          const dict = concatBytes([
            Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x21, 7, 0),
            blockHeader(true, 0, 0),
          ])
          assert.deepStrictEqual(
            yield* bothOutcomes(engine, dict),
            ["Unsupported", "Unsupported"],
            "dictionary",
          )
          // window descriptor exponent 18 → 256 MiB
          const wide = concatBytes([
            Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x00, 18 << 3),
            blockHeader(true, 0, 0),
          ])
          assert.deepStrictEqual(yield* bothOutcomes(engine, wide), ["Unsupported", "Unsupported"], "window")
        }),
      ),
    )

    it.effect("random bit flips give data or a typed error, never a defect", () =>
      run((engine) =>
        Effect.gen(function* () {
          const data = compressibleBytes(40_000, 171)
          const f = yield* engine.compress(data, 9)
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(
                fc.integer({ min: 0, max: f.length - 1 }),
                fc.integer({ min: 0, max: 7 }),
                (at, bit) => {
                  const b = f.slice()
                  b[at]! ^= 1 << bit
                  return Effect.runPromise(
                    Effect.all([
                      Effect.result(engine.decompress(b, 1 << 20)),
                      outcome(inflateInPieces(engine, b, [5000])),
                    ]),
                  ).then(([r, streaming]) => {
                    if (r._tag === "Success") assert.isTrue(r.success.length <= 1 << 20)
                    else
                      assert.include(
                        ["Corrupt", "Truncated", "TooLarge", "Unsupported"],
                        r.failure.reason,
                        `flip at ${at}`,
                      )
                    assert.include(["ok", "Corrupt", "Truncated", "Unsupported"], streaming, `flip at ${at}`)
                  })
                },
              ),
              { numRuns: 60 },
            ),
          )
        }),
      ),
    )

    it.effect("every strict prefix of a frame is Truncated (empty input too)", () =>
      run((engine) =>
        Effect.gen(function* () {
          const small = yield* engine.compress(compressibleBytes(600, 181), 3)
          for (let cut = 0; cut < small.length; cut++) {
            assert.deepStrictEqual(
              yield* bothOutcomes(engine, small.subarray(0, cut)),
              ["Truncated", "Truncated"],
              `cut at ${cut} of ${small.length}`,
            )
          }
          const a = yield* engine.compress(compressibleBytes(200_000, 182), 9)
          const b = yield* engine.compress(randomBytes(100_000, 183), 1)
          const skip = skippableFrame(new Uint8Array(100))
          const stream = concatBytes([a, skip, b])
          for (const cut of [
            a.length + 1,
            a.length + 7,
            a.length + 50,
            a.length + skip.length + 2,
            a.length + skip.length + 5000,
            stream.length - 1,
          ]) {
            assert.deepStrictEqual(
              yield* bothOutcomes(engine, stream.subarray(0, cut)),
              ["Truncated", "Truncated"],
              `cut at ${cut} of ${stream.length}`,
            )
          }
        }),
      ),
    )

    it.effect("maxOutput guards against decompression bombs (TooLarge)", () =>
      run((engine) =>
        Effect.gen(function* () {
          const zeros = new Uint8Array(16 * 1024 * 1024)
          const bomb = yield* engine.compress(zeros, 19)
          assert.isTrue(bomb.length < 64 * 1024, `16 MiB of zeros compress to ${bomb.length} bytes`)
          assert.strictEqual(yield* outcome(engine.decompress(bomb, 1024 * 1024)), "TooLarge")
          assert.strictEqual(yield* outcome(engine.decompress(bomb, zeros.length - 1)), "TooLarge")
          assert.strictEqual((yield* engine.decompress(bomb, zeros.length)).length, zeros.length)
          const two = concatBytes([yield* engine.compress(Uint8Array.of(1, 2, 3), 3), bomb])
          assert.strictEqual(yield* outcome(engine.decompress(two, 1000)), "TooLarge")
          const one = yield* engine.compress(Uint8Array.of(9), 3)
          assert.strictEqual(yield* outcome(engine.decompress(one, 0)), "TooLarge")
          assert.strictEqual(
            (yield* engine.decompress(yield* engine.compress(new Uint8Array(0), 3), 0)).length,
            0,
          )
          assert.strictEqual(yield* outcome(engine.decompress(bomb, -1)), "Unsupported")
          assert.strictEqual(yield* outcome(engine.decompress(bomb, Number.NaN)), "Unsupported")
        }),
      ),
    )

    it.effect("an inflater is unusable after end()", () =>
      run((engine) =>
        Effect.gen(function* () {
          const f = yield* engine.compress(Uint8Array.of(1, 2, 3), 3)
          const inflater = yield* engine.inflater()
          yield* inflater.push(f)
          yield* inflater.end()
          assert.notStrictEqual(yield* outcome(inflater.push(f)), "ok")
          assert.notStrictEqual(yield* outcome(inflater.end()), "ok")
        }),
      ),
    )

    it.effect("the inflater keeps failing after an error", () =>
      run((engine) =>
        Effect.gen(function* () {
          const f = yield* engine.compress(compressibleBytes(5000, 191), 3)
          const inflater = yield* engine.inflater()
          const bad = f.slice()
          bad[0] = 0
          assert.strictEqual(yield* outcome(inflater.push(bad)), "Corrupt")
          assert.strictEqual(yield* outcome(inflater.push(f)), "Corrupt")
          assert.strictEqual(yield* outcome(inflater.end()), "Corrupt")
        }),
      ),
    )
  })
}

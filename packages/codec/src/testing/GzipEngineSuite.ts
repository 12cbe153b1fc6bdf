import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import * as fc from "fast-check"
import type { CodecError } from "../CodecError.ts"
import { GzipEngine } from "../GzipEngine.ts"
import { ESTARGZ_FOOTER_391_HEX, memberProblems, referenceCrc32 } from "./GzipMember.ts"
import { compressibleBytes, concatBytes, firstDifference, fromHex, randomBytes } from "./TestData.ts"

type Engine = GzipEngine["Service"]
type Outcome = "ok" | CodecError["reason"]

/** Asserts byte equality with a useful message (chai's deep equality is slow on megabytes). */
export const assertBytesEqual = (actual: Uint8Array, expected: Uint8Array, what: string): void => {
  const at = firstDifference(actual, expected)
  assert.strictEqual(
    at,
    -1,
    `${what}: got ${actual.length} bytes, expected ${expected.length}; first difference at byte ${at}`,
  )
}

/** Feeds `data` to a fresh inflater in pieces of the given sizes (cycled), then ends it. */
export const inflateInPieces = (
  engine: Engine,
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

const outcome = <A>(effect: Effect.Effect<A, CodecError>): Effect.Effect<Outcome> =>
  Effect.map(Effect.result(effect), (r) => (r._tag === "Success" ? "ok" : r.failure.reason))

/** The outcome of `decompress` and of the inflater (in 1000-byte pieces) on the same input. */
const bothOutcomes = (engine: Engine, data: Uint8Array, maxOutput?: number) =>
  Effect.all([outcome(engine.decompress(data, maxOutput)), outcome(inflateInPieces(engine, data, [1000]))])

const LEVELS = [0, 1, 6, 9, -1] as const

const INPUTS: ReadonlyArray<readonly [string, () => Uint8Array]> = [
  ["empty", () => new Uint8Array(0)],
  ["1 byte", () => Uint8Array.of(0x5a)],
  ["64 KiB random", () => randomBytes(64 * 1024, 11)],
  ["5 MiB compressible", () => compressibleBytes(5 * 1024 * 1024, 12)],
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
 * Registers the conformance tests every `GzipEngine` must pass: round trips at all levels,
 * member structure (FLG 0, MTIME 0, CRC32/ISIZE), multi-member streams, determinism, error
 * reasons (Corrupt / Truncated / TooLarge) and the eStargz footer.
 *
 * @example
 * gzipEngineSuite("node:zlib", NodeEngine.layerGzip)
 */
export const gzipEngineSuite = (name: string, layer: Layer.Layer<GzipEngine>): void => {
  const run = <A, E>(body: (engine: Engine) => Effect.Effect<A, E>) =>
    GzipEngine.use(body).pipe(Effect.provide(layer))

  describe(`GzipEngine conformance: ${name}`, () => {
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
              const member = yield* engine.compress(data, level)
              assert.deepStrictEqual(memberProblems(member, data), [], "not a valid single gzip member")
              assertBytesEqual(yield* engine.decompress(member), data, "decompress")
              assertBytesEqual(yield* inflateInPieces(engine, member, [4093]), data, "inflater")
              const again = yield* engine.compress(data, level)
              assertBytesEqual(again, member, "second compression of the same input (determinism)")
              if (level === 0) assert.isTrue(member.length >= data.length + 18, "level 0 stores")
              if (label === "5 MiB compressible" && level > 0) {
                assert.isTrue(member.length < data.length / 2, `level ${level} compresses text`)
              }
            }),
          ),
        )
      }
    }

    it.effect("levels outside -1..9 are Unsupported", () =>
      run((engine) =>
        Effect.gen(function* () {
          for (const level of [10, -2, 1.5, Number.NaN]) {
            assert.strictEqual(yield* outcome(engine.compress(Uint8Array.of(1), level)), "Unsupported")
          }
        }),
      ),
    )

    it.effect("concatenated members decode to the concatenated data", () =>
      run((engine) =>
        Effect.gen(function* () {
          const a = concatBytes([randomBytes(70_000, 21), compressibleBytes(100_000, 22)])
          const b = compressibleBytes(1024 * 1024, 23)
          const c = Uint8Array.of(7)
          const ma = yield* engine.compress(a, 9)
          const mb = yield* engine.compress(b, 1)
          const me = yield* engine.compress(new Uint8Array(0), 6)
          const mc = yield* engine.compress(c, 0)
          const stream = concatBytes([ma, mb, me, mc])
          const expected = concatBytes([a, b, c])
          assertBytesEqual(yield* engine.decompress(stream), expected, "decompress")
          assertBytesEqual(yield* inflateInPieces(engine, stream, []), expected, "inflater, one piece")
          const small = concatBytes([
            yield* engine.compress(c, 9),
            me,
            yield* engine.compress(a.subarray(0, 3000), 6),
          ])
          assertBytesEqual(
            yield* inflateInPieces(engine, small, [1]),
            concatBytes([c, a.subarray(0, 3000)]),
            "inflater, 1-byte pieces",
          )
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

    it.effect("the inflater returns output before the end (streaming, not buffering)", () =>
      run((engine) =>
        Effect.gen(function* () {
          const data = compressibleBytes(2 * 1024 * 1024, 31)
          const member = yield* engine.compress(data, 6)
          const inflater = yield* engine.inflater()
          let beforeEnd = 0
          for (let pos = 0; pos < member.length; pos += 65536) {
            for (const c of yield* inflater.push(member.subarray(pos, pos + 65536))) beforeEnd += c.length
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

    it.effect("optional header fields (FEXTRA, FNAME, FCOMMENT, FHCRC) are skipped and checked", () =>
      run((engine) =>
        Effect.gen(function* () {
          const data = compressibleBytes(20_000, 45)
          const m = yield* engine.compress(data, 6)
          const full = withOptionalFields(m, true)
          assertBytesEqual(yield* engine.decompress(full), data, "decompress")
          assertBytesEqual(yield* inflateInPieces(engine, full, [1]), data, "inflater, 1-byte pieces")
          const two = concatBytes([full, full])
          assertBytesEqual(
            yield* inflateInPieces(engine, two, [17, 5]),
            concatBytes([data, data]),
            "two members",
          )
          const badCrc = withOptionalFields(m, false)
          assert.deepStrictEqual(yield* bothOutcomes(engine, badCrc), ["Corrupt", "Corrupt"], "wrong FHCRC")
        }),
      ),
    )

    it.effect("the eStargz footer (FORMATS §2.6, offset 391) is an empty member", () =>
      run((engine) =>
        Effect.gen(function* () {
          const footer = fromHex(ESTARGZ_FOOTER_391_HEX)
          assert.strictEqual(footer.length, 51)
          assert.strictEqual((yield* engine.decompress(footer)).length, 0)
          assert.strictEqual(
            (yield* engine.decompress(footer, 0)).length,
            0,
            "maxOutput 0 allows empty output",
          )
          assert.strictEqual((yield* inflateInPieces(engine, footer, [7])).length, 0)
          const data = compressibleBytes(300_000, 41)
          const blob = concatBytes([yield* engine.compress(data, 9), footer])
          assertBytesEqual(yield* engine.decompress(blob), data, "data + footer")
          assertBytesEqual(yield* inflateInPieces(engine, blob, [50_000, 3]), data, "data + footer, inflater")
        }),
      ),
    )

    it.effect("zero padding after the last member is ignored; data after padding is Corrupt", () =>
      run((engine) =>
        Effect.gen(function* () {
          const data = compressibleBytes(10_000, 51)
          const m = yield* engine.compress(data, 6)
          const padded = concatBytes([m, new Uint8Array(1000)])
          assertBytesEqual(yield* engine.decompress(padded), data, "member + zeros")
          assertBytesEqual(
            yield* inflateInPieces(engine, padded, [m.length, 10]),
            data,
            "member + zeros, inflater",
          )
          const smuggled = concatBytes([m, new Uint8Array(3), m])
          assert.deepStrictEqual(yield* bothOutcomes(engine, smuggled), ["Corrupt", "Corrupt"])
          // zeros and the next member in separate pushes
          const inflater = yield* engine.inflater()
          yield* inflater.push(m)
          yield* inflater.push(new Uint8Array(4))
          assert.strictEqual(yield* outcome(inflater.push(m)), "Corrupt")
        }),
      ),
    )

    it.effect("corrupt input fails with Corrupt", () =>
      run((engine) =>
        Effect.gen(function* () {
          const data = compressibleBytes(50_000, 61)
          const m = yield* engine.compress(data, 6)
          const edited = (edit: (b: Uint8Array) => void) => {
            const b = m.slice()
            edit(b)
            return b
          }
          const cases: ReadonlyArray<readonly [string, Uint8Array]> = [
            ["bad ID1", edited((b) => (b[0] = 0x1e))],
            ["bad ID2", edited((b) => (b[1] = 0x8c))],
            ["CM 7", edited((b) => (b[2] = 7))],
            ["reserved FLG bit", edited((b) => (b[3] = 0x20))],
            ["CRC32 flipped", edited((b) => (b[b.length - 7]! ^= 0x10))],
            ["ISIZE off by one", edited((b) => (b[b.length - 4]! ^= 0x01))],
            ["garbage after a member", concatBytes([m, Uint8Array.of(0x41, 0x42, 0x43, 0x44)])],
            ["garbage before a member", concatBytes([Uint8Array.of(0x41), m])],
            // BFINAL=1, BTYPE=11 (reserved) right after a plain header
            ["reserved block type", fromHex("1f8b0800000000000003 07 00000000 00000000")],
          ]
          for (const [label, bytes] of cases) {
            assert.deepStrictEqual(yield* bothOutcomes(engine, bytes), ["Corrupt", "Corrupt"], label)
          }
        }),
      ),
    )

    it.effect("random bit flips never go unnoticed", () =>
      run((engine) =>
        Effect.gen(function* () {
          const data = compressibleBytes(40_000, 71)
          const m = yield* engine.compress(data, 9)
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(
                fc.integer({ min: 10, max: m.length - 1 }),
                fc.integer({ min: 0, max: 7 }),
                (at, bit) => {
                  const b = m.slice()
                  b[at]! ^= 1 << bit
                  return Effect.runPromise(Effect.result(engine.decompress(b))).then((r) => {
                    if (r._tag === "Success") {
                      // Only the unused bits after the final deflate block may change without effect.
                      assertBytesEqual(r.success, data, `flip of bit ${bit} at ${at} decoded to other data`)
                    } else {
                      assert.include(["Corrupt", "Truncated"], r.failure.reason, `flip at ${at}`)
                    }
                  })
                },
              ),
              { numRuns: 60 },
            ),
          )
        }),
      ),
    )

    it.effect("every strict prefix of a member is Truncated (empty input too)", () =>
      run((engine) =>
        Effect.gen(function* () {
          const small = yield* engine.compress(compressibleBytes(600, 81), 6)
          for (let cut = 0; cut < small.length; cut++) {
            assert.deepStrictEqual(
              yield* bothOutcomes(engine, small.subarray(0, cut)),
              ["Truncated", "Truncated"],
              `cut at ${cut} of ${small.length}`,
            )
          }
          const a = yield* engine.compress(compressibleBytes(200_000, 82), 9)
          const b = yield* engine.compress(randomBytes(100_000, 83), 1)
          const stream = concatBytes([a, b])
          for (const cut of [
            a.length + 1,
            a.length + 10,
            a.length + 5000,
            stream.length - 8,
            stream.length - 1,
          ]) {
            assert.deepStrictEqual(
              yield* bothOutcomes(engine, stream.subarray(0, cut)),
              ["Truncated", "Truncated"],
              `two members cut at ${cut} of ${stream.length}`,
            )
          }
          const footer = fromHex(ESTARGZ_FOOTER_391_HEX)
          assert.deepStrictEqual(yield* bothOutcomes(engine, footer.subarray(0, 40)), [
            "Truncated",
            "Truncated",
          ])
        }),
      ),
    )

    it.effect("maxOutput guards against decompression bombs (TooLarge)", () =>
      run((engine) =>
        Effect.gen(function* () {
          const zeros = new Uint8Array(16 * 1024 * 1024)
          const bomb = yield* engine.compress(zeros, 9)
          assert.isTrue(bomb.length < 64 * 1024, `16 MiB of zeros compress to ${bomb.length} bytes`)
          assert.strictEqual(yield* outcome(engine.decompress(bomb, 1024 * 1024)), "TooLarge")
          assert.strictEqual(yield* outcome(engine.decompress(bomb, zeros.length - 1)), "TooLarge")
          assert.strictEqual((yield* engine.decompress(bomb, zeros.length)).length, zeros.length)
          const two = concatBytes([yield* engine.compress(Uint8Array.of(1, 2, 3), 6), bomb])
          assert.strictEqual(yield* outcome(engine.decompress(two, 1000)), "TooLarge")
          assert.strictEqual(
            yield* outcome(engine.decompress(yield* engine.compress(Uint8Array.of(9), 6), 0)),
            "TooLarge",
          )
          assert.strictEqual(yield* outcome(engine.decompress(bomb, -1)), "Unsupported")
        }),
      ),
    )

    it.effect("an inflater is unusable after end()", () =>
      run((engine) =>
        Effect.gen(function* () {
          const m = yield* engine.compress(Uint8Array.of(1, 2, 3), 6)
          const inflater = yield* engine.inflater()
          yield* inflater.push(m)
          yield* inflater.end()
          assert.notStrictEqual(yield* outcome(inflater.push(m)), "ok")
          assert.notStrictEqual(yield* outcome(inflater.end()), "ok")
        }),
      ),
    )

    it.effect("the inflater keeps failing after an error", () =>
      run((engine) =>
        Effect.gen(function* () {
          const m = yield* engine.compress(compressibleBytes(5000, 91), 6)
          const inflater = yield* engine.inflater()
          const bad = m.slice()
          bad[0] = 0
          assert.strictEqual(yield* outcome(inflater.push(bad)), "Corrupt")
          assert.strictEqual(yield* outcome(inflater.push(m)), "Corrupt")
          assert.strictEqual(yield* outcome(inflater.end()), "Corrupt")
        }),
      ),
    )
  })
}

/**
 * Rebuilds a plain (FLG 0) member with FEXTRA, FNAME, FCOMMENT and FHCRC set; `goodCrc` false
 * writes a wrong header CRC16.
 */
const withOptionalFields = (member: Uint8Array, goodCrc: boolean): Uint8Array => {
  const enc = new TextEncoder()
  const extra = concatBytes([Uint8Array.of(0x41, 0x42, 5, 0), enc.encode("hello")])
  const head = concatBytes([
    Uint8Array.of(0x1f, 0x8b, 8, 0x04 | 0x08 | 0x10 | 0x02, 0, 0, 0, 0, 0, 3, extra.length, 0),
    extra,
    enc.encode("file-name.tar\0"),
    enc.encode("a comment\0"),
  ])
  const crc16 = (referenceCrc32(head) & 0xffff) ^ (goodCrc ? 0 : 0x0101)
  return concatBytes([head, Uint8Array.of(crc16, crc16 >>> 8), member.subarray(10)])
}

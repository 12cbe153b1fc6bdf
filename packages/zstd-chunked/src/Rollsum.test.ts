import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { randomBytes } from "@lazypull/codec/testing"
import { GO_VECTORS } from "./GoVectors.test-utils.ts"
import { type ChunkSink, ContentChunker, RollSum } from "./Rollsum.ts"

type Cut = [offset: number, size: number, zeros: boolean]

/**
 * The containers/storage chunking written again from FORMATS §8.2, independently of Rollsum.ts: uint32 sums
 * over a 64-byte window (s1 = 64·31, s2 = 64·63·31, each byte adds c − drop to s1 and s1 − 64·(drop + 31)
 * to s2), a cut after a byte when the low 16 bits of s2 are all ones; every run of at least 1024 zeros is its
 * own chunk, rolled in without cut checks, and ends the data chunk before it.
 */
const referenceChunks = (data: Uint8Array): Array<Cut> => {
  const win: Array<number> = new Array(64).fill(0)
  let p = 0
  let s1 = 64 * 31
  let s2 = 64 * 63 * 31
  const roll = (c: number) => {
    const drop = win[p]!
    win[p] = c
    p = (p + 1) % 64
    s1 = (s1 + c - drop) >>> 0
    s2 = (s2 + s1 - 64 * (drop + 31)) >>> 0
  }
  const out: Array<Cut> = []
  let start = 0
  let i = 0
  while (i < data.length) {
    if (data[i] === 0) {
      let r = i
      while (r < data.length && data[r] === 0) r++
      if (r - i >= 1024) {
        if (i > start) out.push([start, i - start, false])
        for (let k = i; k < r; k++) roll(0)
        out.push([i, r - i, true])
        start = r
        i = r
        continue
      }
    }
    roll(data[i]!)
    if ((s2 & 0xffff) === 0xffff) {
      out.push([start, i + 1 - start, false])
      start = i + 1
    }
    i++
  }
  if (start < data.length) out.push([start, data.length - start, false])
  return out
}

/** Runs the ContentChunker over `data` cut into the given pieces; checks the bytes it hands over. */
const chunkerChunks = (data: Uint8Array, cuts: ReadonlyArray<number> = []): Array<Cut> => {
  const out: Array<Cut> = []
  const seen: Array<number> = []
  let chunkStart = 0
  let at = 0
  const sink: ChunkSink = {
    data: (src, s, e) => {
      for (let k = s; k < e; k++) seen.push(src[k]!)
      at += e - s
    },
    zeros: (n) => {
      for (let k = 0; k < n; k++) seen.push(0)
      at += n
    },
    end: (zeros) => {
      out.push([chunkStart, at - chunkStart, zeros])
      chunkStart = at
    },
  }
  const c = new ContentChunker(sink)
  const points = [0, ...[...cuts].sort((a, b) => a - b), data.length]
  for (let i = 1; i < points.length; i++) c.push(data.subarray(points[i - 1], points[i]))
  c.finish()
  expect(at).toBe(data.length)
  expect(Buffer.from(seen).equals(Buffer.from(data))).toBe(true)
  return out
}

const cat = (...parts: Array<Uint8Array>) => new Uint8Array(Buffer.concat(parts))
const zeros = (n: number) => new Uint8Array(n)

describe("rolling sum and content-defined chunks", () => {
  for (const [name, make, want] of GO_VECTORS) {
    it(`containers/storage's boundaries: ${name}`, () => {
      const data = make()
      expect(referenceChunks(data)).toEqual(want)
      expect(chunkerChunks(data)).toEqual(want)
      // pieces of every size give the same chunks
      expect(chunkerChunks(data, [1, 2, 63, 64, 65, 4095, 5000, 5001, 70000, 104999])).toEqual(want)
    })
  }

  it("RollSum keeps the sums of the definition; rollZeros(n) is n times roll(0)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 0, max: 3000 }), (data, n) => {
        const a = new RollSum()
        let s1 = 64 * 31
        let s2 = 64 * 63 * 31
        for (let i = 0; i < data.length; i++) {
          const drop = i >= 64 ? data[i - 64]! : 0
          a.roll(data[i]!)
          s1 = (s1 + data[i]! - drop) >>> 0
          s2 = (s2 + s1 - 64 * (drop + 31)) >>> 0
          expect(a.s1 >>> 0).toBe(s1)
          expect(a.s2 >>> 0).toBe(s2)
          expect(a.onSplit()).toBe((s2 & 0xffff) === 0xffff)
        }
        const b = new RollSum()
        for (const c of data) b.roll(c)
        a.rollZeros(n)
        for (let k = 0; k < n; k++) b.roll(0)
        expect([a.s1, a.s2]).toEqual([b.s1, b.s2])
        // the windows agree as rings
        for (let k = 0; k < 64; k++) expect(a.window[(a.wofs + k) & 63]).toBe(b.window[(b.wofs + k) & 63])
      }),
      { numRuns: 200 },
    )
  })

  it("property: any mix of data, zero runs and constant runs, fed in any pieces, cuts as the reference", () => {
    const segment = fc.oneof(
      fc.record({
        kind: fc.constant("random" as const),
        n: fc.integer({ min: 1, max: 150_000 }),
        seed: fc.nat(),
      }),
      fc.record({
        kind: fc.constant("zeros" as const),
        n: fc.oneof(
          fc.integer({ min: 1, max: 40 }),
          fc.integer({ min: 1020, max: 1030 }),
          fc.integer({ min: 1, max: 70_000 }),
        ),
        seed: fc.constant(0),
      }),
      fc.record({
        kind: fc.constant("const" as const),
        n: fc.integer({ min: 1, max: 5000 }),
        seed: fc.nat(255),
      }),
    )
    fc.assert(
      fc.property(
        fc.array(segment, { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (segments, rawCuts) => {
          const data = cat(
            ...segments.map((s) =>
              s.kind === "random"
                ? randomBytes(s.n, s.seed)
                : s.kind === "zeros"
                  ? zeros(s.n)
                  : new Uint8Array(s.n).fill(s.seed),
            ),
          )
          const cuts = rawCuts.map((c) => (data.length === 0 ? 0 : c % (data.length + 1)))
          const want = referenceChunks(data)
          expect(chunkerChunks(data, cuts)).toEqual(want)
          // chunks tile the data
          let at = 0
          for (const [o, n] of want) {
            expect(o).toBe(at)
            at += n
          }
          expect(at).toBe(data.length)
        },
      ),
      { numRuns: 60 },
    )
  })

  it("an empty file has no chunks; a file of only zeros is one hole", () => {
    expect(chunkerChunks(new Uint8Array(0))).toEqual([])
    expect(chunkerChunks(zeros(5000), [1000, 4000])).toEqual([[0, 5000, true]])
    expect(chunkerChunks(zeros(1000), [500])).toEqual([[0, 1000, false]])
  })
})

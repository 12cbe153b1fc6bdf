import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import fc from "fast-check"
import { STORAGE_TOC, WORKED_EXAMPLE } from "./testdata/samples.ts"
import { type EntryType, parseToc, parseTocSync, serializeToc, type Toc, type TocEntry } from "./Toc.ts"
import { TocError } from "./TocError.ts"
import { TocIndex, type TocNode } from "./TocIndex.ts"

const TYPES: ReadonlyArray<EntryType> = [
  "dir",
  "reg",
  "symlink",
  "hardlink",
  "char",
  "block",
  "fifo",
  "chunk",
]

// Strings Go can carry: any code point (no lone surrogates), with the characters Go escapes over-represented.
const goString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.string({
    unit: fc.constantFrom(
      "a",
      "/",
      ".",
      "<",
      ">",
      "&",
      "\u2028",
      "\u2029",
      "\n",
      "\b",
      "\u0000",
      '"',
      "\\",
      "é",
      "😀",
    ),
    maxLength: 12,
  }),
)
const nonEmpty = goString.filter((s) => s !== "")
const positive = fc.oneof(
  fc.integer({ min: 1, max: 5000 }),
  fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
)
const base64 = fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b).toString("base64"))

// A TOC as parseToc returns it: optional fields absent or non-zero / non-empty.
const entryArb: fc.Arbitrary<TocEntry> = fc
  .record(
    {
      name: goString,
      type: fc.constantFrom(...TYPES),
      size: positive,
      modtime: nonEmpty,
      linkName: nonEmpty,
      mode: positive,
      uid: positive,
      gid: positive,
      userName: nonEmpty,
      groupName: nonEmpty,
      offset: positive,
      innerOffset: positive,
      devMajor: positive,
      devMinor: positive,
      xattrs: fc.dictionary(goString, base64, { minKeys: 1, maxKeys: 4 }),
      digest: nonEmpty,
      chunkOffset: positive,
      chunkSize: positive,
      chunkDigest: nonEmpty,
      endOffset: positive,
      chunkType: nonEmpty,
      accesstime: nonEmpty,
      changetime: nonEmpty,
    },
    { requiredKeys: ["name", "type"] },
  )
  .map((e) => e as TocEntry)
const tocArb: fc.Arbitrary<Toc> = fc
  .record(
    { version: fc.constant(1), entries: fc.array(entryArb, { maxLength: 6 }), tarSplitDigest: nonEmpty },
    { requiredKeys: ["version", "entries"] },
  )
  .map((t) => t as Toc)

const expectOnlyTocError = <A>(exit: Exit.Exit<A, TocError>) => {
  if (Exit.isFailure(exit)) {
    expect(Cause.hasDies(exit.cause)).toBe(false)
    const e = Cause.squash(exit.cause)
    expect(e).toBeInstanceOf(TocError)
  }
}

describe("properties", () => {
  it("serialise (both styles) then parse gives back the TOC, through both parse paths", () => {
    fc.assert(
      fc.property(tocArb, fc.constantFrom("estargz" as const, "compact" as const), (toc, style) => {
        const bytes = serializeToc(toc, style)
        const fast = parseTocSync(bytes)
        const exact = parseTocSync(bytes, undefined, true)
        expect(fast).toEqual(toc)
        expect(exact).toEqual(toc)
        // and the serialisation is a fixed point
        expect(serializeToc(fast as Toc, style)).toEqual(bytes)
      }),
      { numRuns: 400 },
    )
  })

  it("parseToc never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expectOnlyTocError(Effect.runSyncExit(parseToc(bytes)))
      }),
      { numRuns: 500 },
    )
  })

  const FRAGMENTS = [
    "null",
    "true",
    "1.5",
    "1e999",
    "-1",
    "-",
    '"',
    "\\",
    "\\u",
    "\\ud800",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '"size":',
    '"entries":',
    '{"name":"x","type":"chunk"}',
    "9007199254740993",
    "\u0000",
    "\ufeff",
    "\u00ff",
  ]
  const seeds = [WORKED_EXAMPLE, STORAGE_TOC]
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), text: fc.constantFrom(...FRAGMENTS) }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant("upper" as const), at: fc.nat() }),
  )
  it("parseToc never throws on mutated TOC JSON, and both parse paths agree", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (seed, muts) => {
          let b = Array.from(new TextEncoder().encode(seed))
          for (const m of muts) {
            const at = m.at % (b.length + 1)
            if (m.kind === "flip") b[Math.min(at, b.length - 1)] = m.byte
            else if (m.kind === "insert") b.splice(at, 0, ...new TextEncoder().encode(m.text))
            else if (m.kind === "cut") b.splice(at, m.len)
            else
              b = Array.from(
                new TextEncoder().encode(new TextDecoder().decode(new Uint8Array(b)).toUpperCase()),
              )
          }
          const bytes = new Uint8Array(b)
          expectOnlyTocError(Effect.runSyncExit(parseToc(bytes)))
          const fast = parseTocSync(bytes)
          const exact = parseTocSync(bytes, undefined, true)
          if (fast instanceof TocError)
            expect(exact instanceof TocError ? exact.reason : exact).toBe(fast.reason)
          else expect(exact).toEqual(fast)
        },
      ),
      { numRuns: 600 },
    )
  })

  // Entry lists over a small name pool, so that parents, duplicates, hardlinks and chunk runs collide.
  const POOL = ["", "./", "a", "a/", "./a/b", "a/b/c", "/b", "b/../a/x", "c/d/e", ".prefetch.landmark", "x"]
  const smallInt = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 }))
  const poolEntry: fc.Arbitrary<TocEntry> = fc
    .record(
      {
        name: fc.constantFrom(...POOL),
        type: fc.constantFrom(...TYPES),
        size: smallInt,
        offset: smallInt,
        innerOffset: smallInt,
        chunkOffset: smallInt,
        chunkSize: smallInt,
        endOffset: smallInt,
        linkName: fc.constantFrom(...POOL),
        uid: fc.constantFrom(0, 1, 2),
        userName: fc.constantFrom("", "u"),
        digest: fc.constantFrom(`sha256:${"a".repeat(64)}`, "bad"),
        chunkType: fc.constantFrom("", "zeros"),
      },
      { requiredKeys: ["name", "type"] },
    )
    .map((e) => e as TocEntry)

  const checkInvariants = (index: TocIndex, dataEnd: number) => {
    const seen = new Set<TocNode>()
    const walk = (n: TocNode, depth: number) => {
      expect(depth).toBeLessThan(100)
      expect(index.lookup(n.name)).toBe(n)
      const kids = index.children(n.name)
      if (n.type === "dir") {
        expect(kids).toBeDefined()
        expect(n.linkCount).toBe(2 + kids!.filter((k) => k.type === "dir").length)
        const base = kids!.map((k) => k.name.slice(k.name.lastIndexOf("/") + 1))
        expect(base).toEqual([...base].sort())
        for (const k of kids!) {
          expect(seen.has(k)).toBe(false)
          seen.add(k)
          walk(k, depth + 1)
        }
      } else expect(kids).toBeUndefined()
      if (n.type === "hardlink") {
        expect(n.target).toBeDefined()
        expect(n.target!.type).not.toBe("hardlink")
        expect(n.target!.type).not.toBe("dir")
      }
      if (n.type === "reg" && (n.entry.size ?? 0) > 0) {
        let at = 0
        for (const c of n.chunks) {
          expect(c.chunkOffset).toBe(at)
          expect(c.chunkSize).toBeGreaterThan(0)
          expect(c.compressedEnd).toBeGreaterThan(c.offset)
          expect(c.compressedEnd).toBeLessThanOrEqual(dataEnd)
          expect(index.chunkForOffset(n, at)).toBe(c)
          expect(index.chunkForOffset(n, at + c.chunkSize - 1)).toBe(c)
          at += c.chunkSize
        }
        expect(at).toBe(n.entry.size)
        expect(index.chunkForOffset(n, at)).toBeUndefined()
      }
    }
    walk(index.root, 0)
    for (const n of index.nodes()) expect(seen.has(n) || n === index.root).toBe(true)
  }

  it("TocIndex.build never throws on random entry lists, and what it builds is consistent", () => {
    let built = 0
    fc.assert(
      fc.property(
        fc.array(poolEntry, { maxLength: 12 }),
        fc.integer({ min: 0, max: 60 }),
        (entries, dataEnd) => {
          const exit = Effect.runSyncExit(TocIndex.build({ version: 1, entries }, { dataEnd }))
          expectOnlyTocError(exit)
          if (Exit.isSuccess(exit)) {
            built++
            checkInvariants(exit.value, dataEnd)
          }
        },
      ),
      { numRuns: 3000 },
    )
    expect(built).toBeGreaterThan(100) // the generator does reach valid trees
  })

  it("TocIndex.build never throws on arbitrary TOC-shaped values", () => {
    fc.assert(
      fc.property(
        fc.array(entryArb, { maxLength: 8 }),
        fc.integer({ min: -5, max: 2 ** 53 }),
        (entries, dataEnd) => {
          expectOnlyTocError(Effect.runSyncExit(TocIndex.build({ version: 1, entries }, { dataEnd })))
        },
      ),
      { numRuns: 500 },
    )
  })
})
